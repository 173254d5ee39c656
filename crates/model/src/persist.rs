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
    FileRecorder, FullPrecisionSettings, NamedMpkBytesRecorder, Record, Recorder, RecorderError,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::network::{ModelConfig, ModelKind, Network};
use custom_kernels::KernelBackend;
use workbench_io::atomic_write;
use workbench_io::names::{MODEL_CONFIG_FILE, WEIGHTS_FILE};

/// Largest JSON settings file read (`model.json`, a run's `config.json`).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Largest record (`model.mpk`, a checkpoint) read: far above the largest here, the MLP's
/// optimizer state.
pub const MAX_RECORD_BYTES: u64 = 1 << 30;

/// Why a model could not be saved or loaded. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// Reading a file failed.
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing `model.json` failed (nothing was left half-written).
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing `model.mpk` failed (nothing was left half-written); Burn's message names the
    /// file.
    #[error("{}", recorder_message(.0))]
    Record(RecorderError),
    /// `model.json` is not a valid model description.
    #[error("{}: not a valid model description: {source}", path.display())]
    Config {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// `model.mpk` could not be decoded.
    #[error("{}: cannot load the weights: {}", path.display(), recorder_message(error))]
    Weights { path: PathBuf, error: RecorderError },
    /// `committee.json` is not a valid committee (the problem is named).
    #[error("{}: not a valid committee: {problem}", path.display())]
    Committee { path: PathBuf, problem: String },
    /// `model.mpk` holds the weights of another network than `model.json` describes.
    #[error("{}: cannot load the weights: the weights are not those of a {expected} network", path.display())]
    WrongNetwork { path: PathBuf, expected: ModelKind },
}

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
    workbench_io::read_limited(path, MAX_RECORD_BYTES).map_err(|e| {
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
    .map_err(PersistError::Record)?;
    let json = serde_json::to_vec_pretty(config).expect("a model config serialises");
    let config_path = dir.join(MODEL_CONFIG_FILE);
    atomic_write(&config_path, &json).map_err(|source| PersistError::Write {
        path: config_path,
        source,
    })
}

/// `network`'s weights as `model.mpk` holds them, in memory (a watched training run's
/// snapshots travel so, whatever backend each side runs on).
pub fn network_to_bytes<B: KernelBackend>(network: &Network<B>) -> Result<Vec<u8>, RecorderError> {
    record_to_bytes::<B, _>(
        network
            .clone()
            .into_record()
            .into_item::<FullPrecisionSettings>(),
    )
}

/// The network of `config` with the weights [`network_to_bytes`] wrote, on `device`; an error
/// if they are damaged or another network's.
pub fn network_from_bytes<B: KernelBackend>(
    config: &ModelConfig,
    bytes: Vec<u8>,
    device: &B::Device,
) -> Result<Network<B>, RecorderError> {
    type Item<B> = <<Network<B> as Module<B>>::Record as Record<B>>::Item<FullPrecisionSettings>;
    let item: Item<B> = record_from_bytes::<B, _>(bytes)?;
    let record = <Network<B> as Module<B>>::Record::from_item(item, device);
    let network = config.init::<B>(device);
    if !record_matches(&network, &record) {
        return Err(RecorderError::Unknown(format!(
            "the weights are not those of a {} network",
            config.kind
        )));
    }
    Ok(network.load_record(record))
}

/// Reads `model.json` from `dir`.
pub fn load_config(dir: &Path) -> Result<ModelConfig, PersistError> {
    let path = dir.join(MODEL_CONFIG_FILE);
    let bytes = match workbench_io::read_limited(&path, MAX_CONFIG_BYTES) {
        Ok(bytes) => bytes,
        Err(source) => return Err(PersistError::Read { path, source }),
    };
    serde_json::from_slice(&bytes).map_err(|source| PersistError::Config { path, source })
}

/// Loads the network saved in `dir` by [`save_model`] onto `device`.
pub fn load_model<B: KernelBackend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(Network<B>, ModelConfig), PersistError> {
    let config = load_config(dir)?;
    let weights = dir.join(WEIGHTS_FILE);
    if !weights.is_file() {
        return Err(PersistError::Read {
            path: weights,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "weights file not found"),
        });
    }
    let record: <Network<B> as Module<B>>::Record =
        Recorder::<B>::load(&DurableRecorder, weights.clone(), device).map_err(|error| {
            PersistError::Weights {
                path: weights.clone(),
                error,
            }
        })?;
    let network = config.init::<B>(device);
    if !record_matches(&network, &record) {
        return Err(PersistError::WrongNetwork {
            path: weights,
            expected: config.kind,
        });
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
