//! One blocked matrix transpose, for the layouts the kernels change between: the
//! convolutions' output gradients to position-major order and their weight-gradient sums
//! back, and the fully connected layers' products computed transposed.

/// Rows of the source per block of [`transpose_into`]: a block's source rows and its
/// destination lines stay in L1 while it is read across.
const TRANSPOSE_BLOCK: usize = 16;

/// `op(&mut dst[j][i], src[i][j])` for every element of `src` (`rows x cols`), `dst` being
/// `cols x rows`; in blocks of [`TRANSPOSE_BLOCK`] source rows, so neither side is walked
/// across a whole matrix with a cache line per element.
pub(super) fn transpose_into(
    src: &[f32],
    [rows, cols]: [usize; 2],
    dst: &mut [f32],
    op: impl Fn(&mut f32, f32),
) {
    assert!(
        src.len() >= rows * cols && dst.len() >= rows * cols,
        "transpose: operand lengths"
    );
    for i0 in (0..rows).step_by(TRANSPOSE_BLOCK) {
        let block = &src[i0 * cols..(i0 + TRANSPOSE_BLOCK).min(rows) * cols];
        for (j, line) in dst.chunks_exact_mut(rows).take(cols).enumerate() {
            for (d, row) in line[i0..].iter_mut().zip(block.chunks_exact(cols)) {
                op(d, row[j]);
            }
        }
    }
}
