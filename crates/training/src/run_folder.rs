//! The run folder: where its checkpoints lie, and its lock (the names of its files are in
//! `workbench_io::names`).
//!
//! A run folder belongs to one training process at a time. The process holds an exclusive lock
//! on `<run folder>/.lock` (the operating system's advisory file lock, released when the process
//! ends, however it ends) from before it reads or writes anything there until it exits; a
//! second run or a `--resume` on a locked folder is refused. Holding the lock, it removes the
//! temporary files a killed run left behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use workbench_io::durable::remove_stale_temporaries;

use workbench_io::say;

use workbench_io::names::{
    CHECKPOINT_DIR, CHECKPOINT_EXTENSION, CHECKPOINT_PARTS, LOCK_FILE, MODEL_PART,
};

/// How deep below the run folder stale temporary files are looked for (restart folders and
/// their checkpoint folders).
const CLEANUP_DEPTH: usize = 2;

/// The exclusive lock on a run folder; released when dropped or when the process ends.
#[derive(Debug)]
pub struct RunFolderLock {
    _file: File,
}

/// Creates `folder` if needed and locks it for this process, or says which process holds it.
pub fn lock_run_folder(folder: &Path) -> Result<RunFolderLock> {
    if folder.exists() && !folder.is_dir() {
        bail!(
            "--artifacts {}: this is a file, not a folder; choose a folder for the run",
            folder.display()
        );
    }
    workbench_io::create_folder(folder)
        .with_context(|| format!("cannot create the run folder {}", folder.display()))?;
    let path = folder.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            file.read_to_string(&mut holder).ok();
            let holder = holder.trim();
            bail!(
                "{} is in use by another training run{}; wait for it to end, or choose another --artifacts",
                folder.display(),
                if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (process {holder})")
                }
            );
        }
        Err(TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    // Who holds it, for the message above (informative only: the lock is what counts).
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    remove_temporaries_below(folder, CLEANUP_DEPTH)?;
    Ok(RunFolderLock { _file: file })
}

/// Removes stale temporary files in `folder` and its subfolders down to `depth` levels.
fn remove_temporaries_below(folder: &Path, depth: usize) -> Result<()> {
    let removed = remove_stale_temporaries(folder)
        .with_context(|| format!("cannot clean up {}", folder.display()))?;
    if removed > 0 {
        say!(
            "removed {removed} unfinished file(s) left in {} by an interrupted run",
            folder.display()
        )?;
    }
    if depth > 0 {
        for entry in std::fs::read_dir(folder)
            .with_context(|| format!("cannot list {}", folder.display()))?
        {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                remove_temporaries_below(&entry.path(), depth - 1)?;
            }
        }
    }
    Ok(())
}

/// The epochs that have a complete checkpoint (model, optimizer and scheduler) in `dir`.
pub fn checkpointed_epochs(dir: &Path) -> Vec<usize> {
    let checkpoints = dir.join(CHECKPOINT_DIR);
    let mut epochs: Vec<usize> = std::fs::read_dir(&checkpoints)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_prefix(MODEL_PART)?
                .strip_prefix('-')?
                .strip_suffix(CHECKPOINT_EXTENSION)?
                .strip_suffix('.')?
                .parse()
                .ok()
        })
        .filter(|&epoch| {
            CHECKPOINT_PARTS
                .iter()
                .all(|part| checkpoint_file(dir, part, epoch).is_file())
        })
        .collect();
    epochs.sort_unstable();
    epochs
}

/// The file of one part (`model`, `optim`, `scheduler`) of an epoch's checkpoint.
pub fn checkpoint_file(dir: &Path, part: &str, epoch: usize) -> PathBuf {
    dir.join(CHECKPOINT_DIR)
        .join(format!("{part}-{epoch}.{CHECKPOINT_EXTENSION}"))
}
