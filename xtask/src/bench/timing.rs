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
    Timing {
        runs: samples.len(),
        min_ms: samples[0],
        median_ms: median(&samples),
        max_ms: samples[samples.len() - 1],
    }
}

/// The median of sorted, non-empty `values`.
fn median(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

impl Timing {
    /// One case timed in several rounds, as one timing: the median of the rounds' medians
    /// (a round slowed by a burst of other work on the machine moves it little), the fastest
    /// and slowest run of any round, and every run counted. `None` for no rounds.
    pub fn across_rounds(rounds: &[Timing]) -> Option<Timing> {
        let mut medians: Vec<f64> = rounds.iter().map(|t| t.median_ms).collect();
        medians.sort_by(f64::total_cmp);
        (!rounds.is_empty()).then(|| Timing {
            runs: rounds.iter().map(|t| t.runs).sum(),
            min_ms: rounds
                .iter()
                .map(|t| t.min_ms)
                .fold(f64::INFINITY, f64::min),
            median_ms: median(&medians),
            max_ms: rounds.iter().map(|t| t.max_ms).fold(0.0, f64::max),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(min_ms: f64, median_ms: f64, max_ms: f64) -> Timing {
        Timing {
            runs: 5,
            min_ms,
            median_ms,
            max_ms,
        }
    }

    #[test]
    fn rounds_combine_to_the_median_of_their_medians_and_the_extreme_runs() {
        let three = [
            round(9.0, 10.0, 30.0),
            round(8.0, 40.0, 45.0),
            round(9.5, 11.0, 12.0),
        ];
        let t = Timing::across_rounds(&three).unwrap();
        assert_eq!(
            (t.runs, t.min_ms, t.median_ms, t.max_ms),
            (15, 8.0, 11.0, 45.0)
        );
        let two = Timing::across_rounds(&three[..2]).unwrap();
        assert_eq!(two.median_ms, 25.0);
        assert!(Timing::across_rounds(&[]).is_none());
    }
}
