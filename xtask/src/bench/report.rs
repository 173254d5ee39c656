//! The benchmark's output: a markdown table and, on request, JSON.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::cases::CaseResult;

/// Everything a benchmark run measured, with where it ran.
#[derive(Serialize)]
pub struct BenchReport<'a> {
    /// Backend name.
    pub backend: &'a str,
    /// Worker threads available to the CPU kernels.
    pub threads: usize,
    /// The cases.
    pub results: &'a [CaseResult],
}

/// The markdown table header.
pub fn header() -> String {
    "| case | batch | custom ms (min-max) | built-in ms (min-max) | speed-up | custom GFLOP/s | built-in GFLOP/s | custom images/s |\n\
     |---|---:|---:|---:|---:|---:|---:|---:|"
        .to_string()
}

/// One markdown table row.
pub fn row(r: &CaseResult) -> String {
    let gflops = |ms: f64| {
        r.flops
            .map(|f| format!("{:.1}", f / (ms * 1e-3) / 1e9))
            .unwrap_or_else(|| "-".into())
    };
    format!(
        "| {} {} | {} | {:.3} ({:.3}-{:.3}) | {:.3} ({:.3}-{:.3}) | {:.1}x | {} | {} | {:.0} |",
        r.name,
        r.pass.label(),
        r.batch,
        r.custom.median_ms,
        r.custom.min_ms,
        r.custom.max_ms,
        r.builtin.median_ms,
        r.builtin.min_ms,
        r.builtin.max_ms,
        r.builtin.median_ms / r.custom.median_ms,
        gflops(r.custom.median_ms),
        gflops(r.builtin.median_ms),
        r.batch as f64 / (r.custom.median_ms * 1e-3),
    )
}

/// Writes the report as pretty JSON to `path`.
pub fn write_json(report: &BenchReport<'_>, path: &Path) -> Result<()> {
    let json = serde_json::to_vec_pretty(report)?;
    model::atomic_write(path, &json).with_context(|| format!("cannot write {}", path.display()))
}
