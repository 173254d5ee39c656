//! Loading LeNet-5 / ConvNet / MLP weights exported from PyTorch, through Burn's store
//! (`burn-store`): `.safetensors` files and `.pt`/`.pth` pickled state dicts.
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

use burn_store::{
    ApplyResult, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};
use custom_kernels::KernelBackend;
use model::{ModelConfig, Network};

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
    let is_safetensors = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
    if !is_safetensors {
        return Ok(None);
    }
    let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
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
    if !path.is_file() {
        return Err(ImportError::Unreadable {
            path: path.to_path_buf(),
            reason: "file not found".into(),
        });
    }
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let mut network = config.init::<B>(device);
    let unreadable = |reason: String| ImportError::Unreadable {
        path: path.to_path_buf(),
        reason: format!("cannot load it into a {} network: {reason}", config.kind),
    };
    let result = match extension.as_deref() {
        Some("safetensors") => {
            let mut store = SafetensorsStore::from_file(path)
                .with_from_adapter(PyTorchToBurnAdapter)
                .skip_enum_variants(true)
                .allow_partial(true);
            network
                .load_from(&mut store)
                .map_err(|e| unreadable(e.to_string()))?
        }
        Some("pt" | "pth") => {
            let mut store = PytorchStore::from_file(path).allow_partial(true);
            if let Some(key) = top_level_key {
                store = store.with_top_level_key(key);
            }
            network
                .load_from(&mut store)
                .map_err(|e| unreadable(e.to_string()))?
        }
        _ => return Err(ImportError::UnknownFormat(path.to_path_buf())),
    };
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
