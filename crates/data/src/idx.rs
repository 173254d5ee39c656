//! Reading IDX files (raw or gzip-compressed), validating header, dimensions and length.
//!
//! IDX layout: a big-endian `u32` magic number `0x0000_08NN` where `08` says "unsigned byte"
//! and `NN` is the number of dimensions, one big-endian `u32` per dimension, then the data in
//! row-major order.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::CLASSES;
use crate::error::DataError;

/// Magic number of an IDX file of `u8` images `[n, rows, cols]`.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of `u8` labels `[n]`.
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// The whole decompressed content of an IDX file.
#[derive(Clone, Debug)]
pub struct RawIdx {
    /// Where it was read from.
    pub path: PathBuf,
    /// Every decompressed byte, header included (what the checksums cover).
    pub bytes: Vec<u8>,
}

/// The most bytes an IDX file may hold, decompressed (MNIST's largest, the training images, is
/// 47 MB). A larger file, or a gzip stream that inflates past it, is refused.
pub const MAX_IDX_BYTES: u64 = 64 << 20;

/// Reads `path`, decompressing it when it starts with the gzip signature (several gzip members
/// one after another are one stream, as `gzip -d` reads them). The magic number is checked
/// before the rest is decompressed: a file that is not IDX costs no more than its first bytes.
pub fn read_raw(path: &Path) -> Result<RawIdx, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file_bytes = workbench_io::read_limited(path, MAX_IDX_BYTES).map_err(io)?;
    let bytes = if file_bytes.starts_with(&[0x1f, 0x8b]) {
        let mut decoder = MultiGzDecoder::new(file_bytes.as_slice());
        let mut magic = Vec::with_capacity(4);
        (&mut decoder)
            .take(4)
            .read_to_end(&mut magic)
            .map_err(|source| gzip_error(path, source))?;
        if magic.len() < 4 || magic[..3] != [0, 0, 0x08] {
            // Not IDX (or truncated): `header` says which, from these bytes alone.
            magic
        } else {
            let rest =
                workbench_io::read_all_limited(decoder, MAX_IDX_BYTES - 4, file_bytes.len() * 4)
                    .map_err(|source| gzip_error(path, source))?;
            [magic, rest].concat()
        }
    } else {
        file_bytes
    };
    Ok(RawIdx {
        path: path.to_path_buf(),
        bytes,
    })
}

fn gzip_error(path: &Path, source: std::io::Error) -> DataError {
    match source.kind() {
        std::io::ErrorKind::UnexpectedEof => DataError::Truncated {
            path: path.to_path_buf(),
            detail: "the gzip stream ends early".into(),
        },
        _ => DataError::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// `[n, rows, cols]` images, one byte per pixel, 0 = background.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count * rows * cols` pixels, image after image, row-major.
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// The pixels of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        let size = self.rows * self.cols;
        &self.pixels[index * size..(index + 1) * size]
    }
}

fn header(
    raw: &RawIdx,
    dims: usize,
    magic: u32,
    kind: &'static str,
) -> Result<Vec<usize>, DataError> {
    let need = 4 + 4 * dims;
    if raw.bytes.len() < 4 {
        return Err(DataError::Truncated {
            path: raw.path.clone(),
            detail: format!("{} bytes, too short for an IDX header", raw.bytes.len()),
        });
    }
    let word = |i: usize| {
        let b = &raw.bytes[4 * i..4 * i + 4];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    };
    let found = word(0);
    if found != magic {
        return Err(DataError::WrongMagic {
            path: raw.path.clone(),
            found,
            expected: magic,
            kind,
        });
    }
    if raw.bytes.len() < need {
        return Err(DataError::Truncated {
            path: raw.path.clone(),
            detail: format!("{} bytes, the header alone needs {need}", raw.bytes.len()),
        });
    }
    Ok((1..=dims).map(|i| word(i) as usize).collect())
}

fn body(raw: &RawIdx, offset: usize, expected: usize) -> Result<&[u8], DataError> {
    let found = raw.bytes.len() - offset;
    if found < expected {
        return Err(DataError::Truncated {
            path: raw.path.clone(),
            detail: format!("header promises {expected} data bytes, file holds {found}"),
        });
    }
    if found > expected {
        return Err(DataError::BadDimensions {
            path: raw.path.clone(),
            detail: format!(
                "header promises {expected} data bytes, file holds {found} (trailing data)"
            ),
        });
    }
    Ok(&raw.bytes[offset..])
}

/// Parses an IDX image file (magic `0x00000803`).
pub fn parse_images(raw: &RawIdx) -> Result<IdxImages, DataError> {
    let dims = header(raw, 3, IMAGES_MAGIC, "images")?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(DataError::BadDimensions {
            path: raw.path.clone(),
            detail: format!("images of {rows}x{cols} pixels"),
        });
    }
    let len = count
        .checked_mul(rows)
        .and_then(|n| n.checked_mul(cols))
        .ok_or_else(|| DataError::BadDimensions {
            path: raw.path.clone(),
            detail: format!("{count} images of {rows}x{cols} pixels overflow"),
        })?;
    let pixels = body(raw, 16, len)?.to_vec();
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels,
    })
}

/// Parses an IDX label file (magic `0x00000801`), checking every label is a digit.
pub fn parse_labels(raw: &RawIdx) -> Result<Vec<u8>, DataError> {
    let dims = header(raw, 1, LABELS_MAGIC, "labels")?;
    let labels = body(raw, 8, dims[0])?.to_vec();
    if let Some((index, &label)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| usize::from(**l) >= CLASSES)
    {
        return Err(DataError::BadLabel {
            path: raw.path.clone(),
            index,
            label,
        });
    }
    Ok(labels)
}

/// Reads and parses an IDX image file (raw or `.gz`) without checksum verification:
/// for any IDX images, e.g. a translated copy of the test set.
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    parse_images(&read_raw(path)?)
}

/// Reads and parses an IDX label file (raw or `.gz`) without checksum verification.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_labels(&read_raw(path)?)
}

/// Encodes images as an uncompressed IDX file (the inverse of [`parse_images`]).
pub fn encode_images(images: &IdxImages) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + images.pixels.len());
    for word in [
        IMAGES_MAGIC,
        images.count as u32,
        images.rows as u32,
        images.cols as u32,
    ] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(&images.pixels);
    out
}

/// Encodes labels as an uncompressed IDX file (the inverse of [`parse_labels`]).
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}
