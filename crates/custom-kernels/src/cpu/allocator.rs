//! Keeping freed tensor buffers inside the process.
//!
//! Every training step allocates the same large buffers again (activations, gradients, the
//! outputs of these kernels). glibc's malloc serves big requests with fresh `mmap`s and gives
//! them back on `free`, so each step page-faults its memory in anew (in a profile of a conv
//! layer's forward+backward, see docs/kernels.md, page faults were a large share of the time).
//! Raising the mmap and trim thresholds makes freed buffers stay in the heap for the next step
//! (the process keeps its peak footprint, as PyTorch's caching allocator does).

/// Tunes the allocator as described in the module docs. Call once at the start of a program
/// that trains or benchmarks; a no-op where the C library is not glibc.
pub fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // glibc's largest accepted mmap threshold (32 MiB on 64-bit): larger blocks still
        // come from mmap. Freed memory at the top of the heap is kept up to 1 GiB.
        const MMAP_THRESHOLD: libc::c_int = 32 << 20;
        const TRIM_THRESHOLD: libc::c_int = 1 << 30;
        // SAFETY: `mallopt` only changes allocator parameters; it is safe to call at any time.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    }
}
