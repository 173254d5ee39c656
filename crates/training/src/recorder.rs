//! A file recorder that never leaves a half-written checkpoint: it wraps one of Burn's file
//! recorders and writes through a temporary file plus rename.

use std::path::PathBuf;

use burn::prelude::*;
use burn::record::{
    FileRecorder, FullPrecisionSettings, NamedMpkFileRecorder, Recorder, RecorderError,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Checkpoints at full precision (resuming must continue exactly where the run stopped).
pub type CheckpointRecorder = AtomicFileRecorder<NamedMpkFileRecorder<FullPrecisionSettings>>;

/// Wraps a [`FileRecorder`] so that every save is atomic.
#[derive(Clone, Debug, Default)]
pub struct AtomicFileRecorder<R> {
    inner: R,
}

impl<B: Backend, R: FileRecorder<B>> Recorder<B> for AtomicFileRecorder<R> {
    type Settings = R::Settings;
    type RecordArgs = PathBuf;
    type RecordOutput = ();
    type LoadArgs = PathBuf;

    fn save_item<I: Serialize>(&self, item: I, mut file: PathBuf) -> Result<(), RecorderError> {
        file.set_extension(<R as FileRecorder<B>>::file_extension());
        let dir = file.parent().map(PathBuf::from).unwrap_or_default();
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("record")
            .to_string();
        // The inner recorder replaces the extension of the path it is given.
        let temp_arg = dir.join(format!(".{stem}.{}.partial", std::process::id()));
        let mut temp = temp_arg.clone();
        temp.set_extension(<R as FileRecorder<B>>::file_extension());
        self.inner.save_item(item, temp_arg)?;
        std::fs::rename(&temp, &file).map_err(|e| {
            std::fs::remove_file(&temp).ok();
            RecorderError::Unknown(format!(
                "cannot move {} to {}: {e}",
                temp.display(),
                file.display()
            ))
        })
    }

    fn load_item<I: DeserializeOwned>(&self, file: &mut PathBuf) -> Result<I, RecorderError> {
        self.inner.load_item(file)
    }
}

impl<B: Backend, R: FileRecorder<B>> FileRecorder<B> for AtomicFileRecorder<R> {
    fn file_extension() -> &'static str {
        R::file_extension()
    }
}
