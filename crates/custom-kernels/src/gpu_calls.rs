//! Counts what the GPU is asked to do, for the launch-bound training step on wgpu: kernel
//! launches (compute dispatches) and host reads (requests to read results back, each a wait for
//! the queue to drain, however many buffers it maps). These counts do not depend on the machine, so a CPU-only
//! machine with Mesa's software Vulkan (lavapipe) says how a training step will fare on a GPU.
//!
//! The counts come from wgpu itself: wgpu-core logs every API call at the `trace` level
//! (`ComputePass::dispatch`, `Buffer::map_async`) through the `log` crate, and
//! [`GpuCallCounter::install`] installs a `log` logger that counts those two records and
//! drops everything else. One read request maps its buffers one after the other (CubeCL's
//! `read_resources`, behind a Burn `Transaction`), so a run of maps for reading with no other
//! wgpu record between them counts as one read. wgpu records a dispatch when CubeCL submits its queued work, so read
//! the counts after a sync (Burn's `B::sync`). The logger is the process's one `log` logger:
//! install it in a process that counts, before anything else installs one (Burn's `Learner`
//! then does without its file logger and says so in a warning, which this logger drops).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use log::{LevelFilter, Log, Metadata, Record};

/// What the GPU was asked to do between two [`GpuCallCounter::now`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GpuCalls {
    /// Compute dispatches: one per kernel launch.
    pub launches: u64,
    /// Reads of results back to the host: runs of buffers mapped for reading.
    pub reads: u64,
}

impl std::ops::Sub for GpuCalls {
    type Output = GpuCalls;

    fn sub(self, earlier: GpuCalls) -> GpuCalls {
        GpuCalls {
            launches: self.launches - earlier.launches,
            reads: self.reads - earlier.reads,
        }
    }
}

/// The process's counts, kept by the `log` logger [`GpuCallCounter::install`] installs.
pub struct GpuCallCounter {
    launches: AtomicU64,
    reads: AtomicU64,
    /// The last wgpu record was a map for reading (the next one continues its read).
    in_read: AtomicBool,
}

static COUNTER: GpuCallCounter = GpuCallCounter::new();

impl Default for GpuCallCounter {
    fn default() -> Self {
        Self::new()
    }
}

/// The crate whose API-call records are counted.
const WGPU_CORE: &str = "wgpu_core";

/// The start of the record of a compute dispatch (wgpu-core's `ComputePass::dispatch`)...
const DISPATCH: &str = "ComputePass::dispatch ";

/// ...and of a buffer mapped for the host (wgpu-core's `Buffer::map_async`)...
const MAP_ASYNC: &str = "Buffer::map_async ";

/// ...for reading (the record ends with the operation, `BufferMapOperation { host: Read, .. }`;
/// a staging buffer mapped for writing, as uploads recycle them, waits for nothing).
const FOR_READING: &str = "host: Read";

impl GpuCallCounter {
    /// A counter at zero. Installed, it counts the process's calls ([`GpuCallCounter::install`]);
    /// not installed, it counts the records handed to its [`Log::log`] (its tests do so).
    pub const fn new() -> Self {
        Self {
            launches: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            in_read: AtomicBool::new(false),
        }
    }

    /// Installs the counting logger as the process's `log` logger and lets `trace` records
    /// through. Fails when another logger is installed already.
    pub fn install() -> Result<&'static GpuCallCounter, String> {
        log::set_logger(&COUNTER).map_err(|_| {
            "cannot count GPU calls: this process has a `log` logger installed already".to_string()
        })?;
        log::set_max_level(LevelFilter::Trace);
        Ok(&COUNTER)
    }

    /// The counts so far (since the process started).
    pub fn now(&self) -> GpuCalls {
        GpuCalls {
            launches: self.launches.load(Ordering::SeqCst),
            reads: self.reads.load(Ordering::SeqCst),
        }
    }
}

impl Log for GpuCallCounter {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.target().starts_with(WGPU_CORE)
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        if message.starts_with(DISPATCH) {
            self.launches.fetch_add(1, Ordering::SeqCst);
        }
        let read_map = message.starts_with(MAP_ASYNC) && message.contains(FOR_READING);
        if read_map && !self.in_read.swap(true, Ordering::SeqCst) {
            self.reads.fetch_add(1, Ordering::SeqCst);
        }
        if !read_map {
            self.in_read.store(false, Ordering::SeqCst);
        }
    }

    fn flush(&self) {}
}
