//! `infer`: classify digit pictures or IDX images with a trained model, or evaluate it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use infer::convolve::{Matrix, Padding, convolve, named_kernel, to_grey_levels};
use infer::features::{conv_feature_maps, first_layer_kernels};
use infer::render::{confusion_png, filters_png, mistakes_png};
use infer::{Classifier, DefaultBackend, Prediction, evaluate, import_pytorch};
use mnist_data::LabelledImages;
use model::{Kernels, ModelConfig, ModelKind, say};

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
        /// Folder for confusion.png and mistakes.png.
        #[arg(long, default_value = "eval-report")]
        out: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Draw the first-layer kernels and one image's feature maps after each conv layer.
    Filters {
        /// Training run directory (or its model.mpk).
        #[arg(long)]
        model: PathBuf,
        /// The PNG to write.
        #[arg(long)]
        out: PathBuf,
        /// A picture of a digit to show the feature maps of (default: MNIST test image 0).
        #[arg(long, conflicts_with = "idx")]
        image: Option<PathBuf>,
        /// An IDX image file to take the input from (with --index).
        #[arg(long)]
        idx: Option<PathBuf>,
        /// Which image of --idx (0-based).
        #[arg(long, default_value_t = 0)]
        index: usize,
    },
    /// Apply a classic image kernel through the project's conv2d. A text-matrix INPUT prints
    /// the output matrix; a picture is converted to grey and the result saved to OUTPUT.
    Convolve {
        /// blur, sharpen, edge, emboss, laplacian, sobel-x, sobel-y, or a text file holding a
        /// matrix (rows on lines, values separated by spaces or commas).
        #[arg(long)]
        kernel: String,
        /// A picture (PNG, JPEG) or a text matrix.
        input: PathBuf,
        /// Where to write the filtered picture (required for a picture; optional for a matrix).
        output: Option<PathBuf>,
        /// Step between output positions.
        #[arg(long, default_value_t = 1)]
        stride: usize,
        /// same, valid, or a number of zeros on each side.
        #[arg(long, default_value = "same")]
        padding: Padding,
    },
    /// Convert weights exported from PyTorch (.safetensors, .pt, .pth) into a model folder
    /// that `predict` and `eval` load.
    Import {
        /// The PyTorch state dict.
        #[arg(long)]
        from: PathBuf,
        /// The architecture the weights are for: lenet5, convnet or mlp.
        #[arg(long)]
        kind: ModelKind,
        /// Folder to write model.json and model.mpk into.
        #[arg(long)]
        out: PathBuf,
        /// Key of the state dict inside a .pt checkpoint (e.g. state_dict).
        #[arg(long)]
        key: Option<String>,
    },
}

fn main() -> ExitCode {
    custom_kernels::cpu::keep_freed_buffers();
    custom_kernels::cpu::flush_denormals_to_zero();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Standard error may be closed too: nothing more to say then.
            writeln!(std::io::stderr(), "error: {error:#}").ok();
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
            // One result per input: a prediction, or why that input could not be classified.
            let mut results: Vec<(String, Result<Prediction, String>)> = Vec::new();
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
                    results.push((format!("{}[{i}]", idx.display()), Ok(prediction)));
                }
            } else {
                if images.is_empty() {
                    bail!("give image files, or --idx FILE --index N");
                }
                for path in images {
                    let result = classifier.classify_file(&path).map_err(|e| e.to_string());
                    results.push((path.display().to_string(), result));
                }
            }
            print_predictions(&results, json)?;
            let failed = results.iter().filter(|(_, r)| r.is_err()).count();
            if failed > 0 {
                bail!(
                    "{failed} of {} inputs could not be classified",
                    results.len()
                );
            }
        }
        Command::Eval {
            model,
            images,
            labels,
            kernels,
            out,
            json,
        } => {
            let classifier = load(&model, kernels)?;
            let set = LabelledImages::read_idx_pair(&images, &labels)?;
            if set.is_empty() {
                bail!("{}: holds no images; nothing to evaluate", images.display());
            }
            let report = evaluate(&classifier, &set);
            let confusion = out.join("confusion.png");
            let mistakes = out.join("mistakes.png");
            confusion_png(&report.confusion, &confusion)?;
            mistakes_png(&report.worst_mistakes, |i| set.image(i).to_vec(), &mistakes)?;
            if json {
                say!("{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                say!("{report}")?;
                say!(
                    "\nwrote {} and {} (the {} most confident mistakes)",
                    confusion.display(),
                    mistakes.display(),
                    report.worst_mistakes.len()
                )?;
            }
        }
        Command::Filters {
            model,
            out,
            image,
            idx,
            index,
        } => {
            let classifier = load(&model, None)?;
            let kernels = first_layer_kernels(&classifier).with_context(|| {
                format!(
                    "{}: a {} network has no conv layers to draw",
                    model.display(),
                    classifier.config().kind
                )
            })?;
            let (pixels, source) = filters_input(image.as_deref(), idx.as_deref(), index)?;
            let layers = conv_feature_maps(&classifier, &pixels);
            filters_png(&kernels, &pixels, &layers, &out)?;
            say!(
                "wrote {}: {} first-layer kernels and the maps of {} after {}",
                out.display(),
                kernels.channels,
                source,
                layers
                    .iter()
                    .map(|l| l.title.split(':').next().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        Command::Convolve {
            kernel,
            input,
            output,
            stride,
            padding,
        } => run_convolve(&kernel, &input, output.as_deref(), stride, padding)?,
        Command::Import {
            from,
            kind,
            out,
            key,
        } => {
            let config = ModelConfig::new().with_kind(kind);
            let network = import_pytorch::<DefaultBackend>(
                &from,
                &config,
                key.as_deref(),
                &Default::default(),
            )?;
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            model::save_model(&network, &config, &out)?;
            say!(
                "imported {} weights from {} into {}",
                kind,
                from.display(),
                out.display()
            )?;
        }
    }
    Ok(())
}

/// Prints the predictions (text or JSON); the inputs that failed are also reported on standard
/// error, in order.
fn print_predictions(results: &[(String, Result<Prediction, String>)], json: bool) -> Result<()> {
    for (_, result) in results {
        if let Err(error) = result {
            writeln!(std::io::stderr(), "error: {error}").ok();
        }
    }
    if json {
        let rows: Vec<_> = results
            .iter()
            .map(|(name, result)| match result {
                Ok(p) => serde_json::json!({"input": name, "digit": p.digit, "probabilities": p.probabilities, "top3": p.top(3)}),
                Err(error) => serde_json::json!({"input": name, "error": error}),
            })
            .collect();
        return say!("{}", serde_json::to_string_pretty(&rows)?);
    }
    for (name, result) in results {
        match result {
            Ok(p) => {
                let top: Vec<String> = p
                    .top(3)
                    .iter()
                    .map(|(d, q)| format!("{d} {:.1}%", 100.0 * q))
                    .collect();
                say!("{name}: {}   (top 3: {})", p.digit, top.join(", "))?;
            }
            Err(_) => say!("{name}: not classified (see the error)")?,
        }
    }
    Ok(())
}

/// The image `infer filters` shows: a picture, an IDX image, or MNIST test image 0.
fn filters_input(
    image: Option<&Path>,
    idx: Option<&Path>,
    index: usize,
) -> Result<([u8; 784], String)> {
    if let Some(path) = image {
        return Ok((
            infer::classifier::read_digit(path)?,
            path.display().to_string(),
        ));
    }
    let Some(path) = idx else {
        let test = mnist_data::Mnist::load_test(&mnist_data::bundled_data_dir())?;
        if index >= test.len() {
            bail!(
                "--index {index}: the MNIST test set has {} images",
                test.len()
            );
        }
        let pixels: [u8; 784] = test.image(index).try_into().context("784 pixels")?;
        return Ok((pixels, format!("MNIST test image {index}")));
    };
    let set = mnist_data::read_images(path)?;
    if (set.rows, set.cols) != (28, 28) || index >= set.count {
        bail!(
            "{}: no 28x28 image number {index} ({} images of {}x{})",
            path.display(),
            set.count,
            set.rows,
            set.cols
        );
    }
    let pixels: [u8; 784] = set.image(index).try_into().context("784 pixels")?;
    Ok((pixels, format!("{}[{index}]", path.display())))
}

/// `infer convolve`: a picture in and out, or a text matrix printed.
fn run_convolve(
    kernel: &str,
    input: &Path,
    output: Option<&Path>,
    stride: usize,
    padding: Padding,
) -> Result<()> {
    let kernel_matrix = match named_kernel(kernel) {
        Some(matrix) => matrix,
        None => {
            let path = Path::new(kernel);
            if !path.is_file() {
                bail!(
                    "--kernel {kernel}: neither a known kernel (blur, sharpen, edge, emboss, laplacian, sobel-x, sobel-y) nor a file"
                );
            }
            read_matrix(path)?
        }
    };
    if is_picture(input) {
        let output = output.context("give an OUTPUT file to write the filtered picture to")?;
        let picture = image::open(input)
            .with_context(|| format!("cannot read image {}", input.display()))?
            .to_luma8();
        let matrix = Matrix {
            rows: picture.height() as usize,
            cols: picture.width() as usize,
            values: picture.as_raw().iter().map(|&p| p as f32).collect(),
        };
        let result = convolve(&matrix, &kernel_matrix, stride, padding)
            .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
        let grey = to_grey_levels(&result, &kernel_matrix);
        let picture = image::GrayImage::from_raw(result.cols as u32, result.rows as u32, grey)
            .context("output size")?;
        let mut bytes = std::io::Cursor::new(Vec::new());
        let format = image::ImageFormat::from_path(output).unwrap_or(image::ImageFormat::Png);
        picture
            .write_to(&mut bytes, format)
            .with_context(|| format!("cannot encode {}", output.display()))?;
        model::atomic_write(output, bytes.get_ref())
            .with_context(|| format!("cannot write {}", output.display()))?;
        say!(
            "{}x{} -> {}x{}: wrote {}",
            matrix.cols,
            matrix.rows,
            result.cols,
            result.rows,
            output.display()
        )?;
    } else {
        let matrix = read_matrix(input)?;
        let result = convolve(&matrix, &kernel_matrix, stride, padding)
            .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
        say!("{}", result.to_string().trim_end_matches('\n'))?;
        if let Some(output) = output {
            model::atomic_write(output, result.to_string().as_bytes())
                .with_context(|| format!("cannot write {}", output.display()))?;
        }
    }
    Ok(())
}

fn is_picture(path: &Path) -> bool {
    image::ImageFormat::from_path(path).is_ok()
}

fn read_matrix(path: &Path) -> Result<Matrix> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.parse()
        .map_err(|e: String| anyhow::anyhow!("{}: {e}", path.display()))
}
