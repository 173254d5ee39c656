//! Timing one operation: warm-up, then repeated runs, each ended by a device sync.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How many times to run a case.
#[derive(Clone, Copy, Debug)]
pub struct Repeats {
    /// Untimed runs first (caches, allocator, thread pool, GPU pipelines, autotune).
    pub warmup: usize,
    /// Timed runs: a fixed count, or `None` to run until `budget` is spent (at least 5, at
    /// most 200).
    pub fixed: Option<usize>,
    /// Time to spend on a case's timed runs when the count is not fixed.
    pub budget: Duration,
}

/// Median and spread of a case's timed runs, in milliseconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Timing {
    /// Number of timed runs.
    pub runs: usize,
    /// Fastest run.
    pub min_ms: f64,
    /// Median run.
    pub median_ms: f64,
    /// Slowest run.
    pub max_ms: f64,
}

/// Times `run`, calling `sync` at the end of every run so asynchronous (GPU) work is
/// finished before the clock stops.
pub fn time(repeats: Repeats, mut run: impl FnMut(), sync: impl Fn()) -> Timing {
    for _ in 0..repeats.warmup {
        run();
        sync();
    }
    let mut samples = Vec::new();
    let started = Instant::now();
    loop {
        let start = Instant::now();
        run();
        sync();
        samples.push(start.elapsed().as_secs_f64() * 1e3);
        let done = match repeats.fixed {
            Some(n) => samples.len() >= n,
            None => {
                samples.len() >= 200 || (samples.len() >= 5 && started.elapsed() >= repeats.budget)
            }
        };
        if done {
            break;
        }
    }
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    let median = if samples.len() % 2 == 1 {
        samples[mid]
    } else {
        (samples[mid - 1] + samples[mid]) / 2.0
    };
    Timing {
        runs: samples.len(),
        min_ms: samples[0],
        median_ms: median,
        max_ms: samples[samples.len() - 1],
    }
}
