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

mod adam;
mod conv;
mod linear;
mod pool;

pub use adam::*;
pub use conv::*;
pub use linear::*;
pub use pool::*;

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
