//! Flushing subnormal floats to zero on the CPU.
//!
//! Late in training, Adam's second moments and many gradients fall below `f32::MIN_POSITIVE`
//! (about 1.2e-38). x86 CPUs handle such subnormal numbers in microcode, dozens of times
//! slower than normal ones, so a training epoch slows down the longer it runs. Setting the
//! FTZ (flush to zero) and DAZ (denormals are zero) bits of MXCSR makes them plain zeros,
//! which changes results only below 1.2e-38.

/// Sets FTZ and DAZ on the calling thread and on every thread of rayon's global pool (which
/// it creates, so call it first thing in `main`); threads the caller starts afterwards
/// inherit the setting (as threads do on Linux), threads already running keep theirs. Returns false where that is not
/// possible: not x86-64, or the pool already exists (then only the calling thread is set).
pub fn flush_denormals_to_zero() -> bool {
    if !set_on_this_thread() {
        return false;
    }
    rayon::ThreadPoolBuilder::new()
        .start_handler(|_| {
            set_on_this_thread();
        })
        .build_global()
        .is_ok()
}

/// Sets FTZ and DAZ in this thread's MXCSR; false if the target has no MXCSR.
fn set_on_this_thread() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        /// MXCSR bit 15 (flush to zero) and bit 6 (denormals are zero).
        const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);
        let mut csr: u32 = 0;
        // SAFETY: `stmxcsr`/`ldmxcsr` read and write this thread's SSE control register
        // (SSE is part of x86-64) through a valid pointer to a local. Only the FTZ and DAZ
        // bits change, which only changes how subnormal values are treated: the intent.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
            csr |= FTZ_DAZ;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly));
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
