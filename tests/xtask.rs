//! The bench harness of `cargo xtask bench`, as a smoke test: it runs cases with both
//! implementations and counts their FLOPs by the formula. Speed is for the bench itself;
//! here the bench is compiled unoptimised (see `xtask/src/lib.rs`).

use std::time::Duration;

use custom_kernels::KernelChoice;
use xtask::bench::cases::{CaseResult, Selection, run_cases};
use xtask::bench::timing::Repeats;

type AB = burn::backend::Autodiff<burn_ndarray::NdArray>;

#[test]
fn selected_cases_run_with_both_implementations() {
    let selection = Selection {
        filter: Some("lenet5.conv2"),
        batches: &[2],
        repeats: Repeats {
            warmup: 0,
            fixed: Some(2),
            budget: Duration::ZERO,
        },
        kernels: &[KernelChoice::Custom, KernelChoice::Builtin],
    };
    let mut printed = 0;
    let results = run_cases::<AB>(
        &Default::default(),
        &selection,
        |_, _| Ok(None),
        |_| printed += 1,
    )
    .unwrap();
    let ids: Vec<String> = results
        .iter()
        .map(|r| CaseResult::id(&r.name, r.pass, r.batch))
        .collect();
    assert_eq!(ids, ["lenet5.conv2 fwd b2", "lenet5.conv2 fwd+bwd b2"]);
    assert_eq!(printed, 2);
    // 2 images x 16 filters x 10x10 outputs x 6 channels x 5x5 = 480,000 MACs.
    assert_eq!(results[0].flops, Some(2.0 * 480_000.0));
    assert_eq!(results[1].flops, Some(3.0 * 2.0 * 480_000.0));
    for r in &results {
        for t in [&r.custom, &r.builtin] {
            let t = t.as_ref().expect("both implementations timed");
            assert_eq!(t.runs, 2);
            assert!(t.min_ms > 0.0 && t.min_ms <= t.median_ms && t.median_ms <= t.max_ms);
        }
    }
}
