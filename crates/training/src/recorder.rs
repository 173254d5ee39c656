//! The recorder of the training checkpoints: the model crate's durable record files (atomic,
//! fsynced writes; damaged files reported as such), sealed, and remembering the first failed
//! write. Burn's checkpointer saves on a thread of its own and panics there when a save fails,
//! so the run learns the real cause (e.g. a full disk) from here.
//!
//! The seal: after the record, [`SEAL_MAGIC`] and the SHA-256 of the file's name and the
//! record. A byte changed inside a checkpoint, or a checkpoint renamed to another epoch or part
//! (`model-3.mpk` swapped with `model-4.mpk`), no longer matches its seal and is refused, so
//! `--resume` falls back to an older checkpoint instead of continuing from altered weights.
//! A checkpoint without a seal (written by an earlier version) is read as before.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use burn::prelude::*;
use burn::record::{FileRecorder, FullPrecisionSettings, Recorder, RecorderError};
use model::DurableRecorder;
use model::persist::{read_record_file, record_from_bytes, record_to_bytes, write_record_file};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// Marks the seal at the end of a checkpoint file.
pub const SEAL_MAGIC: &[u8; 8] = b"MNWBSEAL";
/// Bytes of the seal: the magic, then the SHA-256.
const SEAL_LEN: usize = SEAL_MAGIC.len() + 32;

/// SHA-256 of the file's name and its record.
fn seal_digest(path: &Path, record: &[u8]) -> [u8; 32] {
    let name = path
        .file_name()
        .map(|n| n.as_encoded_bytes())
        .unwrap_or_default();
    let mut hash = Sha256::new();
    hash.update(name);
    hash.update([0]);
    hash.update(record);
    hash.finalize().into()
}

/// `record` with its seal appended.
fn seal(path: &Path, mut record: Vec<u8>) -> Vec<u8> {
    let digest = seal_digest(path, &record);
    record.extend_from_slice(SEAL_MAGIC);
    record.extend_from_slice(&digest);
    record
}

/// The record of a sealed file, checked against its seal (an unsealed file is returned whole).
fn unseal(path: &Path, mut bytes: Vec<u8>) -> Result<Vec<u8>, RecorderError> {
    let Some(at) = bytes.len().checked_sub(SEAL_LEN) else {
        return Ok(bytes);
    };
    if &bytes[at..at + SEAL_MAGIC.len()] != SEAL_MAGIC {
        return Ok(bytes);
    }
    let digest = bytes.split_off(at + SEAL_MAGIC.len());
    bytes.truncate(at);
    if digest != seal_digest(path, &bytes) {
        return Err(RecorderError::Unknown(format!(
            "{}: the checkpoint does not match its checksum (changed after it was written, or \
             renamed from another epoch's)",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Checkpoints at full precision (resuming must continue exactly where the run stopped).
#[derive(Clone, Debug, Default)]
pub struct CheckpointRecorder {
    failure: Arc<Mutex<Option<String>>>,
}

impl CheckpointRecorder {
    /// The first save that failed, with its cause.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok()?.clone()
    }
}

impl<B: Backend> Recorder<B> for CheckpointRecorder {
    type Settings = FullPrecisionSettings;
    type RecordArgs = PathBuf;
    type RecordOutput = ();
    type LoadArgs = PathBuf;

    fn save_item<I: Serialize>(&self, item: I, mut file: PathBuf) -> Result<(), RecorderError> {
        file.set_extension(<Self as FileRecorder<B>>::file_extension());
        let result = record_to_bytes::<B, I>(item)
            .and_then(|record| write_record_file(&file, &seal(&file, record)));
        if let Err(error) = &result
            && let Ok(mut failure) = self.failure.lock()
        {
            failure.get_or_insert_with(|| model::persist::recorder_message(error));
        }
        result
    }

    fn load_item<I: DeserializeOwned>(&self, file: &mut PathBuf) -> Result<I, RecorderError> {
        file.set_extension(<Self as FileRecorder<B>>::file_extension());
        let bytes = unseal(file, read_record_file(file)?)?;
        record_from_bytes::<B, I>(bytes)
    }
}

impl<B: Backend> FileRecorder<B> for CheckpointRecorder {
    fn file_extension() -> &'static str {
        <DurableRecorder as FileRecorder<B>>::file_extension()
    }
}
