//! The CubeCL kernels agree with Burn's built-in wgpu ops, forward and in every gradient, on
//! the same shapes as the ndarray suite. Needs a Vulkan (or Metal/DX12)
//! adapter: Mesa's software driver lavapipe is enough (`.ci/run` installs it).
//!
//! Without an adapter the tests print that they did not run and pass, unless
//! `REQUIRE_WGPU=1` is set (as in CI), in which case they fail.

use crate::common;

use burn::backend::wgpu::WgpuDevice;
use burn::backend::{Autodiff, Wgpu};
use burn_ndarray::NdArray;
use custom_kernels::KernelChoice;

type B = Autodiff<Wgpu>;

/// The default wgpu device, or `None` (said on both outputs) when there is no adapter.
fn device() -> Option<WgpuDevice> {
    match custom_kernels::wgpu_device() {
        Ok(device) => Some(device),
        Err(error) => {
            let message = format!("NO GPU ADAPTER: the wgpu kernel tests did not run: {error}");
            assert!(
                std::env::var("REQUIRE_WGPU").is_err(),
                "{message}, and REQUIRE_WGPU is set"
            );
            eprintln!("{message}");
            println!("{message}");
            None
        }
    }
}

/// Burn 0.21's built-in wgpu conv returns a zero input gradient for a 1x1 kernel with stride 2
/// (seen on Mesa lavapipe; Burn's ndarray ops and both custom kernels agree with each other).
fn builtin_wgpu_is_wrong(case: &common::ConvCase) -> bool {
    case.kernel == [1, 1] && case.stride != [1, 1]
}

#[test]
fn wgpu_conv_forward_and_gradients_match_builtin() {
    let Some(device) = device() else { return };
    for case in &common::CONV_CASES {
        let label = common::conv_label(case);
        let inputs = common::ConvInputs::random(case);
        let custom = common::run_conv::<B>(case, &inputs, KernelChoice::Custom, &device);
        // Reference 1: Burn's ndarray ops on the same numbers (always).
        let cpu = common::run_conv::<Autodiff<NdArray>>(
            case,
            &inputs,
            KernelChoice::Builtin,
            &Default::default(),
        );
        common::assert_conv_close(&format!("{label} (vs Burn ndarray)"), &custom, &cpu);
        // Reference 2: Burn's own wgpu ops, except where they are known to be wrong.
        if builtin_wgpu_is_wrong(case) {
            println!(
                "{label}: Burn's built-in wgpu conv gradient is known to be wrong here; compared with ndarray only"
            );
            continue;
        }
        let builtin = common::run_conv::<B>(case, &inputs, KernelChoice::Builtin, &device);
        common::assert_conv_close(&format!("{label} (vs Burn wgpu)"), &custom, &builtin);
    }
}

#[test]
fn burn_builtin_wgpu_1x1_stride_2_input_gradient_differs_from_ndarray() {
    // Documents the Burn bug worked around above; if this starts failing, Burn fixed it and the
    // exception in `builtin_wgpu_is_wrong` can go.
    let Some(device) = device() else { return };
    let case = common::CONV_CASES
        .iter()
        .find(|c| builtin_wgpu_is_wrong(c))
        .unwrap();
    let inputs = common::ConvInputs::random(case);
    let wgpu = common::run_conv::<B>(case, &inputs, KernelChoice::Builtin, &device);
    let cpu = common::run_conv::<Autodiff<NdArray>>(
        case,
        &inputs,
        KernelChoice::Builtin,
        &Default::default(),
    );
    let diff = common::max_abs_diff(&wgpu.input_grad, &cpu.input_grad);
    assert!(
        diff > 0.1,
        "Burn's wgpu 1x1 stride-2 conv gradient now matches ndarray (max diff {diff})"
    );
}

#[test]
fn wgpu_fused_conv_pool_forward_and_gradients_match_builtin() {
    let Some(device) = device() else { return };
    for (case, pool) in common::conv_pool_cases() {
        common::check_conv_pool::<B>(&case, pool, &device);
    }
}

#[test]
fn wgpu_max_pool_forward_and_gradient_match_builtin() {
    let Some(device) = device() else { return };
    for (shape, spec) in common::POOL_CASES {
        common::check_pool::<B>(shape, spec, &device);
    }
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
fn wgpu_fused_adam_matches_burn_adam() {
    let Some(device) = device() else { return };
    for weight_decay in [None, Some(0.05)] {
        let [start, burn, fused] = common::adam_trajectories::<B>(weight_decay, 6, &device);
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
