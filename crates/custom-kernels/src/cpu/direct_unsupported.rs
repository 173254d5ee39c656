//! The direct convolution kernels exist on x86-64 only; elsewhere no instruction set is
//! available ([`Isa`] has no values), so every convolution takes the im2col + GEMM path and
//! the functions below cannot be called.

use super::geometry::ConvGeometry;

/// An instruction set the direct kernels run on: none on this target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {}

impl Isa {
    /// None on this target.
    pub fn available() -> Vec<Isa> {
        Vec::new()
    }

    /// None on this target.
    pub fn best() -> Option<Isa> {
        None
    }

    /// Never called: there is no value to call it on.
    pub fn is_available(self) -> bool {
        match self {}
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, _f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

/// Which direct kernels run: none can on this target.
#[derive(Clone, Copy, Debug)]
pub(super) struct DirectKernels {
    pub isa: Isa,
    pub allow_filter_lanes: bool,
}

/// The direct path never computes a convolution on this target.
pub(super) fn fits(_g: &ConvGeometry) -> bool {
    false
}

pub(super) fn pack_forward(_weight: &[f32], _g: &ConvGeometry) -> Vec<f32> {
    Vec::new()
}

pub(super) fn pack_input_grad(_weight: &[f32], _g: &ConvGeometry) -> Vec<f32> {
    Vec::new()
}

pub(super) fn forward_image(
    kernels: DirectKernels,
    _image: &[f32],
    _packed: &[f32],
    _bias: Option<&[f32]>,
    _g: &ConvGeometry,
    _spread: bool,
    _out: &mut [f32],
) {
    match kernels.isa {}
}

pub(super) fn input_grad_image(
    kernels: DirectKernels,
    _dy: &[f32],
    _packed: &[f32],
    _g: &ConvGeometry,
    _dx: &mut [f32],
) {
    match kernels.isa {}
}

pub(super) fn add_weight_grad(
    kernels: DirectKernels,
    _images: &[f32],
    _dys: &[f32],
    _g: &ConvGeometry,
    _dw: &mut [f32],
) {
    match kernels.isa {}
}
