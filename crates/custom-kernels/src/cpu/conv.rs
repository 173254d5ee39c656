//! Convolution forward (fused bias + ReLU) and backward (input, weight and bias gradients).
//!
//! Two ways to compute the products ([`ConvPath`]): the direct kernels of [`super::direct`]
//! for stride-1 convolutions on CPUs that have AVX-512 or AVX2 with FMA, else im2col + GEMM
//! (any stride, any CPU). The choice is made per call from the geometry and the CPU, and can
//! be forced with [`CONV_PATH_ENV`].

use std::cell::RefCell;

use rayon::prelude::*;

use super::direct::{self, Isa};
use super::matmul::{Threads, matmul};
use crate::spec::ConvSpec;

/// Every size a convolution needs, derived once from the shapes and the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub channels: usize,
    /// Input height and width.
    pub input: [usize; 2],
    /// Filters (output channels).
    pub filters: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Output height and width.
    pub output: [usize; 2],
    /// Stride, padding and ReLU.
    pub spec: ConvSpec,
}

impl ConvGeometry {
    /// Geometry of input `[n, c, h, w]` convolved with weights `[k, c, kh, kw]`.
    ///
    /// # Panics
    /// If the channel counts disagree or the kernel does not fit the padded input.
    pub fn new(input: [usize; 4], weight: [usize; 4], spec: ConvSpec) -> Self {
        assert_eq!(
            input[1], weight[1],
            "conv2d: input has {} channels, weights expect {}",
            input[1], weight[1]
        );
        let output = spec
            .output_size([input[2], input[3]], [weight[2], weight[3]])
            .unwrap_or_else(|| {
                panic!("conv2d: kernel {weight:?} does not fit input {input:?} with {spec:?}")
            });
        Self {
            batch: input[0],
            channels: input[1],
            input: [input[2], input[3]],
            filters: weight[0],
            kernel: [weight[2], weight[3]],
            output,
            spec,
        }
    }

    /// Rows of the im2col matrix: `channels * kh * kw`.
    pub fn patch_len(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }

    /// Output positions per image: `oh * ow`.
    pub fn positions(&self) -> usize {
        self.output[0] * self.output[1]
    }

    /// Values per input image: `channels * h * w`.
    pub fn input_len(&self) -> usize {
        self.channels * self.input[0] * self.input[1]
    }

    /// Values per output image: `filters * oh * ow`.
    pub fn output_len(&self) -> usize {
        self.filters * self.positions()
    }

    /// True when the input itself is the im2col matrix (1x1 kernel, stride 1, no padding).
    fn col_is_input(&self) -> bool {
        self.kernel == [1, 1] && self.spec.stride == [1, 1] && self.spec.padding == [0, 0]
    }

    /// How this convolution is computed on this CPU: the direct kernels of the best
    /// instruction set it has where the geometry allows, else im2col + GEMM; or as
    /// [`CONV_PATH_ENV`] says.
    pub fn path(&self) -> ConvPath {
        let (isa, lanes) = match requested_path() {
            Requested::Gemm => (None, Lanes::Best),
            Requested::Isa(isa) => (isa.is_available().then_some(isa), Lanes::Best),
            Requested::Best => (Isa::best(), Lanes::Best),
            Requested::Positions => (Isa::best(), Lanes::Positions),
        };
        match isa {
            Some(isa) if direct::fits(self) => ConvPath::Direct(isa, lanes),
            _ => ConvPath::Gemm,
        }
    }

    /// Multiply-accumulates of the forward pass.
    pub fn macs(&self) -> usize {
        self.batch * self.output_len() * self.patch_len()
    }
}

/// How a convolution computes its products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvPath {
    /// im2col + the `gemm` crate's SIMD GEMM.
    Gemm,
    /// The direct register-tile kernels of this instruction set, with their vector lanes
    /// holding what [`Lanes`] says.
    Direct(Isa, Lanes),
}

/// What the lanes of the direct kernels' vectors hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lanes {
    /// Per pass (forward, input gradient, weight gradient), whichever fills more lanes: on
    /// AVX2, filters, where the pass's filter count is a multiple of the lane count, its
    /// output rows are not, and it is deep enough to pay for the reordering (the ConvNet's
    /// 14-wide conv2 rows fill 14 of 16 lanes, its 64 filters all of them; see `direct`);
    /// else a run of an output row's positions.
    Best,
    /// Always a run of an output row's positions (the only layout before filter lanes; kept
    /// to measure what they buy).
    Positions,
}

impl std::fmt::Display for ConvPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvPath::Gemm => f.write_str("im2col + GEMM"),
            ConvPath::Direct(isa, Lanes::Best) => write!(f, "direct {isa}"),
            ConvPath::Direct(isa, Lanes::Positions) => {
                write!(f, "direct {isa}, positions in the lanes")
            }
        }
    }
}

/// Environment variable that forces the convolution path, to measure what each buys:
/// `gemm` makes every convolution take im2col + GEMM even where the direct kernels would run;
/// `avx2` makes the direct kernels use AVX2 on a CPU that also has AVX-512 (`avx512`, and
/// `auto`, the default, take the best); `positions` keeps output positions in the direct
/// kernels' lanes everywhere ([`Lanes::Positions`]). Read once per process; an unknown value is reported
/// on stderr and treated as `auto`. Example: `CUSTOM_KERNELS_CONV=gemm cargo xtask bench`.
pub const CONV_PATH_ENV: &str = "CUSTOM_KERNELS_CONV";

/// What [`CONV_PATH_ENV`] asks for.
#[derive(Clone, Copy, Debug)]
enum Requested {
    Best,
    Gemm,
    Positions,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Isa(Isa),
}

fn requested_path() -> Requested {
    static REQUESTED: std::sync::OnceLock<Requested> = std::sync::OnceLock::new();
    *REQUESTED.get_or_init(|| {
        let value = std::env::var(CONV_PATH_ENV).unwrap_or_default();
        match value.as_str() {
            "" | "auto" => Requested::Best,
            "gemm" => Requested::Gemm,
            "positions" => Requested::Positions,
            #[cfg(target_arch = "x86_64")]
            "avx2" => Requested::Isa(Isa::Avx2),
            #[cfg(target_arch = "x86_64")]
            "avx512" => Requested::Isa(Isa::Avx512),
            other => {
                eprintln!(
                    "{CONV_PATH_ENV}={other:?} is not one of auto, gemm, positions, avx2, avx512: using auto"
                );
                Requested::Best
            }
        }
    })
}

thread_local! {
    /// Per-thread im2col buffer, reused across calls (no allocation in the steady state).
    static COL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// Per-thread buffer for the gradient of the im2col matrix.
    static DCOL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// Per-thread buffer for a chunk's gradients w.r.t. the conv output before the ReLU.
    static DY: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The output columns `ox` whose input column `x0 + ox * stride` lies inside `0..width`, as a
/// range `lo..hi` (empty when none does). Outside it the input is zero padding.
fn inside_columns(x0: isize, stride: usize, outputs: usize, width: usize) -> (usize, usize) {
    let stride = stride as isize;
    let lo = if x0 < 0 {
        (-x0 + stride - 1) / stride
    } else {
        0
    };
    let last = width as isize - 1 - x0;
    let hi = if last < 0 { 0 } else { last / stride + 1 };
    let hi = (hi as usize).min(outputs);
    let lo = (lo as usize).min(hi);
    (lo, hi)
}

/// Fills `col` (`patch_len x positions`, row-major) with the patches of one image.
fn im2col(image: &[f32], g: &ConvGeometry, col: &mut [f32]) {
    let [h, w] = g.input;
    let [kh, kw] = g.kernel;
    let [oh, ow] = g.output;
    let [sh, sw] = g.spec.stride;
    let [ph, pw] = g.spec.padding;
    let mut rows = col.chunks_exact_mut(oh * ow);
    for plane in image.chunks_exact(h * w).take(g.channels) {
        for ky in 0..kh {
            for kx in 0..kw {
                let row = rows.next().expect("im2col row");
                let x0 = kx as isize - pw as isize;
                let (lo, hi) = inside_columns(x0, sw, ow, w);
                for (oy, out) in row.chunks_exact_mut(ow).enumerate() {
                    let y = (oy * sh + ky) as isize - ph as isize;
                    if y < 0 || y >= h as isize {
                        out.fill(0.0);
                        continue;
                    }
                    let line = &plane[y as usize * w..(y as usize + 1) * w];
                    out[..lo].fill(0.0);
                    out[hi..].fill(0.0);
                    let first = (x0 + (lo * sw) as isize) as usize;
                    if sw == 1 {
                        out[lo..hi].copy_from_slice(&line[first..first + hi - lo]);
                    } else {
                        for (value, &x) in
                            out[lo..hi].iter_mut().zip(line[first..].iter().step_by(sw))
                        {
                            *value = x;
                        }
                    }
                }
            }
        }
    }
}

/// Adds the columns of `dcol` back onto the image gradient (the adjoint of [`im2col`]).
fn col2im(dcol: &[f32], g: &ConvGeometry, image_grad: &mut [f32]) {
    let [h, w] = g.input;
    let [kh, kw] = g.kernel;
    let [oh, ow] = g.output;
    let [sh, sw] = g.spec.stride;
    let [ph, pw] = g.spec.padding;
    let mut rows = dcol.chunks_exact(oh * ow);
    for plane in image_grad.chunks_exact_mut(h * w).take(g.channels) {
        for ky in 0..kh {
            for kx in 0..kw {
                let row = rows.next().expect("col2im row");
                let x0 = kx as isize - pw as isize;
                let (lo, hi) = inside_columns(x0, sw, ow, w);
                for (oy, src) in row.chunks_exact(ow).enumerate() {
                    let y = (oy * sh + ky) as isize - ph as isize;
                    if y < 0 || y >= h as isize {
                        continue;
                    }
                    let line = &mut plane[y as usize * w..(y as usize + 1) * w];
                    let first = (x0 + (lo * sw) as isize) as usize;
                    let src = &src[lo..hi];
                    if sw == 1 {
                        for (dst, s) in line[first..first + src.len()].iter_mut().zip(src) {
                            *dst += s;
                        }
                    } else {
                        for (dst, s) in line[first..].iter_mut().step_by(sw).zip(src) {
                            *dst += s;
                        }
                    }
                }
            }
        }
    }
}

/// Runs `f` on the first `len` values of a per-thread buffer (grown when needed; contents
/// are whatever the last user left).
pub(super) fn with_buffer<R>(
    buffer: &'static std::thread::LocalKey<RefCell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    buffer.with(|cell| {
        let mut vec = cell.borrow_mut();
        if vec.len() < len {
            vec.resize(len, 0.0);
        }
        f(&mut vec[..len])
    })
}

/// Convolution of `input` (`[n, c, h, w]`) with `weight` (`[k, c, kh, kw]`) plus `bias` (`[k]`),
/// then ReLU if the spec says so. Returns `[n, k, oh, ow]`, contiguous.
pub fn conv2d_forward(
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
) -> Vec<f32> {
    conv2d_forward_on(g.path(), input, weight, bias, g)
}

/// [`conv2d_forward`] on a given path (which must be available for `g`).
fn conv2d_forward_on(
    path: ConvPath,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
) -> Vec<f32> {
    g.check_operands(input, weight);
    let weights = ForwardWeights::new(path, weight, g);
    let mut output = vec![0.0f32; g.batch * g.output_len()];
    output
        .par_chunks_mut(g.output_len())
        .zip(input.par_chunks(g.input_len()))
        .for_each(|(out, image)| image_forward(image, &weights, bias, g, out));
    output
}

/// Multiply-adds of one image's convolution below which it is not shared out among threads
/// when the batch is smaller than the thread count: handing work to another thread costs
/// some microseconds, more than LeNet-5's layers (0.1-0.3 M multiply-adds) take. Measured at
/// batch 1: the ConvNet's conv2 (10 M) forward 0.50-0.63 ms alone, 0.38-0.50 ms shared over
/// 2 threads; its conv1 (0.6 M) and LeNet-5's layers were no faster or slower shared.
const SPREAD_MIN_MACS: usize = 2_000_000;

/// The forward weights as the chosen path reads them (packed once per call for the direct
/// kernels, else as given), and whether each image's work is spread over the threads.
pub(super) struct ForwardWeights<'a> {
    path: ConvPath,
    weight: &'a [f32],
    packed: Vec<f32>,
    /// Fewer images than threads, each large enough to share: one image per thread would
    /// leave threads idle (batch-1 inference), so each image's filters (direct kernels) or
    /// GEMM is shared out instead.
    spread: bool,
}

impl<'a> ForwardWeights<'a> {
    pub(super) fn new(path: ConvPath, weight: &'a [f32], g: &ConvGeometry) -> Self {
        let packed = match path {
            ConvPath::Direct(..) => direct::pack_forward(weight, g),
            ConvPath::Gemm => Vec::new(),
        };
        Self {
            path,
            weight,
            packed,
            spread: g.batch < rayon::current_num_threads()
                && g.output_len() * g.patch_len() >= SPREAD_MIN_MACS,
        }
    }
}

impl ConvGeometry {
    /// Panics unless `input` and `weight` have the lengths this geometry implies.
    pub(super) fn check_operands(&self, input: &[f32], weight: &[f32]) {
        assert_eq!(
            input.len(),
            self.batch * self.input_len(),
            "conv2d: input length"
        );
        assert_eq!(
            weight.len(),
            self.filters * self.patch_len(),
            "conv2d: weight length"
        );
    }
}

/// One image's convolution into `out` (`filters x positions`): bias, product, then ReLU if
/// the spec says so.
pub(super) fn image_forward(
    image: &[f32],
    weights: &ForwardWeights<'_>,
    bias: Option<&[f32]>,
    g: &ConvGeometry,
    out: &mut [f32],
) {
    if let ConvPath::Direct(isa, lanes) = weights.path {
        let kernels = direct::DirectKernels { isa, lanes };
        return direct::forward_image(
            kernels,
            image,
            &weights.packed,
            bias,
            g,
            weights.spread,
            out,
        );
    }
    let weight = weights.weight;
    let (p, kk) = (g.positions(), g.patch_len());
    if let Some(bias) = bias {
        for (row, &b) in out.chunks_exact_mut(p).zip(bias) {
            row.fill(b);
        }
    }
    let product = [g.filters, p, kk];
    let accumulate = bias.is_some();
    let threads = if weights.spread {
        Threads::All
    } else {
        Threads::One
    };
    if g.col_is_input() {
        matmul(
            out, weight, false, image, false, product, accumulate, threads,
        );
    } else {
        with_buffer(&COL, kk * p, |col| {
            im2col(image, g, col);
            matmul(out, weight, false, col, false, product, accumulate, threads);
        });
    }
    if g.spec.relu {
        for v in out.iter_mut() {
            *v = v.max(0.0);
        }
    }
}

/// Images per parallel task in the backward pass. Fixed (not derived from the thread count),
/// so the weight and bias gradients are summed in the same order on every run: training is
/// reproducible for a given seed.
const BACKWARD_CHUNK: usize = 8;

/// Gradients of [`conv2d_forward`]: given the input, the weights, the forward `output` (used
/// for the ReLU mask when the spec has ReLU) and the gradient of the loss w.r.t. the output,
/// returns the gradients w.r.t. the input (only if `want_input_grad`), the weights and the
/// bias.
pub fn conv2d_backward(
    input: &[f32],
    weight: &[f32],
    output: &[f32],
    output_grad: &[f32],
    g: &ConvGeometry,
    want_input_grad: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    conv2d_backward_on(
        g.path(),
        input,
        weight,
        output,
        output_grad,
        g,
        want_input_grad,
    )
}

/// [`conv2d_backward`] on a given path (which must be available for `g`).
fn conv2d_backward_on(
    path: ConvPath,
    input: &[f32],
    weight: &[f32],
    output: &[f32],
    output_grad: &[f32],
    g: &ConvGeometry,
    want_input_grad: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let out_len = g.output_len();
    assert_eq!(
        output_grad.len(),
        g.batch * out_len,
        "conv2d backward: gradient length"
    );
    assert_eq!(
        output.len(),
        g.batch * out_len,
        "conv2d backward: output length"
    );
    backward_over_images(path, input, weight, g, want_input_grad, |i, dy| {
        let range = i * out_len..(i + 1) * out_len;
        let (grad, out) = (&output_grad[range.clone()], &output[range]);
        if g.spec.relu {
            // The ReLU passes the gradient where the output is positive.
            for ((d, &gr), &o) in dy.iter_mut().zip(grad).zip(out) {
                *d = if o > 0.0 { gr } else { 0.0 };
            }
        } else {
            dy.copy_from_slice(grad);
        }
    })
}

/// The backward pass over the batch, in fixed chunks of images on rayon's pool.
/// `pre_activation_grad(i, dy)` overwrites `dy` with image `i`'s gradient w.r.t. the conv
/// output before the ReLU (`filters x positions`); from it come the input gradient (if
/// wanted) and the weight and bias gradients, summed over the batch.
pub(super) fn backward_over_images(
    path: ConvPath,
    input: &[f32],
    weight: &[f32],
    g: &ConvGeometry,
    want_input_grad: bool,
    pre_activation_grad: impl Fn(usize, &mut [f32]) + Sync,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    g.check_operands(input, weight);
    let (in_len, out_len, p) = (g.input_len(), g.output_len(), g.positions());
    let input_grad_weights = match path {
        ConvPath::Direct(..) if want_input_grad => direct::pack_input_grad(weight, g),
        _ => Vec::new(),
    };
    // One chunk of images starting at `first`: its input gradients into `dx` (if wanted), its
    // partial weight and bias gradients returned.
    let chunk_grads = |first: usize, x: &[f32], dx: Option<&mut [f32]>| {
        let mut dw = vec![0.0f32; g.filters * g.patch_len()];
        let mut db = vec![0.0f32; g.filters];
        let images = x.len() / in_len;
        with_buffer(&DY, images * out_len, |dys| {
            for (i, dy) in dys.chunks_exact_mut(out_len).enumerate() {
                pre_activation_grad(first + i, dy);
                for (sum, row) in db.iter_mut().zip(dy.chunks_exact(p)) {
                    *sum += lane_sum(row);
                }
            }
            if let ConvPath::Direct(isa, lanes) = path {
                let kernels = direct::DirectKernels { isa, lanes };
                direct::add_weight_grad(kernels, x, dys, g, &mut dw);
                if let Some(dx) = dx {
                    let dx = dx.chunks_exact_mut(in_len);
                    for (dy, dx) in dys.chunks_exact(out_len).zip(dx) {
                        direct::input_grad_image(kernels, dy, &input_grad_weights, g, dx);
                    }
                }
            } else {
                let mut dx = dx.map(|dx| dx.chunks_exact_mut(in_len));
                for (image, dy) in x.chunks_exact(in_len).zip(dys.chunks_exact(out_len)) {
                    let dx = dx.as_mut().and_then(|dx| dx.next());
                    image_backward(image, weight, dy, g, dx, &mut dw);
                }
            }
        });
        (dw, db)
    };
    let chunks = input.par_chunks(BACKWARD_CHUNK * in_len).enumerate();
    let mut input_grad = vec![0.0f32; if want_input_grad { g.batch * in_len } else { 0 }];
    let partials: Vec<(Vec<f32>, Vec<f32>)> = if want_input_grad {
        input_grad
            .par_chunks_mut(BACKWARD_CHUNK * in_len)
            .zip(chunks)
            .map(|(dx, (c, x))| chunk_grads(c * BACKWARD_CHUNK, x, Some(dx)))
            .collect()
    } else {
        chunks
            .map(|(c, x)| chunk_grads(c * BACKWARD_CHUNK, x, None))
            .collect()
    };
    let mut weight_grad = vec![0.0f32; g.filters * g.patch_len()];
    let mut bias_grad = vec![0.0f32; g.filters];
    for (dw, db) in partials {
        weight_grad.iter_mut().zip(&dw).for_each(|(a, b)| *a += b);
        bias_grad.iter_mut().zip(&db).for_each(|(a, b)| *a += b);
    }
    (
        want_input_grad.then_some(input_grad),
        weight_grad,
        bias_grad,
    )
}

/// Sum of `values` in a fixed order that vectorises: 16 running sums (one per lane of an
/// AVX-512 register) over the full chunks, then the lanes and the tail in order. A plain
/// `iter().sum()` is one sequential chain of dependent additions, four cycles each.
fn lane_sum(values: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [0.0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    lanes.iter().chain(tail).fold(0.0, |sum, &v| sum + v)
}

/// One image's share of the im2col + GEMM backward pass from `dy`, its gradient w.r.t. the
/// conv output before the ReLU: writes its input gradient into `dx` (if given) and adds its
/// weight gradient to `dw`.
fn image_backward(
    image: &[f32],
    weight: &[f32],
    dy: &[f32],
    g: &ConvGeometry,
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
) {
    let (p, kk, k) = (g.positions(), g.patch_len(), g.filters);
    if g.col_is_input() {
        matmul(dw, dy, false, image, true, [k, kk, p], true, Threads::One);
        if let Some(dx) = dx {
            matmul(dx, weight, true, dy, false, [kk, p, k], false, Threads::One);
        }
    } else {
        with_buffer(&COL, kk * p, |col| {
            im2col(image, g, col);
            matmul(dw, dy, false, col, true, [k, kk, p], true, Threads::One);
        });
        if let Some(dx) = dx {
            with_buffer(&DCOL, kk * p, |dcol| {
                let product = [kk, p, k];
                matmul(dcol, weight, true, dy, false, product, false, Threads::One);
                col2im(dcol, g, dx);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    //! The convolution against a plain-loop definition in f64, on shapes that exercise what
    //! the integration tests' small batches do not: several backward chunks, rows wider than a
    //! register (8 or 16 lanes), filter counts that leave partial register tiles, and the kernel
    //! widths and paddings of both the direct and the im2col + GEMM paths, every path this CPU
    //! has.
    use super::*;

    /// Input `[n, c, h, w]`, filters, kernel, padding and stride.
    type Case = ([usize; 4], usize, [usize; 2], [usize; 2], [usize; 2]);

    /// Stride 1 (the direct path where the CPU has AVX-512 or AVX2) but for the last case,
    /// whose stride and kernel width take the im2col + GEMM path everywhere. The batches of 1
    /// (2.6 and 2.8 M multiply-adds, above `SPREAD_MIN_MACS`) spread the image's filters over
    /// the threads (9 filters: a share of 8 and one of 1 on two threads; 24 filters in the
    /// lanes of AVX2: shares of 16 and 8). On AVX2, cases 2-4 put filters in the lanes (16
    /// filters: in the forward and weight gradient; 32 channels: in the input gradient too),
    /// with partial tiles of positions.
    const CASES: [Case; 9] = [
        ([11, 3, 9, 20], 5, [5, 5], [2, 2], [1, 1]),
        ([1, 24, 20, 24], 9, [5, 5], [2, 2], [1, 1]),
        ([5, 6, 10, 10], 16, [5, 5], [0, 0], [1, 1]),
        ([10, 32, 9, 9], 16, [3, 3], [1, 1], [1, 1]),
        ([1, 24, 14, 14], 24, [5, 5], [2, 2], [1, 1]),
        ([9, 2, 7, 7], 9, [3, 3], [0, 0], [1, 1]),
        ([10, 1, 28, 28], 6, [5, 5], [2, 2], [1, 1]),
        ([3, 4, 6, 18], 7, [2, 4], [1, 3], [1, 1]),
        ([9, 2, 9, 9], 3, [3, 6], [1, 2], [2, 1]),
    ];

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                let x = i
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(seed.wrapping_mul(97));
                ((x >> 8) % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// The flat index of input `(n, c, y, x)`, or `None` in the padding.
    fn index(g: &ConvGeometry, n: usize, c: usize, y: isize, x: isize) -> Option<usize> {
        let [h, w] = g.input;
        let inside = y >= 0 && x >= 0 && y < h as isize && x < w as isize;
        inside.then(|| ((n * g.channels + c) * h + y as usize) * w + x as usize)
    }

    /// Forward (no ReLU), then the gradients for the output gradient `dy`, by definition.
    fn reference(x: &[f32], w: &[f32], dy: &[f32], g: &ConvGeometry) -> [Vec<f64>; 4] {
        let ([oh, ow], [kh, kw]) = (g.output, g.kernel);
        let ([sh, sw], [ph, pw]) = (g.spec.stride, g.spec.padding);
        let mut y = vec![0.0; g.batch * g.output_len()];
        let mut dx = vec![0.0; x.len()];
        let mut dw = vec![0.0; w.len()];
        for n in 0..g.batch {
            for k in 0..g.filters {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let out = ((n * g.filters + k) * oh + oy) * ow + ox;
                        for c in 0..g.channels {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let yy = (oy * sh + ky) as isize - ph as isize;
                                    let xx = (ox * sw + kx) as isize - pw as isize;
                                    let wi = ((k * g.channels + c) * kh + ky) * kw + kx;
                                    if let Some(xi) = index(g, n, c, yy, xx) {
                                        y[out] += w[wi] as f64 * x[xi] as f64;
                                        dw[wi] += dy[out] as f64 * x[xi] as f64;
                                        dx[xi] += dy[out] as f64 * w[wi] as f64;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut db = vec![0.0; g.filters];
        for (i, &d) in dy.iter().enumerate() {
            db[(i / g.positions()) % g.filters] += d as f64;
        }
        [y, dx, dw, db]
    }

    fn assert_close(label: &str, got: &[f32], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{label}: length");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()),
                "{label}[{i}]: {g} vs {w}"
            );
        }
    }

    #[test]
    fn forward_and_gradients_match_the_definition() {
        for (i, (input, filters, kernel, padding, stride)) in CASES.into_iter().enumerate() {
            let spec = ConvSpec {
                stride,
                padding,
                relu: false,
            };
            let weight_dims = [filters, input[1], kernel[0], kernel[1]];
            let g = ConvGeometry::new(input, weight_dims, spec);
            let x = values(g.batch * g.input_len(), 1 + i as u32);
            let w = values(filters * g.patch_len(), 2 + i as u32);
            let dy = values(g.batch * g.output_len(), 3 + i as u32);
            let [y, dx, dw, db] = reference(&x, &w, &dy, &g);
            for path in paths(&g) {
                let label = format!("case {i} {input:?} {filters} filters {kernel:?} {path:?}");
                let output = conv2d_forward_on(path, &x, &w, None, &g);
                assert_close(&format!("{label} forward"), &output, &y);
                let (got_dx, got_dw, got_db) =
                    conv2d_backward_on(path, &x, &w, &output, &dy, &g, true);
                assert_close(&format!("{label} input grad"), &got_dx.unwrap(), &dx);
                assert_close(&format!("{label} weight grad"), &got_dw, &dw);
                assert_close(&format!("{label} bias grad"), &got_db, &db);
            }
        }
    }

    /// Every path this CPU can compute `g` on: im2col + GEMM, and the direct kernels of each
    /// instruction set it has (AVX-512 and AVX2 on an AVX-512 CPU) where the geometry fits,
    /// with either lane layout.
    fn paths(g: &ConvGeometry) -> Vec<ConvPath> {
        let direct = Isa::available()
            .into_iter()
            .filter(|_| direct::fits(g))
            .flat_map(|isa| [Lanes::Best, Lanes::Positions].map(|l| ConvPath::Direct(isa, l)));
        let paths: Vec<ConvPath> = std::iter::once(ConvPath::Gemm).chain(direct).collect();
        eprintln!("{g:?}: checking {paths:?}");
        paths
    }
}
