//! What each `infer` subcommand does, one function per subcommand (`main` only dispatches).
//! Every model runs on [`DefaultBackend`].

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use mnist_data::{IMAGE_PIXELS, IMAGE_SIDE, LabelledImages};
use model::{KernelChoice, ModelConfig};
use workbench_io::names::{CONFUSION_FILE, MISTAKES_FILE};
use workbench_io::say;

use infer::convolve::{convolve as convolve_matrix, named_kernel, to_grey_levels};
use infer::features::{conv_feature_maps, first_layer_kernels};
use infer::matrix::Matrix;
use infer::pool::pool as pool_matrix;
use infer::render::{confusion_png, filters_png, mistakes_png};
use infer::{Classifier, DefaultBackend, Prediction, evaluate, import_pytorch};

use crate::args::{
    ConvolveArgs, EvalArgs, ExportArgs, FiltersArgs, ImportArgs, PoolArgs, PredictArgs, ServeArgs,
};

/// The classifier of one or more `--model`s (several: a committee).
fn load(models: &[PathBuf], kernels: Option<KernelChoice>) -> Result<Classifier<DefaultBackend>> {
    Ok(Classifier::<DefaultBackend>::load_committee(
        models,
        Default::default(),
        kernels,
    )?)
}

/// The one network of `model`, for the subcommands that look inside a network: a committee's
/// folder is refused before anything is loaded, naming where its networks are.
fn load_one(model: &Path) -> Result<Classifier<DefaultBackend>> {
    if let Some(members) = model::committee::committee_members(model)? {
        let kept = model.join(workbench_io::names::WEIGHTS_FILE);
        bail!(
            "{} is a committee of {} networks ({}); pass one of its members' folders{}",
            model.display(),
            members.len(),
            workbench_io::names::COMMITTEE_FILE,
            if kept.is_file() {
                format!(", or {} (the best single run)", kept.display())
            } else {
                String::new()
            }
        );
    }
    Ok(Classifier::<DefaultBackend>::load(model)?)
}

/// `infer predict`: the digit of each picture or IDX image.
pub fn predict(args: PredictArgs) -> Result<()> {
    let PredictArgs {
        models,
        images,
        idx,
        index,
        kernels,
        json,
    } = args;
    let classifier = load(&models, kernels)?;
    // One result per input: a prediction, or why that input could not be classified.
    let mut results: Vec<(String, Result<Prediction, String>)> = Vec::new();
    if let Some(idx) = idx {
        let set = mnist_data::read_images(&idx)?;
        if (set.rows, set.cols) != (IMAGE_SIDE, IMAGE_SIDE) {
            bail!(
                "{}: images are {}x{}, expected {IMAGE_SIDE}x{IMAGE_SIDE}",
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
            let pixels = mnist_pixels_of(set.image(i))?;
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
    Ok(())
}

/// `infer eval`: accuracy, per-class precision and recall, the confusion matrix and the worst
/// mistakes on a labelled IDX pair.
pub fn eval(args: EvalArgs) -> Result<()> {
    let EvalArgs {
        models,
        images,
        labels,
        kernels,
        out,
        json,
    } = args;
    let classifier = load(&models, kernels)?;
    let set = LabelledImages::read_idx_pair(&images, &labels)?;
    if set.is_empty() {
        bail!("{}: holds no images; nothing to evaluate", images.display());
    }
    let report = evaluate(&classifier, &set);
    let confusion = out.join(CONFUSION_FILE);
    let mistakes = out.join(MISTAKES_FILE);
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
    Ok(())
}

/// `infer filters`: the first layer's kernels and one image's feature maps, drawn.
pub fn filters(args: FiltersArgs) -> Result<()> {
    let FiltersArgs {
        model,
        out,
        image,
        idx,
        index,
    } = args;
    let classifier = load_one(&model)?;
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
    Ok(())
}

/// `infer import`: PyTorch weights into a model folder. The model's config comes from the
/// file's metadata when `infer export` wrote it, else from `--kind` (defaults otherwise).
pub fn import(args: ImportArgs) -> Result<()> {
    let ImportArgs {
        from,
        kind,
        out,
        key,
        force,
    } = args;
    if out.exists() && !out.is_dir() {
        bail!("--out {}: is a file, not a folder", out.display());
    }
    let existing = [
        workbench_io::names::MODEL_CONFIG_FILE,
        workbench_io::names::WEIGHTS_FILE,
    ]
    .iter()
    .any(|name| out.join(name).exists());
    if existing && !force {
        bail!(
            "--out {} already holds a model; pass --force to replace it",
            out.display()
        );
    }
    let config = match (infer::import::saved_config(&from)?, kind) {
        (Some(saved), Some(kind)) if saved.kind != kind => bail!(
            "--kind {kind}, but {} holds a {} network (its metadata says so)",
            from.display(),
            saved.kind
        ),
        (Some(saved), _) => saved,
        (None, Some(kind)) => ModelConfig::new().with_kind(kind),
        (None, None) => bail!(
            "{} does not say which network it holds (it was not written by infer export): give --kind lenet5, convnet or mlp",
            from.display()
        ),
    };
    let network =
        import_pytorch::<DefaultBackend>(&from, &config, key.as_deref(), &Default::default())?;
    model::save_model(&network, &config, &out)?;
    say!(
        "imported {} weights from {} into {}",
        config.kind,
        from.display(),
        out.display()
    )?;
    Ok(())
}

/// `infer export`: a model's weights as a PyTorch-layout .safetensors file.
pub fn export(args: ExportArgs) -> Result<()> {
    if !args
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
    {
        bail!(
            "--out {}: the file is written as safetensors, so its name must end in .safetensors",
            args.out.display()
        );
    }
    let classifier = load_one(&args.model)?;
    let bytes = infer::export::export_safetensors(classifier.network(), classifier.config())?;
    workbench_io::atomic_write(&args.out, &bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    say!(
        "exported {} weights ({} parameters) from {} to {}",
        classifier.config().kind,
        burn::module::Module::num_params(classifier.network()),
        args.model.display(),
        args.out.display()
    )?;
    Ok(())
}

/// `infer serve`: the draw-a-digit page and its API, until Ctrl-C.
pub fn serve(args: ServeArgs) -> Result<()> {
    crate::serve::serve(crate::serve::ServeOptions {
        models: args.models,
        runs: args.runs,
        host: args.host,
        port: args.port,
        kernels: args.kernels,
        data_dir: mnist_data::resolve_data_dir(args.data.as_deref()),
    })
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
) -> Result<([u8; IMAGE_PIXELS], String)> {
    if let Some(path) = image {
        return Ok((infer::read_digit(path)?, path.display().to_string()));
    }
    let Some(path) = idx else {
        let test = mnist_data::Mnist::load_test(&mnist_data::bundled_data_dir())?;
        if index >= test.len() {
            bail!(
                "--index {index}: the MNIST test set has {} images",
                test.len()
            );
        }
        let pixels = mnist_pixels_of(test.image(index))?;
        return Ok((pixels, format!("MNIST test image {index}")));
    };
    let set = mnist_data::read_images(path)?;
    if (set.rows, set.cols) != (IMAGE_SIDE, IMAGE_SIDE) || index >= set.count {
        bail!(
            "{}: no {IMAGE_SIDE}x{IMAGE_SIDE} image number {index} ({} images of {}x{})",
            path.display(),
            set.count,
            set.rows,
            set.cols
        );
    }
    let pixels = mnist_pixels_of(set.image(index))?;
    Ok((pixels, format!("{}[{index}]", path.display())))
}

/// `infer convolve`: a picture in and out, or a text matrix printed.
pub fn convolve(args: ConvolveArgs) -> Result<()> {
    let ConvolveArgs {
        kernel,
        input,
        output,
        stride,
        padding,
    } = args;
    let (kernel, input, output) = (kernel.as_str(), input.as_path(), output.as_deref());
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
        let picture = infer::picture::read_picture(input)
            .map_err(|e| anyhow::anyhow!("cannot read image {}: {e}", input.display()))?
            .to_luma8();
        let matrix = Matrix {
            rows: picture.height() as usize,
            cols: picture.width() as usize,
            values: picture.as_raw().iter().map(|&p| p as f32).collect(),
        };
        let result = convolve_matrix::<DefaultBackend>(&matrix, &kernel_matrix, stride, padding)
            .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
        let grey = to_grey_levels(&result, &kernel_matrix);
        let picture = image::GrayImage::from_raw(result.cols as u32, result.rows as u32, grey)
            .context("output size")?;
        let mut bytes = std::io::Cursor::new(Vec::new());
        let format = image::ImageFormat::from_path(output).unwrap_or(image::ImageFormat::Png);
        picture
            .write_to(&mut bytes, format)
            .with_context(|| format!("cannot encode {}", output.display()))?;
        workbench_io::atomic_write(output, bytes.get_ref())
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
        let result = convolve_matrix::<DefaultBackend>(&matrix, &kernel_matrix, stride, padding)
            .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
        print_matrix(&result, output)?;
    }
    Ok(())
}

/// `infer pool`: a text matrix pooled and printed.
pub fn pool(args: PoolArgs) -> Result<()> {
    let matrix = read_matrix(&args.input)?;
    let stride = args.stride.unwrap_or(args.size);
    let result = pool_matrix::<DefaultBackend>(&matrix, args.kind, args.size, stride)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.input.display()))?;
    print_matrix(&result, args.output.as_deref())
}

/// Prints a result matrix, and writes it to `output` too if given.
fn print_matrix(result: &Matrix, output: Option<&Path>) -> Result<()> {
    say!("{}", result.to_string().trim_end_matches('\n'))?;
    if let Some(output) = output {
        workbench_io::atomic_write(output, result.to_string().as_bytes())
            .with_context(|| format!("cannot write {}", output.display()))?;
    }
    Ok(())
}

/// One MNIST image's pixels as the classifier takes them.
fn mnist_pixels_of(image: &[u8]) -> Result<[u8; IMAGE_PIXELS]> {
    image
        .try_into()
        .with_context(|| format!("{} pixels, expected {IMAGE_PIXELS}", image.len()))
}

fn is_picture(path: &Path) -> bool {
    image::ImageFormat::from_path(path).is_ok()
}

fn read_matrix(path: &Path) -> Result<Matrix> {
    Matrix::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
