//! Custom-vs-built-in comparisons shared by the ndarray and wgpu test suites: the custom
//! kernels run on the backend under test (generic, under autodiff), the reference is always
//! Burn's built-in ops on ndarray ([`Reference`]). The custom side calls `ops::custom` and the
//! reference `custom_kernels::builtin`, so the wgpu side compiles none of Burn's CubeCL layer
//! ops.
//!
//! Tolerance: |custom - builtin| <= 1e-4 * (1 + |builtin|) elementwise (f32 sums of up to a few
//! thousand products computed in a different order).

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

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

use crate::TEST_SEED;
use custom_kernels::builtin;
use custom_kernels::ops::custom;
use custom_kernels::{ConvSpec, FusedAdamConfig, KernelBackend, PoolSpec, RawKernels};

/// The reference every backend's custom kernels are compared with: Burn's built-in ops on
/// ndarray, under autodiff.
pub type Reference = Autodiff<NdArray>;

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
pub const CONV_CASES: [ConvCase; 14] = [
    // The two LeNet-5 layers (small batches) and the ConvNet's second layer (one image: it is
    // the costliest case by far for Burn's reference, which runs unoptimised in the test binary).
    case([2, 1, 28, 28], 6, [5, 5], [1, 1], [2, 2], true),
    case([3, 6, 14, 14], 16, [5, 5], [1, 1], [0, 0], true),
    case([1, 32, 14, 14], 64, [5, 5], [1, 1], [2, 2], true),
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
    // More filters and channels than one GPU tile has columns (64), and a batch whose weight
    // gradient the GPU splits into 13 chunks, the last one shorter.
    case([1, 66, 5, 5], 70, [3, 3], [1, 1], [1, 1], true),
    case([4, 1, 28, 28], 6, [5, 5], [1, 1], [2, 2], true),
];

/// The fused conv + pool blocks every backend is checked on: the networks' four blocks (small
/// batches; one image for the ConvNet's second, as in [`CONV_CASES`]), odd sizes without ReLU,
/// and an overlapping 3x3/2 pool.
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
        (case([1, 32, 14, 14], 64, [5, 5], [1, 1], [2, 2], true), two),
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

thread_local! {
    /// The random numbers of the test running on this thread: libtest runs each test on a thread
    /// of its own, so a test draws the same numbers on every run, whatever runs beside it
    /// (Burn's `Tensor::random` on ndarray draws from one process-wide generator seeded from OS
    /// entropy).
    static RNG: RefCell<StdRng> = RefCell::new(StdRng::seed_from_u64(TEST_SEED));
}

/// Standard normal values of `shape`, drawn on the CPU so every backend sees the same numbers.
fn random_data(shape: &[usize]) -> TensorData {
    RNG.with(|rng| random_data_from(&mut rng.borrow_mut(), shape))
}

/// Standard normal values of `shape` from `rng`.
fn random_data_from(rng: &mut StdRng, shape: &[usize]) -> TensorData {
    let count = shape.iter().product::<usize>();
    let values: Vec<f32> = (0..count).map(|_| StandardNormal.sample(rng)).collect();
    TensorData::new(values, shape.to_vec())
}

/// Burn's results on the [`Reference`] backend, computed once per case and process, for the
/// ndarray and the wgpu suites alike: Burn's ndarray conv, compiled unoptimised into this test
/// binary (see the root `Cargo.toml`), is most of either suite's time. `label` names the case;
/// its inputs are a function of the case ([`ConvInputs::random`]), so one result serves both.
fn reference_once(label: &str, compute: impl FnOnce() -> ConvResult) -> Arc<ConvResult> {
    static REFERENCES: Mutex<BTreeMap<String, Arc<OnceLock<Arc<ConvResult>>>>> =
        Mutex::new(BTreeMap::new());
    let slot = REFERENCES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(label.to_string())
        .or_default()
        .clone();
    slot.get_or_init(|| Arc::new(compute())).clone()
}

/// Input, weights and bias of a conv case.
pub struct ConvInputs {
    pub input: TensorData,
    pub weight: TensorData,
    pub bias: TensorData,
}

impl ConvInputs {
    /// Standard normal inputs drawn from a generator seeded by the case's shape, so that every
    /// test of the case sees the same numbers.
    pub fn random(case: &ConvCase) -> Self {
        let seed = conv_label(case)
            .bytes()
            .fold(TEST_SEED, |h, b| h.rotate_left(5) ^ u64::from(b));
        let mut rng = StdRng::seed_from_u64(seed);
        Self {
            input: random_data_from(&mut rng, &case.input),
            weight: random_data_from(
                &mut rng,
                &[case.filters, case.input[1], case.kernel[0], case.kernel[1]],
            ),
            bias: random_data_from(&mut rng, &[case.filters]),
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

/// Runs a conv case forward and backward on backend `B` with the custom kernels.
pub fn run_custom_conv<B>(case: &ConvCase, inputs: &ConvInputs, device: &B::Device) -> ConvResult
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    run_layer::<B>(case, inputs, device, |x, w, b, spec| {
        custom::conv2d(x, w, Some(b), spec)
    })
}

/// Runs a conv case forward and backward with Burn's ops on the [`Reference`] backend.
pub fn run_reference_conv(case: &ConvCase, inputs: &ConvInputs) -> ConvResult {
    run_layer::<Reference>(case, inputs, &Default::default(), |x, w, b, spec| {
        builtin::conv2d(x, w, Some(b), spec)
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

/// The custom conv on `B` vs Burn's on the reference.
pub fn check_conv<B>(case: &ConvCase, device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let inputs = ConvInputs::random(case);
    let custom = run_custom_conv::<B>(case, &inputs, device);
    let label = conv_label(case);
    let reference = reference_once(&label, || run_reference_conv(case, &inputs));
    assert_conv_close(&label, &custom, &reference);
}

/// The custom fused conv + pool on `B` vs Burn's conv, ReLU and pool on the reference.
pub fn check_conv_pool<B>(case: &ConvCase, pool: PoolSpec, device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let inputs = ConvInputs::random(case);
    let custom = run_layer::<B>(case, &inputs, device, |x, w, b, spec| {
        custom::conv2d_pool(x, w, Some(b), spec, pool)
    });
    let label = format!("{} + pool {pool:?}", conv_label(case));
    let reference = reference_once(&label, || {
        run_layer::<Reference>(case, &inputs, &Default::default(), |x, w, b, spec| {
            builtin::conv2d_pool(x, w, Some(b), spec, pool)
        })
    });
    assert_conv_close(&label, &custom, &reference);
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

/// Output and input gradient of `pool` on backend `B`.
fn run_pool<B: AutodiffBackend>(
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

/// Untracked inputs take the inference path (nothing recorded) and still agree.
pub fn check_untracked<B>(device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let (x, w) = (random_data(&[2, 3, 8, 8]), random_data(&[4, 3, 3, 3]));
    let spec = ConvSpec::relu(1);
    let custom = custom::conv2d(
        Tensor::<B, 4>::from_data(x.clone(), device),
        Tensor::from_data(w.clone(), device),
        None,
        spec,
    );
    let cpu = Default::default();
    let reference = builtin::conv2d(
        Tensor::<Reference, 4>::from_data(x, &cpu),
        Tensor::from_data(w, &cpu),
        None,
        spec,
    );
    assert_close(
        "untracked conv without bias",
        &custom.into_data(),
        &reference.into_data(),
    );
}

/// Weight and bias gradients of `layer` on an input that needs no gradient (asserted to get
/// none), under the loss `sum(out^2)`.
fn first_layer_grads<B: AutodiffBackend>(
    [input, weight, bias]: [&TensorData; 3],
    device: &B::Device,
    layer: impl FnOnce(Tensor<B, 4>, Tensor<B, 4>, Option<Tensor<B, 1>>) -> Tensor<B, 4>,
) -> (TensorData, TensorData) {
    let x = Tensor::<B, 4>::from_data(input.clone(), device);
    let w = Tensor::<B, 4>::from_data(weight.clone(), device).require_grad();
    let b = Tensor::<B, 1>::from_data(bias.clone(), device).require_grad();
    let out = layer(x.clone(), w.clone(), Some(b.clone()));
    let grads = (out.clone() * out).sum().backward();
    assert!(x.grad(&grads).is_none(), "no input gradient");
    (
        w.grad(&grads).unwrap().into_data(),
        b.grad(&grads).unwrap().into_data(),
    )
}

/// A first layer: the input needs no gradient, so the custom backward skips it; the weight
/// and bias gradients must still agree with Burn's, and the input must get no gradient.
pub fn check_input_without_gradient<B>(device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let data = [
        &random_data(&[3, 1, 12, 12]),
        &random_data(&[5, 1, 5, 5]),
        &random_data(&[5]),
    ];
    let (spec, pool, cpu) = (ConvSpec::relu(2), PoolSpec::TWO_BY_TWO, Default::default());
    // The layer alone, then fused with its pool.
    let custom = first_layer_grads::<B>(data, device, |x, w, b| custom::conv2d(x, w, b, spec));
    let reference =
        first_layer_grads::<Reference>(data, &cpu, |x, w, b| builtin::conv2d(x, w, b, spec));
    let custom_fused = first_layer_grads::<B>(data, device, |x, w, b| {
        custom::conv2d_pool(x, w, b, spec, pool)
    });
    let reference_fused = first_layer_grads::<Reference>(data, &cpu, |x, w, b| {
        builtin::conv2d_pool(x, w, b, spec, pool)
    });
    for (label, (w_custom, b_custom), (w_reference, b_reference)) in [
        ("first layer", custom, reference),
        ("fused first layer", custom_fused, reference_fused),
    ] {
        assert_close(&format!("{label}: weight grad"), &w_custom, &w_reference);
        assert_close(&format!("{label}: bias grad"), &b_custom, &b_reference);
    }
}

/// Output and input, weight and bias gradients of the fully connected `layer` on backend
/// `B`. `transposed_weight` passes the weight as the transpose of an `[outputs, inputs]`
/// tensor (a strided view, as Burn's column-layout `Linear` stores it).
fn run_linear<B: AutodiffBackend>(
    [batch, inputs, outputs]: [usize; 3],
    data: &ConvInputs,
    transposed_weight: bool,
    device: &B::Device,
    layer: impl FnOnce(Tensor<B, 2>, Tensor<B, 2>, Option<Tensor<B, 1>>) -> Tensor<B, 2>,
) -> ConvResult {
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
    let out = layer(x.clone(), w.clone(), Some(b.clone()));
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

/// The custom fully connected layer on `B`, with a contiguous and with a transposed
/// (strided) weight, vs Burn's on the reference.
pub fn check_linear<B>(dims: [usize; 3], device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let data = linear_inputs(dims);
    let reference =
        run_linear::<Reference>(dims, &data, false, &Default::default(), builtin::linear);
    let reference_relu =
        run_linear::<Reference>(dims, &data, false, &Default::default(), |x, w, b| {
            burn::tensor::activation::relu(builtin::linear(x, w, b))
        });
    for transposed in [false, true] {
        let custom = run_linear::<B>(dims, &data, transposed, device, custom::linear);
        let label = format!("linear {dims:?} (weight transposed: {transposed})");
        assert_conv_close(&label, &custom, &reference);
        let custom = run_linear::<B>(dims, &data, transposed, device, custom::linear_relu);
        let label = format!("linear + ReLU {dims:?} (weight transposed: {transposed})");
        assert_conv_close(&label, &custom, &reference_relu);
    }
}

/// Output and weight gradient of the fully connected `layer` without bias on an input that
/// needs no gradient (asserted to get none), under the loss `sum(out^2)`.
fn linear_first_layer<B: AutodiffBackend>(
    data: &ConvInputs,
    device: &B::Device,
    layer: impl FnOnce(Tensor<B, 2>, Tensor<B, 2>, Option<Tensor<B, 1>>) -> Tensor<B, 2>,
) -> (TensorData, TensorData) {
    let x = Tensor::<B, 2>::from_data(data.input.clone(), device);
    let w = Tensor::<B, 2>::from_data(data.weight.clone(), device).require_grad();
    let out = layer(x.clone(), w.clone(), None);
    let grads = (out.clone() * out.clone()).sum().backward();
    assert!(x.grad(&grads).is_none(), "no input gradient");
    (out.into_data(), w.grad(&grads).unwrap().into_data())
}

/// A fully connected layer on an input that needs no gradient (an MLP's first layer) and
/// without bias: the input gets no gradient, the weight gradient and output still agree.
pub fn check_linear_first_layer<B>(device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let data = linear_inputs([6, 20, 9]);
    let (out_custom, w_custom) = linear_first_layer::<B>(&data, device, custom::linear);
    let (out_reference, w_reference) =
        linear_first_layer::<Reference>(&data, &Default::default(), builtin::linear);
    assert_close("linear first layer: output", &out_custom, &out_reference);
    assert_close("linear first layer: weight grad", &w_custom, &w_reference);
}

/// A module with a 4-D, a 2-D and a 1-D parameter, for the optimizer comparison.
#[derive(Module, Debug)]
pub struct TinyNet<B: Backend> {
    pub kernel: Param<Tensor<B, 4>>,
    pub weight: Param<Tensor<B, 2>>,
    pub bias: Param<Tensor<B, 1>>,
}

/// The shapes of [`TinyNet`]'s parameters.
const TINY_SHAPES: [&[usize]; 3] = [&[3, 2, 3, 3], &[18, 5], &[5]];

/// One value per parameter of [`TinyNet`] (its start, or one step's loss coefficients).
type TinyData = [TensorData; 3];

fn tiny_data() -> TinyData {
    TINY_SHAPES.map(random_data)
}

impl<B: Backend> TinyNet<B> {
    fn new([kernel, weight, bias]: &TinyData, device: &B::Device) -> Self {
        Self {
            kernel: Param::from_data(kernel.clone(), device),
            weight: Param::from_data(weight.clone(), device),
            bias: Param::from_data(bias.clone(), device),
        }
    }

    /// `sum(tanh(p * a) * p)` over the parameters `p`, with coefficients `a` of the same
    /// shapes: a different gradient for every parameter element, from elementwise ops only
    /// (so the wgpu side compiles none of Burn's CubeCL matmuls).
    fn loss(&self, [a, b, c]: &TinyData, device: &B::Device) -> Tensor<B, 1> {
        fn term<B: Backend, const D: usize>(
            p: Tensor<B, D>,
            a: &TensorData,
            device: &B::Device,
        ) -> Tensor<B, 1> {
            let a = Tensor::<B, D>::from_data(a.clone(), device);
            ((p.clone() * a).tanh() * p).sum()
        }
        term(self.kernel.val(), a, device)
            + term(self.weight.val(), b, device)
            + term(self.bias.val(), c, device)
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

/// Parameters of [`TinyNet`] after a step of `optimizer` per loss in `losses`, from `start`.
/// With `hold_previous`, each step runs while a clone of the network is held, as Burn's
/// `Learner` holds its model during the optimizer step; the clone must come out unchanged.
fn adam_trajectory<B: AutodiffBackend>(
    start: &TinyData,
    losses: &[TinyData],
    mut optimizer: impl Optimizer<TinyNet<B>, B>,
    hold_previous: bool,
    device: &B::Device,
) -> Vec<f32> {
    let mut net = TinyNet::<B>::new(start, device);
    for loss in losses {
        let grads = GradientsParams::from_grads(net.loss(loss, device).backward(), &net);
        if hold_previous {
            let (previous, before) = (net.clone(), net.values());
            net = optimizer.step(ADAM_LR, net, grads);
            assert_eq!(previous.values(), before, "the held model changed");
        } else {
            net = optimizer.step(ADAM_LR, net, grads);
        }
    }
    net.values()
}

/// The learning rate of the Adam comparisons.
const ADAM_LR: f64 = 0.01;

/// Parameters at the start, then after `steps` updates with Burn's Adam on the reference
/// and with `FusedAdam` on `B`, same settings, same starting point and losses; with
/// `hold_previous`, `FusedAdam` updates parameters that a clone of the network also holds.
pub fn adam_trajectories<B>(
    weight_decay: Option<f32>,
    steps: usize,
    hold_previous: bool,
    device: &B::Device,
) -> [Vec<f32>; 3]
where
    B: AutodiffBackend<InnerBackend: RawKernels>,
{
    let start = tiny_data();
    let losses: Vec<TinyData> = (0..steps).map(|_| tiny_data()).collect();
    let burn_adam = AdamConfig::new()
        .with_epsilon(1e-7)
        .with_weight_decay(weight_decay.map(WeightDecayConfig::new))
        .init::<Reference, TinyNet<Reference>>();
    let fused_adam = FusedAdamConfig::new()
        .with_epsilon(1e-7)
        .with_weight_decay(weight_decay)
        .init::<B, TinyNet<B>>();
    [
        TinyNet::<Reference>::new(&start, &Default::default()).values(),
        adam_trajectory::<Reference>(&start, &losses, burn_adam, false, &Default::default()),
        adam_trajectory::<B>(&start, &losses, fused_adam, hold_previous, device),
    ]
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
