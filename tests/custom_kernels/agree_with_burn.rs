//! The custom kernels agree with Burn's built-in ops, forward and in every gradient, on many
//! shapes (batch 1, odd sizes, stride 2, padding 0/1/2, non-square and 1x1 kernels, several
//! channels; fully connected layers from tiny to the MLP's, with and without the ReLU fused
//! into them), on the ndarray backend under
//! autodiff. Tolerance: see `common`.

use super::common;

use burn::backend::Autodiff;
use burn_ndarray::NdArray;

type B = Autodiff<NdArray>;

#[test]
fn conv_forward_and_gradients_match_builtin() {
    for case in &common::CONV_CASES {
        common::check_conv::<B>(case, &Default::default());
    }
}

#[test]
fn fused_conv_pool_forward_and_gradients_match_builtin() {
    for (case, pool) in common::conv_pool_cases() {
        common::check_conv_pool::<B>(&case, pool, &Default::default());
    }
}

#[test]
fn max_avg_and_global_pools_forward_and_gradient_match_builtin() {
    common::check_pools::<B>(&Default::default());
}

#[test]
fn max_pool_propagates_nans() {
    common::check_cpu_pool_propagates_nans();
}

#[test]
fn untracked_inputs_take_the_inference_path() {
    common::check_untracked::<B>(&Default::default());
}

#[test]
fn first_layer_without_input_gradient() {
    common::check_input_without_gradient::<B>(&Default::default());
}

#[test]
fn linear_forward_and_gradients_match_builtin() {
    for dims in common::LINEAR_CASES {
        common::check_linear::<B>(dims, &Default::default());
    }
}

#[test]
fn linear_first_layer_without_input_gradient_or_bias() {
    common::check_linear_first_layer::<B>(&Default::default());
}
