//! Weights out to PyTorch: a trained network as a `.safetensors` state dict in PyTorch's
//! names and layouts, exactly what [`crate::import`] reads back. The file's metadata holds the
//! model's config (architecture, pooling, ...), so `infer import` rebuilds the same network
//! without being told. Also the way to keep a trained model beyond Burn 0.21: Burn 0.22 no
//! longer reads `.mpk` records, but reads safetensors.

use burn_store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
use custom_kernels::KernelBackend;
use model::{ModelConfig, Network};

/// The metadata key holding the model's config as JSON (the config `model.json` holds).
pub const CONFIG_METADATA_KEY: &str = "mnist_workbench.model_config";

/// The bytes of a `.safetensors` file holding `network`'s weights under PyTorch's names
/// (`conv1.weight`, `fc1.bias`, ...) and layouts (linear weights `[out, in]`), with `config`
/// in its metadata.
pub fn export_safetensors<B: KernelBackend>(
    network: &Network<B>,
    config: &ModelConfig,
) -> anyhow::Result<Vec<u8>> {
    let config_json = serde_json::to_string(config)?;
    let mut store = SafetensorsStore::from_bytes(None)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true)
        .metadata(CONFIG_METADATA_KEY, config_json)
        .metadata("architecture", config.kind.to_string());
    network
        .save_into(&mut store)
        .map_err(|e| anyhow::anyhow!("cannot serialise the weights: {e}"))?;
    store
        .get_bytes()
        .map_err(|e| anyhow::anyhow!("cannot serialise the weights: {e}"))
}
