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
    pub fn read(path: &std::path::Path) -> Result<Self, String> {
        let bytes =
            workbench_io::read_limited(path, MAX_MATRIX_FILE_BYTES).map_err(|e| e.to_string())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| "not UTF-8 text".to_string())?;
        let matrix: Matrix = text.parse()?;
        if matrix.values.len() > MAX_MATRIX_VALUES {
            return Err(format!(
                "{} values, more than the {MAX_MATRIX_VALUES} a matrix may have",
                matrix.values.len()
            ));
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

impl FromStr for Matrix {
    type Err = String;

    /// Rows on separate lines (or separated by `;`), values separated by spaces or commas;
    /// `#` starts a comment; `1/16` style fractions are accepted.
    fn from_str(text: &str) -> Result<Self, String> {
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
                    parse_number(w)
                        .ok_or_else(|| format!("row {}: '{w}' is not a number", number + 1))
                })
                .collect::<Result<Vec<f32>, String>>()?;
            rows.push(row);
        }
        if rows.is_empty() {
            return Err("no numbers found".into());
        }
        let cols = rows[0].len();
        if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != cols) {
            return Err(format!(
                "row {} has {} values, row 1 has {cols} (the matrix must be rectangular)",
                i + 1,
                row.len()
            ));
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
