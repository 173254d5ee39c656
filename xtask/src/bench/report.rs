//! The benchmark's output: a markdown table and, on request, JSON.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::cases::CaseResult;
use super::epoch::EpochComparison;
use super::peak::Peak;
use super::peer::PeerAbout;
use super::timing::Timing;

/// Everything a benchmark run measured, with where it ran.
#[derive(Serialize)]
pub struct BenchReport<'a> {
    /// The machine and the run.
    pub about: &'a About,
    /// The cases.
    pub results: &'a [CaseResult],
    /// Whole training epochs side by side with the peer (`--epochs`).
    pub epochs: &'a [EpochComparison],
}

/// Where and when a benchmark ran.
#[derive(Serialize)]
pub struct About {
    /// UTC date, `YYYY-MM-DD`.
    pub date: String,
    /// The CPU's model name.
    pub cpu: String,
    /// Backend name.
    pub backend: String,
    /// How the CPU kernels compute the convolutions (ndarray backend only).
    pub cpu_conv: Option<String>,
    /// Worker threads available to the CPU kernels (and given to the peer).
    pub threads: usize,
    /// The machine's measured SGEMM peak, when measured.
    pub peak: Option<Peak>,
    /// The peer, when one ran.
    pub peer: Option<PeerAbout>,
}

impl std::fmt::Display for About {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {}, backend {}, {} threads",
            self.date, self.cpu, self.backend, self.threads
        )?;
        if let Some(conv) = &self.cpu_conv {
            write!(f, ", convolutions: {conv}")?;
        }
        if let Some(peer) = &self.peer {
            write!(
                f,
                "; PyTorch {} (Python {}, {} threads, oneDNN {})",
                peer.torch,
                peer.python,
                peer.threads,
                if peer.mkldnn { "on" } else { "off" }
            )?;
        }
        if let Some(peak) = &self.peak {
            write!(
                f,
                "\nmachine peak ({0}x{0}x{0} SGEMM, gemm crate): {1:.0} GFLOP/s on {2} threads, {3:.0} GFLOP/s on one",
                peak.side, peak.all_threads_gflops, self.threads, peak.one_thread_gflops
            )?;
        }
        Ok(())
    }
}

/// The markdown table header.
pub fn header() -> String {
    "| case | batch | custom ms (min-max) | built-in ms (min-max) | speed-up | custom GFLOP/s | built-in GFLOP/s | custom images/s |\n\
     |---|---:|---:|---:|---:|---:|---:|---:|"
        .to_string()
}

/// The markdown table header with a peer: the project (custom kernels) against the peer.
pub fn peer_header() -> String {
    "| case | batch | project ms (min-max) | PyTorch ms (min-max) | project speed / PyTorch | project GFLOP/s (% peak) | PyTorch GFLOP/s (% peak) | project images/s | PyTorch images/s |\n\
     |---|---:|---:|---:|---:|---:|---:|---:|---:|"
        .to_string()
}

fn timing(t: &Option<Timing>) -> String {
    match t {
        Some(t) => format!("{:.3} ({:.3}-{:.3})", t.median_ms, t.min_ms, t.max_ms),
        None => "-".into(),
    }
}

fn median(t: &Option<Timing>) -> Option<f64> {
    t.as_ref().map(|t| t.median_ms)
}

fn or_dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "-".into())
}

impl CaseResult {
    fn gflops(&self, ms: f64) -> Option<f64> {
        self.flops.map(|f| f / (ms * 1e-3) / 1e9)
    }

    fn images_per_second(&self, t: &Option<Timing>) -> String {
        or_dash(median(t).map(|ms| format!("{:.0}", self.batch as f64 / (ms * 1e-3))))
    }
}

/// One markdown table row.
pub fn row(r: &CaseResult) -> String {
    let gflops = |t: &Option<Timing>| {
        or_dash(
            median(t)
                .and_then(|ms| r.gflops(ms))
                .map(|g| format!("{g:.1}")),
        )
    };
    let speed_up = median(&r.builtin)
        .zip(median(&r.custom))
        .map(|(b, c)| format!("{:.1}x", b / c));
    format!(
        "| {} {} | {} | {} | {} | {} | {} | {} | {} |",
        r.name,
        r.pass.label(),
        r.batch,
        timing(&r.custom),
        timing(&r.builtin),
        or_dash(speed_up),
        gflops(&r.custom),
        gflops(&r.builtin),
        r.images_per_second(&r.custom),
    )
}

/// One markdown table row with a peer; GFLOP/s also as a percentage of `peak`.
pub fn peer_row(r: &CaseResult, peak: Option<&Peak>) -> String {
    let gflops = |t: &Option<Timing>| {
        or_dash(median(t).and_then(|ms| r.gflops(ms)).map(|g| match peak {
            Some(peak) => format!("{g:.1} ({:.0}%)", peak.percent(g)),
            None => format!("{g:.1}"),
        }))
    };
    let speed = median(&r.peer)
        .zip(median(&r.custom))
        .map(|(p, c)| format!("{:.2}x", p / c));
    format!(
        "| {} {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        r.name,
        r.pass.label(),
        r.batch,
        timing(&r.custom),
        timing(&r.peer),
        or_dash(speed),
        gflops(&r.custom),
        gflops(&r.peer),
        r.images_per_second(&r.custom),
        r.images_per_second(&r.peer),
    )
}

/// Writes the report as pretty JSON to `path`.
pub fn write_json(report: &BenchReport<'_>, path: &Path) -> Result<()> {
    let json = serde_json::to_vec_pretty(report)?;
    workbench_io::atomic_write(path, &json)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::cases::Pass;

    fn timing(median_ms: f64) -> Option<Timing> {
        Some(Timing {
            runs: 5,
            min_ms: median_ms * 0.9,
            median_ms,
            max_ms: median_ms * 1.2,
        })
    }

    /// A peer row: speed = peer time / project time, GFLOP/s of each side and their share of
    /// the measured peak, images per second of each side.
    #[test]
    fn a_peer_row_compares_the_two_sides() {
        let result = CaseResult {
            name: "convnet.conv2".into(),
            pass: Pass::ForwardBackward,
            batch: 64,
            flops: Some(4e9),
            custom: timing(20.0),
            builtin: None,
            peer: timing(10.0),
        };
        let peak = Peak {
            side: 2048,
            all_threads_gflops: 400.0,
            one_thread_gflops: 200.0,
        };
        let row = peer_row(&result, Some(&peak));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[1], "convnet.conv2 fwd+bwd");
        assert_eq!(cells[2], "64");
        assert_eq!(cells[3], "20.000 (18.000-24.000)");
        assert_eq!(cells[4], "10.000 (9.000-12.000)");
        assert_eq!(cells[5], "0.50x");
        assert_eq!(cells[6], "200.0 (50%)");
        assert_eq!(cells[7], "400.0 (100%)");
        assert_eq!(cells[8], "3200");
        assert_eq!(cells[9], "6400");
    }
}
