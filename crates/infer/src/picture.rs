//! Decoding a picture a user gives (a file for `predict` and `convolve`, an upload to the
//! server) within a budget: the file's bytes ([`MAX_PICTURE_FILE_BYTES`]) and the pixels its
//! header declares ([`MAX_PICTURE_PIXELS`], checked before anything is decoded: a 400 KB PNG
//! can declare 20000x20000 pixels, 400 MB once decoded). The format is recognised from the
//! content, not the file name.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageReader, Limits};

/// The most pixels (width times height) of a picture decoded: 4096x4096, so a 12-megapixel
/// phone photo fits.
pub const MAX_PICTURE_PIXELS: u64 = 4096 * 4096;
/// The most bytes a decoder may allocate for one picture: [`MAX_PICTURE_PIXELS`] at 8 bytes a
/// pixel (16-bit RGBA, the widest colour type of PNG and JPEG).
const MAX_DECODED_BYTES: u64 = MAX_PICTURE_PIXELS * 8;
/// The largest picture file read.
pub const MAX_PICTURE_FILE_BYTES: u64 = 64 << 20;

/// Why a picture was not decoded.
#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    /// Not a PNG or JPEG, or a damaged one.
    #[error("not a picture this program reads (PNG, JPEG): {0}")]
    NotAPicture(String),
    /// Its header declares more than [`MAX_PICTURE_PIXELS`].
    #[error(
        "the picture is {width}x{height} pixels, more than the {:.1} megapixels \
         ({MAX_PICTURE_PIXELS} pixels) decoded here: scale it down",
        MAX_PICTURE_PIXELS as f64 / 1e6
    )]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// Decoding it would take more memory than a picture is given.
    #[error("the picture needs more memory to decode than one is given here: {0}")]
    NeedsTooMuchMemory(String),
    /// The file could not be read (or is not a regular file, or is too large).
    #[error("{0}")]
    Read(#[from] std::io::Error),
}

/// Decodes a PNG or JPEG held in `bytes`, refusing one larger than [`MAX_PICTURE_PIXELS`]
/// before decoding it.
pub fn decode_picture(bytes: &[u8]) -> Result<DynamicImage, PictureError> {
    let not_a_picture =
        |error: &dyn std::fmt::Display| PictureError::NotAPicture(error.to_string());
    let reader = || {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|error| not_a_picture(&error))
    };
    let (width, height) = reader()?
        .into_dimensions()
        .map_err(|error| not_a_picture(&error))?;
    if u64::from(width) * u64::from(height) > MAX_PICTURE_PIXELS {
        return Err(PictureError::TooLarge { width, height });
    }
    let mut reader = reader()?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    reader.decode().map_err(|error| match error {
        image::ImageError::Limits(limit) => PictureError::NeedsTooMuchMemory(limit.to_string()),
        error => not_a_picture(&error),
    })
}

/// Reads and decodes the picture file at `path` (a regular file of at most
/// [`MAX_PICTURE_FILE_BYTES`]); the error says why, without the path (callers name it).
pub fn read_picture(path: &Path) -> Result<DynamicImage, PictureError> {
    let bytes = workbench_io::read_limited(path, MAX_PICTURE_FILE_BYTES)?;
    decode_picture(&bytes)
}
