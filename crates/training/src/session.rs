//! A whole training session: configuration, data, one or more runs (random restarts), choice of
//! the best, test evaluation, and every artifact written to the run directory.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use mnist_data::{Mnist, MnistDataset, noisy_set, train_valid_split, translated_set};
use model::ModelSummary;
use model::committee::save_committee;
use model::{SCORING_BATCH, load_model, save_model, score_committee};
use workbench_io::atomic_write;
use workbench_io::names::{
    COMMITTEE_FILE, CURVES_FILE, METRICS_FILE, REPORT_FILE, RUN_SUMMARY_FILE, TRAIN_CONFIG_FILE,
};

use crate::backend::{BackendChoice, NdarrayTraining, TrainingBackendBounds, WgpuTraining};
use crate::config::TrainConfig;
use crate::epoch_clock::split_note;
use crate::epoch_log::EpochRecord;
use crate::evaluate::{Evaluation, evaluate};
use crate::plot::write_learning_curves;
use crate::report::{CommitteeEvaluation, NoisyEvaluation, RunSummary, TrainingReport};
use crate::run::{RunData, RunSpec, train_once};
use crate::run_folder::lock_run_folder;
use crate::strategies::best_epoch;
use crate::watch::Watch;
use workbench_io::say;

/// Where and how a session runs (not part of the saved configuration).
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// The run directory.
    pub artifacts: PathBuf,
    /// Folder with the MNIST files.
    pub data_dir: PathBuf,
    /// Continue the interrupted session in `artifacts`.
    pub resume: bool,
    /// One line per epoch instead of Burn's terminal dashboard.
    pub plain_output: bool,
    /// Who watches and may stop the session ([`crate::watch`]; it then draws no dashboard).
    pub watch: Option<Watch>,
}

/// The directory of run `index` (0-based): the session directory itself when there is one run.
pub fn run_dir(artifacts: &Path, index: usize, runs: usize) -> PathBuf {
    if runs == 1 {
        artifacts.to_path_buf()
    } else {
        artifacts.join(restart_folder(index))
    }
}

/// The folder of restart `index` (0-based) inside the session directory.
fn restart_folder(index: usize) -> PathBuf {
    PathBuf::from(format!("restart-{}", index + 1))
}

/// Reads the configuration of the session in `artifacts` (for `--resume`), checked exactly as
/// the command line's options are ([`TrainConfig::validate`]).
pub fn read_config(artifacts: &Path) -> Result<TrainConfig> {
    let path = artifacts.join(TRAIN_CONFIG_FILE);
    if !path.exists() {
        bail!(
            "cannot resume: no run in {} ({} missing)",
            artifacts.display(),
            path.display()
        );
    }
    let bytes = workbench_io::read_limited(&path, model::persist::MAX_CONFIG_BYTES)
        .with_context(|| format!("cannot resume: cannot read {}", path.display()))?;
    let config: TrainConfig = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a valid training config", path.display()))?;
    config
        .validate()
        .with_context(|| format!("{} is not a valid training config", path.display()))?;
    Ok(config)
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_vec_pretty(value)?;
    atomic_write(path, &json).with_context(|| format!("cannot write {}", path.display()))
}

/// Runs a training session on the chosen backend's default device (see [`run_session`]).
pub fn run_on_backend(
    backend: BackendChoice,
    config: TrainConfig,
    options: &SessionOptions,
) -> Result<TrainingReport> {
    match backend {
        BackendChoice::Ndarray => {
            run_session::<NdarrayTraining>(Default::default(), config, options)
        }
        BackendChoice::Wgpu => run_session::<WgpuTraining>(
            custom_kernels::wgpu_device().map_err(anyhow::Error::msg)?,
            config,
            options,
        ),
        #[cfg(feature = "cuda")]
        BackendChoice::Cuda => run_session::<crate::backend::CudaTraining>(
            custom_kernels::cuda_device().map_err(anyhow::Error::msg)?,
            config,
            options,
        ),
        #[cfg(not(feature = "cuda"))]
        BackendChoice::Cuda => Err(anyhow::anyhow!(custom_kernels::CUDA_NOT_BUILT)),
    }
}

/// Whether any run of the session in `artifacts` has recorded an epoch (its `metrics.csv`, in
/// the folder or a restart's subfolder). A start that failed before its first epoch leaves a
/// folder the same command may start again in.
fn has_trained(artifacts: &Path) -> bool {
    let subfolders = std::fs::read_dir(artifacts)
        .into_iter()
        .flatten()
        .filter_map(|entry| Some(entry.ok()?.path()));
    std::iter::once(artifacts.to_path_buf())
        .chain(subfolders)
        .any(|folder| folder.join(METRICS_FILE).exists())
}

/// Runs a training session on backend `B` and writes its artifacts; returns the report.
pub fn run_session<B: TrainingBackendBounds>(
    device: B::Device,
    config: TrainConfig,
    options: &SessionOptions,
) -> Result<TrainingReport> {
    let started = Instant::now();
    let artifacts = &options.artifacts;
    // Held until the session ends: no other process reads or writes this folder meanwhile.
    let _lock = lock_run_folder(artifacts)?;
    if !options.resume && artifacts.join(TRAIN_CONFIG_FILE).exists() && has_trained(artifacts) {
        bail!(
            "{} already holds a training run; pass --resume to continue it or choose another --artifacts",
            artifacts.display()
        );
    }
    let mnist = Mnist::load(&options.data_dir)?;
    write_json(&artifacts.join(TRAIN_CONFIG_FILE), &config)?;
    if !config.ensemble {
        // A committee left by an earlier session here would outlive its runs.
        remove_if_present(&artifacts.join(COMMITTEE_FILE))?;
    }
    let (train, valid) = train_valid_split(&mnist.train, config.valid_size, config.seed);
    let train = match config.train_limit {
        Some(limit) => train.take(limit),
        None => train,
    };
    let data = RunData { train, valid };
    // The test set and its variants (the same images, translated or noisy), limited alike.
    let limited = |set| {
        let all = MnistDataset::all(set);
        match config.test_limit {
            Some(limit) => all.take(limit),
            None => all,
        }
    };
    let test = limited(mnist.test.clone());
    let translated = limited(translated_set(&mnist.test, config.test_shift, config.seed));
    let noisy: Vec<(f32, MnistDataset)> = config
        .test_noise
        .iter()
        .map(|&sigma| (sigma, limited(noisy_set(&mnist.test, sigma, config.seed))))
        .collect();

    let network = config.model.init::<B::InnerBackend>(&device);
    say!("{}", ModelSummary::of(&network))?;
    say!(
        "backend {}; {} training / {} validation images; optimizer {}, lr {} ({} schedule), batch {}, up to {} epochs{}; augmentation: {}; keeping the best validation {}",
        B::name(&device),
        data.train.len(),
        data.valid.len(),
        config.optimizer.name(),
        config.learning_rate,
        config.schedule.name(),
        config.batch_size,
        config.epochs,
        if config.restarts > 1 {
            format!(", {} restarts", config.restarts)
        } else {
            String::new()
        },
        config.augmentation,
        config.monitor.name(),
    )?;

    let mut summaries = Vec::with_capacity(config.restarts);
    for index in 0..config.restarts {
        if index > 0 && options.watch.as_ref().is_some_and(|w| w.stop.is_set()) {
            bail!("stopped after {index} of {} restarts", config.restarts);
        }
        let dir = run_dir(artifacts, index, config.restarts);
        let summary = if options.resume && dir.join(RUN_SUMMARY_FILE).exists() {
            let text = std::fs::read_to_string(dir.join(RUN_SUMMARY_FILE))?;
            let summary: RunSummary = serde_json::from_str(&text)
                .with_context(|| format!("{} is corrupt", dir.join(RUN_SUMMARY_FILE).display()))?;
            say!(
                "run {} already finished (best epoch {})",
                index + 1,
                summary.best_epoch
            )?;
            summary
        } else {
            train_run::<B>(&device, &config, &data, &dir, index, options)?
        };
        summaries.push(summary);
    }

    let bests = summaries.iter().map(|s| s.best.clone()).collect::<Vec<_>>();
    let chosen_index = best_epoch(&bests, config.monitor)
        .and_then(|best| summaries.iter().position(|s| s.best == *best))
        .context("no run produced a model")?;
    let chosen_dir = run_dir(artifacts, chosen_index, config.restarts);
    let (network, _) = load_model::<B::InnerBackend>(&chosen_dir, &device)?;
    if config.restarts > 1 {
        save_model(&network, &config.model, artifacts)?;
        for summary in &summaries {
            say!(
                "run {}: seed {}, best epoch {}, valid loss {:.4}, valid accuracy {:.2}%",
                summary.restart,
                summary.seed,
                summary.best_epoch,
                summary.best.valid_loss,
                summary.best.valid_accuracy
            )?;
        }
        say!(
            "kept run {} (best validation {:?})",
            chosen_index + 1,
            config.monitor
        )?;
    }

    let test_eval = evaluate(&network, &test, SCORING_BATCH, &device);
    let translated_eval = evaluate(&network, &translated, SCORING_BATCH, &device);
    let noisy_tests = noisy
        .iter()
        .map(|(sigma, set)| NoisyEvaluation {
            sigma: *sigma,
            evaluation: evaluate(&network, set, SCORING_BATCH, &device),
        })
        .collect();
    let mut restart_tests = Vec::new();
    let mut committee = None;
    if config.restarts > 1 {
        // Every run's network, scored on the test set (the kept one's a second time, to the
        // same bits as `test_eval`), and with `--ensemble` as a committee.
        let networks = (0..config.restarts)
            .map(|index| {
                let dir = run_dir(artifacts, index, config.restarts);
                Ok(load_model::<B::InnerBackend>(&dir, &device)?.0)
            })
            .collect::<Result<Vec<_>>>()?;
        let test_scores = score_committee(&networks, &test, SCORING_BATCH, &device);
        restart_tests = test_scores.members.iter().map(Evaluation::from).collect();
        if config.ensemble {
            let members: Vec<PathBuf> = (0..config.restarts).map(restart_folder).collect();
            save_committee(artifacts, &members)?;
            let score = |set| {
                Evaluation::from(&score_committee(&networks, set, SCORING_BATCH, &device).committee)
            };
            committee = Some(CommitteeEvaluation {
                members: networks.len(),
                test: Evaluation::from(&test_scores.committee),
                translated_test: score(&translated),
                noisy_tests: noisy
                    .iter()
                    .map(|(sigma, set)| NoisyEvaluation {
                        sigma: *sigma,
                        evaluation: score(set),
                    })
                    .collect(),
            });
        }
    }
    let report = TrainingReport {
        model: config.model.kind.to_string(),
        parameters: network.num_params(),
        backend: B::name(&device),
        runs: summaries,
        chosen_run: chosen_index + 1,
        test: test_eval,
        translated_test: translated_eval,
        test_shift: config.test_shift,
        noisy_tests,
        restart_tests,
        committee,
        total_seconds: started.elapsed().as_secs_f64(),
    };
    write_json(&artifacts.join(REPORT_FILE), &report)?;
    print_final_summary(&report, artifacts)?;
    Ok(report)
}

fn train_run<B: TrainingBackendBounds>(
    device: &B::Device,
    config: &TrainConfig,
    data: &RunData,
    dir: &Path,
    index: usize,
    options: &SessionOptions,
) -> Result<RunSummary> {
    let seed = config.seed.wrapping_add(index as u64);
    let label = if config.restarts > 1 {
        format!("[run {}] ", index + 1)
    } else {
        String::new()
    };
    let resume = options.resume;
    let spec = RunSpec {
        dir: dir.to_path_buf(),
        seed,
        resume,
        plain_output: options.plain_output,
        label,
        watch: options.watch.clone(),
    };
    let outcome = train_once::<B>(device, config, data, &spec)?;
    save_model(&outcome.learner_model.network, &config.model, dir)?;
    write_learning_curves(
        &outcome.history,
        &format!(
            "{} on MNIST, {} (lr {})",
            config.model.kind,
            config.optimizer.name(),
            config.learning_rate
        ),
        &dir.join(CURVES_FILE),
    )?;
    let best = outcome
        .history
        .iter()
        .find(|r| r.epoch == outcome.best_epoch)
        .cloned()
        .expect("best epoch is in the history");
    let epochs_run = outcome.history.len();
    let mean = |time: fn(&EpochRecord) -> Option<f64>| {
        let total: Option<f64> = outcome.history.iter().map(time).sum();
        total.map(|t| t / epochs_run.max(1) as f64)
    };
    let summary = RunSummary {
        restart: index + 1,
        seed,
        epochs_run,
        stopped_early: epochs_run < config.epochs,
        best_epoch: outcome.best_epoch,
        best,
        mean_epoch_seconds: mean(|r| Some(r.seconds)).unwrap_or_default(),
        mean_step_seconds: mean(|r| r.step_seconds),
        mean_valid_seconds: mean(|r| r.valid_seconds),
    };
    write_json(&dir.join(RUN_SUMMARY_FILE), &summary)?;
    Ok(summary)
}

fn print_final_summary(report: &TrainingReport, artifacts: &Path) -> Result<()> {
    let run = &report.runs[report.chosen_run - 1];
    let split = split_note(
        run.mean_epoch_seconds,
        run.mean_step_seconds,
        run.mean_valid_seconds,
    );
    say!(
        "best epoch {} of {}{}: valid accuracy {:.2}%, mean epoch {:.1}s{split}",
        run.best_epoch,
        run.epochs_run,
        if run.stopped_early {
            " (stopped early)"
        } else {
            ""
        },
        run.best.valid_accuracy,
        run.mean_epoch_seconds
    )?;
    say!(
        "test accuracy {:.2}% ({} / {}), translated test (±{} px) {:.2}%",
        report.test.accuracy,
        report.test.correct,
        report.test.images,
        report.test_shift,
        report.translated_test.accuracy
    )?;
    if !report.noisy_tests.is_empty() {
        let scores: Vec<String> = report
            .noisy_tests
            .iter()
            .map(|n| format!("sigma {} {:.2}%", n.sigma, n.evaluation.accuracy))
            .collect();
        say!("noisy test (pixel noise): {}", scores.join(", "))?;
    }
    if !report.restart_tests.is_empty() {
        let accuracies: Vec<f64> = report.restart_tests.iter().map(|e| e.accuracy).collect();
        let mean = accuracies.iter().sum::<f64>() / accuracies.len() as f64;
        let spread = (accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f64>()
            / accuracies.len() as f64)
            .sqrt();
        let list: Vec<String> = accuracies.iter().map(|a| format!("{a:.2}%")).collect();
        say!(
            "test accuracy of each run: {} (mean {mean:.2}%, sd {spread:.2}); the kept run {}: {:.2}%",
            list.join(", "),
            report.chosen_run,
            report.test.accuracy
        )?;
    }
    if let Some(committee) = &report.committee {
        let noisy: Vec<String> = committee
            .noisy_tests
            .iter()
            .map(|n| format!(", noisy (sigma {}) {:.2}%", n.sigma, n.evaluation.accuracy))
            .collect();
        say!(
            "the committee of all {} runs (averaged probabilities, the folder's model): test accuracy {:.2}% ({} / {}), translated test (±{} px) {:.2}%{}",
            committee.members,
            committee.test.accuracy,
            committee.test.correct,
            committee.test.images,
            report.test_shift,
            committee.translated_test.accuracy,
            noisy.concat()
        )?;
    }
    say!("artifacts in {}", artifacts.display())
}
