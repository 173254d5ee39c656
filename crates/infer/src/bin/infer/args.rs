//! The `infer` command line: its subcommands and their arguments.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use model::{KernelChoice, ModelKind};
use workbench_io::names::EVAL_REPORT_DIR;

use infer::convolve::{Padding, parse_padding};
use infer::pool::Pooling;

/// Inference with a model trained by `cargo run -p training`.
#[derive(Debug, Parser)]
#[command(name = "infer", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Predict the digit of each image (PNG/JPEG of any size or polarity), or of IDX images.
    Predict(PredictArgs),
    /// Accuracy, per-class precision/recall and the confusion matrix on an IDX image/label pair.
    Eval(EvalArgs),
    /// Draw the first-layer kernels and one image's feature maps after each conv layer.
    Filters(FiltersArgs),
    /// Apply a classic image kernel through the project's conv2d. A text-matrix INPUT prints
    /// the output matrix; a picture is converted to grey and the result saved to OUTPUT.
    Convolve(ConvolveArgs),
    /// Pool a text matrix (max, average or global average) through the project's pooling
    /// kernels and print the result.
    Pool(PoolArgs),
    /// Convert weights exported from PyTorch (.safetensors, .pt, .pth) into a model folder
    /// that `predict` and `eval` load.
    Import(ImportArgs),
    /// Write a model's weights as a .safetensors file in PyTorch's names and layouts (what
    /// `import` reads back), with the model's config in its metadata.
    Export(ExportArgs),
    /// Serve a web page to draw a digit on and see what each layer of the network sees, and
    /// its JSON API (docs/inference.md).
    Serve(ServeArgs),
}

/// The arguments of `infer serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Training run directory; repeat to serve several models (e.g. LeNet-5 and the MLP).
    #[arg(long = "model", required_unless_present = "runs")]
    pub models: Vec<PathBuf>,
    /// Folder for the runs trained from the page ("Train here": off without it); the finished
    /// runs already in it are served too.
    #[arg(long, value_name = "DIR")]
    pub runs: Option<PathBuf>,
    /// Address to listen on (127.0.0.1: this machine only; 0.0.0.0: the whole network).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port (0: any free port; the address is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Layer implementation: custom or builtin (default: the one recorded with each model).
    #[arg(long, ignore_case = true)]
    pub kernels: Option<KernelChoice>,
    /// MNIST folder for the page's random test digits (default: $MNIST_DIR, ./data/mnist or
    /// the repository's copy).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// The arguments of `infer predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Training run directory (or its model.mpk); repeat to classify by a committee: the
    /// models' averaged probabilities (a folder written by `training --ensemble` is one).
    #[arg(long = "model", required = true)]
    pub models: Vec<PathBuf>,
    /// Image files.
    pub images: Vec<PathBuf>,
    /// An IDX image file to read from instead of pictures (with --index).
    #[arg(long, conflicts_with = "images")]
    pub idx: Option<PathBuf>,
    /// Which image of --idx (0-based); repeat for several.
    #[arg(long, requires = "idx")]
    pub index: Vec<usize>,
    /// Layer implementation: custom or builtin (default: the one recorded with the model).
    #[arg(long, ignore_case = true)]
    pub kernels: Option<KernelChoice>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `infer eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Training run directory (or its model.mpk); repeat to score a committee: the models'
    /// averaged probabilities, with each member's accuracy.
    #[arg(long = "model", required = true)]
    pub models: Vec<PathBuf>,
    /// IDX images (raw or .gz), 28x28.
    #[arg(long)]
    pub images: PathBuf,
    /// IDX labels (raw or .gz).
    #[arg(long)]
    pub labels: PathBuf,
    /// Layer implementation: custom or builtin (default: the one recorded with the model).
    #[arg(long, ignore_case = true)]
    pub kernels: Option<KernelChoice>,
    /// Folder for confusion.png and mistakes.png.
    #[arg(long, default_value = EVAL_REPORT_DIR)]
    pub out: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `infer filters`.
#[derive(Debug, Args)]
pub struct FiltersArgs {
    /// Training run directory (or its model.mpk).
    #[arg(long)]
    pub model: PathBuf,
    /// The PNG to write.
    #[arg(long)]
    pub out: PathBuf,
    /// A picture of a digit to show the feature maps of (default: MNIST test image 0).
    #[arg(long, conflicts_with = "idx")]
    pub image: Option<PathBuf>,
    /// An IDX image file to take the input from (with --index).
    #[arg(long)]
    pub idx: Option<PathBuf>,
    /// Which image of --idx (0-based).
    #[arg(long, default_value_t = 0)]
    pub index: usize,
}

/// The arguments of `infer convolve`.
#[derive(Debug, Args)]
pub struct ConvolveArgs {
    /// blur, sharpen, edge, emboss, laplacian, sobel-x, sobel-y, or a text file holding a
    /// matrix (rows on lines, values separated by spaces or commas).
    #[arg(long)]
    pub kernel: String,
    /// A picture (PNG, JPEG) or a text matrix.
    pub input: PathBuf,
    /// Where to write the filtered picture (required for a picture; optional for a matrix).
    pub output: Option<PathBuf>,
    /// Step between output positions.
    #[arg(long, default_value_t = 1)]
    pub stride: usize,
    /// same (TensorFlow's SAME: ceil(W / S) outputs, the smaller half of the zeros before),
    /// valid, or a number of zeros on each side.
    #[arg(long, default_value = "same", value_parser = parse_padding)]
    pub padding: Padding,
}

/// The arguments of `infer pool`.
#[derive(Debug, Args)]
pub struct PoolArgs {
    /// Pooling.
    #[arg(long, ignore_case = true)]
    pub kind: Pooling,
    /// Side of the square window (not used by global).
    #[arg(long, default_value_t = 2)]
    pub size: usize,
    /// Step between windows [default: the window size, as in the networks].
    #[arg(long)]
    pub stride: Option<usize>,
    /// A text matrix (rows on lines, values separated by spaces or commas).
    pub input: PathBuf,
    /// Also write the pooled matrix to this file.
    pub output: Option<PathBuf>,
}

/// The arguments of `infer export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Training run directory (or its model.mpk).
    #[arg(long)]
    pub model: PathBuf,
    /// The .safetensors file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// The arguments of `infer import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The PyTorch state dict.
    #[arg(long)]
    pub from: PathBuf,
    /// The architecture the weights are for: lenet5, convnet or mlp (not needed for a file
    /// written by `infer export`, whose metadata says it).
    #[arg(long, ignore_case = true)]
    pub kind: Option<ModelKind>,
    /// Folder to write model.json and model.mpk into.
    #[arg(long)]
    pub out: PathBuf,
    /// Key of the state dict inside a .pt checkpoint (e.g. state_dict).
    #[arg(long)]
    pub key: Option<String>,
    /// Replace the model already in --out.
    #[arg(long)]
    pub force: bool,
}
