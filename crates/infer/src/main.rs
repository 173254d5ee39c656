//! `infer`: classify digit pictures or IDX images with a trained model, or evaluate it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use infer::{Classifier, DefaultBackend, Prediction, evaluate};
use mnist_data::LabelledImages;
use model::Kernels;

/// Inference with a model trained by `cargo run -p training`.
#[derive(Debug, Parser)]
#[command(name = "infer", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Predict the digit of each image (PNG/JPEG of any size or polarity), or of IDX images.
    Predict {
        /// Training run directory (or its model.mpk).
        #[arg(long)]
        model: PathBuf,
        /// Image files.
        images: Vec<PathBuf>,
        /// An IDX image file to read from instead of pictures (with --index).
        #[arg(long, conflicts_with = "images")]
        idx: Option<PathBuf>,
        /// Which image of --idx (0-based); repeat for several.
        #[arg(long, requires = "idx")]
        index: Vec<usize>,
        /// Conv/pool implementation (default: the one recorded with the model).
        #[arg(long)]
        kernels: Option<Kernels>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Accuracy, per-class precision/recall and the confusion matrix on an IDX image/label pair.
    Eval {
        /// Training run directory (or its model.mpk).
        #[arg(long)]
        model: PathBuf,
        /// IDX images (raw or .gz), 28x28.
        #[arg(long)]
        images: PathBuf,
        /// IDX labels (raw or .gz).
        #[arg(long)]
        labels: PathBuf,
        /// Conv/pool implementation (default: the one recorded with the model).
        #[arg(long)]
        kernels: Option<Kernels>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(model: &PathBuf, kernels: Option<Kernels>) -> Result<Classifier<DefaultBackend>> {
    Ok(Classifier::<DefaultBackend>::load_on(
        model,
        Default::default(),
        kernels,
    )?)
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Predict {
            model,
            images,
            idx,
            index,
            kernels,
            json,
        } => {
            let classifier = load(&model, kernels)?;
            let mut results: Vec<(String, Prediction)> = Vec::new();
            if let Some(idx) = idx {
                let set = mnist_data::read_images(&idx)?;
                if (set.rows, set.cols) != (28, 28) {
                    bail!(
                        "{}: images are {}x{}, expected 28x28",
                        idx.display(),
                        set.rows,
                        set.cols
                    );
                }
                let indices = if index.is_empty() { vec![0] } else { index };
                for i in indices {
                    if i >= set.count {
                        bail!(
                            "{}: --index {i} is out of range ({} images)",
                            idx.display(),
                            set.count
                        );
                    }
                    let pixels: [u8; 784] = set.image(i).try_into().context("784 pixels")?;
                    let prediction = classifier.classify_pixels(&[pixels]).remove(0);
                    results.push((format!("{}[{i}]", idx.display()), prediction));
                }
            } else {
                if images.is_empty() {
                    bail!("give image files, or --idx FILE --index N");
                }
                for path in images {
                    let prediction = classifier.classify_file(&path)?;
                    results.push((path.display().to_string(), prediction));
                }
            }
            if json {
                let rows: Vec<_> = results
                    .iter()
                    .map(|(name, p)| serde_json::json!({"input": name, "digit": p.digit, "probabilities": p.probabilities, "top3": p.top(3)}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for (name, p) in &results {
                    let top: Vec<String> = p
                        .top(3)
                        .iter()
                        .map(|(d, q)| format!("{d} {:.1}%", 100.0 * q))
                        .collect();
                    println!("{name}: {}   (top 3: {})", p.digit, top.join(", "));
                }
            }
        }
        Command::Eval {
            model,
            images,
            labels,
            kernels,
            json,
        } => {
            let classifier = load(&model, kernels)?;
            let set = LabelledImages::read_idx_pair(&images, &labels)?;
            let report = evaluate(&classifier, &set);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{report}");
            }
        }
    }
    Ok(())
}
