//! A small matrix of numbers as a student types it in a text file, and as `infer convolve`
//! and `infer pool` print their results.

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;

/// Most values of a matrix: a picture of [`crate::picture::MAX_PICTURE_PIXELS`] with room for
/// padding.
pub const MAX_MATRIX_VALUES: usize = 1 << 25;
/// The largest matrix file read: [`MAX_MATRIX_VALUES`] of two bytes each (a digit and a
/// space), so what a file can hold is parsed before the count is checked.
pub const MAX_MATRIX_FILE_BYTES: u64 = 2 * MAX_MATRIX_VALUES as u64;

/// A rectangular grid of numbers: a kernel, a small input, or an output.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows * cols` values, row after row.
    pub values: Vec<f32>,
}

impl Matrix {
    /// A matrix from its rows; `None` unless they are non-empty and all the same length.
    pub fn from_rows(rows: Vec<Vec<f32>>) -> Option<Self> {
        let cols = rows.first()?.len();
        if cols == 0 || rows.iter().any(|r| r.len() != cols) {
            return None;
        }
        Some(Self {
            rows: rows.len(),
            cols,
            values: rows.into_iter().flatten().collect(),
        })
    }

    /// Reads a text matrix file (a regular file of at most [`MAX_MATRIX_FILE_BYTES`]); the
    /// error says why, without the path.
    pub fn read(path: &std::path::Path) -> Result<Self, MatrixError> {
        let bytes = workbench_io::read_limited(path, MAX_MATRIX_FILE_BYTES)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| MatrixError::NotText)?;
        let matrix: Matrix = text.parse()?;
        if matrix.values.len() > MAX_MATRIX_VALUES {
            return Err(MatrixError::TooLarge(matrix.values.len()));
        }
        Ok(matrix)
    }

    /// Sum of all values.
    pub fn sum(&self) -> f32 {
        self.values.iter().sum()
    }

    /// The matrix as one single-channel image, `[1, 1, rows, cols]`.
    pub fn to_tensor<B: Backend>(&self, device: &B::Device) -> Tensor<B, 4> {
        Tensor::from_data(
            TensorData::new(self.values.clone(), [1, 1, self.rows, self.cols]),
            device,
        )
    }

    /// The matrix of a single-channel image `[1, 1, rows, cols]`.
    pub fn from_tensor<B: Backend>(tensor: Tensor<B, 4>) -> Self {
        let [_, _, rows, cols] = tensor.dims();
        let values = tensor.into_data().to_vec::<f32>().expect("f32 values");
        Self { rows, cols, values }
    }
}

/// Why a text matrix was not read.
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// The file could not be read (or is not a regular file, or is too large).
    #[error("{0}")]
    Read(#[from] std::io::Error),
    #[error("not UTF-8 text")]
    NotText,
    #[error("row {row}: '{word}' is not a number")]
    NotANumber { row: usize, word: String },
    #[error("no numbers found")]
    Empty,
    #[error("row {row} has {len} values, row 1 has {cols} (the matrix must be rectangular)")]
    NotRectangular { row: usize, len: usize, cols: usize },
    #[error("{0} values, more than the {MAX_MATRIX_VALUES} a matrix may have")]
    TooLarge(usize),
}

impl FromStr for Matrix {
    type Err = MatrixError;

    /// Rows on separate lines (or separated by `;`), values separated by spaces or commas;
    /// `#` starts a comment; `1/16` style fractions are accepted.
    fn from_str(text: &str) -> Result<Self, MatrixError> {
        let mut rows = Vec::new();
        for (number, line) in text
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.split(';'))
            .enumerate()
        {
            let words: Vec<&str> = line
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|w| !w.is_empty())
                .collect();
            if words.is_empty() {
                continue;
            }
            let row = words
                .iter()
                .map(|w| {
                    parse_number(w).ok_or_else(|| MatrixError::NotANumber {
                        row: number + 1,
                        word: (*w).to_owned(),
                    })
                })
                .collect::<Result<Vec<f32>, MatrixError>>()?;
            rows.push(row);
        }
        if rows.is_empty() {
            return Err(MatrixError::Empty);
        }
        let cols = rows[0].len();
        if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != cols) {
            return Err(MatrixError::NotRectangular {
                row: i + 1,
                len: row.len(),
                cols,
            });
        }
        Ok(Matrix::from_rows(rows).expect("rectangular and non-empty"))
    }
}

fn parse_number(word: &str) -> Option<f32> {
    match word.split_once('/') {
        Some((num, den)) => Some(num.parse::<f32>().ok()? / den.parse::<f32>().ok()?),
        None => word.parse().ok(),
    }
}

impl fmt::Display for Matrix {
    /// One row per line; integers without decimals, other values with up to 4.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let integral = self
            .values
            .iter()
            .all(|v| v.fract() == 0.0 && v.abs() < 1e7);
        let cells: Vec<String> = self
            .values
            .iter()
            .map(|v| {
                if integral {
                    format!("{v:.0}")
                } else {
                    let text = format!("{v:.4}");
                    text.trim_end_matches('0').trim_end_matches('.').to_string()
                }
            })
            .collect();
        let width = cells.iter().map(String::len).max().unwrap_or(1);
        for row in cells.chunks(self.cols) {
            let line: Vec<String> = row.iter().map(|c| format!("{c:>width$}")).collect();
            writeln!(f, "{}", line.join(" "))?;
        }
        Ok(())
    }
}
