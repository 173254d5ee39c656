//! The custom kernels agree with Burn's built-in ops, forward and in every gradient, on many
//! shapes (batch 1, odd sizes, stride 2, padding 0/1/2, non-square and 1x1 kernels, several
//! channels), on the ndarray backend under autodiff.
//!
//! Tolerance: |custom - builtin| <= 1e-4 * (1 + |builtin|) elementwise (f32, sums of up to a few
//! thousand products computed in a different order).

use burn::backend::Autodiff;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn_ndarray::NdArray;
use custom_kernels::{ConvSpec, Kernels, PoolSpec, conv2d, max_pool2d};

type B = Autodiff<NdArray>;

const TOLERANCE: f32 = 1e-4;

fn assert_close(name: &str, custom: Tensor<NdArray, 4>, builtin: Tensor<NdArray, 4>) {
    assert_eq!(custom.dims(), builtin.dims(), "{name}: shapes differ");
    let a = custom.into_data().to_vec::<f32>().unwrap();
    let b = builtin.into_data().to_vec::<f32>().unwrap();
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= TOLERANCE * (1.0 + y.abs()),
            "{name}: element {i}: custom {x} vs builtin {y}"
        );
    }
}

fn random<const D: usize>(shape: [usize; D]) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &Default::default())
}

struct ConvCase {
    input: [usize; 4],
    filters: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    relu: bool,
}

fn check_conv(case: &ConvCase) {
    let label = format!(
        "input {:?} filters {} kernel {:?} stride {:?} padding {:?} relu {}",
        case.input, case.filters, case.kernel, case.stride, case.padding, case.relu
    );
    let x = random(case.input);
    let w = random([case.filters, case.input[1], case.kernel[0], case.kernel[1]]);
    let b = random([case.filters]);
    let spec = ConvSpec {
        stride: case.stride,
        padding: case.padding,
        relu: case.relu,
    };
    let run = |kernels| {
        let (x, w, b) = (
            x.clone().require_grad(),
            w.clone().require_grad(),
            b.clone().require_grad(),
        );
        let out = conv2d(x.clone(), w.clone(), Some(b.clone()), spec, kernels);
        // A loss whose gradient differs per element.
        let mix = Tensor::<B, 4>::ones(out.dims(), &out.device()).cumsum(3) * 0.1;
        let grads = (out.clone() * mix).sum().backward();
        (
            out.inner(),
            x.grad(&grads).unwrap(),
            w.grad(&grads).unwrap(),
            b.grad(&grads).unwrap().reshape([1, 1, 1, case.filters]),
        )
    };
    let (out_c, dx_c, dw_c, db_c) = run(Kernels::Custom);
    let (out_b, dx_b, dw_b, db_b) = run(Kernels::Builtin);
    assert_close(&format!("{label}: output"), out_c, out_b);
    assert_close(&format!("{label}: input grad"), dx_c, dx_b);
    assert_close(&format!("{label}: weight grad"), dw_c, dw_b);
    assert_close(&format!("{label}: bias grad"), db_c, db_b);
}

#[test]
fn conv_forward_and_gradients_match_builtin() {
    let cases = [
        // The two LeNet-5 layers and the ConvNet's second layer (small batch).
        ConvCase {
            input: [2, 1, 28, 28],
            filters: 6,
            kernel: [5, 5],
            stride: [1, 1],
            padding: [2, 2],
            relu: true,
        },
        ConvCase {
            input: [3, 6, 14, 14],
            filters: 16,
            kernel: [5, 5],
            stride: [1, 1],
            padding: [0, 0],
            relu: true,
        },
        ConvCase {
            input: [2, 32, 14, 14],
            filters: 64,
            kernel: [5, 5],
            stride: [1, 1],
            padding: [2, 2],
            relu: true,
        },
        // Batch 1, odd sizes, no ReLU.
        ConvCase {
            input: [1, 3, 7, 9],
            filters: 4,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            relu: false,
        },
        // Stride 2 with padding 0, 1 and 2.
        ConvCase {
            input: [2, 2, 11, 10],
            filters: 3,
            kernel: [3, 3],
            stride: [2, 2],
            padding: [0, 0],
            relu: true,
        },
        ConvCase {
            input: [2, 2, 11, 10],
            filters: 3,
            kernel: [3, 3],
            stride: [2, 2],
            padding: [1, 1],
            relu: false,
        },
        ConvCase {
            input: [1, 4, 9, 9],
            filters: 5,
            kernel: [5, 5],
            stride: [2, 2],
            padding: [2, 2],
            relu: true,
        },
        // Non-square kernel, unequal strides and paddings.
        ConvCase {
            input: [2, 3, 12, 13],
            filters: 4,
            kernel: [3, 5],
            stride: [1, 2],
            padding: [1, 2],
            relu: true,
        },
        ConvCase {
            input: [1, 2, 6, 8],
            filters: 2,
            kernel: [2, 1],
            stride: [1, 1],
            padding: [0, 1],
            relu: false,
        },
        // 1x1 kernels (the GEMM-only path) and 1x1 with stride.
        ConvCase {
            input: [3, 8, 5, 5],
            filters: 6,
            kernel: [1, 1],
            stride: [1, 1],
            padding: [0, 0],
            relu: true,
        },
        ConvCase {
            input: [2, 4, 6, 6],
            filters: 3,
            kernel: [1, 1],
            stride: [2, 2],
            padding: [0, 0],
            relu: false,
        },
        // Kernel as large as the input.
        ConvCase {
            input: [2, 3, 4, 4],
            filters: 2,
            kernel: [4, 4],
            stride: [1, 1],
            padding: [0, 0],
            relu: false,
        },
    ];
    for case in &cases {
        check_conv(case);
    }
}

#[test]
fn max_pool_forward_and_gradient_match_builtin() {
    let cases: [([usize; 4], PoolSpec); 5] = [
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
    for (shape, spec) in cases {
        let x = random(shape);
        let run = |kernels| {
            let x = x.clone().require_grad();
            let out = max_pool2d(x.clone(), spec, kernels);
            let mix = Tensor::<B, 4>::ones(out.dims(), &out.device()).cumsum(2);
            let grads = (out.clone() * mix).sum().backward();
            (out.inner(), x.grad(&grads).unwrap())
        };
        let (out_c, dx_c) = run(Kernels::Custom);
        let (out_b, dx_b) = run(Kernels::Builtin);
        assert_close(&format!("pool {shape:?} {spec:?}: output"), out_c, out_b);
        assert_close(&format!("pool {shape:?} {spec:?}: input grad"), dx_c, dx_b);
    }
}

#[test]
fn untracked_inputs_take_the_inference_path() {
    // No require_grad: the autodiff backend must not record anything and still agree.
    let x = random([2, 3, 8, 8]);
    let w = random([4, 3, 3, 3]);
    let spec = ConvSpec::relu(1);
    let custom = conv2d(x.clone(), w.clone(), None, spec, Kernels::Custom);
    let builtin = conv2d(x, w, None, spec, Kernels::Builtin);
    assert_close(
        "untracked conv without bias",
        custom.inner(),
        builtin.inner(),
    );
}
