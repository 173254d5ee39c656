//! The recorder of the training checkpoints: the model crate's [`DurableRecorder`] (atomic,
//! fsynced writes; damaged files reported as such), remembering the first failed write. Burn's
//! checkpointer saves on a thread of its own and panics there when a save fails, so the run
//! learns the real cause (e.g. a full disk) from here.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use burn::prelude::*;
use burn::record::{FileRecorder, FullPrecisionSettings, Recorder, RecorderError};
use model::DurableRecorder;
use serde::Serialize;
use serde::de::DeserializeOwned;

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

    fn save_item<I: Serialize>(&self, item: I, file: PathBuf) -> Result<(), RecorderError> {
        let result = Recorder::<B>::save_item(&DurableRecorder, item, file);
        if let Err(error) = &result
            && let Ok(mut failure) = self.failure.lock()
        {
            failure.get_or_insert_with(|| model::persist::recorder_message(error));
        }
        result
    }

    fn load_item<I: DeserializeOwned>(&self, file: &mut PathBuf) -> Result<I, RecorderError> {
        Recorder::<B>::load_item(&DurableRecorder, file)
    }
}

impl<B: Backend> FileRecorder<B> for CheckpointRecorder {
    fn file_extension() -> &'static str {
        <DurableRecorder as FileRecorder<B>>::file_extension()
    }
}
