//! Matrix products on row-major `f32` slices through the `gemm` crate (runtime-dispatched
//! AVX2/FMA/AVX-512 micro-kernels). Transposed operands are read through their strides, never
//! copied.

use gemm::{Parallelism, gemm};

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
