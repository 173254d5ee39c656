//! The bench harness of `cargo xtask bench`, as a smoke test: it runs cases with both
//! implementations and counts their FLOPs by the formula. Speed is for the bench itself;
//! here the bench is compiled unoptimised (see `xtask/src/lib.rs`).

use std::time::Duration;

use custom_kernels::KernelChoice;
use workbench_io::names::TRAIN_CONFIG_FILE;
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

/// `cargo xtask robustness`, small: each run trains with its recipe's options, is scored on
/// every test variant, and a second call reads the runs back instead of training again.
#[test]
fn robustness_trains_each_recipe_and_reads_finished_runs_back() {
    use xtask::robustness::{Recipe, RobustnessArgs, TEST_NOISE, TEST_SHIFT, run, table};
    let dir = tempfile::tempdir().unwrap();
    let args = RobustnessArgs {
        models: vec![model::ModelKind::Lenet5],
        recipes: vec![Recipe::Plain, Recipe::Distort, Recipe::Robust],
        epochs: Some(1),
        train_limit: Some(300),
        test_limit: Some(100),
        out: dir.path().to_path_buf(),
        committee: None,
    };
    let rows = run(&args).unwrap();
    assert_eq!(rows.len(), 3);
    let config = |name: &str| -> serde_json::Value {
        let path = dir.path().join(name).join(TRAIN_CONFIG_FILE);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    assert_eq!(config("lenet5-plain")["augmentation"]["shift"], 0);
    let distort = config("lenet5-distort")["augmentation"].clone();
    assert_eq!(distort["rotate"], 10.0, "{distort}");
    assert_eq!(distort["elastic"]["alpha"], 34.0, "{distort}");
    let robust = config("lenet5-robust");
    assert_eq!(robust["augmentation"]["shift"], 6, "{robust}");
    assert_eq!(robust["augmentation"]["jitter"], 1.0, "{robust}");
    assert_eq!(robust["test_shift"], TEST_SHIFT);
    for row in &rows {
        let sigmas: Vec<f32> = row.report.noisy_tests.iter().map(|n| n.sigma).collect();
        assert_eq!(sigmas, TEST_NOISE);
        assert_eq!(row.report.test.images, 100);
    }
    let printed = table(&rows);
    assert_eq!(printed.lines().count(), 5, "{printed}");
    assert!(printed.contains("| lenet5 | robust |"), "{printed}");
    // Finished runs are read back, not trained again: the same reports, to the wall time.
    let again = run(&args).unwrap();
    assert_eq!(table(&again), printed);
    // (Not to the bit: serde_json's default float parsing may round the last digit.)
    for (first, second) in rows.iter().zip(&again) {
        let (a, b) = (first.report.total_seconds, second.report.total_seconds);
        assert!(
            (a - b).abs() <= 1e-9 * a,
            "trained again: {a} s, then {b} s"
        );
    }
    // A folder holding a run with other options is refused, not shown as a row.
    let other = RobustnessArgs {
        epochs: Some(2),
        ..args
    };
    let error = run(&other)
        .err()
        .expect("other options are refused")
        .to_string();
    assert!(error.contains("holds a run with other options"), "{error}");

    // With --committee K every run trains K networks; the table adds their committee's row.
    let committees = RobustnessArgs {
        recipes: vec![Recipe::Plain],
        committee: Some(2),
        ..other
    };
    let rows = run(&committees).unwrap();
    let printed = table(&rows);
    assert_eq!(printed.lines().count(), 4, "{printed}");
    assert!(
        printed.contains("| lenet5 | plain (best of 2 runs) |")
            && printed.contains("| lenet5 | plain, committee of 2 |"),
        "{printed}"
    );
    let committee = rows[0].report.committee.as_ref().unwrap();
    let sigmas: Vec<f32> = committee.noisy_tests.iter().map(|n| n.sigma).collect();
    assert_eq!(sigmas, TEST_NOISE);
    assert!(dir.path().join("lenet5-plain-committee2").is_dir());
}

/// Set in the child process of [`wgpu_training_steps_launch_few_kernels_and_read_nothing`]:
/// the counter is the process's one `log` logger, and this binary's other tests run their
/// own wgpu work in parallel, so the counting runs alone in a process of its own.
const GPU_CALLS_CHILD: &str = "WORKBENCH_GPU_CALLS_CHILD";

/// Launches per training step with the custom kernels, at most (issue 37's goals: LeNet-5 40,
/// from 185; the ConvNet and the MLP a quarter of 155 and 154).
const MAX_LAUNCHES_PER_STEP: [(model::ModelKind, f64); 3] = [
    (model::ModelKind::Lenet5, 40.0),
    (model::ModelKind::Convnet, 38.0),
    (model::ModelKind::Mlp, 38.0),
];

/// Training steps the training tool's longer epoch has over its shorter one: past one read of
/// the scores on wgpu ([`training::backend::ScoreReads`], 128), so that the read shows in the
/// count.
const TOOL_EXTRA_STEPS: u64 = 150;

/// Host reads per training step of the training tool, at most (issue 37's goal: one per 50
/// steps; Burn's `ClassificationOutput` read once per step, 1.0).
const MAX_TOOL_READS_PER_STEP: f64 = 1.0 / 50.0;

/// Each network's training step and inference batch on wgpu (lavapipe in CI), counted with
/// `cargo xtask gpu-calls`'s code: few launches, and nothing read back to the host; and the
/// training tool's own steps (Burn's `Learner` with its metrics): as few launches, and at most
/// one read per 50 steps.
#[test]
fn wgpu_training_steps_launch_few_kernels_and_read_nothing() {
    use custom_kernels::gpu_calls::GpuCallCounter;
    use xtask::gpu_calls::{GpuCallsArgs, count, count_tool, table, tool_table};
    if std::env::var_os(GPU_CALLS_CHILD).is_some() {
        let device = custom_kernels::wgpu_device().unwrap();
        let args = GpuCallsArgs {
            models: MAX_LAUNCHES_PER_STEP
                .iter()
                .map(|&(kind, _)| kind)
                .collect(),
            kernels: vec![KernelChoice::Custom],
            batch: 8,
            steps: 2,
            tool_steps: TOOL_EXTRA_STEPS,
        };
        let counter = GpuCallCounter::install().unwrap();
        let rows = count::<training::backend::WgpuTraining>(&args, &device, counter).unwrap();
        println!("{}", table(&rows));
        for row in &rows {
            let (_, max) = MAX_LAUNCHES_PER_STEP
                .iter()
                .find(|(kind, _)| *kind == row.network)
                .unwrap();
            assert!(
                row.train_step.launches <= *max,
                "{}: {} launches per training step, more than {max}",
                row.network,
                row.train_step.launches
            );
            assert_eq!(
                row.train_step.reads, 0.0,
                "{}: reads in a step",
                row.network
            );
            assert_eq!(
                row.inference.reads, 0.0,
                "{}: reads in inference",
                row.network
            );
        }
        let scratch = tempfile::tempdir().unwrap();
        let tool = count_tool(TOOL_EXTRA_STEPS, scratch.path(), counter).unwrap();
        println!("{}", tool_table(&tool));
        // The counter sees the tool's reads (the checkpoint, the test set's scores).
        assert!(tool.short_run.reads > 0, "{tool:?}");
        assert!(
            tool.per_step.reads <= MAX_TOOL_READS_PER_STEP,
            "the training tool reads {} times per step, more than {MAX_TOOL_READS_PER_STEP}",
            tool.per_step.reads
        );
        let (_, max_launches) = MAX_LAUNCHES_PER_STEP[0];
        assert!(
            tool.per_step.launches <= max_launches,
            "the training tool launches {} kernels per LeNet-5 step, more than {max_launches}",
            tool.per_step.launches
        );
        return;
    }
    if let Err(error) = custom_kernels::wgpu_device() {
        crate::not_run::did_not_run(
            "REQUIRE_WGPU",
            &format!("NO GPU ADAPTER: the GPU call count did not run: {error}"),
        );
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "xtask::wgpu_training_steps_launch_few_kernels_and_read_nothing",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(GPU_CALLS_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // The child's test ran (and did not just match no test).
    assert!(stdout.contains("| lenet5 | custom |"), "{stdout}\n{stderr}");
    assert!(stdout.contains("| per extra step |"), "{stdout}\n{stderr}");
}
