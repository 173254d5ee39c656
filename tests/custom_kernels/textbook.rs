//! Small hand-checked examples of the kind a textbook prints, run through the custom kernels.

use burn::backend::Autodiff;
use burn::prelude::*;
use burn_ndarray::NdArray;
use custom_kernels::{
    ConvSpec, KernelChoice, PoolSpec, avg_pool2d, conv2d, global_avg_pool2d, max_pool2d,
};

type B = NdArray;

fn tensor4(values: &[f32], shape: [usize; 4]) -> Tensor<B, 4> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), &Default::default())
}

fn values(t: Tensor<B, 4>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

/// The 5x5 input 1..=25 (row-major) and a 3x3 kernel with a single 1 at the centre-right and
/// a -1 at the centre-left: a horizontal difference, so every valid output is x[i][j+1]-x[i][j-1] = 2.
fn input_5x5() -> Tensor<B, 4> {
    let v: Vec<f32> = (1..=25).map(|v| v as f32).collect();
    tensor4(&v, [1, 1, 5, 5])
}

fn difference_kernel() -> Tensor<B, 4> {
    tensor4(&[0., 0., 0., -1., 0., 1., 0., 0., 0.], [1, 1, 3, 3])
}

fn spec(stride: usize, padding: usize) -> ConvSpec {
    ConvSpec {
        stride: [stride, stride],
        padding: [padding, padding],
        relu: false,
    }
}

#[test]
fn three_by_three_over_five_by_five_stride_1_valid() {
    let out = conv2d(
        input_5x5(),
        difference_kernel(),
        None,
        spec(1, 0),
        KernelChoice::Custom,
    );
    assert_eq!(out.dims(), [1, 1, 3, 3]);
    assert_eq!(values(out), vec![2.0; 9]);
}

#[test]
fn three_by_three_over_five_by_five_stride_1_padding_1() {
    let out = conv2d(
        input_5x5(),
        difference_kernel(),
        None,
        spec(1, 1),
        KernelChoice::Custom,
    );
    assert_eq!(out.dims(), [1, 1, 5, 5]);
    // Borders see a zero on one side: left column = x[i][1] = 5i+2, right column = -x[i][3] = -(5i+4).
    #[rustfmt::skip]
    let expected = vec![
        2., 2., 2., 2., -4.,
        7., 2., 2., 2., -9.,
        12., 2., 2., 2., -14.,
        17., 2., 2., 2., -19.,
        22., 2., 2., 2., -24.,
    ];
    assert_eq!(values(out), expected);
}

#[test]
fn three_by_three_over_five_by_five_stride_2() {
    // All-ones kernel (box sum) with stride 2: valid gives 2x2, padding 1 gives 3x3.
    let ones = tensor4(&[1.0; 9], [1, 1, 3, 3]);
    let out = conv2d(
        input_5x5(),
        ones.clone(),
        None,
        spec(2, 0),
        KernelChoice::Custom,
    );
    assert_eq!(out.dims(), [1, 1, 2, 2]);
    // Window sums centred at (1,1), (1,3), (3,1), (3,3): 9 * centre value.
    assert_eq!(values(out), vec![63., 81., 153., 171.]);
    let out = conv2d(input_5x5(), ones, None, spec(2, 1), KernelChoice::Custom);
    assert_eq!(out.dims(), [1, 1, 3, 3]);
    // Corner (0,0): 1+2+6+7 = 16; top middle (0,2): 2+3+4+7+8+9 = 33; centre: 9*13 = 117.
    assert_eq!(
        values(out),
        vec![16., 33., 28., 69., 117., 87., 76., 123., 88.]
    );
}

#[test]
fn bias_and_relu_are_fused() {
    let bias = Tensor::<B, 1>::from_data([-3.0f32], &Default::default());
    let spec = ConvSpec {
        relu: true,
        ..spec(1, 1)
    };
    let out = conv2d(
        input_5x5(),
        difference_kernel(),
        Some(bias),
        spec,
        KernelChoice::Custom,
    );
    let v = values(out);
    assert_eq!(&v[..5], &[0., 0., 0., 0., 0.], "2-3 and -4-3 clip to zero");
    assert_eq!(v[5], 4.0, "7 - 3");
}

#[test]
fn two_by_two_max_pool_over_four_by_four() {
    #[rustfmt::skip]
    let x = tensor4(&[
        1., 1., 2., 4.,
        5., 6., 7., 8.,
        3., 2., 1., 0.,
        1., 2., 3., 4.,
    ], [1, 1, 4, 4]);
    let out = max_pool2d(x, PoolSpec::TWO_BY_TWO, KernelChoice::Custom);
    assert_eq!(out.dims(), [1, 1, 2, 2]);
    assert_eq!(values(out), vec![6., 8., 3., 4.]);
}

/// The input of the pooling examples.
fn four_by_four<B: Backend>() -> Tensor<B, 4> {
    #[rustfmt::skip]
    let values = [
        1., 1., 2., 4.,
        5., 6., 7., 8.,
        3., 2., 1., 0.,
        1., 2., 3., 4.,
    ];
    Tensor::from_data(
        TensorData::new(values.to_vec(), [1, 1, 4, 4]),
        &Default::default(),
    )
}

#[test]
fn two_by_two_average_pool_and_global_average_over_four_by_four() {
    let out = avg_pool2d(
        four_by_four::<B>(),
        PoolSpec::TWO_BY_TWO,
        KernelChoice::Custom,
    );
    // (1+1+5+6)/4, (2+4+7+8)/4, (3+2+1+2)/4, (1+0+3+4)/4.
    assert_eq!(values(out), vec![3.25, 5.25, 2., 2.]);
    let global = global_avg_pool2d(four_by_four::<B>(), KernelChoice::Custom);
    assert_eq!(global.dims(), [1, 1, 1, 1]);
    assert_eq!(values(global), vec![50. / 16.]);
}

/// The gradient of an average pool: each window hands each of its inputs 1/(window size) of
/// its output gradient. With overlapping 3x3 windows at stride 1 over 4x4 (four windows), a
/// corner is in one window, an edge middle in two, a centre element in all four.
#[test]
fn average_pool_gradient_shares_each_window_evenly() {
    type AB = Autodiff<B>;
    let x = four_by_four::<AB>().require_grad();
    let grads = avg_pool2d(x.clone(), PoolSpec::square(3, 1), KernelChoice::Custom)
        .sum()
        .backward();
    let dx = x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
    let ninth = 1.0 / 9.0;
    #[rustfmt::skip]
    let expected = [
        1., 2., 2., 1.,
        2., 4., 4., 2.,
        2., 4., 4., 2.,
        1., 2., 2., 1.,
    ].map(|windows: f32| windows * ninth);
    for (got, want) in dx.iter().zip(expected) {
        assert!((got - want).abs() < 1e-7, "{dx:?}");
    }
}
