//! The Burn backends the kernels are written for, as a run-time choice for the programs
//! (`--backend ndarray|wgpu|cuda`), and a device of each GPU backend that is known to work.

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
    /// Burn's CUDA backend (NVIDIA GPUs) with the same CubeCL kernels; in a build with
    /// `--features cuda`.
    Cuda,
}

crate::value_enum_text!(BackendChoice, "backend");

/// Why there is no wgpu device: the message a program prints.
pub const NO_GPU_ADAPTER: &str = "--backend wgpu: no GPU adapter found (install a Vulkan driver; \
on Debian, mesa-vulkan-drivers and libvulkan1 give a software one), or use --backend ndarray";

/// Why `--backend cuda` cannot run in a build without the `cuda` feature.
pub const CUDA_NOT_BUILT: &str = "--backend cuda: this program was built without CUDA; build it \
with the cuda feature (e.g. cargo run --release -p training --features cuda -- --backend cuda), \
or use --backend wgpu";

/// Why there is no CUDA device: the message a program prints.
pub const NO_CUDA_DEVICE: &str = "--backend cuda: no CUDA device found (CUDA needs an NVIDIA GPU \
and its driver, libcuda.so.1, and NVIDIA's runtime compiler, libnvrtc.so, on the library path: \
install the NVIDIA driver and the CUDA toolkit), or use --backend wgpu";

/// The default CUDA device, checked by running one kernel on it (Burn's CUDA backend panics
/// when the driver or a GPU is missing; this turns that panic into [`NO_CUDA_DEVICE`] and its
/// cause).
#[cfg(feature = "cuda")]
pub fn cuda_device() -> Result<burn::backend::cuda::CudaDevice, String> {
    quiet_probe(|| {
        let device = burn::backend::cuda::CudaDevice::default();
        Tensor::<burn::backend::Cuda, 1>::ones([1], &device).into_scalar();
        device
    })
    .map_err(|cause| format!("{NO_CUDA_DEVICE}; the cause: {cause}"))
}

/// Runs `probe`; a panic in it (or in a thread it waits on) becomes an error carrying the first
/// panic's message, up to its first " - ", and prints nothing. It swaps the process's panic
/// hook while it runs, so call it once, as a program starts, not from concurrent threads.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
fn quiet_probe<T>(probe: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T, String> {
    use std::sync::{Arc, Mutex, PoisonError};
    let cause: Arc<Mutex<Option<String>>> = Arc::default();
    let previous = std::panic::take_hook();
    let first = cause.clone();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        let mut first = first.lock().unwrap_or_else(PoisonError::into_inner);
        first.get_or_insert(message);
    }));
    let result = std::panic::catch_unwind(probe);
    std::panic::set_hook(previous);
    result.map_err(|_| {
        let cause = cause.lock().unwrap_or_else(PoisonError::into_inner).take();
        let cause = cause.unwrap_or_else(|| "a panic".to_string());
        cause.split(" - ").next().unwrap_or_default().to_string()
    })
}

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
