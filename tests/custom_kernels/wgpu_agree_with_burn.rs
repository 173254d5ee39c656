//! The CubeCL kernels agree with Burn's built-in ops, forward and in every gradient, on the
//! same shapes as the ndarray suite. The reference is Burn's ndarray backend, as for the CPU
//! kernels: Burn 0.21's own wgpu conv is no reference (its input gradient for a 1x1 kernel
//! with stride 2 is zero on lavapipe), and leaving it out keeps Burn's CubeCL convolutions
//! and matmuls out of this test binary. Needs a Vulkan (or Metal/DX12) adapter: Mesa's
//! software driver lavapipe is enough (`.ci/run` installs it).
//!
//! Without an adapter the tests print that they did not run and pass, unless
//! `REQUIRE_WGPU=1` is set (as in CI), in which case they fail.

use super::common;

use burn::backend::wgpu::WgpuDevice;
use burn::backend::{Autodiff, Wgpu};

type B = Autodiff<Wgpu>;

/// The default wgpu device, or `None` (said on both outputs) when there is no adapter.
fn device() -> Option<WgpuDevice> {
    match custom_kernels::wgpu_device() {
        Ok(device) => Some(device),
        Err(error) => {
            crate::not_run::did_not_run(
                "REQUIRE_WGPU",
                &format!("NO GPU ADAPTER: the wgpu kernel tests did not run: {error}"),
            );
            None
        }
    }
}

#[test]
fn wgpu_conv_forward_and_gradients_match_builtin() {
    let Some(device) = device() else { return };
    for case in &common::CONV_CASES {
        common::check_conv::<B>(case, &device);
    }
}

#[test]
fn wgpu_fused_conv_pool_forward_and_gradients_match_builtin() {
    let Some(device) = device() else { return };
    for (case, pool) in common::conv_pool_cases() {
        common::check_conv_pool::<B>(&case, pool, &device);
    }
}

#[test]
fn wgpu_max_avg_and_global_pools_forward_and_gradient_match_builtin() {
    let Some(device) = device() else { return };
    common::check_pools::<B>(&device);
}

#[test]
fn wgpu_average_pools_equal_the_cpu_to_the_bit() {
    let Some(device) = device() else { return };
    common::check_avg_pools_equal_the_cpu::<B>(&device);
}

#[test]
fn wgpu_max_pool_propagates_nans_as_the_cpu_does() {
    let Some(device) = device() else { return };
    common::check_pool_nans_as_cpu::<B>(&device);
}

#[test]
fn wgpu_untracked_inputs_take_the_inference_path() {
    let Some(device) = device() else { return };
    common::check_untracked::<B>(&device);
}

#[test]
fn wgpu_first_layer_without_input_gradient() {
    let Some(device) = device() else { return };
    common::check_input_without_gradient::<B>(&device);
}

#[test]
fn wgpu_linear_forward_and_gradients_match_builtin() {
    let Some(device) = device() else { return };
    for dims in common::LINEAR_CASES {
        common::check_linear::<B>(dims, &device);
    }
}

#[test]
fn wgpu_linear_first_layer_without_input_gradient_or_bias() {
    let Some(device) = device() else { return };
    common::check_linear_first_layer::<B>(&device);
}

#[test]
fn wgpu_cross_entropy_matches_the_definition_in_f64() {
    let Some(device) = device() else { return };
    super::cross_entropy::check_against_the_definition::<B>(&device);
}

#[test]
fn wgpu_fused_adam_matches_burn_adam() {
    let Some(device) = device() else { return };
    for weight_decay in [None, Some(0.05)] {
        let [start, burn, fused] = common::adam_trajectories::<B>(weight_decay, 6, false, &device);
        let moved = start.iter().zip(&burn).filter(|(a, b)| a != b).count();
        assert_eq!(moved, burn.len(), "every parameter moved");
        for (i, (a, b)) in burn.iter().zip(&fused).enumerate() {
            assert!(
                (a - b).abs() <= 1e-6 * (1.0 + a.abs()),
                "weight decay {weight_decay:?}: parameter {i}: Burn {a} vs fused {b}"
            );
        }
    }
}
