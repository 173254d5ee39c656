//! The pooling checks: max, average and global average pooling against Burn's, NaNs as the
//! CPU kernels treat them, and the GPU's average pools against the CPU's.

use super::*;

/// Output and input gradient of `pool` on backend `B`.
pub(super) fn run_pool<B: AutodiffBackend>(
    input: &TensorData,
    device: &B::Device,
    pool: impl FnOnce(Tensor<B, 4>) -> Tensor<B, 4>,
) -> (TensorData, TensorData) {
    let x = Tensor::<B, 4>::from_data(input.clone(), device).require_grad();
    let out = pool(x.clone());
    let mix = Tensor::<B, 4>::ones(out.dims(), device).cumsum(2);
    let grads = (out.clone() * mix).sum().backward();
    (out.into_data(), x.grad(&grads).unwrap().into_data())
}

/// Output and input gradient of the custom max-pool on backend `B`.
pub fn run_custom_pool<B>(
    input: &TensorData,
    spec: PoolSpec,
    device: &B::Device,
) -> (TensorData, TensorData)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    run_pool::<B>(input, device, |x| custom::max_pool2d(x, spec))
}

/// A pooling op under test.
#[derive(Clone, Copy, Debug)]
pub enum PoolOp {
    Max(PoolSpec),
    Avg(PoolSpec),
    GlobalAvg,
}

impl PoolOp {
    /// The op with the custom kernels.
    fn custom<B: KernelBackend>(self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            PoolOp::Max(spec) => custom::max_pool2d(x, spec),
            PoolOp::Avg(spec) => custom::avg_pool2d(x, spec),
            PoolOp::GlobalAvg => custom::global_avg_pool2d(x),
        }
    }

    /// The op with Burn's built-in ops.
    fn builtin<B: Backend>(self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            PoolOp::Max(spec) => builtin::max_pool2d(x, spec),
            PoolOp::Avg(spec) => builtin::avg_pool2d(x, spec),
            PoolOp::GlobalAvg => builtin::global_avg_pool2d(x),
        }
    }
}

/// The custom pooling `op` on `B` vs Burn's on the reference, output and input gradient.
pub fn check_pool<B>(shape: [usize; 4], op: PoolOp, device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let input = random_data(&shape);
    let (out_c, dx_c) = run_pool::<B>(&input, device, |x| op.custom(x));
    let (out_b, dx_b) = run_pool::<Reference>(&input, &Default::default(), |x| op.builtin(x));
    assert_close(&format!("{op:?} {shape:?}: output"), &out_c, &out_b);
    assert_close(&format!("{op:?} {shape:?}: input grad"), &dx_c, &dx_b);
}

/// The shapes global average pooling is checked on: the networks' last conv outputs, odd and
/// non-square planes, a 1x1 plane.
pub const GLOBAL_POOL_SHAPES: [[usize; 4]; 4] =
    [[2, 64, 7, 7], [3, 16, 10, 10], [1, 5, 9, 4], [2, 3, 1, 1]];

/// Max, average and global average pooling on every pool shape, custom on `B` vs built-in.
pub fn check_pools<B>(device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    for (shape, spec) in POOL_CASES {
        check_pool::<B>(shape, PoolOp::Max(spec), device);
        check_pool::<B>(shape, PoolOp::Avg(spec), device);
    }
    for shape in GLOBAL_POOL_SHAPES {
        check_pool::<B>(shape, PoolOp::GlobalAvg, device);
    }
}

/// A pool input with NaNs: one in the first 2x2 window, three in the next one (so which NaN
/// is the maximum matters for the gradient), the rest standard normal.
pub(super) fn pool_input_with_nans(shape: [usize; 4]) -> TensorData {
    let mut values = random_data(&shape).to_vec::<f32>().unwrap();
    let w = shape[3];
    for i in [0, 2, 3, w + 3] {
        values[i] = f32::NAN;
    }
    TensorData::new(values, shape.to_vec())
}

/// The same elements are NaN in both, and the others agree within the tolerance.
pub(super) fn assert_close_with_nans(label: &str, got: &TensorData, want: &TensorData) {
    let (got, want) = (got.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
    assert_eq!(got.len(), want.len(), "{label}: lengths");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let same = match (g.is_nan(), w.is_nan()) {
            (true, true) => true,
            (false, false) => (g - w).abs() <= TOLERANCE * (1.0 + w.abs()),
            _ => false,
        };
        assert!(same, "{label}: element {i}: {g} vs {w}");
    }
}

/// The 2x2 pool every network uses and an overlapping 3x3/2 one, over inputs with NaNs.
pub(super) const NAN_POOLS: [PoolSpec; 2] = [
    PoolSpec::TWO_BY_TWO,
    PoolSpec {
        kernel: [3, 3],
        stride: [2, 2],
    },
];

/// The custom max-pool on `B` treats NaNs as the CPU kernels do: a window holding a NaN gives
/// NaN (the last NaN in row-major order is the maximum), and the gradient goes to that element.
pub fn check_pool_nans_as_cpu<B>(device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let input = pool_input_with_nans([2, 3, 7, 7]);
    for spec in NAN_POOLS {
        let cpu = run_custom_pool::<Reference>(&input, spec, &Default::default());
        let (output, input_grad) = run_custom_pool::<B>(&input, spec, device);
        let first = cpu.0.to_vec::<f32>().unwrap()[0];
        assert!(
            first.is_nan(),
            "{spec:?}: a window with a NaN gives {first}"
        );
        assert_close_with_nans(&format!("{spec:?} with NaNs: output"), &output, &cpu.0);
        assert_close_with_nans(
            &format!("{spec:?} with NaNs: input grad"),
            &input_grad,
            &cpu.1,
        );
    }
}

/// The custom CPU max-pool propagates NaNs as PyTorch's does (Burn 0.21's ndarray max-pool
/// skips them): on [`pool_input_with_nans`], the first two 2x2 windows give NaN, and their
/// gradient goes to the last NaN of each window in row-major order.
pub fn check_cpu_pool_propagates_nans() {
    let shape = [1, 1, 4, 4];
    let input = pool_input_with_nans(shape);
    let (output, input_grad) =
        run_custom_pool::<Reference>(&input, PoolSpec::TWO_BY_TWO, &Default::default());
    let output = output.to_vec::<f32>().unwrap();
    assert!(output[0].is_nan() && output[1].is_nan(), "{output:?}");
    assert!(output[2..].iter().all(|v| v.is_finite()), "{output:?}");
    // `run_pool` weighs output row r by r + 1: both NaN windows are in row 0, weight 1.
    let grad = input_grad.to_vec::<f32>().unwrap();
    let w = shape[3];
    assert_eq!(grad[0], 1.0, "window 1's only NaN");
    assert_eq!(grad[w + 3], 1.0, "window 2's last NaN");
    assert_eq!((grad[2], grad[3]), (0.0, 0.0), "window 2's other NaNs");
}

/// The average pools on `B` equal the CPU's to the bit, output and input gradient (both add
/// each window's values, and each input's window gradients, in row-major order, then scale).
pub fn check_avg_pools_equal_the_cpu<B>(device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let cases = POOL_CASES
        .map(|(shape, spec)| (shape, PoolOp::Avg(spec)))
        .into_iter()
        .chain(GLOBAL_POOL_SHAPES.map(|shape| (shape, PoolOp::GlobalAvg)));
    for (shape, op) in cases {
        let input = random_data(&shape);
        let cpu = run_pool::<Reference>(&input, &Default::default(), |x| op.custom(x));
        let this = run_pool::<B>(&input, device, |x| op.custom(x));
        let bits = |data: &TensorData| -> Vec<u32> {
            data.to_vec::<f32>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        };
        assert!(bits(&this.0) == bits(&cpu.0), "{op:?} {shape:?}: output");
        assert!(
            bits(&this.1) == bits(&cpu.1),
            "{op:?} {shape:?}: input grad"
        );
    }
}
