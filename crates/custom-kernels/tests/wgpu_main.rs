//! The CubeCL kernels against Burn's wgpu ops: a test binary of its own, built only with
//! `--features wgpu` (CI runs it on lavapipe), so that the wgpu build does not compile the
//! CPU tests a second time.

mod common;

mod wgpu_agree_with_burn;
