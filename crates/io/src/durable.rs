//! Writing a file so that it is either complete or absent, never half-written, even when the
//! disk fills up, the process is killed or the machine loses power: the bytes go to a temporary
//! file in the same folder, every write is checked, the file is flushed to disk (`fsync`), renamed
//! over the final name, and the folder is flushed so the rename itself is durable.
//!
//! This is the one place the project writes artifacts (models, checkpoints, metrics, reports,
//! pictures). A temporary file left behind by a killed process is named `.NAME.PID.partial`;
//! [`remove_stale_temporaries`] clears them when a run folder is taken over.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Suffix of the temporary files [`atomic_write`] writes before renaming.
pub const TEMPORARY_SUFFIX: &str = ".partial";

/// The folder `path` lives in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The temporary file `atomic_write` uses for `path` in this process.
fn temporary_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    folder_of(path).join(format!(".{name}.{}{TEMPORARY_SUFFIX}", std::process::id()))
}

/// Creates `folder` and its parents, like `create_dir_all`, but when a file stands where a
/// folder must be, the error says which path that is (not just "File exists").
pub fn create_folder(folder: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(folder).map_err(|error| {
        let in_the_way = folder
            .ancestors()
            .find(|p| !p.as_os_str().is_empty() && p.exists() && !p.is_dir());
        match in_the_way {
            Some(file) => std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} is a file, not a folder", file.display()),
            ),
            None => error,
        }
    })
}

/// Makes a write past the file-size limit (`ulimit -f`) fail with "File too large" (EFBIG),
/// which [`atomic_write`] reports, naming the file, and cleans up after, instead of the
/// default SIGXFSZ, which kills the process without a word and leaves the temporary file.
/// Programs call it first thing in `main`.
pub fn report_file_size_limit() {
    // SAFETY: setting a signal's disposition to "ignore" installs no handler code, and nothing
    // else in the workspace changes SIGXFSZ.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Writes `bytes` to `path` atomically and durably (see the module documentation). Creates the
/// folder if needed. On error nothing is left under `path`'s name that was not there before,
/// and the temporary file is removed.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = folder_of(path);
    create_folder(folder)?;
    let temporary = temporary_for(path);
    let result = (|| {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)?;
        sync_folder(folder)
    })();
    if result.is_err() {
        std::fs::remove_file(&temporary).ok();
    }
    result
}

/// Flushes a folder's entries (a rename) to disk.
#[cfg(unix)]
fn sync_folder(folder: &Path) -> std::io::Result<()> {
    File::open(folder)?.sync_all()
}

/// Flushes a folder's entries (a rename) to disk: not possible portably off Unix, where the
/// rename is still atomic.
#[cfg(not(unix))]
fn sync_folder(_folder: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Removes the temporary files that a killed writer left in `folder` (not in its subfolders);
/// returns how many. Call it only while no other process writes there (hold the run's lock).
pub fn remove_stale_temporaries(folder: &Path) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(TEMPORARY_SUFFIX) && entry.file_type()?.is_file()
        {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}
