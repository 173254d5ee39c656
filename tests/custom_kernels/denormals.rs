//! `flush_denormals_to_zero` makes subnormal results zero on the calling thread, on rayon's
//! pool and on threads the calling thread starts afterwards (Linux threads inherit the
//! setting), and leaves threads that already run alone. The check runs in a child process of
//! this test binary: it must create rayon's global pool, which other tests here may already have
//! created, and it changes the floating-point mode of that pool.

use std::hint::black_box;
use std::process::Command;

use rayon::prelude::*;

/// The bits of `f32::MIN_POSITIVE / 4`: a subnormal number unless flushed to zero. (Bits, as
/// a comparison on a thread with DAZ set would itself read a subnormal as zero.)
fn quarter_of_smallest_normal() -> u32 {
    (black_box(f32::MIN_POSITIVE) / black_box(4.0)).to_bits()
}

#[test]
#[cfg(target_arch = "x86_64")]
fn subnormals_become_zero_on_this_thread_the_pool_and_later_threads() {
    const CHILD: &str = "CUSTOM_KERNELS_DENORMALS_CHILD";
    if std::env::var_os(CHILD).is_none() {
        // This test's name as the harness knows it: the module path without the crate name.
        let module = module_path!().split_once("::").map_or("", |(_, m)| m);
        let name =
            format!("{module}::subnormals_become_zero_on_this_thread_the_pool_and_later_threads");
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &name, "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "the child process ({name}) failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let (start, started) = std::sync::mpsc::channel::<()>();
    let earlier_thread = std::thread::spawn(move || {
        started.recv().unwrap();
        quarter_of_smallest_normal()
    });
    assert_ne!(quarter_of_smallest_normal(), 0, "subnormal before");
    assert!(
        custom_kernels::cpu::flush_denormals_to_zero(),
        "pool created with FTZ/DAZ"
    );
    assert_eq!(quarter_of_smallest_normal(), 0, "calling thread flushes");
    let pooled: Vec<u32> = (0..64)
        .into_par_iter()
        .map(|_| quarter_of_smallest_normal())
        .collect();
    assert!(pooled.iter().all(|&x| x == 0), "rayon threads flush");
    let later = std::thread::spawn(quarter_of_smallest_normal)
        .join()
        .unwrap();
    assert_eq!(later, 0, "a thread started afterwards inherits the setting");
    start.send(()).unwrap();
    let earlier = earlier_thread.join().unwrap();
    assert_ne!(earlier, 0, "a thread started before keeps subnormals");
    // A second call cannot rebuild the pool and says so.
    assert!(!custom_kernels::cpu::flush_denormals_to_zero());
}
