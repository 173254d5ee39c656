//! Matrix products on row-major `f32` slices through the `gemm` crate (runtime-dispatched
//! AVX2/FMA/AVX-512 micro-kernels). Transposed operands are read through their strides, never
//! copied. On all threads, the output is split into one block of rows or columns per thread,
//! each a single-threaded `gemm`, instead of `gemm`'s own parallel split (on the fully
//! connected layers' shapes, a few dozen to a few hundred rows, the threads then meet once per
//! product; docs/performance.md has what it bought).
//! Two kinds of product take a path of their own on all threads: a single row times a matrix
//! (a fully connected layer at batch 1), where `gemm` reads the matrix on one thread; and a
//! wide product of at most 64 rows over a deep inner dimension (a fully connected layer at a
//! training batch), computed as its transpose where that was measured faster.

use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use super::transpose::transpose_into;

/// Multiply-adds below which a row times a matrix stays with `gemm` on the calling thread:
/// handing tasks to the pool costs microseconds, more than LeNet-5's fully connected layers
/// (48 K multiply-adds and less) take at batch 1 (docs/kernels.md, tuning constants). The
/// ConvNet's fc1 (3.2 M) and the MLP's hidden layers (0.9-1.4 M) take the pool.
const ROW_TIMES_MATRIX_MIN_MACS: usize = 1 << 18;
/// Rows of the matrix per task of [`row_times_matrix`]: each task streams its rows once into
/// a partial sum, and the partials are added in order, so the result does not depend on the
/// threads. The ConvNet's fc1 (3136 x 1024, 12.8 MB) makes 13 tasks.
const ROWS_PER_TASK: usize = 256;
/// Fewest output rows or columns per thread of a product split among the threads: smaller
/// products (the logits layers, 10 columns) stay with `gemm`'s own parallelism.
const MIN_EXTENT_PER_TASK: usize = 48;

/// Inner dimension from which a wide product is computed transposed
/// ([`computes_faster_transposed`]): the fully connected layers' products over 784-3136
/// features; not the logits layer's over 10 outputs.
const TRANSPOSE_MIN_INNER: usize = 256;

/// Rows up to which a wide product is computed transposed ([`computes_faster_transposed`]):
/// one block of `gemm`'s AVX-512 micro-kernel; the MLP's inference at batch 256 ran slower
/// transposed (the output's transpose costs more than the product gains there).
const TRANSPOSE_MAX_ROWS: usize = 64;

/// Whether an `m x n x k` product is computed as its transpose (`b^T * a^T`, `n x m`) and
/// transposed into place: on all threads (the fully connected layers; the convolutions' GEMMs
/// run one per image on one thread), a wide output of 2 to [`TRANSPOSE_MAX_ROWS`] rows (a
/// fully connected layer's output or input gradient at a training batch) over a deep inner
/// dimension, where `gemm` was measured faster so (docs/performance.md, tuning constants in
/// docs/kernels.md): with AVX-512 always (up to twice as fast: the ConvNet's fc1 input
/// gradient, 64 x 3136 x 1024); with AVX2 only where `b` is stored transposed and `a` is not
/// (the input gradient `dy * w^T`: 25% faster for fc1's; the forward `x * w` ran 5-10%
/// slower transposed there).
fn computes_faster_transposed(
    [m, n, k]: [usize; 3],
    a_transposed: bool,
    b_transposed: bool,
    threads: Threads,
) -> bool {
    threads == Threads::All
        && (2..=TRANSPOSE_MAX_ROWS).contains(&m)
        && m < n
        && k >= TRANSPOSE_MIN_INNER
        && match gemm_isa() {
            Some(GemmIsa::Avx512) => true,
            Some(GemmIsa::Avx2) => b_transposed && !a_transposed,
            None => false,
        }
}

/// The widest x86-64 vector instructions `gemm`'s micro-kernels use on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GemmIsa {
    Avx512,
    Avx2,
}

/// Which of [`GemmIsa`] this CPU has, if any.
fn gemm_isa() -> Option<GemmIsa> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Some(GemmIsa::Avx512);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Some(GemmIsa::Avx2);
        }
    }
    None
}

/// How many threads one product may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// The calling thread only: for callers that already parallelise (over images).
    One,
    /// Rayon's pool: for one large product (the fully connected layers). Each dot product is
    /// computed by one thread in a fixed order (`gemm`'s blocking of the inner dimension
    /// depends on that dimension and the caches only), so the result depends neither on how the
    /// work was scheduled nor on the number of threads.
    All,
}

/// A factor of a product: a row-major matrix, read as stored or as its transpose.
#[derive(Clone, Copy, Debug)]
pub enum Operand<'a> {
    /// As stored: `m x k` on the left of a product, `k x n` on the right.
    Plain(&'a [f32]),
    /// The transpose of what is stored (stored `k x m` on the left, `n x k` on the right),
    /// read through its strides, never copied.
    Transposed(&'a [f32]),
}

impl<'a> Operand<'a> {
    /// The stored values, and whether they are read transposed.
    fn parts(self) -> (&'a [f32], bool) {
        match self {
            Operand::Plain(values) => (values, false),
            Operand::Transposed(values) => (values, true),
        }
    }
}

/// What a product does with what its output held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Replaces it.
    Overwrite,
    /// Adds the product to it.
    Add,
}

/// `dst (m x n) = [dst +] a (m x k) * b (k x n)`, row-major, `dst` overwritten or added to as
/// `write` says.
///
/// # Panics
/// If an operand is shorter than its shape implies.
pub fn matmul(
    dst: &mut [f32],
    a: Operand<'_>,
    b: Operand<'_>,
    [m, n, k]: [usize; 3],
    write: Write,
    threads: Threads,
) {
    let ((a, a_transposed), (b, b_transposed)) = (a.parts(), b.parts());
    let accumulate = write == Write::Add;
    assert!(
        dst.len() >= m * n && a.len() >= m * k && b.len() >= k * n,
        "matmul: operands too short for {m}x{k} * {k}x{n}"
    );
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
    if computes_faster_transposed([m, n, k], a_transposed, b_transposed, threads) {
        // `dst^T = b^T * a^T`, then transposed into `dst`.
        let flip = |values, transposed: bool| {
            if transposed {
                Operand::Plain(values)
            } else {
                Operand::Transposed(values)
            }
        };
        let (b_t, a_t) = (flip(b, b_transposed), flip(a, a_transposed));
        let product_t = matmul_new(b_t, a_t, [n, m, k], threads);
        return transpose_into(&product_t, [n, m], dst, |d, v| match write {
            Write::Overwrite => *d = v,
            Write::Add => *d += v,
        });
    }
    let product = Product::new(
        dst.as_mut_ptr(),
        a,
        a_transposed,
        b,
        b_transposed,
        [m, n, k],
    );
    // SAFETY: the slices hold at least the m x n, m x k and k x n elements addressed by the
    // product's strides (asserted above); `dst` does not alias `a` or `b` (distinct borrows).
    unsafe { product.run(accumulate, threads) };
}

/// `a * b` as a new `m x n` row-major vector: [`matmul`] with [`Write::Overwrite`], into a vector
/// that is not zero-filled first where `gemm` writes every element of its output without
/// reading it (the shapes of the fully connected layers and their gradients, where the fill
/// was a pass over every gradient of the layer's weights, on one thread). A product computed
/// transposed ([`computes_faster_transposed`]) is zero-filled, then transposed into.
///
/// # Panics
/// If an operand is shorter than its shape implies.
pub fn matmul_new(
    a: Operand<'_>,
    b: Operand<'_>,
    [m, n, k]: [usize; 3],
    threads: Threads,
) -> Vec<f32> {
    if !(BLIND_WRITES && on_micro_kernels(m, n, k))
        || computes_faster_transposed([m, n, k], a.parts().1, b.parts().1, threads)
    {
        let mut dst = vec![0.0f32; m * n];
        matmul(&mut dst, a, b, [m, n, k], Write::Overwrite, threads);
        return dst;
    }
    let ((a, a_transposed), (b, b_transposed)) = (a.parts(), b.parts());
    assert!(
        a.len() >= m * k && b.len() >= k * n,
        "matmul: operands too short for {m}x{k} * {k}x{n}"
    );
    let mut dst = Vec::with_capacity(m * n);
    let product = Product::new(
        dst.as_mut_ptr(),
        a,
        a_transposed,
        b,
        b_transposed,
        [m, n, k],
    );
    // SAFETY: `dst` has room for m x n elements and `a`, `b` hold their m x k and k x n
    // (asserted above); without `accumulate` `gemm` stores each output element without
    // reading it on these shapes (its micro-kernels' "alpha = 0" stores),
    // so every element is written before `set_len` makes the vector's values readable.
    unsafe {
        product.run(false, threads);
        dst.set_len(m * n);
    }
    dst
}

/// Whether [`matmul_new`] may leave its output unfilled for `gemm`'s micro-kernels: on x86-64,
/// whose micro-kernels store without loading when told to overwrite (`gemm`'s Apple AMX
/// kernels copy the output tile before using it, which would read the unfilled memory).
const BLIND_WRITES: bool = cfg!(target_arch = "x86_64");

/// Whether `gemm` computes an `m x n x k` product with its blocked micro-kernels, which store
/// each output without reading it when told to overwrite, and sum each dot product in an
/// order that depends on `k` only. Its special paths (a single row or column, at most 16 x 16
/// outputs, an inner dimension of 1 or 2) are not known to do either.
fn on_micro_kernels(m: usize, n: usize, k: usize) -> bool {
    m >= 2 && n >= 2 && k >= 3 && m * n > 16 * 16
}

/// The operands of one [`matmul`], by pointer and strides (row and column stride of each).
#[derive(Clone, Copy)]
struct Product {
    dst: *mut f32,
    dst_rs: isize,
    a: *const f32,
    a_rs: isize,
    a_cs: isize,
    b: *const f32,
    b_rs: isize,
    b_cs: isize,
    m: usize,
    n: usize,
    k: usize,
}

// SAFETY: a `Product` only carries the addresses of its caller's buffers, which outlive every
// task it is shared with (the tasks end before `run` returns); tasks read `a` and `b` and
// write disjoint blocks of `dst`.
unsafe impl Send for Product {}
// SAFETY: as for `Send`.
unsafe impl Sync for Product {}

impl Product {
    /// The product `dst (m x n) = a (m x k) * b (k x n)` of row-major slices (stored
    /// transposed where their flag is set).
    fn new(
        dst: *mut f32,
        a: &[f32],
        a_transposed: bool,
        b: &[f32],
        b_transposed: bool,
        [m, n, k]: [usize; 3],
    ) -> Self {
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
        Self {
            dst,
            dst_rs: n as isize,
            a: a.as_ptr(),
            a_rs,
            a_cs,
            b: b.as_ptr(),
            b_rs,
            b_cs,
            m,
            n,
            k,
        }
    }

    /// The whole product on `threads`: one block of the output per thread where the product
    /// is large enough, else `gemm` on its own. The blocks split the longer side of the
    /// output, so the operand that every thread packs for itself is the smaller one (a tall
    /// weight gradient splits its rows, a wide layer output its columns).
    ///
    /// # Safety
    /// As for [`Product::block`], for the whole output.
    unsafe fn run(&self, accumulate: bool, threads: Threads) {
        let (m, n, k) = (self.m, self.n, self.k);
        let split_rows = m > n;
        let extent = if split_rows { m } else { n };
        let blocks = match threads {
            Threads::One => 1,
            Threads::All => rayon::current_num_threads()
                .min(extent / MIN_EXTENT_PER_TASK)
                .max(1),
        };
        let width = extent.div_ceil(blocks);
        // The narrowest block, the last, must be one that `gemm` sums as a whole product does.
        let last = extent.saturating_sub((blocks - 1) * width);
        let last_block = if split_rows { [last, n] } else { [m, last] };
        if blocks == 1 || !on_micro_kernels(last_block[0], last_block[1], k) {
            let parallelism = match threads {
                Threads::One => Parallelism::None,
                Threads::All => Parallelism::Rayon(0),
            };
            // SAFETY: the caller's contract.
            unsafe { self.block(0..m, 0..n, accumulate, parallelism) };
            return;
        }
        (0..blocks).into_par_iter().for_each(|block| {
            let part = block * width..((block + 1) * width).min(extent);
            let (rows, columns) = if split_rows {
                (part, 0..n)
            } else {
                (0..m, part)
            };
            // SAFETY: the caller's contract; the blocks are disjoint, so no element of `dst`
            // is written by two tasks, and `a` and `b` are only read.
            unsafe { self.block(rows, columns, accumulate, Parallelism::None) };
        });
    }

    /// Rows `rows` by columns `columns` of the product, with `gemm` on `parallelism`.
    ///
    /// # Safety
    /// The pointers and strides must address valid `m x n`, `m x k` and `k x n` operands
    /// (the ranges inside `m` and `n`), and no other thread may touch this block of `dst`
    /// meanwhile.
    unsafe fn block(
        &self,
        rows: std::ops::Range<usize>,
        columns: std::ops::Range<usize>,
        accumulate: bool,
        parallelism: Parallelism,
    ) {
        let (row, column) = (rows.start as isize, columns.start as isize);
        // SAFETY: the caller's contract; row `row` and column `column` of `dst`, row `row` of
        // `a` and column `column` of `b` lie inside them.
        unsafe {
            gemm(
                rows.len(),
                columns.len(),
                self.k,
                self.dst.offset(row * self.dst_rs + column),
                1,
                self.dst_rs,
                accumulate,
                self.a.offset(row * self.a_rs),
                self.a_cs,
                self.a_rs,
                self.b.offset(column * self.b_cs),
                self.b_cs,
                self.b_rs,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
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

    fn operand(values: &[f32], transposed: bool) -> Operand<'_> {
        if transposed {
            Operand::Transposed(values)
        } else {
            Operand::Plain(values)
        }
    }

    fn write(accumulate: bool) -> Write {
        if accumulate {
            Write::Add
        } else {
            Write::Overwrite
        }
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) % 2001)
            .map(|v| v as f32 / 1000.0 - 1.0)
            .collect()
    }

    /// On all threads, the columns (a wide output) or the rows (a tall one) split among the
    /// threads: the same bits as one thread, for every transposition, overwriting and
    /// accumulating, with a last block narrower than the others; every element against the
    /// definition. On AVX-512 the wide shape (37 rows, 301 deep) is computed transposed on all
    /// threads and as stated on one, so the bit-for-bit comparison also holds the two ways of
    /// computing it to the same bits.
    #[test]
    fn a_split_product_equals_one_thread() {
        let (wide, tall) = (
            (37, 3 * MIN_EXTENT_PER_TASK + 5, 301),
            (3 * MIN_EXTENT_PER_TASK + 5, 37, 64),
        );
        for ((m, n, k), a_t, b_t, accumulate) in [
            (wide, false, false, false),
            (wide, true, false, false),
            (wide, false, true, true),
            (wide, true, true, true),
            (tall, false, false, true),
            (tall, true, false, false),
            (tall, false, true, false),
            (tall, true, true, true),
        ] {
            let (a, b, start) = (values(m * k, 4), values(k * n, 5), values(m * n, 6));
            let run = |threads| {
                let mut dst = start.clone();
                let (a, b) = (operand(&a, a_t), operand(&b, b_t));
                matmul(&mut dst, a, b, [m, n, k], write(accumulate), threads);
                dst
            };
            let (all, one) = (run(Threads::All), run(Threads::One));
            assert!(
                all.iter()
                    .zip(&one)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "transposed {a_t}/{b_t}, accumulate {accumulate}"
            );
            for (i, j) in (0..m).flat_map(|i| (0..n).map(move |j| (i, j))) {
                let mut want = if accumulate {
                    start[i * n + j] as f64
                } else {
                    0.0
                };
                for l in 0..k {
                    let x = if a_t { a[l * m + i] } else { a[i * k + l] };
                    let y = if b_t { b[j * k + l] } else { b[l * n + j] };
                    want += x as f64 * y as f64;
                }
                let got = all[i * n + j] as f64;
                assert!(
                    (got - want).abs() <= 1e-3 * (1.0 + want.abs()),
                    "{m}x{n}x{k} transposed {a_t}/{b_t}, accumulate {accumulate}: \
                     [{i}][{j}] = {got}, want {want}"
                );
            }
        }
    }

    /// A product into a new vector equals one into a zero-filled vector, also when the
    /// allocator hands back memory that held NaNs (the unfilled path never reads it), on the
    /// shapes of both paths.
    #[test]
    fn a_new_product_ignores_what_its_memory_held() {
        for (m, n, k) in [
            (64, 300, 50),
            (64, 300, TRANSPOSE_MIN_INNER + 1),
            (200, 120, 64),
            (1, 300, 50),
            (64, 300, 2),
            (8, 8, 9),
        ] {
            let (a, b) = (values(m * k, 7), values(k * n, 8));
            let mut want = vec![0.0; m * n];
            let (a, b) = (Operand::Plain(&a), Operand::Transposed(&b));
            matmul(&mut want, a, b, [m, n, k], Write::Overwrite, Threads::One);
            for threads in [Threads::All, Threads::One] {
                drop(std::hint::black_box(vec![f32::NAN; m * n]));
                let got = matmul_new(a, b, [m, n, k], threads);
                assert_eq!(got.len(), m * n);
                assert!(
                    got.iter()
                        .zip(&want)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{m}x{n}x{k} on {threads:?}"
                );
            }
        }
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
                let operands = (Operand::Plain(&a), Operand::Plain(&b));
                matmul(
                    &mut got,
                    operands.0,
                    operands.1,
                    [1, n, k],
                    write(accumulate),
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
