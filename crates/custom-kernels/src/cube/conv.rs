//! CubeCL conv2d kernels written as implicit GEMMs tiled through shared memory, the way fast
//! GPU convolutions are written. Each pass of a conv layer is a matrix product whose operands
//! are gathered from the NCHW tensors on the fly (no im2col buffer):
//!
//! | pass | rows | columns | reduction |
//! |---|---|---|---|
//! | forward | output positions `(n, oy, ox)` | filters `k` | `(c, ky, kx)` |
//! | input gradient | input positions `(n, y, x)` | channels `c` | `(k, ky, kx)` |
//! | weight + bias gradient | `(c, ky, kx)` and one row of ones | filters `k` | `(n, oy, ox)`, split |
//!
//! Each cube (workgroup) of [`THREADS`] threads computes one [`GemmTile`] of the result: per
//! step it loads a `rows x depth` slab of the left operand and a `depth x cols` slab of the
//! right one into shared memory cooperatively (consecutive threads read consecutive
//! addresses), synchronises, and every thread multiplies a [`MICRO`] x [`MICRO`] block of the
//! tile in registers. The forward fuses the bias and ReLU into the store, and a 2x2 max-pool
//! too when asked ([`conv2d_max_pool_forward_kernel`]); the backward kernels fold ReLU's mask
//! into the gather of the output gradient. The weight gradient's
//! reduction runs over the whole batch, so it is split into chunks computed by separate cubes
//! (partial sums), which [`conv2d_weight_grad_reduce_kernel`] adds up; its extra row of ones
//! makes the bias gradient a by-product of the same product.

use cubecl::prelude::*;

/// Threads per cube of the GEMM kernels.
pub const THREADS: usize = 256;

/// Each thread accumulates a `MICRO x MICRO` block of its cube's tile.
pub const MICRO: usize = 4;

/// Floats of the left operand's slab in shared memory (8 KiB in f32): `rows * depth`. With the
/// right operand's slab (at most 16 x 64) the cube stays well under WebGPU's default 16 KiB of
/// workgroup storage.
const LEFT_SLAB: usize = 2048;

/// The tile one cube computes: `rows x cols` results, reduced `depth` at a time. `rows *
/// cols = THREADS * MICRO^2` always.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GemmTile {
    pub rows: usize,
    pub cols: usize,
    pub depth: usize,
}

impl GemmTile {
    /// The tile for a product with `cols` columns (filters or channels, 1 to a few hundred):
    /// as many columns as the product has, rounded up to a power of two between 8 and 64, and
    /// the rows that fill the cube's threads (512 down to 64).
    pub fn for_columns(cols: usize) -> Self {
        let cols = cols.next_power_of_two().clamp(8, 64);
        let rows = THREADS * MICRO * MICRO / cols;
        let depth = (LEFT_SLAB / rows).clamp(4, 16);
        Self { rows, cols, depth }
    }

    /// Cubes needed for a `rows x cols` result.
    pub fn count(&self, rows: usize, cols: usize) -> usize {
        rows.div_ceil(self.rows) * cols.div_ceil(self.cols)
    }
}

/// Kernel size, stride, zero padding and fused ReLU of a conv layer: known when the kernel is
/// compiled, so the index arithmetic divides by constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvKernelShape {
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_h: usize,
    pub pad_w: usize,
    pub relu: bool,
}

/// `acc[i][j] += sum_d left[d][row(i)] * right[d][col(j)]` over one slab, where the thread's
/// rows are `row_first + i * row_step` and its columns `col0 + j * (tile.cols / MICRO)`
/// (strided, so that neighbouring threads touch neighbouring shared-memory words; the fused
/// pool takes each thread's rows contiguous, one pooling window).
#[cube]
fn multiply_slabs<F: Float>(
    left: &SharedMemory<F>,
    right: &SharedMemory<F>,
    acc: &mut Array<F>,
    row_first: usize,
    col0: usize,
    #[comptime] row_step: usize,
    #[comptime] tile: GemmTile,
) {
    let micro = comptime!(MICRO);
    let depth = comptime!(tile.depth);
    let rows = comptime!(tile.rows);
    let cols = comptime!(tile.cols);
    let col_step = comptime!(tile.cols / MICRO);
    let mut a = Array::<F>::new(micro);
    let mut b = Array::<F>::new(micro);
    #[unroll]
    for d in 0..depth {
        #[unroll]
        for i in 0..micro {
            a[i] = left[d * rows + row_first + i * row_step];
        }
        #[unroll]
        for j in 0..micro {
            b[j] = right[d * cols + col0 + j * col_step];
        }
        #[unroll]
        for i in 0..micro {
            #[unroll]
            for j in 0..micro {
                acc[i * micro + j] += a[i] * b[j];
            }
        }
    }
}

/// A `MICRO x MICRO` block of zeros.
#[cube]
fn zero_block<F: Float>() -> Array<F> {
    let size = comptime!(MICRO * MICRO);
    let mut acc = Array::<F>::new(size);
    #[unroll]
    for i in 0..size {
        acc[i] = F::new(0.0);
    }
    acc
}

/// The im2col value `input[n, c, oy * s + ky - p, ox * s + kx - p]` (zero in the padding, and
/// for rows or window elements past the end) for output position `row` of an `out_h x out_w`
/// output and window element `r = (c, ky, kx)`. Rows run over `(n, oy, ox)`, or with
/// `pooled_order` over `(n, py, px, dy, dx)`, `oy = 2 py + dy`, `ox = 2 px + dx` (2x2 pooling
/// windows, four rows each).
#[cube]
fn input_patch<F: Float>(
    input: &Tensor<F>,
    row: usize,
    r: usize,
    out_h: usize,
    out_w: usize,
    #[comptime] geometry: ConvKernelShape,
    #[comptime] pooled_order: bool,
) -> F {
    let kernel_w = comptime!(geometry.kernel_w);
    let window = comptime!(geometry.kernel_h * geometry.kernel_w);
    let batch = input.shape(0);
    let channels = input.shape(1);
    let in_h = input.shape(2);
    let in_w = input.shape(3);
    let positions = out_h * out_w;
    let mut value = F::new(0.0);
    if row < batch * positions && r < channels * window {
        let n = row / positions;
        let p = row % positions;
        let mut oy = p / out_w;
        let mut ox = p % out_w;
        if pooled_order {
            let pooled_w = out_w / 2;
            let (pair, corner) = (p / 4, p % 4);
            oy = (pair / pooled_w) * 2 + corner / 2;
            ox = (pair % pooled_w) * 2 + corner % 2;
        }
        let c = r / window;
        let k = r % window;
        let y = (oy * geometry.stride_h + k / kernel_w) as i32 - geometry.pad_h as i32;
        let x = (ox * geometry.stride_w + k % kernel_w) as i32 - geometry.pad_w as i32;
        if y >= 0 && y < in_h as i32 && x >= 0 && x < in_w as i32 {
            value = input[((n * channels + c) * in_h + y as usize) * in_w + x as usize];
        }
    }
    value
}

/// Gradient at the pre-activation: `grad` where the (ReLU) output is positive, else 0.
/// (`relu` is a comptime branch, so the two `if`s are not collapsed.)
#[cube]
#[allow(clippy::collapsible_if)]
fn masked_grad<F: Float>(
    output: &Tensor<F>,
    grad: &Tensor<F>,
    index: usize,
    #[comptime] relu: bool,
) -> F {
    let mut value = grad[index];
    if relu {
        if output[index] <= F::new(0.0) {
            value = F::new(0.0);
        }
    }
    value
}

/// The forward's products for one cube: `acc[i][j] = sum_{c, ky, kx} patch(row_i)[c, ky, kx] *
/// weight[col_j, c, ky, kx]` for the thread's rows `row_base + row_first + i * row_step` and
/// columns `col_base + col0 + j * (tile.cols / MICRO)` (see [`input_patch`] for the rows'
/// order).
#[cube]
#[allow(clippy::too_many_arguments)]
fn forward_products<F: Float>(
    input: &Tensor<F>,
    weight: &Tensor<F>,
    row_base: usize,
    col_base: usize,
    row_first: usize,
    col0: usize,
    out_h: usize,
    out_w: usize,
    #[comptime] row_step: usize,
    #[comptime] geometry: ConvKernelShape,
    #[comptime] tile: GemmTile,
    #[comptime] pooled_order: bool,
) -> Array<F> {
    let filters = weight.shape(0);
    let reduction = input.shape(1) * comptime!(geometry.kernel_h * geometry.kernel_w);
    let unit = UNIT_POS as usize;
    let mut left = SharedMemory::<F>::new(comptime!(tile.rows * tile.depth));
    let mut right = SharedMemory::<F>::new(comptime!(tile.depth * tile.cols));
    let mut acc = zero_block::<F>();
    let mut d0 = 0;
    while d0 < reduction {
        // Left slab, rows fastest: neighbouring threads read neighbouring output positions.
        #[unroll]
        for step in 0..comptime!(tile.rows * tile.depth / THREADS) {
            let e = step * THREADS + unit;
            let (row, d) = (e % tile.rows, e / tile.rows);
            left[d * tile.rows + row] = input_patch::<F>(
                input,
                row_base + row,
                d0 + d,
                out_h,
                out_w,
                geometry,
                pooled_order,
            );
        }
        // Right slab, depth fastest: a filter's weights are contiguous.
        #[unroll]
        for step in 0..comptime!((tile.depth * tile.cols).div_ceil(THREADS)) {
            let e = step * THREADS + unit;
            if e < comptime!(tile.depth * tile.cols) {
                let (d, col) = (e % tile.depth, e / tile.depth);
                let (r, k) = (d0 + d, col_base + col);
                let mut value = F::new(0.0);
                if r < reduction && k < filters {
                    value = weight[k * reduction + r];
                }
                right[d * tile.cols + col] = value;
            }
        }
        sync_cube();
        multiply_slabs::<F>(&left, &right, &mut acc, row_first, col0, row_step, tile);
        sync_cube();
        d0 += tile.depth;
    }
    acc
}

/// `output[n, k, oy, ox] = relu?(bias[k] + sum_{c, ky, kx} input[n, c, y, x] * weight[k, c, ky, kx])`
/// with `y = oy * stride_h + ky - pad_h`, `x = ox * stride_w + kx - pad_w` (zero outside).
#[cube(launch)]
pub fn conv2d_forward_kernel<F: Float>(
    input: &Tensor<F>,
    weight: &Tensor<F>,
    bias: &Tensor<F>,
    output: &mut Tensor<F>,
    #[comptime] geometry: ConvKernelShape,
    #[comptime] tile: GemmTile,
    #[define(F)] _dtype: StorageType,
) {
    let filters = output.shape(1);
    let out_h = output.shape(2);
    let out_w = output.shape(3);
    let positions = out_h * out_w;
    let rows = output.shape(0) * positions;
    let col_tiles = filters.div_ceil(tile.cols);
    if CUBE_POS >= rows.div_ceil(tile.rows) * col_tiles {
        terminate!();
    }
    let row_base = (CUBE_POS / col_tiles) * tile.rows;
    let col_base = (CUBE_POS % col_tiles) * tile.cols;
    let unit = UNIT_POS as usize;
    let row_step = comptime!(tile.rows / MICRO);
    let col_step = comptime!(tile.cols / MICRO);
    let micro = comptime!(MICRO);
    let (row0, col0) = (unit % row_step, unit / row_step);
    let acc = forward_products::<F>(
        input, weight, row_base, col_base, row0, col0, out_h, out_w, row_step, geometry, tile,
        false,
    );

    #[unroll]
    for i in 0..micro {
        let row = row_base + row0 + i * row_step;
        if row < rows {
            let (n, p) = (row / positions, row % positions);
            #[unroll]
            for j in 0..micro {
                let k = col_base + col0 + j * col_step;
                if k < filters {
                    let mut value = acc[i * micro + j] + bias[k];
                    if geometry.relu {
                        value = F::max(value, F::new(0.0));
                    }
                    output[(n * filters + k) * positions + p] = value;
                }
            }
        }
    }
}

/// The conv forward with a 2x2, stride-2 max-pool fused into its store (even `out_h` and
/// `out_w`): each thread's four rows are one pooling window, so the conv output never goes to
/// memory. `pooled[n, k, py, px]` is the maximum of the window's four `relu?(conv + bias)`
/// values and `argmax` its flat in-plane index `oy * out_w + ox`, compared in the CPU pool's
/// order (row-major, the first maximum wins, a NaN wins).
#[cube(launch)]
pub fn conv2d_max_pool_forward_kernel<F: Float, I: Int>(
    input: &Tensor<F>,
    weight: &Tensor<F>,
    bias: &Tensor<F>,
    pooled: &mut Tensor<F>,
    argmax: &mut Tensor<I>,
    #[comptime] geometry: ConvKernelShape,
    #[comptime] tile: GemmTile,
    #[define(F, I)] _dtypes: [StorageType; 2],
) {
    let filters = pooled.shape(1);
    let pooled_w = pooled.shape(3);
    let pooled_positions = pooled.shape(2) * pooled_w;
    let out_w = pooled_w * 2;
    let out_h = pooled.shape(2) * 2;
    let positions = pooled_positions * 4;
    let rows = pooled.shape(0) * positions;
    let col_tiles = filters.div_ceil(tile.cols);
    if CUBE_POS >= rows.div_ceil(tile.rows) * col_tiles {
        terminate!();
    }
    let row_base = (CUBE_POS / col_tiles) * tile.rows;
    let col_base = (CUBE_POS % col_tiles) * tile.cols;
    let unit = UNIT_POS as usize;
    let row_step = comptime!(tile.rows / MICRO);
    let col_step = comptime!(tile.cols / MICRO);
    let micro = comptime!(MICRO);
    let (row0, col0) = (unit % row_step, unit / row_step);
    let acc = forward_products::<F>(
        input,
        weight,
        row_base,
        col_base,
        row0 * micro,
        col0,
        out_h,
        out_w,
        1usize,
        geometry,
        tile,
        true,
    );

    // The window's first row; rows come in whole windows, so all four are in range together.
    let row = row_base + row0 * micro;
    if row < rows {
        let n = row / positions;
        let pair = (row % positions) / 4;
        let top_left = (pair / pooled_w) * 2 * out_w + (pair % pooled_w) * 2;
        #[unroll]
        for j in 0..micro {
            let k = col_base + col0 + j * col_step;
            if k < filters {
                let mut best = acc[j] + bias[k];
                if geometry.relu {
                    best = F::max(best, F::new(0.0));
                }
                let mut best_index = top_left;
                #[unroll]
                for i in 1..micro {
                    let mut value = acc[i * micro + j] + bias[k];
                    if geometry.relu {
                        value = F::max(value, F::new(0.0));
                    }
                    if value > best || bool::cast_from(F::is_nan(value)) {
                        best = value;
                        best_index = top_left + (i / 2) * out_w + i % 2;
                    }
                }
                let out = (n * filters + k) * pooled_positions + pair;
                pooled[out] = best;
                argmax[out] = I::cast_from(best_index as u32);
            }
        }
    }
}

/// `input_grad[n, c, y, x] = sum over (k, ky, kx) hitting (y, x) of weight[k, c, ky, kx] * dy[n, k, oy, ox]`,
/// with `dy` the gradient at the pre-activation (ReLU's mask applied).
#[cube(launch)]
pub fn conv2d_input_grad_kernel<F: Float>(
    weight: &Tensor<F>,
    output: &Tensor<F>,
    grad: &Tensor<F>,
    input_grad: &mut Tensor<F>,
    #[comptime] geometry: ConvKernelShape,
    #[comptime] tile: GemmTile,
    #[define(F)] _dtype: StorageType,
) {
    let channels = input_grad.shape(1);
    let in_w = input_grad.shape(3);
    let pixels = input_grad.shape(2) * in_w;
    let rows = input_grad.shape(0) * pixels;
    let filters = grad.shape(1);
    let out_h = grad.shape(2);
    let out_w = grad.shape(3);
    let kernel_w = comptime!(geometry.kernel_w);
    let window = comptime!(geometry.kernel_h * geometry.kernel_w);
    let reduction = filters * window;
    let col_tiles = channels.div_ceil(tile.cols);
    if CUBE_POS >= rows.div_ceil(tile.rows) * col_tiles {
        terminate!();
    }
    let row_base = (CUBE_POS / col_tiles) * tile.rows;
    let col_base = (CUBE_POS % col_tiles) * tile.cols;
    let unit = UNIT_POS as usize;
    let row_step = comptime!(tile.rows / MICRO);
    let col_step = comptime!(tile.cols / MICRO);
    let micro = comptime!(MICRO);
    let (row0, col0) = (unit % row_step, unit / row_step);

    let mut left = SharedMemory::<F>::new(comptime!(tile.rows * tile.depth));
    let mut right = SharedMemory::<F>::new(comptime!(tile.depth * tile.cols));
    let mut acc = zero_block::<F>();
    let mut d0 = 0;
    while d0 < reduction {
        // Left slab: the output gradient that reaches input pixel `row` through window
        // element `r = (k, ky, kx)`, if any (`oy * stride = y + pad - ky`, in range).
        #[unroll]
        for step in 0..comptime!(tile.rows * tile.depth / THREADS) {
            let e = step * THREADS + unit;
            let (row_in_tile, d) = (e % tile.rows, e / tile.rows);
            let (row, r) = (row_base + row_in_tile, d0 + d);
            let mut value = F::new(0.0);
            if row < rows && r < reduction {
                let (n, q) = (row / pixels, row % pixels);
                let (k, w) = (r / window, r % window);
                let ty = (q / in_w + geometry.pad_h) as i32 - (w / kernel_w) as i32;
                let tx = (q % in_w + geometry.pad_w) as i32 - (w % kernel_w) as i32;
                let sh = geometry.stride_h as i32;
                let sw = geometry.stride_w as i32;
                if ty >= 0 && tx >= 0 && ty % sh == 0 && tx % sw == 0 {
                    let (oy, ox) = ((ty / sh) as usize, (tx / sw) as usize);
                    if oy < out_h && ox < out_w {
                        let index = ((n * filters + k) * out_h + oy) * out_w + ox;
                        value = masked_grad::<F>(output, grad, index, geometry.relu);
                    }
                }
            }
            left[d * tile.rows + row_in_tile] = value;
        }
        // Right slab: weight[k, c, ky, kx] for `r = (k, ky, kx)` and column `c`.
        #[unroll]
        for step in 0..comptime!((tile.depth * tile.cols).div_ceil(THREADS)) {
            let e = step * THREADS + unit;
            if e < comptime!(tile.depth * tile.cols) {
                let (d, col) = (e % tile.depth, e / tile.depth);
                let (r, c) = (d0 + d, col_base + col);
                let mut value = F::new(0.0);
                if r < reduction && c < channels {
                    value = weight[((r / window) * channels + c) * window + r % window];
                }
                right[d * tile.cols + col] = value;
            }
        }
        sync_cube();
        multiply_slabs::<F>(&left, &right, &mut acc, row0, col0, row_step, tile);
        sync_cube();
        d0 += tile.depth;
    }

    #[unroll]
    for i in 0..micro {
        let row = row_base + row0 + i * row_step;
        if row < rows {
            let (n, q) = (row / pixels, row % pixels);
            #[unroll]
            for j in 0..micro {
                let c = col_base + col0 + j * col_step;
                if c < channels {
                    input_grad[(n * channels + c) * pixels + q] = acc[i * micro + j];
                }
            }
        }
    }
}

/// One chunk of the weight and bias gradients:
/// `partial[chunk, r, k] = sum over (n, oy, ox) in the chunk of patch[r] * dy[n, k, oy, ox]`,
/// where `patch[r]` is the input under window element `r = (c, ky, kx)` and the extra row
/// `r = C * KH * KW` is 1 (the bias gradient). The batch's output positions are cut into
/// `partial.shape(0)` chunks of equal length (the last one shorter).
#[cube(launch)]
pub fn conv2d_weight_grad_kernel<F: Float>(
    input: &Tensor<F>,
    output: &Tensor<F>,
    grad: &Tensor<F>,
    partial: &mut Tensor<F>,
    #[comptime] geometry: ConvKernelShape,
    #[comptime] tile: GemmTile,
    #[define(F)] _dtype: StorageType,
) {
    let filters = grad.shape(1);
    let out_h = grad.shape(2);
    let out_w = grad.shape(3);
    let positions = out_h * out_w;
    let batch_positions = grad.shape(0) * positions;
    let reduction = input.shape(1) * comptime!(geometry.kernel_h * geometry.kernel_w);
    // The result: `reduction + 1` rows (the last one for the bias) by `filters` columns.
    let rows = reduction + 1;
    let col_tiles = filters.div_ceil(tile.cols);
    let tiles = rows.div_ceil(tile.rows) * col_tiles;
    let chunks = partial.shape(0);
    if CUBE_POS >= tiles * chunks {
        terminate!();
    }
    let chunk = CUBE_POS / tiles;
    let chunk_len = batch_positions.div_ceil(chunks);
    let tile_index = CUBE_POS % tiles;
    let row_base = (tile_index / col_tiles) * tile.rows;
    let col_base = (tile_index % col_tiles) * tile.cols;
    let unit = UNIT_POS as usize;
    let row_step = comptime!(tile.rows / MICRO);
    let col_step = comptime!(tile.cols / MICRO);
    let micro = comptime!(MICRO);
    let (row0, col0) = (unit % row_step, unit / row_step);

    let mut left = SharedMemory::<F>::new(comptime!(tile.rows * tile.depth));
    let mut right = SharedMemory::<F>::new(comptime!(tile.depth * tile.cols));
    let mut acc = zero_block::<F>();
    let start = chunk * chunk_len;
    let mut end = start + chunk_len;
    if end > batch_positions {
        end = batch_positions;
    }
    let mut m0 = start;
    while m0 < end {
        // Left slab, depth (output positions) fastest: neighbouring threads read neighbouring
        // input pixels.
        #[unroll]
        for step in 0..comptime!(tile.rows * tile.depth / THREADS) {
            let e = step * THREADS + unit;
            let (d, row) = (e % tile.depth, e / tile.depth);
            let (m, r) = (m0 + d, row_base + row);
            let mut value = F::new(0.0);
            if m < end {
                if r == reduction {
                    value = F::new(1.0);
                } else {
                    value = input_patch::<F>(input, m, r, out_h, out_w, geometry, false);
                }
            }
            left[d * tile.rows + row] = value;
        }
        // Right slab, depth fastest: neighbouring output positions of one filter's plane.
        #[unroll]
        for step in 0..comptime!((tile.depth * tile.cols).div_ceil(THREADS)) {
            let e = step * THREADS + unit;
            if e < comptime!(tile.depth * tile.cols) {
                let (d, col) = (e % tile.depth, e / tile.depth);
                let (m, k) = (m0 + d, col_base + col);
                let mut value = F::new(0.0);
                if m < end && k < filters {
                    let index = ((m / positions) * filters + k) * positions + m % positions;
                    value = masked_grad::<F>(output, grad, index, geometry.relu);
                }
                right[d * tile.cols + col] = value;
            }
        }
        sync_cube();
        multiply_slabs::<F>(&left, &right, &mut acc, row0, col0, row_step, tile);
        sync_cube();
        m0 += tile.depth;
    }

    #[unroll]
    for i in 0..micro {
        let r = row_base + row0 + i * row_step;
        if r < rows {
            #[unroll]
            for j in 0..micro {
                let k = col_base + col0 + j * col_step;
                if k < filters {
                    partial[(chunk * rows + r) * filters + k] = acc[i * micro + j];
                }
            }
        }
    }
}

/// Adds the chunks' partial sums: `weight_grad[k, r] = sum_chunk partial[chunk, r, k]` and
/// `bias_grad[k] = sum_chunk partial[chunk, R, k]`, one thread per result.
#[cube(launch)]
pub fn conv2d_weight_grad_reduce_kernel<F: Float>(
    partial: &Tensor<F>,
    weight_grad: &mut Tensor<F>,
    bias_grad: &mut Tensor<F>,
    #[define(F)] _dtype: StorageType,
) {
    let chunks = partial.shape(0);
    let rows = partial.shape(1);
    let filters = partial.shape(2);
    let pos = ABSOLUTE_POS;
    if pos >= rows * filters {
        terminate!();
    }
    let (r, k) = (pos / filters, pos % filters);
    let mut sum = F::new(0.0);
    for chunk in 0..chunks {
        sum += partial[(chunk * rows + r) * filters + k];
    }
    let reduction = rows - 1;
    if r < reduction {
        weight_grad[k * reduction + r] = sum;
    } else {
        bias_grad[k] = sum;
    }
}
