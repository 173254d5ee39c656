//! The saved-model format: a run directory (or any folder) holding
//!
//! * `model.json`: the [`ModelConfig`] (architecture, init, dropout) as JSON;
//! * `model.mpk`: the weights of [`Network`], Burn's named MessagePack record at full precision
//!   (what `NamedMpkFileRecorder<FullPrecisionSettings>` writes), through [`DurableRecorder`].
//!
//! Both are written with [`atomic_write`], so a crash or a full disk never leaves a
//! half-written model behind. Loading needs only this crate and a backend.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::record::{
    FileRecorder, FullPrecisionSettings, NamedMpkBytesRecorder, Recorder, RecorderError,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::atomic_file::atomic_write;
use crate::files::{MODEL_CONFIG_FILE, WEIGHTS_FILE};
use crate::network::{ModelConfig, ModelKind, Network};
use custom_kernels::KernelBackend;

/// Largest JSON settings file read (`model.json`, a run's `config.json`).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Largest record (`model.mpk`, a checkpoint) read: far above the largest here, the MLP's
/// optimizer state.
pub const MAX_RECORD_BYTES: u64 = 1 << 30;

/// Why a model could not be saved or loaded.
#[derive(Debug)]
pub enum PersistError {
    /// Reading a file failed.
    Io(PathBuf, std::io::Error),
    /// Writing a file failed (nothing was left half-written); the message names the file.
    Write(String),
    /// `model.json` is not a valid model description.
    Config(PathBuf, String),
    /// `model.mpk` could not be decoded or does not fit the architecture.
    Weights(PathBuf, String),
}

impl std::fmt::Display for PersistError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PersistError::Io(path, err) => write!(f, "{}: {err}", path.display()),
            PersistError::Write(message) => f.write_str(message),
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

/// Extension of Burn's named MessagePack records.
const RECORD_EXTENSION: &str = "mpk";

type MpkBytes = NamedMpkBytesRecorder<FullPrecisionSettings>;

/// Burn's named MessagePack record at full precision, the format of `model.mpk` and of the
/// training checkpoints, byte for byte what `NamedMpkFileRecorder` writes. Unlike Burn's file
/// recorders (a buffered writer whose flush error is lost, no `fsync`), it serialises in memory
/// and writes with [`atomic_write`], so a full disk or a crash never leaves a truncated record
/// under the final name; and a damaged file is reported as such.
#[derive(Clone, Copy, Debug, Default)]
pub struct DurableRecorder;

impl<B: Backend> Recorder<B> for DurableRecorder {
    type Settings = FullPrecisionSettings;
    type RecordArgs = PathBuf;
    type RecordOutput = ();
    type LoadArgs = PathBuf;

    fn save_item<I: Serialize>(&self, item: I, mut path: PathBuf) -> Result<(), RecorderError> {
        path.set_extension(RECORD_EXTENSION);
        let bytes = record_to_bytes::<B, I>(item)?;
        write_record_file(&path, &bytes)
    }

    fn load_item<I: DeserializeOwned>(&self, path: &mut PathBuf) -> Result<I, RecorderError> {
        path.set_extension(RECORD_EXTENSION);
        record_from_bytes::<B, I>(read_record_file(path)?)
    }
}

/// `item` as Burn's named MessagePack record at full precision.
pub fn record_to_bytes<B: Backend, I: Serialize>(item: I) -> Result<Vec<u8>, RecorderError> {
    <MpkBytes as Recorder<B>>::save_item(&MpkBytes::default(), item, ())
}

/// Writes record bytes to `path` with [`atomic_write`].
pub fn write_record_file(path: &Path, bytes: &[u8]) -> Result<(), RecorderError> {
    atomic_write(path, bytes)
        .map_err(|e| RecorderError::Unknown(format!("cannot write {}: {e}", path.display())))
}

/// The bytes of the record file at `path` (at most [`MAX_RECORD_BYTES`]).
pub fn read_record_file(path: &Path) -> Result<Vec<u8>, RecorderError> {
    mnist_data::read_limited(path, MAX_RECORD_BYTES).map_err(|e| {
        let message = format!("{}: {e}", path.display());
        match e.kind() {
            std::io::ErrorKind::NotFound => RecorderError::FileNotFound(message),
            _ => RecorderError::Unknown(message),
        }
    })
}

/// The record in `bytes` (what [`record_to_bytes`] wrote); a damaged one is reported as such.
pub fn record_from_bytes<B: Backend, I: DeserializeOwned>(
    mut bytes: Vec<u8>,
) -> Result<I, RecorderError> {
    <MpkBytes as Recorder<B>>::load_item(&MpkBytes::default(), &mut bytes)
        .map_err(|e| RecorderError::Unknown(explain_load_error::<B>(&bytes, e)))
}

impl<B: Backend> FileRecorder<B> for DurableRecorder {
    fn file_extension() -> &'static str {
        RECORD_EXTENSION
    }
}

/// The message inside a [`RecorderError`] (whose `Display` is its `Debug` form).
pub fn recorder_message(error: &RecorderError) -> String {
    match error {
        RecorderError::FileNotFound(m)
        | RecorderError::DeserializeError(m)
        | RecorderError::Unknown(m) => m.clone(),
    }
}

/// Says what is wrong with a record that did not load: a file that is not even one complete
/// MessagePack value is damaged (truncated, overwritten); otherwise Burn's message, without
/// its hint about the format of Burn 0.14, which would mislead here.
fn explain_load_error<B: Backend>(bytes: &[u8], error: RecorderError) -> String {
    let complete = <MpkBytes as Recorder<B>>::load_item::<serde::de::IgnoredAny>(
        &MpkBytes::default(),
        &mut bytes.to_vec(),
    )
    .is_ok();
    if !complete {
        return format!(
            "the file is truncated or corrupt ({} bytes that are not a complete record)",
            bytes.len()
        );
    }
    let message = recorder_message(&error);
    match message.find("\nThe internal data format has changed") {
        Some(end) => message[..end].to_string(),
        None => message,
    }
}

/// Saves `network` and its `config` into `dir` (`model.json` + `model.mpk`), atomically.
pub fn save_model<B: KernelBackend>(
    network: &Network<B>,
    config: &ModelConfig,
    dir: &Path,
) -> Result<(), PersistError> {
    let weights = dir.join(WEIGHTS_FILE);
    Recorder::<B>::record(
        &DurableRecorder,
        network.clone().into_record(),
        weights.clone(),
    )
    .map_err(|e| PersistError::Write(recorder_message(&e)))?;
    let json = serde_json::to_vec_pretty(config).expect("a model config serialises");
    let config_path = dir.join(MODEL_CONFIG_FILE);
    atomic_write(&config_path, &json)
        .map_err(|e| PersistError::Write(format!("cannot write {}: {e}", config_path.display())))
}

/// Reads `model.json` from `dir`.
pub fn load_config(dir: &Path) -> Result<ModelConfig, PersistError> {
    let path = dir.join(MODEL_CONFIG_FILE);
    let bytes = mnist_data::read_limited(&path, MAX_CONFIG_BYTES)
        .map_err(|e| PersistError::Io(path.clone(), e))?;
    serde_json::from_slice(&bytes).map_err(|e| PersistError::Config(path, e.to_string()))
}

/// Loads the network saved in `dir` by [`save_model`] onto `device`.
pub fn load_model<B: KernelBackend>(
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
    let record: <Network<B> as Module<B>>::Record =
        Recorder::<B>::load(&DurableRecorder, weights.clone(), device)
            .map_err(|e| PersistError::Weights(weights.clone(), recorder_message(&e)))?;
    let network = config.init::<B>(device);
    if !record_matches(&network, &record) {
        return Err(PersistError::Weights(
            weights,
            format!("the weights are not those of a {} network", config.kind),
        ));
    }
    Ok((network.load_record(record), config))
}

fn record_matches<B: KernelBackend>(
    network: &Network<B>,
    record: &<Network<B> as Module<B>>::Record,
) -> bool {
    record_kind::<B>(record) == network.kind()
}

/// The kind of network a record (`model.mpk`, a checkpoint's model) holds.
pub fn record_kind<B: KernelBackend>(record: &<Network<B> as Module<B>>::Record) -> ModelKind {
    use crate::network::NetworkRecord;
    match record {
        NetworkRecord::Lenet5(_) => ModelKind::Lenet5,
        NetworkRecord::Convnet(_) => ModelKind::Convnet,
        NetworkRecord::Mlp(_) => ModelKind::Mlp,
    }
}
