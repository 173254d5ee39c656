//! Custom-vs-built-in comparisons shared by the ndarray and wgpu test suites, generic over
//! the autodiff backend.
//!
//! Tolerance: |custom - builtin| <= 1e-4 * (1 + |builtin|) elementwise (f32 sums of up to a few
//! thousand products computed in a different order).

#![allow(dead_code)]

use std::cell::RefCell;

use burn::backend::Autodiff;
use burn::module::Param;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_ndarray::NdArray;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use custom_kernels::{
    ConvSpec, FusedAdamConfig, KernelBackend, KernelChoice, PoolSpec, RawKernels, conv2d,
    conv2d_pool, linear, max_pool2d,
};

/// Elementwise tolerance factor.
pub const TOLERANCE: f32 = 1e-4;

/// A conv layer to compare.
pub struct ConvCase {
    pub input: [usize; 4],
    pub filters: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub relu: bool,
}

const fn case(
    input: [usize; 4],
    filters: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    relu: bool,
) -> ConvCase {
    ConvCase {
        input,
        filters,
        kernel,
        stride,
        padding,
        relu,
    }
}

/// The conv shapes every backend is checked on.
pub const CONV_CASES: [ConvCase; 12] = [
    // The two LeNet-5 layers and the ConvNet's second layer (small batch).
    case([2, 1, 28, 28], 6, [5, 5], [1, 1], [2, 2], true),
    case([3, 6, 14, 14], 16, [5, 5], [1, 1], [0, 0], true),
    case([2, 32, 14, 14], 64, [5, 5], [1, 1], [2, 2], true),
    // Batch 1, odd sizes, no ReLU.
    case([1, 3, 7, 9], 4, [3, 3], [1, 1], [1, 1], false),
    // Stride 2 with padding 0, 1 and 2.
    case([2, 2, 11, 10], 3, [3, 3], [2, 2], [0, 0], true),
    case([2, 2, 11, 10], 3, [3, 3], [2, 2], [1, 1], false),
    case([1, 4, 9, 9], 5, [5, 5], [2, 2], [2, 2], true),
    // Non-square kernels, unequal strides and paddings.
    case([2, 3, 12, 13], 4, [3, 5], [1, 2], [1, 2], true),
    case([1, 2, 6, 8], 2, [2, 1], [1, 1], [0, 1], false),
    // 1x1 kernels (the GEMM-only path on the CPU) and 1x1 with stride.
    case([3, 8, 5, 5], 6, [1, 1], [1, 1], [0, 0], true),
    case([2, 4, 6, 6], 3, [1, 1], [2, 2], [0, 0], false),
    // Kernel as large as the input.
    case([2, 3, 4, 4], 2, [4, 4], [1, 1], [0, 0], false),
];

/// The fused conv + pool blocks every backend is checked on: the networks' four blocks (small
/// batches), odd sizes without ReLU, and an overlapping 3x3/2 pool.
pub fn conv_pool_cases() -> Vec<(ConvCase, PoolSpec)> {
    let two = PoolSpec::TWO_BY_TWO;
    let overlapping = PoolSpec {
        kernel: [3, 3],
        stride: [2, 2],
    };
    vec![
        (case([2, 1, 28, 28], 6, [5, 5], [1, 1], [2, 2], true), two),
        (case([3, 6, 14, 14], 16, [5, 5], [1, 1], [0, 0], true), two),
        (case([2, 1, 28, 28], 32, [5, 5], [1, 1], [2, 2], true), two),
        (case([2, 32, 14, 14], 64, [5, 5], [1, 1], [2, 2], true), two),
        (case([1, 3, 7, 9], 4, [3, 3], [1, 1], [1, 1], false), two),
        (
            case([2, 2, 11, 10], 3, [3, 3], [1, 1], [1, 1], true),
            overlapping,
        ),
    ]
}

/// The pool shapes every backend is checked on.
pub const POOL_CASES: [([usize; 4], PoolSpec); 5] = [
    ([2, 6, 28, 28], PoolSpec::TWO_BY_TWO),
    ([1, 3, 7, 9], PoolSpec::TWO_BY_TWO),
    (
        [2, 2, 9, 9],
        PoolSpec {
            kernel: [3, 3],
            stride: [2, 2],
        },
    ),
    (
        [1, 4, 6, 7],
        PoolSpec {
            kernel: [3, 2],
            stride: [1, 1],
        },
    ),
    (
        [3, 1, 5, 5],
        PoolSpec {
            kernel: [2, 2],
            stride: [1, 1],
        },
    ),
];

/// The fully connected shapes every backend is checked on, `[batch, inputs, outputs]`: tiny and
/// odd ones, LeNet-5's fc1, the MLP's first layer (large enough for the multi-threaded GEMM)
/// and batch 1.
pub const LINEAR_CASES: [[usize; 3]; 5] = [
    [1, 7, 3],
    [5, 13, 1],
    [64, 400, 120],
    [32, 784, 1200],
    [1, 1200, 10],
];

/// Asserts two results agree within [`TOLERANCE`].
pub fn assert_close(name: &str, custom: &TensorData, reference: &TensorData) {
    assert_eq!(custom.shape, reference.shape, "{name}: shapes differ");
    let a = custom.clone().convert::<f32>().to_vec::<f32>().unwrap();
    let b = reference.clone().convert::<f32>().to_vec::<f32>().unwrap();
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= TOLERANCE * (1.0 + y.abs()),
            "{name}: element {i}: custom {x} vs reference {y}"
        );
    }
}

/// Largest elementwise difference between two results.
pub fn max_abs_diff(a: &TensorData, b: &TensorData) -> f32 {
    let a = a.clone().convert::<f32>().to_vec::<f32>().unwrap();
    let b = b.clone().convert::<f32>().to_vec::<f32>().unwrap();
    a.iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Seed of every test's random numbers.
const TEST_SEED: u64 = 0x5eed;

thread_local! {
    /// The random numbers of the test running on this thread: libtest runs each test on a thread
    /// of its own, so a test draws the same numbers on every run, whatever runs beside it
    /// (Burn's `Tensor::random` on ndarray draws from one process-wide generator seeded from OS
    /// entropy).
    static RNG: RefCell<StdRng> = RefCell::new(StdRng::seed_from_u64(TEST_SEED));
}

/// Standard normal values of `shape`, drawn on the CPU so every backend sees the same numbers.
fn random_data(shape: &[usize]) -> TensorData {
    let count = shape.iter().product::<usize>();
    let values: Vec<f32> = RNG.with(|rng| {
        let rng = &mut *rng.borrow_mut();
        (0..count).map(|_| StandardNormal.sample(rng)).collect()
    });
    TensorData::new(values, shape.to_vec())
}

/// Input, weights and bias of a conv case.
pub struct ConvInputs {
    pub input: TensorData,
    pub weight: TensorData,
    pub bias: TensorData,
}

impl ConvInputs {
    pub fn random(case: &ConvCase) -> Self {
        Self {
            input: random_data(&case.input),
            weight: random_data(&[case.filters, case.input[1], case.kernel[0], case.kernel[1]]),
            bias: random_data(&[case.filters]),
        }
    }
}

/// Output and input, weight and bias gradients of one conv evaluation.
pub struct ConvResult {
    pub output: TensorData,
    pub input_grad: TensorData,
    pub weight_grad: TensorData,
    pub bias_grad: TensorData,
}

/// Runs a conv case forward and backward on backend `B` with `kernels`.
pub fn run_conv<B>(
    case: &ConvCase,
    inputs: &ConvInputs,
    kernels: KernelChoice,
    device: &B::Device,
) -> ConvResult
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    run_layer::<B>(case, inputs, device, |x, w, b, spec| {
        conv2d(x, w, Some(b), spec, kernels)
    })
}

/// Runs a conv + pool block forward and backward on backend `B` with `kernels`.
pub fn run_conv_pool<B>(
    case: &ConvCase,
    pool: PoolSpec,
    inputs: &ConvInputs,
    kernels: KernelChoice,
    device: &B::Device,
) -> ConvResult
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    run_layer::<B>(case, inputs, device, |x, w, b, spec| {
        conv2d_pool(x, w, Some(b), spec, pool, kernels)
    })
}

/// Runs `layer(input, weight, bias, spec)` forward and backward on tracked tensors made from
/// `inputs`, under a loss whose gradient differs per element.
fn run_layer<B>(
    case: &ConvCase,
    inputs: &ConvInputs,
    device: &B::Device,
    layer: impl FnOnce(Tensor<B, 4>, Tensor<B, 4>, Tensor<B, 1>, ConvSpec) -> Tensor<B, 4>,
) -> ConvResult
where
    B: AutodiffBackend,
{
    let x = Tensor::<B, 4>::from_data(inputs.input.clone(), device).require_grad();
    let w = Tensor::<B, 4>::from_data(inputs.weight.clone(), device).require_grad();
    let b = Tensor::<B, 1>::from_data(inputs.bias.clone(), device).require_grad();
    let spec = ConvSpec {
        stride: case.stride,
        padding: case.padding,
        relu: case.relu,
    };
    let out = layer(x.clone(), w.clone(), b.clone(), spec);
    let mix = Tensor::<B, 4>::ones(out.dims(), device).cumsum(3) * 0.1;
    let grads = (out.clone() * mix).sum().backward();
    ConvResult {
        output: out.into_data(),
        input_grad: x.grad(&grads).unwrap().into_data(),
        weight_grad: w.grad(&grads).unwrap().into_data(),
        bias_grad: b.grad(&grads).unwrap().into_data(),
    }
}

/// Custom fused conv + pool vs Burn's conv, ReLU and pool on the same backend.
pub fn check_conv_pool<B>(case: &ConvCase, pool: PoolSpec, device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let inputs = ConvInputs::random(case);
    let custom = run_conv_pool::<B>(case, pool, &inputs, KernelChoice::Custom, device);
    let builtin = run_conv_pool::<B>(case, pool, &inputs, KernelChoice::Builtin, device);
    let label = format!("{} + pool {pool:?}", conv_label(case));
    assert_conv_close(&label, &custom, &builtin);
}

/// Asserts every part of two conv results agrees.
pub fn assert_conv_close(label: &str, custom: &ConvResult, reference: &ConvResult) {
    assert_close(
        &format!("{label}: output"),
        &custom.output,
        &reference.output,
    );
    assert_close(
        &format!("{label}: input grad"),
        &custom.input_grad,
        &reference.input_grad,
    );
    assert_close(
        &format!("{label}: weight grad"),
        &custom.weight_grad,
        &reference.weight_grad,
    );
    assert_close(
        &format!("{label}: bias grad"),
        &custom.bias_grad,
        &reference.bias_grad,
    );
}

/// A readable name for a conv case.
pub fn conv_label(case: &ConvCase) -> String {
    format!(
        "input {:?} filters {} kernel {:?} stride {:?} padding {:?} relu {}",
        case.input, case.filters, case.kernel, case.stride, case.padding, case.relu
    )
}

/// Output and input gradient of a max-pool on backend `B` with `kernels`.
pub fn run_pool<B>(
    input: &TensorData,
    spec: PoolSpec,
    kernels: KernelChoice,
    device: &B::Device,
) -> (TensorData, TensorData)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let x = Tensor::<B, 4>::from_data(input.clone(), device).require_grad();
    let out = max_pool2d(x.clone(), spec, kernels);
    let mix = Tensor::<B, 4>::ones(out.dims(), device).cumsum(2);
    let grads = (out.clone() * mix).sum().backward();
    (out.into_data(), x.grad(&grads).unwrap().into_data())
}

/// Random input for a pool case.
pub fn pool_input(shape: [usize; 4]) -> TensorData {
    random_data(&shape)
}

/// Custom vs built-in conv on the same backend.
pub fn check_conv<B>(case: &ConvCase, device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let inputs = ConvInputs::random(case);
    let custom = run_conv::<B>(case, &inputs, KernelChoice::Custom, device);
    let builtin = run_conv::<B>(case, &inputs, KernelChoice::Builtin, device);
    assert_conv_close(&conv_label(case), &custom, &builtin);
}

/// Custom vs built-in max-pool on the same backend.
pub fn check_pool<B>(shape: [usize; 4], spec: PoolSpec, device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let input = pool_input(shape);
    let (out_c, dx_c) = run_pool::<B>(&input, spec, KernelChoice::Custom, device);
    let (out_b, dx_b) = run_pool::<B>(&input, spec, KernelChoice::Builtin, device);
    assert_close(&format!("pool {shape:?} {spec:?}: output"), &out_c, &out_b);
    assert_close(
        &format!("pool {shape:?} {spec:?}: input grad"),
        &dx_c,
        &dx_b,
    );
}

/// A pool input with NaNs: one in the first 2x2 window, three in the next one (so which NaN
/// is the maximum matters for the gradient), the rest standard normal.
fn pool_input_with_nans(shape: [usize; 4]) -> TensorData {
    let mut values = random_data(&shape).to_vec::<f32>().unwrap();
    let w = shape[3];
    for i in [0, 2, 3, w + 3] {
        values[i] = f32::NAN;
    }
    TensorData::new(values, shape.to_vec())
}

/// The same elements are NaN in both, and the others agree within the tolerance.
fn assert_close_with_nans(label: &str, got: &TensorData, want: &TensorData) {
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
const NAN_POOLS: [PoolSpec; 2] = [
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
        let cpu =
            run_pool::<Autodiff<NdArray>>(&input, spec, KernelChoice::Custom, &Default::default());
        let (output, input_grad) = run_pool::<B>(&input, spec, KernelChoice::Custom, device);
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
pub fn check_cpu_pool_propagates_nans(device: &burn_ndarray::NdArrayDevice) {
    let shape = [1, 1, 4, 4];
    let input = pool_input_with_nans(shape);
    let (output, input_grad) =
        run_pool::<Autodiff<NdArray>>(&input, PoolSpec::TWO_BY_TWO, KernelChoice::Custom, device);
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

/// Untracked inputs take the inference path (nothing recorded) and still agree.
pub fn check_untracked<B>(device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let x = Tensor::<B, 4>::from_data(random_data(&[2, 3, 8, 8]), device);
    let w = Tensor::<B, 4>::from_data(random_data(&[4, 3, 3, 3]), device);
    let spec = ConvSpec::relu(1);
    let custom = conv2d(x.clone(), w.clone(), None, spec, KernelChoice::Custom);
    let builtin = conv2d(x, w, None, spec, KernelChoice::Builtin);
    assert_close(
        "untracked conv without bias",
        &custom.into_data(),
        &builtin.into_data(),
    );
}

/// A first layer: the input needs no gradient, so the custom backward skips it; the weight
/// and bias gradients must still agree with Burn's, and the input must get no gradient.
pub fn check_input_without_gradient<B>(device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let x = Tensor::<B, 4>::from_data(random_data(&[3, 1, 12, 12]), device);
    let (weight, bias) = (random_data(&[5, 1, 5, 5]), random_data(&[5]));
    let spec = ConvSpec::relu(2);
    // The layer alone, then fused with its pool.
    let grads_of = |kernels: KernelChoice, fused: bool| {
        let w = Tensor::<B, 4>::from_data(weight.clone(), device).require_grad();
        let b = Tensor::<B, 1>::from_data(bias.clone(), device).require_grad();
        let (input, bias) = (&x, Some(b.clone()));
        let x = input.clone();
        let out = if fused {
            conv2d_pool(x, w.clone(), bias, spec, PoolSpec::TWO_BY_TWO, kernels)
        } else {
            conv2d(x, w.clone(), bias, spec, kernels)
        };
        let grads = (out.clone() * out).sum().backward();
        assert!(input.grad(&grads).is_none(), "{kernels}: no input gradient");
        (
            w.grad(&grads).unwrap().into_data(),
            b.grad(&grads).unwrap().into_data(),
        )
    };
    for fused in [false, true] {
        let (w_custom, b_custom) = grads_of(KernelChoice::Custom, fused);
        let (w_builtin, b_builtin) = grads_of(KernelChoice::Builtin, fused);
        let label = if fused {
            "fused first layer"
        } else {
            "first layer"
        };
        assert_close(&format!("{label}: weight grad"), &w_custom, &w_builtin);
        assert_close(&format!("{label}: bias grad"), &b_custom, &b_builtin);
    }
}

/// Output and input, weight and bias gradients of a fully connected layer on backend `B`.
/// `transposed_weight` passes the weight as the transpose of an `[outputs, inputs]` tensor (a
/// strided view, as Burn's column-layout `Linear` stores it).
pub fn run_linear<B>(
    [batch, inputs, outputs]: [usize; 3],
    data: &ConvInputs,
    kernels: KernelChoice,
    transposed_weight: bool,
    device: &B::Device,
) -> ConvResult
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let x = Tensor::<B, 2>::from_data(data.input.clone(), device).require_grad();
    let w = if transposed_weight {
        let stored = data
            .weight
            .clone()
            .convert::<f32>()
            .to_vec::<f32>()
            .unwrap();
        let mut by_output = vec![0.0f32; stored.len()];
        for i in 0..inputs {
            for o in 0..outputs {
                by_output[o * inputs + i] = stored[i * outputs + o];
            }
        }
        let by_output = TensorData::new(by_output, [outputs, inputs]);
        Tensor::<B, 2>::from_data(by_output, device)
            .transpose()
            .require_grad()
    } else {
        Tensor::<B, 2>::from_data(data.weight.clone(), device).require_grad()
    };
    let b = Tensor::<B, 1>::from_data(data.bias.clone(), device).require_grad();
    let out = linear(x.clone(), w.clone(), Some(b.clone()), kernels);
    assert_eq!(out.dims(), [batch, outputs]);
    // Per-element gradients in (0, 1]: sums over a thousand outputs stay well inside f32.
    let mix = Tensor::<B, 2>::ones(out.dims(), device).cumsum(1) / outputs as f32;
    let grads = (out.clone() * mix).sum().backward();
    ConvResult {
        output: out.into_data(),
        input_grad: x.grad(&grads).unwrap().into_data(),
        weight_grad: w.grad(&grads).unwrap().into_data(),
        bias_grad: b.grad(&grads).unwrap().into_data(),
    }
}

/// Random input, weights and bias of a fully connected case.
pub fn linear_inputs([batch, inputs, outputs]: [usize; 3]) -> ConvInputs {
    ConvInputs {
        input: random_data(&[batch, inputs]),
        weight: random_data(&[inputs, outputs]),
        bias: random_data(&[outputs]),
    }
}

/// Custom vs built-in fully connected layer on the same backend, with a contiguous and with
/// a transposed (strided) weight.
pub fn check_linear<B>(dims: [usize; 3], device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let data = linear_inputs(dims);
    let builtin = run_linear::<B>(dims, &data, KernelChoice::Builtin, false, device);
    for transposed in [false, true] {
        let custom = run_linear::<B>(dims, &data, KernelChoice::Custom, transposed, device);
        let label = format!("linear {dims:?} (weight transposed: {transposed})");
        assert_conv_close(&label, &custom, &builtin);
    }
}

/// A fully connected layer on an input that needs no gradient (an MLP's first layer) and
/// without bias: the input gets no gradient, the weight gradient and output still agree.
pub fn check_linear_first_layer<B>(device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let data = linear_inputs([6, 20, 9]);
    let x = Tensor::<B, 2>::from_data(data.input.clone(), device);
    let results = [KernelChoice::Custom, KernelChoice::Builtin].map(|kernels| {
        let w = Tensor::<B, 2>::from_data(data.weight.clone(), device).require_grad();
        let out = linear(x.clone(), w.clone(), None, kernels);
        let grads = (out.clone() * out.clone()).sum().backward();
        assert!(x.grad(&grads).is_none(), "{kernels}: no input gradient");
        (out.into_data(), w.grad(&grads).unwrap().into_data())
    });
    let [(out_custom, w_custom), (out_builtin, w_builtin)] = results;
    assert_close("linear first layer: output", &out_custom, &out_builtin);
    assert_close("linear first layer: weight grad", &w_custom, &w_builtin);
}

/// A module with a 4-D, a 2-D and a 1-D parameter, for the optimizer comparison.
#[derive(Module, Debug)]
pub struct TinyNet<B: Backend> {
    pub kernel: Param<Tensor<B, 4>>,
    pub weight: Param<Tensor<B, 2>>,
    pub bias: Param<Tensor<B, 1>>,
}

impl<B: Backend> TinyNet<B> {
    fn new(device: &B::Device) -> Self {
        fn param<B: Backend, const D: usize>(
            shape: [usize; D],
            device: &B::Device,
        ) -> Param<Tensor<B, D>> {
            Param::from_tensor(Tensor::from_data(random_data(&shape), device).require_grad())
        }
        Self {
            kernel: param([3, 2, 3, 3], device),
            weight: param([18, 5], device),
            bias: param([5], device),
        }
    }

    /// A loss with a different gradient for every parameter element.
    fn loss(&self, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let kernel = self.kernel.val().reshape([2, 27]);
        let hidden = x.matmul(kernel).reshape([-1, 18]).tanh();
        let out = hidden.matmul(self.weight.val()) + self.bias.val().unsqueeze();
        (out.clone() * out).sum()
    }

    fn values(&self) -> Vec<f32> {
        [
            self.kernel.val().into_data(),
            self.weight.val().into_data(),
            self.bias.val().into_data(),
        ]
        .into_iter()
        .flat_map(|d| d.to_vec::<f32>().unwrap())
        .collect()
    }
}

/// Parameters at the start, then after `steps` updates with Burn's Adam and with
/// `FusedAdam`, same settings.
pub fn adam_trajectories<B>(
    weight_decay: Option<f32>,
    steps: usize,
    device: &B::Device,
) -> [Vec<f32>; 3]
where
    B: AutodiffBackend<InnerBackend: RawKernels>,
{
    let start = TinyNet::<B>::new(device);
    let initial = start.values();
    let inputs: Vec<Tensor<B, 2>> = (0..steps)
        .map(|_| Tensor::from_data(random_data(&[6, 2]), device))
        .collect();
    let lr = 0.01;
    let mut burn_net = start.clone();
    let mut burn_adam = AdamConfig::new()
        .with_epsilon(1e-7)
        .with_weight_decay(weight_decay.map(WeightDecayConfig::new))
        .init::<B, TinyNet<B>>();
    let mut fused_net = start;
    let mut fused_adam = FusedAdamConfig::new()
        .with_epsilon(1e-7)
        .with_weight_decay(weight_decay)
        .init::<B, TinyNet<B>>();
    for x in inputs {
        let grads = GradientsParams::from_grads(burn_net.loss(x.clone()).backward(), &burn_net);
        burn_net = burn_adam.step(lr, burn_net, grads);
        let grads = GradientsParams::from_grads(fused_net.loss(x).backward(), &fused_net);
        fused_net = fused_adam.step(lr, fused_net, grads);
    }
    [initial, burn_net.values(), fused_net.values()]
}
