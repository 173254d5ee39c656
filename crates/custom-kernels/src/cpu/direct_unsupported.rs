//! The direct AVX-512 convolution kernels exist on x86-64 only; elsewhere [`supports`] is
//! false and the convolutions take the im2col + GEMM path, so the other functions are never
//! called.

use super::conv::ConvGeometry;

/// Never: this target has no AVX-512.
pub(super) fn supports(_g: &ConvGeometry) -> bool {
    false
}

pub(super) fn pack_forward(_weight: &[f32], _g: &ConvGeometry) -> Vec<f32> {
    unreachable!("direct kernels are not supported on this target")
}

pub(super) fn pack_input_grad(_weight: &[f32], _g: &ConvGeometry) -> Vec<f32> {
    unreachable!("direct kernels are not supported on this target")
}

pub(super) fn forward_image(
    _image: &[f32],
    _packed: &[f32],
    _bias: Option<&[f32]>,
    _g: &ConvGeometry,
    _out: &mut [f32],
) {
    unreachable!("direct kernels are not supported on this target")
}

pub(super) fn input_grad_image(_dy: &[f32], _packed: &[f32], _g: &ConvGeometry, _dx: &mut [f32]) {
    unreachable!("direct kernels are not supported on this target")
}

pub(super) fn add_weight_grad(_images: &[f32], _dys: &[f32], _g: &ConvGeometry, _dw: &mut [f32]) {
    unreachable!("direct kernels are not supported on this target")
}
