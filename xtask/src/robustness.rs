//! `cargo xtask robustness`: trains each network with each augmentation recipe and scores it on
//! the clean test set, the test set shifted by up to ±6 pixels, and with pixel noise of sigma
//! 0.2 and 0.4. Prints the robustness table of docs/results.md (markdown).
//!
//! Every run is an ordinary training run (the training tool's own options, in its own folder
//! under `--out`); a finished run is read back, not trained again, and an interrupted one
//! resumes, so an interrupted table continues where it stopped. A folder holding a run with
//! other options (say, a quick `--train-limit` look) is refused, not shown as a result.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use model::ModelKind;
use training::backend::BackendChoice;
use training::evaluate::Evaluation;
use training::report::NoisyEvaluation;
use training::session::read_config;
use training::{SessionOptions, TrainArgs, TrainingReport, run_on_backend};
use workbench_io::names::{REPORT_FILE, ROBUSTNESS_DIR, TRAIN_CONFIG_FILE};

/// The shift of the translated test set, pixels per axis.
pub const TEST_SHIFT: usize = 6;
/// The sigmas of the noisy test sets (pixels on a 0-1 scale).
pub const TEST_NOISE: [f32; 2] = [0.2, 0.4];

/// A training recipe: which augmentations are on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Recipe {
    /// No augmentation.
    Plain,
    /// Random shifts of up to ±3 pixels (the training tool's default).
    Shift,
    /// Gaussian noise of sigma 1 on the normalised input (0.31 of the pixels' full scale).
    Jitter,
    /// Rotation ±10°, scaling ±10% and elastic distortion (alpha 34, sigma 4; Simard's).
    Distort,
    /// Shifts of up to ±6 pixels and the jitter: the shifted and noisy test sets' enemies.
    Robust,
}

impl Recipe {
    /// The training options of the recipe.
    pub fn options(self) -> Vec<&'static str> {
        let (shift, distort, jitter) = match self {
            Recipe::Plain => ("0", false, false),
            Recipe::Shift => ("3", false, false),
            Recipe::Jitter => ("0", false, true),
            Recipe::Distort => ("0", true, false),
            Recipe::Robust => ("6", false, true),
        };
        let mut options = vec!["--augment-shift", shift];
        if distort {
            options.extend([
                "--augment-rotate",
                "10",
                "--augment-scale",
                "0.1",
                "--augment-elastic",
                "34",
            ]);
        }
        if jitter {
            options.extend(["--jitter", "1"]);
        }
        options
    }

    fn name(self) -> String {
        format!("{self:?}").to_lowercase()
    }
}

/// Options of `cargo xtask robustness`.
#[derive(Debug, Args)]
pub struct RobustnessArgs {
    /// Networks, comma-separated.
    #[arg(
        long,
        ignore_case = true,
        value_delimiter = ',',
        default_value = "lenet5,mlp,convnet"
    )]
    pub models: Vec<ModelKind>,
    /// Recipes, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "plain,shift,jitter,distort,robust"
    )]
    pub recipes: Vec<Recipe>,
    /// Epochs of every run [default: the training tool's, per network].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Train on only the first N training images (a quick look, or a smoke test).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Score on only the first N test images.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Folder of the runs, one per network and recipe.
    #[arg(long, default_value = ROBUSTNESS_DIR)]
    pub out: PathBuf,
    /// Train every run K times (`--restarts K --ensemble`) and add the committee of the K
    /// networks (their averaged probabilities) as a row below the kept network's.
    #[arg(
        long,
        value_name = "K",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new()
            .range(2..=model::committee::MAX_MEMBERS as u64)
    )]
    pub committee: Option<usize>,
}

/// One row of the table.
pub struct Row {
    /// The network.
    pub model: ModelKind,
    /// The recipe.
    pub recipe: Recipe,
    /// The run's report.
    pub report: TrainingReport,
}

/// Trains (or reads back) every run and returns the rows, in order.
pub fn run(args: &RobustnessArgs) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &model in &args.models {
        for &recipe in &args.recipes {
            let committee = args
                .committee
                .map_or(String::new(), |k| format!("-committee{k}"));
            let dir = args
                .out
                .join(format!("{model}-{}{committee}", recipe.name()));
            rows.push(Row {
                model,
                recipe,
                report: train_or_read(args, model, recipe, &dir)?,
            });
        }
    }
    Ok(rows)
}

/// The training tool's command line for one run (without the program name).
fn training_words(args: &RobustnessArgs, model: ModelKind, recipe: Recipe) -> Vec<String> {
    let noise: Vec<String> = TEST_NOISE.iter().map(f32::to_string).collect();
    let mut words: Vec<String> = vec!["--model".into(), model.to_string()];
    words.extend(recipe.options().iter().map(|s| s.to_string()));
    words.extend([
        "--test-shift".into(),
        TEST_SHIFT.to_string(),
        "--test-noise".into(),
        noise.join(","),
    ]);
    if let Some(k) = args.committee {
        words.extend(["--restarts".into(), k.to_string(), "--ensemble".into()]);
    }
    for (option, value) in [
        ("--epochs", args.epochs),
        ("--train-limit", args.train_limit),
        ("--test-limit", args.test_limit),
    ] {
        if let Some(value) = value {
            words.extend([option.to_string(), value.to_string()]);
        }
    }
    words
}

/// The run's report: read back if `dir` holds the finished run, else trained (resumed if it
/// was interrupted). A run in `dir` with other options is an error, not a row of this table.
fn train_or_read(
    args: &RobustnessArgs,
    model: ModelKind,
    recipe: Recipe,
    dir: &Path,
) -> Result<TrainingReport> {
    let words = training_words(args, model, recipe);
    let program = std::iter::once("training".to_string()).chain(words.iter().cloned());
    let config = TrainArgs::try_parse_words(program)?.to_config()?;
    let started = dir.join(TRAIN_CONFIG_FILE).exists();
    if started {
        if read_config(dir)? != config {
            bail!(
                "{} holds a run with other options than `{}`: remove it, or choose another --out",
                dir.display(),
                words.join(" ")
            );
        }
        let report = dir.join(REPORT_FILE);
        if report.exists() {
            let text = std::fs::read_to_string(&report)
                .with_context(|| format!("cannot read {}", report.display()))?;
            return serde_json::from_str(&text)
                .with_context(|| format!("{} is not a training report", report.display()));
        }
    }
    println!("$ cargo run --release -p training -- {}", words.join(" "));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let options = SessionOptions {
        artifacts: dir.to_path_buf(),
        data_dir: mnist_data::resolve_data_dir(None),
        // A run interrupted before its report continues from its last checkpoint.
        resume: started,
        plain_output: true,
        watch: None,
    };
    run_on_backend(BackendChoice::Ndarray, config, &options)
}

/// The markdown table of `rows`: test accuracy on each variant, and the epochs trained; a run
/// trained as a committee adds the committee's row below its kept network's.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "| network | recipe | clean | shifted ±{TEST_SHIFT} px | noise σ {} | noise σ {} | epochs |\n|---|---|---|---|---|---|---|\n",
        TEST_NOISE[0], TEST_NOISE[1]
    );
    for row in rows {
        let report = &row.report;
        let epochs = report.runs[report.chosen_run - 1].epochs_run;
        let kept = if report.runs.len() > 1 {
            format!(" (best of {} runs)", report.runs.len())
        } else {
            String::new()
        };
        out.push_str(&table_row(
            &format!("{} | {}{kept}", row.model, row.recipe.name()),
            [&report.test, &report.translated_test],
            &report.noisy_tests,
            &epochs.to_string(),
        ));
        if let Some(committee) = &report.committee {
            let epochs: Vec<String> = report
                .runs
                .iter()
                .map(|r| r.epochs_run.to_string())
                .collect();
            out.push_str(&table_row(
                &format!(
                    "{} | {}, committee of {}",
                    row.model,
                    row.recipe.name(),
                    committee.members
                ),
                [&committee.test, &committee.translated_test],
                &committee.noisy_tests,
                &epochs.join("+"),
            ));
        }
    }
    out
}

/// One line of the table: clean and shifted accuracy, then each of [`TEST_NOISE`]'s.
fn table_row(
    name: &str,
    [clean, shifted]: [&Evaluation; 2],
    noisy_tests: &[NoisyEvaluation],
    epochs: &str,
) -> String {
    let noisy = |sigma: f32| {
        noisy_tests
            .iter()
            .find(|n| n.sigma == sigma)
            .map_or("-".to_string(), |n| {
                format!("{:.2}%", n.evaluation.accuracy)
            })
    };
    format!(
        "| {name} | {:.2}% | {:.2}% | {} | {} | {epochs} |\n",
        clean.accuracy,
        shifted.accuracy,
        noisy(TEST_NOISE[0]),
        noisy(TEST_NOISE[1]),
    )
}
