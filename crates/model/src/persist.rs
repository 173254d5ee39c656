//! The saved-model format: a run directory (or any folder) holding
//!
//! * `model.json`: the [`ModelConfig`] (architecture, init, dropout) as JSON;
//! * `model.mpk`: the weights of [`Network`], Burn's named MessagePack record at full precision
//!   (`NamedMpkFileRecorder<FullPrecisionSettings>`).
//!
//! Both are written atomically (temporary file, then rename), so a crash never leaves a
//! half-written model behind. Loading needs only this crate and a backend.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::record::{FileRecorder, FullPrecisionSettings, NamedMpkFileRecorder, Record, Recorder};

use crate::network::{ModelConfig, Network};
use custom_kernels::ConvKernels;

/// The recorder of `model.mpk`.
pub type ModelRecorder = NamedMpkFileRecorder<FullPrecisionSettings>;

/// File name of the weights inside a model directory.
pub const WEIGHTS_FILE: &str = "model.mpk";
/// File name of the architecture description inside a model directory.
pub const CONFIG_FILE: &str = "model.json";

/// Why a model could not be saved or loaded.
#[derive(Debug)]
pub enum PersistError {
    /// Reading or writing a file failed.
    Io(PathBuf, std::io::Error),
    /// `model.json` is not a valid model description.
    Config(PathBuf, String),
    /// `model.mpk` could not be decoded or does not fit the architecture.
    Weights(PathBuf, String),
}

impl std::fmt::Display for PersistError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PersistError::Io(path, err) => write!(f, "{}: {err}", path.display()),
            PersistError::Config(path, err) => {
                write!(
                    f,
                    "{}: not a valid model description: {err}",
                    path.display()
                )
            }
            PersistError::Weights(path, err) => {
                write!(f, "{}: cannot load the weights: {err}", path.display())
            }
        }
    }
}

impl std::error::Error for PersistError {}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, synced, then renamed.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        std::fs::remove_file(&temp).ok();
    }
    result
}

/// Saves `record` with the file recorder `recorder` at `path` (whose extension the recorder
/// sets), atomically: the recorder writes a temporary file in the same folder, which is then
/// renamed over the final name. Returns the final path.
pub fn record_atomically<B, FR, R>(recorder: &FR, record: R, path: &Path) -> Result<PathBuf, String>
where
    B: Backend,
    FR: FileRecorder<B>,
    R: Record<B>,
{
    let mut final_path = path.to_path_buf();
    final_path.set_extension(FR::file_extension());
    let dir = final_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let stem = final_path
        .file_stem()
        .and_then(|n| n.to_str())
        .unwrap_or("record");
    // The recorder replaces the extension: `.stem.PID.partial` is written as `.stem.PID.mpk`.
    let temp_arg = dir.join(format!(".{stem}.{}.partial", std::process::id()));
    let mut temp_path = temp_arg.clone();
    temp_path.set_extension(FR::file_extension());
    let result = recorder
        .record(record, temp_arg)
        .map_err(|e| e.to_string())
        .and_then(|()| std::fs::rename(&temp_path, &final_path).map_err(|e| e.to_string()));
    if result.is_err() {
        std::fs::remove_file(&temp_path).ok();
    }
    result.map(|()| final_path)
}

/// Saves `network` and its `config` into `dir` (`model.json` + `model.mpk`), atomically.
pub fn save_model<B: ConvKernels>(
    network: &Network<B>,
    config: &ModelConfig,
    dir: &Path,
) -> Result<(), PersistError> {
    let weights = dir.join(WEIGHTS_FILE);
    record_atomically(
        &ModelRecorder::new(),
        network.clone().into_record(),
        &weights,
    )
    .map_err(|e| PersistError::Weights(weights.clone(), e))?;
    let json = serde_json::to_vec_pretty(config).expect("a model config serialises");
    let config_path = dir.join(CONFIG_FILE);
    atomic_write(&config_path, &json).map_err(|e| PersistError::Io(config_path, e))
}

/// Reads `model.json` from `dir`.
pub fn load_config(dir: &Path) -> Result<ModelConfig, PersistError> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| PersistError::Io(path.clone(), e))?;
    serde_json::from_str(&text).map_err(|e| PersistError::Config(path, e.to_string()))
}

/// Loads the network saved in `dir` by [`save_model`] onto `device`.
pub fn load_model<B: ConvKernels>(
    dir: &Path,
    device: &B::Device,
) -> Result<(Network<B>, ModelConfig), PersistError> {
    let config = load_config(dir)?;
    let weights = dir.join(WEIGHTS_FILE);
    if !weights.is_file() {
        return Err(PersistError::Io(
            weights,
            std::io::Error::new(std::io::ErrorKind::NotFound, "weights file not found"),
        ));
    }
    let record: <Network<B> as Module<B>>::Record = ModelRecorder::new()
        .load(weights.clone(), device)
        .map_err(|e| PersistError::Weights(weights.clone(), e.to_string()))?;
    let network = config.init::<B>(device);
    if !record_matches(&network, &record) {
        return Err(PersistError::Weights(
            weights,
            format!("the weights are not those of a {} network", config.kind),
        ));
    }
    Ok((network.load_record(record), config))
}

fn record_matches<B: ConvKernels>(
    network: &Network<B>,
    record: &<Network<B> as Module<B>>::Record,
) -> bool {
    use crate::network::NetworkRecord;
    matches!(
        (network, record),
        (Network::Lenet5(_), NetworkRecord::Lenet5(_))
            | (Network::Convnet(_), NetworkRecord::Convnet(_))
            | (Network::Mlp(_), NetworkRecord::Mlp(_))
    )
}
