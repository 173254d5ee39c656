//! Loading LeNet-5 / ConvNet / MLP weights exported from PyTorch: `.safetensors` files and
//! `.pt`/`.pth` state dicts saved by `torch.save`. The tensors are read by
//! [`crate::state_dict`] (element types, strides, budgets) and put into the network by Burn's
//! store (`burn-store`'s applier, with its PyTorch adapter).
//!
//! The state dict must use the layer names of this project's models, which are the usual
//! ones of a PyTorch `nn.Module` with these attributes:
//!
//! | model | tensors |
//! |---|---|
//! | lenet5 | `conv1.{weight,bias}` `[6,1,5,5]`, `conv2` `[16,6,5,5]`, `fc1` `[120,400]`, `fc2` `[84,120]`, `fc3` `[10,84]` |
//! | convnet | `conv1` `[32,1,5,5]`, `conv2` `[64,32,5,5]`, `fc1` `[1024,3136]`, `fc2` `[10,1024]` |
//! | mlp | `fc1` `[1200,784]`, `fc2` `[1200,1200]`, `fc3` `[1200,1200]`, `fc4` `[10,1200]` |
//!
//! Linear weights are in PyTorch's `[out, in]` layout (Burn's adapter transposes them), and
//! the flatten before `fc1` is PyTorch's channel-major `x.view(n, -1)`, as in this project.
//!
//! A `.safetensors` file written by `infer export` also carries the model's config in its
//! metadata ([`saved_config`]), so the architecture and pooling need not be given.

use std::path::{Path, PathBuf};

use burn::module::ParamId;
use burn::tensor::TensorData;
use burn_store::{ApplyResult, ModuleSnapshot, PyTorchToBurnAdapter, TensorSnapshot};
use custom_kernels::KernelBackend;
use model::{ModelConfig, Network};

use crate::state_dict::{MAX_WEIGHT_FILE_BYTES, WeightFormat, read_weights};

/// Why PyTorch weights could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file extension names no supported format.
    #[error("{0}: unknown weight format (expected .safetensors, .pt or .pth)")]
    UnknownFormat(PathBuf),
    /// The file could not be read or parsed.
    #[error("{path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the reader reported.
        reason: String,
    },
    /// The tensors do not match the network's layers.
    #[error("{path}: not the weights of a {kind} network: {problems}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// The architecture it was loaded into.
        kind: String,
        /// Missing, unexpected or misshaped tensors.
        problems: String,
    },
}

/// The model config `infer export` stored in a `.safetensors` file's metadata, if the file
/// has one (`Ok(None)` for other files, e.g. any state dict saved by PyTorch).
pub fn saved_config(path: &Path) -> Result<Option<ModelConfig>, ImportError> {
    let unreadable = |reason: String| ImportError::Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    if WeightFormat::of(path) != Some(WeightFormat::Safetensors) {
        return Ok(None);
    }
    let bytes = workbench_io::read_limited(path, MAX_WEIGHT_FILE_BYTES)
        .map_err(|e| unreadable(e.to_string()))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| unreadable(format!("not a safetensors file: {e}")))?;
    let Some(json) = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(crate::export::CONFIG_METADATA_KEY))
    else {
        return Ok(None);
    };
    let config: ModelConfig = serde_json::from_str(json)
        .map_err(|e| unreadable(format!("its model config metadata is not valid: {e}")))?;
    if !(0.0..1.0).contains(&config.dropout) {
        return Err(unreadable(format!(
            "its model config metadata has dropout {}, not in [0, 1)",
            config.dropout
        )));
    }
    Ok(Some(config))
}

/// Builds the network described by `config` on `device` with the weights of a PyTorch state
/// dict at `path`. `top_level_key` selects a nested dict in a `.pt` checkpoint (for example
/// `"state_dict"`). Every layer must be present with the right shape, and no tensor may be
/// left over.
pub fn import_pytorch<B: KernelBackend>(
    path: &Path,
    config: &ModelConfig,
    top_level_key: Option<&str>,
    device: &B::Device,
) -> Result<Network<B>, ImportError> {
    let format =
        WeightFormat::of(path).ok_or_else(|| ImportError::UnknownFormat(path.to_path_buf()))?;
    let unreadable = |reason: String| ImportError::Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    let tensors = read_weights(path, format, top_level_key).map_err(unreadable)?;
    let snapshots = tensors
        .into_iter()
        .map(|tensor| {
            let path_stack = tensor.name.split('.').map(str::to_string).collect();
            let data = TensorData::new(tensor.values, tensor.shape);
            TensorSnapshot::from_data(data, path_stack, Vec::new(), ParamId::new())
        })
        .collect();
    let mut network = config.init::<B>(device);
    // Skipping enum variants: the network's layers are named as in PyTorch (`conv1.weight`),
    // without the variant (`LeNet5`) that holds them.
    let result = network.apply(snapshots, None, Some(Box::new(PyTorchToBurnAdapter)), true);
    check_complete(&result).map_err(|problems| ImportError::Mismatch {
        path: path.to_path_buf(),
        kind: config.kind.to_string(),
        problems,
    })?;
    Ok(network)
}

/// `Err` listing what is wrong unless every parameter was loaded and nothing was left over.
fn check_complete(result: &ApplyResult) -> Result<(), String> {
    let mut problems = Vec::new();
    if !result.missing.is_empty() {
        let names: Vec<&str> = result.missing.iter().map(|(p, _)| p.as_str()).collect();
        problems.push(format!("missing {}", names.join(", ")));
    }
    if !result.unused.is_empty() {
        problems.push(format!("unexpected {}", result.unused.join(", ")));
    }
    if !result.errors.is_empty() {
        let errors: Vec<String> = result.errors.iter().map(ToString::to_string).collect();
        problems.push(errors.join("; "));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
