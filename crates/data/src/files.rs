//! The four standard MNIST files: where to find them and how to verify them.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::DataError;
use crate::idx::{IdxImages, RawIdx, parse_images, parse_labels, read_raw};

/// Environment variable naming a folder with the MNIST files.
pub const MNIST_DIR_ENV: &str = "MNIST_DIR";

/// One of the four standard files and the SHA-256 of its decompressed content.
#[derive(Clone, Copy, Debug)]
pub struct StandardFile {
    /// File name without `.gz`.
    pub name: &'static str,
    /// Lower-case hex SHA-256 of the decompressed file.
    pub sha256: &'static str,
}

/// `train-images-idx3-ubyte`: 60,000 training images.
pub const TRAIN_IMAGES: StandardFile = StandardFile {
    name: "train-images-idx3-ubyte",
    sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
};
/// `train-labels-idx1-ubyte`: 60,000 training labels.
pub const TRAIN_LABELS: StandardFile = StandardFile {
    name: "train-labels-idx1-ubyte",
    sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
};
/// `t10k-images-idx3-ubyte`: 10,000 test images.
pub const TEST_IMAGES: StandardFile = StandardFile {
    name: "t10k-images-idx3-ubyte",
    sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
};
/// `t10k-labels-idx1-ubyte`: 10,000 test labels.
pub const TEST_LABELS: StandardFile = StandardFile {
    name: "t10k-labels-idx1-ubyte",
    sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
};

/// The copy shipped in this repository (`data/mnist/`).
pub fn bundled_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist")
}

/// The folder to read MNIST from: `explicit` if given, else `$MNIST_DIR`, else `./data/mnist`
/// when it exists, else the repository's bundled copy.
pub fn resolve_data_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os(MNIST_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("data/mnist");
    if local.is_dir() {
        return local;
    }
    bundled_data_dir()
}

/// Finds `file` in `dir`, raw or gzip-compressed.
pub fn locate(dir: &Path, file: StandardFile) -> Result<PathBuf, DataError> {
    [dir.join(file.name), dir.join(format!("{}.gz", file.name))]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::Missing {
            name: file.name.to_string(),
            dir: dir.to_path_buf(),
        })
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads `file` from `dir` and checks the decompressed content against its published hash.
pub fn read_verified(dir: &Path, file: StandardFile) -> Result<RawIdx, DataError> {
    let raw = read_raw(&locate(dir, file)?)?;
    let found = sha256_hex(&raw.bytes);
    if found != file.sha256 {
        // A structural problem (truncation, wrong magic) says more than a hash mismatch.
        if file.name.contains("images") {
            parse_images(&raw)?;
        } else {
            parse_labels(&raw)?;
        }
        return Err(DataError::ChecksumMismatch {
            path: raw.path,
            found,
            expected: file.sha256.to_string(),
        });
    }
    Ok(raw)
}

/// Reads and verifies a standard image file.
pub fn load_images(dir: &Path, file: StandardFile) -> Result<IdxImages, DataError> {
    parse_images(&read_verified(dir, file)?)
}

/// Reads and verifies a standard label file.
pub fn load_labels(dir: &Path, file: StandardFile) -> Result<Vec<u8>, DataError> {
    parse_labels(&read_verified(dir, file)?)
}
