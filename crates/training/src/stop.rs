//! The stop of a watched training session ([`crate::watch`]): one flag shared by the watcher,
//! which sets it, and the pieces of the run that end it (the training loader, the early
//! stopping).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The stop of a watched session, shared by the watcher and the pieces of the run.
#[derive(Clone, Debug, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// Asks the run to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was asked for.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
