//! Errors of the MNIST reader: each names the file and what is wrong with it.

use std::path::PathBuf;

/// Why MNIST data could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file does not exist (neither raw nor `.gz`).
    #[error(
        "MNIST file {name} not found in {dir} (looked for {name} and {name}.gz); \
         point --data-dir or MNIST_DIR at a folder holding the four IDX files"
    )]
    Missing {
        /// Standard file name, e.g. `train-images-idx3-ubyte`.
        name: String,
        /// The folder searched.
        dir: PathBuf,
    },
    /// An I/O error while reading or decompressing.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is shorter than its header or its dimensions say.
    #[error("{path} is truncated: {detail}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What was expected and found.
        detail: String,
    },
    /// The file does not start with an IDX magic number of the expected kind.
    #[error(
        "{path} has wrong magic number 0x{found:08x} (expected 0x{expected:08x}): not an IDX {kind} file"
    )]
    WrongMagic {
        /// The file.
        path: PathBuf,
        /// Magic number read.
        found: u32,
        /// Magic number expected.
        expected: u32,
        /// `images` or `labels`.
        kind: &'static str,
    },
    /// The dimensions in the header are not what this reader supports.
    #[error("{path} has unexpected dimensions: {detail}")]
    BadDimensions {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The decompressed content does not hash to the published SHA-256.
    #[error(
        "{path} fails its checksum: SHA-256 of the decompressed content is {found}, expected {expected} \
         (the file is corrupt or not the official MNIST file)"
    )]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// Hash found.
        found: String,
        /// Hash expected.
        expected: String,
    },
    /// Images and labels disagree.
    #[error("{images} holds {image_count} images but {labels} holds {label_count} labels")]
    CountMismatch {
        /// Image file.
        images: PathBuf,
        /// Label file.
        labels: PathBuf,
        /// Images found.
        image_count: usize,
        /// Labels found.
        label_count: usize,
    },
    /// A label outside 0-9.
    #[error("{path}: label {label} at index {index} is not a digit 0-9")]
    BadLabel {
        /// Label file.
        path: PathBuf,
        /// Position of the label.
        index: usize,
        /// The value found.
        label: u8,
    },
}
