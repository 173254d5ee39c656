//! The two Burn backends the kernels are written for, as a run-time choice for the programs
//! (`--backend ndarray|wgpu`), and a wgpu device that is known to work.

use burn::backend::Wgpu;
use burn::backend::wgpu::WgpuDevice;
use burn::tensor::Tensor;

/// The backend to run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// Burn's ndarray backend on the CPU, with the hand-written CPU kernels.
    #[value(alias = "cpu")]
    Ndarray,
    /// Burn's wgpu backend (Vulkan, Metal, DX12) with the CubeCL kernels.
    #[value(alias = "gpu")]
    Wgpu,
}

crate::value_enum_text!(BackendChoice, "backend");

/// Why there is no wgpu device: the message a program prints.
pub const NO_GPU_ADAPTER: &str = "--backend wgpu: no GPU adapter found (install a Vulkan driver; \
on Debian, mesa-vulkan-drivers and libvulkan1 give a software one), or use --backend ndarray";

/// The default wgpu device, checked by running one kernel on it. Burn's wgpu backend panics
/// when the machine has no GPU adapter (no Vulkan, Metal or DX12 driver); this turns that
/// panic into an error ([`NO_GPU_ADAPTER`]).
pub fn wgpu_device() -> Result<WgpuDevice, &'static str> {
    std::panic::catch_unwind(|| {
        let device = WgpuDevice::default();
        Tensor::<Wgpu, 1>::ones([1], &device).into_scalar();
        device
    })
    .map_err(|_| NO_GPU_ADAPTER)
}
