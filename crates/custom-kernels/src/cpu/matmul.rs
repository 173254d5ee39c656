//! Matrix products on row-major `f32` slices through the `gemm` crate (runtime-dispatched
//! AVX2/FMA/AVX-512 micro-kernels). Transposed operands are read through their strides, never
//! copied. One shape takes a path of its own: a single row times a matrix on all threads (a
//! fully connected layer at batch 1), where `gemm` reads the matrix on one thread.

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

/// Multiply-adds below which a row times a matrix stays with `gemm` on the calling thread:
/// handing tasks to the pool costs microseconds, more than LeNet-5's fully connected layers
/// (48 K multiply-adds and less) take at batch 1 (measured: its batch-1 inference went from
/// 0.028 to 0.065 ms on the pool). The ConvNet's fc1 (3.2 M) and the MLP's hidden layers
/// (0.9-1.4 M) take the pool.
const ROW_TIMES_MATRIX_MIN_MACS: usize = 1 << 18;
/// Rows of the matrix per task of [`row_times_matrix`]: each task streams its rows once into
/// a partial sum, and the partials are added in order, so the result does not depend on the
/// threads. The ConvNet's fc1 (3136 x 1024, 12.8 MB) makes 13 tasks.
const ROWS_PER_TASK: usize = 256;

/// How many threads one product may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// The calling thread only: for callers that already parallelise (over images).
    One,
    /// Rayon's pool: for one large product (the fully connected layers). `gemm` splits the
    /// output into tiles and keeps each dot product on one thread in a fixed order, so the
    /// result does not depend on how the tiles were scheduled.
    All,
}

/// `dst (m x n) = [dst +] a (m x k) * b (k x n)`, row-major, with `a`/`b` transposed when
/// their flag is set (their stored shape is then `k x m` / `n x k`). With `accumulate` the
/// product is added to what `dst` holds; otherwise `dst` is overwritten.
///
/// # Panics
/// If an operand is shorter than its shape implies.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    dst: &mut [f32],
    a: &[f32],
    a_transposed: bool,
    b: &[f32],
    b_transposed: bool,
    [m, n, k]: [usize; 3],
    accumulate: bool,
    threads: Threads,
) {
    assert!(
        dst.len() >= m * n && a.len() >= m * k && b.len() >= k * n,
        "matmul: operands too short for {m}x{k} * {k}x{n}"
    );
    let (a_rs, a_cs) = if a_transposed {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    let (b_rs, b_cs) = if b_transposed {
        (1, k as isize)
    } else {
        (n as isize, 1)
    };
    if m == 1
        && !a_transposed
        && !b_transposed
        && threads == Threads::All
        && n * k >= ROW_TIMES_MATRIX_MIN_MACS
    {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return row_times_matrix(&mut dst[..n], &a[..k], &b[..k * n], accumulate);
        }
    }
    let parallelism = match threads {
        Threads::One => Parallelism::None,
        Threads::All => Parallelism::Rayon(0),
    };
    // SAFETY: the slices hold at least the m x n, m x k and k x n elements addressed by these
    // strides (asserted above), and `dst` does not alias `a` or `b` (distinct borrows).
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// `dst (1 x n) = [dst +] a (1 x k) * b (k x n)` on rayon's pool: fixed chunks of
/// [`ROWS_PER_TASK`] rows of `b`, each summed into its own partial row, the partials added
/// in chunk order. Needs AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
fn row_times_matrix(dst: &mut [f32], a: &[f32], b: &[f32], accumulate: bool) {
    let n = dst.len();
    let partials: Vec<Vec<f32>> = b
        .par_chunks(ROWS_PER_TASK * n)
        .zip(a.par_chunks(ROWS_PER_TASK))
        .map(|(rows, a)| {
            let mut partial = vec![0.0f32; n];
            // SAFETY: the caller checked that the CPU has AVX2 and FMA.
            unsafe { add_rows_avx2(&mut partial, a, rows) };
            partial
        })
        .collect();
    if !accumulate {
        dst.fill(0.0);
    }
    for partial in partials {
        dst.iter_mut().zip(&partial).for_each(|(d, p)| *d += p);
    }
}

/// `sum += a * rows` for the `a.len()` rows of `rows` (each `sum.len()` long), row by row.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn add_rows_avx2(sum: &mut [f32], a: &[f32], rows: &[f32]) {
    use super::simd::{Avx2, Simd};
    let n = sum.len();
    let vectors = n / Avx2::LANES * Avx2::LANES;
    for (&x, row) in a.iter().zip(rows.chunks_exact(n)) {
        // SAFETY: the CPU has AVX2 and FMA (the caller's contract); every vector `j..j + 8`
        // with `j + 8 <= vectors <= n` lies inside `sum` and `row`.
        unsafe {
            let splat = Avx2::splat(x);
            for j in (0..vectors).step_by(Avx2::LANES) {
                let at = sum.as_mut_ptr().add(j);
                let product = Avx2::fmadd(
                    splat,
                    Avx2::load_all(row.as_ptr().add(j)),
                    Avx2::load_all(at),
                );
                Avx2::store_all(at, product);
            }
        }
        for (s, &w) in sum[vectors..].iter_mut().zip(&row[vectors..]) {
            *s = x.mul_add(w, *s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) % 2001)
            .map(|v| v as f32 / 1000.0 - 1.0)
            .collect()
    }

    /// A row times a matrix on all threads (the path of its own, where the CPU has AVX2):
    /// several chunks of rows, a partial last chunk, columns that end in a partial vector,
    /// overwriting and accumulating; against the same product on one thread (`gemm`) and a
    /// plain f64 sum.
    #[test]
    fn one_row_times_a_matrix_matches_the_definition() {
        let (k, n) = (2 * ROWS_PER_TASK + 37, 1027);
        assert!(k * n >= ROW_TIMES_MATRIX_MIN_MACS);
        let (a, b) = (values(k, 1), values(k * n, 2));
        for accumulate in [false, true] {
            let start = values(n, 3);
            for threads in [Threads::All, Threads::One] {
                let mut got = start.clone();
                matmul(
                    &mut got,
                    &a,
                    false,
                    &b,
                    false,
                    [1, n, k],
                    accumulate,
                    threads,
                );
                for (j, &got) in got.iter().enumerate() {
                    let mut want = if accumulate { start[j] as f64 } else { 0.0 };
                    for i in 0..k {
                        want += a[i] as f64 * b[i * n + j] as f64;
                    }
                    assert!(
                        (got as f64 - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "{threads:?}, accumulate {accumulate}, column {j}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
