//! The machine's measured peak (`--peak`, and always with `--peer`): a large square SGEMM with
//! the `gemm` crate the kernels use, on all threads and on one, so every GFLOP/s figure can be
//! read as a share of what this machine does at best.

use std::time::Duration;

use custom_kernels::cpu::{Operand, Threads, Write, matmul};
use serde::Serialize;

use super::timing::{Repeats, time};

/// Side of the square matrices: large enough that packing and edges are noise.
const SIDE: usize = 2048;

/// Timed products per thread setting (after one warm-up).
const RUNS: usize = 5;

/// SGEMM throughput of this machine.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Peak {
    /// Side of the square product timed.
    pub side: usize,
    /// GFLOP/s on all of the kernels' threads (median run).
    pub all_threads_gflops: f64,
    /// GFLOP/s on one thread (median run).
    pub one_thread_gflops: f64,
}

impl Peak {
    /// `gflops` as a percentage of the all-threads peak.
    pub fn percent(&self, gflops: f64) -> f64 {
        100.0 * gflops / self.all_threads_gflops
    }
}

/// Times `SIDE`-square SGEMMs on all threads and on one.
pub fn measure() -> Peak {
    let a: Vec<f32> = (0..SIDE * SIDE).map(|i| (i % 17) as f32 * 0.01).collect();
    let b: Vec<f32> = (0..SIDE * SIDE).map(|i| (i % 13) as f32 * 0.01).collect();
    let mut c = vec![0.0f32; SIDE * SIDE];
    let flops = 2.0 * (SIDE as f64).powi(3);
    let repeats = Repeats {
        warmup: 1,
        fixed: Some(RUNS),
        budget: Duration::ZERO,
    };
    let mut gflops = |threads| {
        let timing = time(
            repeats,
            || {
                let (a, b) = (Operand::Plain(&a), Operand::Plain(&b));
                matmul(&mut c, a, b, [SIDE; 3], Write::Overwrite, threads)
            },
            || {},
        );
        flops / (timing.median_ms * 1e-3) / 1e9
    };
    Peak {
        side: SIDE,
        all_threads_gflops: gflops(Threads::All),
        one_thread_gflops: gflops(Threads::One),
    }
}
