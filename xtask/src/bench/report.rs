//! The benchmark's output: a markdown table and, on request, JSON.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::cases::CaseResult;
use super::timing::Timing;

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
    let timing = |t: &Option<Timing>| match t {
        Some(t) => format!("{:.3} ({:.3}-{:.3})", t.median_ms, t.min_ms, t.max_ms),
        None => "-".into(),
    };
    let median = |t: &Option<Timing>| t.as_ref().map(|t| t.median_ms);
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
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
        or_dash(median(&r.custom).map(&gflops)),
        or_dash(median(&r.builtin).map(&gflops)),
        or_dash(median(&r.custom).map(|ms| format!("{:.0}", r.batch as f64 / (ms * 1e-3)))),
    )
}

/// Writes the report as pretty JSON to `path`.
pub fn write_json(report: &BenchReport<'_>, path: &Path) -> Result<()> {
    let json = serde_json::to_vec_pretty(report)?;
    model::atomic_write(path, &json).with_context(|| format!("cannot write {}", path.display()))
}
