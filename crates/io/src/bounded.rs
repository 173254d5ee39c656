//! Reading a file a user names, within a size budget: every reader of untrusted input in the
//! workbench (MNIST files, model records, weight files, pictures, matrices) comes through
//! here, so none of them can be made to allocate without bound, and none blocks on a FIFO or
//! a device (only regular files are opened).

use std::io::{Error, ErrorKind, Read};
use std::path::Path;

/// The whole content of `path`, refused (before anything is read) when it is not a regular
/// file or holds more than `limit` bytes. The error message says which, without the path
/// (callers name the file).
pub fn read_limited(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let len = file.metadata()?.len();
    if len > limit {
        return Err(too_large(limit));
    }
    read_all_limited(file, limit, len as usize)
}

/// `path` opened for reading, refused when it is not a regular file. The type is checked
/// before opening, so a FIFO without a writer cannot block the caller.
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    let metadata = std::fs::metadata(path)?;
    if metadata.is_dir() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "is a folder, not a file",
        ));
    }
    if !metadata.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "is not a regular file (a FIFO, socket or device)",
        ));
    }
    std::fs::File::open(path)
}

/// Everything `reader` yields, refused once it passes `limit` bytes (a decompressor's output,
/// a file that grows while it is read). `expected` only sizes the first allocation.
pub fn read_all_limited(
    reader: impl Read,
    limit: u64,
    expected: usize,
) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(expected.min(limit as usize));
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

fn too_large(limit: u64) -> Error {
    Error::new(
        ErrorKind::InvalidData,
        format!("holds more than {limit} bytes, the most this reader accepts"),
    )
}
