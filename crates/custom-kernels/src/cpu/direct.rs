//! Direct convolution with AVX-512 register tiles, for stride-1 convolutions (every conv of the
//! networks) on CPUs that have AVX-512.
//!
//! The im2col + GEMM path spends half its time outside the multiply-adds: building the im2col
//! matrix (25 copies of every input), the GEMM packing it again, and scattering the column
//! gradient back (col2im). Here the multiply-adds read the zero-padded image directly:
//! * forward: a tile of [`ROWS`] output rows x [`FILTERS`] filters, the output row's positions
//!   in the lanes of one register (masked where the row is shorter than 16), accumulates
//!   `weight * input row shifted by (ky, kx)` over every channel and tap, then adds the bias,
//!   applies the ReLU and stores `[filters][rows][columns]` directly;
//! * input gradient: the same kernel, as the convolution of the output gradient (padded by
//!   `kernel - 1 - padding`) with the weights flipped and their two channel axes swapped;
//! * weight gradient: a tile of [`GRAD_FILTERS`] filters x the kernel's columns accumulates
//!   `output gradient row * input row shifted by kx` over the rows of every image of a group,
//!   then sums each register's lanes once.
//!
//! Every sum runs in a fixed order, so results do not depend on threads or timing.

use std::arch::x86_64::*;
use std::cell::RefCell;

use super::conv::{ConvGeometry, with_buffer};

/// Output rows per forward register tile.
const ROWS: usize = 6;
/// Filters per forward register tile: ROWS x FILTERS = 24 accumulators, the FILTERS
/// broadcast weights of a tap and the input row in flight fit the 32 AVX-512 registers (with
/// 7 rows the compiler spilled an accumulator every tap).
const FILTERS: usize = 4;
/// Filters per weight-gradient register tile: GRAD_FILTERS x MAX_TAPS = 10 accumulators (with
/// 4 filters, 20 accumulators, the compiler spilled several and the tile ran 40% slower).
const GRAD_FILTERS: usize = 2;
/// Widest kernel the weight-gradient tile holds.
const MAX_TAPS: usize = 5;
/// `f32` lanes of an AVX-512 register.
const LANES: usize = 16;

thread_local! {
    /// Per-thread zero-padded copy of one image (or of one output gradient), reused.
    static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Whether the direct path computes convolutions of geometry `g` on this CPU.
pub(super) fn supports(g: &ConvGeometry) -> bool {
    g.spec.stride == [1, 1]
        && g.spec.padding[0] < g.kernel[0]
        && g.spec.padding[1] < g.kernel[1]
        && g.kernel[1] <= MAX_TAPS
        && std::arch::is_x86_feature_detected!("avx512f")
}

/// The sizes one pass of the register-tile kernel works on: `filters` output planes of
/// `output` from `channels` zero-padded input planes of `padded`.
#[derive(Clone, Copy, Debug)]
struct Pass {
    channels: usize,
    filters: usize,
    padded: [usize; 2],
    kernel: [usize; 2],
    output: [usize; 2],
}

impl Pass {
    /// The forward convolution.
    fn forward(g: &ConvGeometry) -> Self {
        let [ph, pw] = g.spec.padding;
        Self {
            channels: g.channels,
            filters: g.filters,
            padded: [g.input[0] + 2 * ph, g.input[1] + 2 * pw],
            kernel: g.kernel,
            output: g.output,
        }
    }

    /// The input gradient as a convolution of the output gradient.
    fn input_grad(g: &ConvGeometry) -> Self {
        let [kh, kw] = g.kernel;
        let [qh, qw] = [kh - 1 - g.spec.padding[0], kw - 1 - g.spec.padding[1]];
        Self {
            channels: g.filters,
            filters: g.channels,
            padded: [g.output[0] + 2 * qh, g.output[1] + 2 * qw],
            kernel: g.kernel,
            output: g.input,
        }
    }

    fn padded_len(&self) -> usize {
        self.channels * self.padded[0] * self.padded[1]
    }

    fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }
}

/// Copies `planes` (`channels` planes of `size`) into `out` with `margin` zeros around each.
fn pad(planes: &[f32], size: [usize; 2], margin: [usize; 2], out: &mut [f32]) {
    let [h, w] = size;
    let padded_w = w + 2 * margin[1];
    let padded_plane = (h + 2 * margin[0]) * padded_w;
    for (plane, out) in planes
        .chunks_exact(h * w)
        .zip(out.chunks_exact_mut(padded_plane))
    {
        out[..margin[0] * padded_w].fill(0.0);
        out[(margin[0] + h) * padded_w..].fill(0.0);
        for (row, line) in plane
            .chunks_exact(w)
            .zip(out[margin[0] * padded_w..].chunks_exact_mut(padded_w))
        {
            line[..margin[1]].fill(0.0);
            line[margin[1]..margin[1] + w].copy_from_slice(row);
            line[margin[1] + w..].fill(0.0);
        }
    }
}

/// Forward weights `[k][c][ky][kx]` rearranged as `[c][ky][kx][k]`, so a tile's filters for
/// one tap are adjacent.
pub(super) fn pack_forward(weight: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (k, c, taps) = (g.filters, g.channels, g.kernel[0] * g.kernel[1]);
    let mut packed = vec![0.0f32; weight.len()];
    for (f, filter) in weight.chunks_exact(c * taps).enumerate() {
        for (i, &w) in filter.iter().enumerate() {
            packed[i * k + f] = w;
        }
    }
    packed
}

/// Weights for the input gradient: `[k][c][ky][kx]` flipped in both kernel axes, with the
/// two channel axes swapped, as `[k][ky][kx][c]` (the packed layout of [`pack_forward`] for a
/// convolution from `k` channels to `c` filters).
pub(super) fn pack_input_grad(weight: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (c, [kh, kw]) = (g.channels, g.kernel);
    let mut packed = vec![0.0f32; weight.len()];
    for (f, filter) in weight.chunks_exact(c * kh * kw).enumerate() {
        for (ch, taps) in filter.chunks_exact(kh * kw).enumerate() {
            for (t, &w) in taps.iter().enumerate() {
                let (ky, kx) = (kh - 1 - t / kw, kw - 1 - t % kw);
                packed[((f * kh + ky) * kw + kx) * c + ch] = w;
            }
        }
    }
    packed
}

/// One image's convolution (+ bias + ReLU per the spec) into `out` (`[k][oh][ow]`), from
/// weights packed by [`pack_forward`].
pub(super) fn forward_image(
    image: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
    out: &mut [f32],
) {
    let pass = Pass::forward(g);
    with_buffer(&PADDED, pass.padded_len(), |padded| {
        pad(image, g.input, g.spec.padding, padded);
        run_pass(&pass, padded, packed, bias, g.spec.relu, out);
    });
}

/// One image's input gradient (`[c][h][w]`, overwritten) from its gradient w.r.t. the conv
/// output before the ReLU (`[k][oh][ow]`) and weights packed by [`pack_input_grad`].
pub(super) fn input_grad_image(dy: &[f32], packed: &[f32], g: &ConvGeometry, dx: &mut [f32]) {
    let pass = Pass::input_grad(g);
    let margin = [
        (pass.padded[0] - g.output[0]) / 2,
        (pass.padded[1] - g.output[1]) / 2,
    ];
    with_buffer(&PADDED, pass.padded_len(), |padded| {
        pad(dy, g.output, margin, padded);
        run_pass(&pass, padded, packed, None, false, dx);
    });
}

/// Adds to `dw` (`[k][c][kh][kw]`) the weight gradient of a group of images: `images` whole
/// input images and `dys` their gradients w.r.t. the conv output before the ReLU.
pub(super) fn add_weight_grad(images: &[f32], dys: &[f32], g: &ConvGeometry, dw: &mut [f32]) {
    let pass = Pass::forward(g);
    let count = images.len() / g.input_len();
    assert!(
        images.len() == count * g.input_len()
            && dys.len() == count * g.output_len()
            && dw.len() == g.filters * g.patch_len(),
        "conv2d weight gradient: operand lengths"
    );
    with_buffer(&PADDED, count * pass.padded_len(), |padded| {
        for (image, out) in images
            .chunks_exact(g.input_len())
            .zip(padded.chunks_exact_mut(pass.padded_len()))
        {
            pad(image, g.input, g.spec.padding, out);
        }
        let [kh, kw] = g.kernel;
        let [hp, wp] = pass.padded;
        let [oh, ow] = g.output;
        for ox0 in (0..ow).step_by(LANES) {
            for k0 in (0..g.filters).step_by(GRAD_FILTERS) {
                let f = (g.filters - k0).min(GRAD_FILTERS);
                for c in 0..g.channels {
                    for ky in 0..kh {
                        let tile = WeightGradTile {
                            inputs: padded[(c * hp + ky) * wp + ox0..].as_ptr(),
                            image_stride: pass.padded_len(),
                            row_stride: wp,
                            grads: dys[k0 * oh * ow + ox0..].as_ptr(),
                            grad_image_stride: g.output_len(),
                            grad_plane: oh * ow,
                            images: count,
                            output: g.output,
                            mask: lane_mask(ow - ox0),
                            dw: dw[(k0 * g.channels + c) * kh * kw + ky * kw..].as_mut_ptr(),
                            dw_filter_stride: g.patch_len(),
                        };
                        // SAFETY: AVX-512F is present (`supports`). For each of `count`
                        // images the tile reads rows `ky..ky + oh` of padded plane `c` at
                        // columns `ox0..ox0 + 16 + kw - 1`, of which only those below
                        // `ow + kw - 1 <= wp` are loaded (the rest are masked off), and the
                        // same columns of rows `0..oh` of gradient planes `k0..k0 + f`: all
                        // inside `padded` and `dys`, whose lengths were checked above. It
                        // adds to `dw[k0 + i][c][ky][0..kw]` for `i < f`, inside `dw`.
                        unsafe { weight_grad_tile_dispatch(f, kw, &tile) };
                    }
                }
            }
        }
    });
}

/// Runs the forward register tiles over every output of `pass`.
fn run_pass(
    pass: &Pass,
    padded: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [f32],
) {
    let [oh, ow] = pass.output;
    let [hp, wp] = pass.padded;
    assert!(
        padded.len() >= pass.padded_len()
            && packed.len() == pass.channels * pass.taps() * pass.filters
            && out.len() >= pass.filters * oh * ow
            && bias.is_none_or(|b| b.len() == pass.filters)
            && hp + 1 >= oh + pass.kernel[0]
            && wp + 1 >= ow + pass.kernel[1],
        "direct conv: operand lengths"
    );
    for ox0 in (0..ow).step_by(LANES) {
        let mask = lane_mask(ow - ox0);
        for k0 in (0..pass.filters).step_by(FILTERS) {
            let f = (pass.filters - k0).min(FILTERS);
            for oy0 in (0..oh).step_by(ROWS) {
                let tile = ForwardTile {
                    input: padded[oy0 * wp + ox0..].as_ptr(),
                    plane: hp * wp,
                    row_stride: wp,
                    channels: pass.channels,
                    kernel: pass.kernel,
                    weights: packed[k0..].as_ptr(),
                    filters: pass.filters,
                    bias: bias.map(|b| b[k0..].as_ptr()),
                    relu,
                    out: out[(k0 * oh + oy0) * ow + ox0..].as_mut_ptr(),
                    out_plane: oh * ow,
                    out_row: ow,
                    mask,
                };
                // SAFETY: AVX-512F is present (`supports`). The tile reads rows
                // `oy0..oy0 + r + kh - 1 < hp` of every padded plane at columns
                // `ox0..ox0 + 16 + kw - 1`, of which only those below `ox0 + ow' + kw - 1 <= wp`
                // (`ow'` unmasked lanes) are loaded; weights `[c][tap][k0..k0 + f]`; and it
                // writes unmasked lanes of rows `oy0..oy0 + r` of output planes
                // `k0..k0 + f`: all inside the slices, whose lengths were checked above.
                unsafe { forward_tile_dispatch((oh - oy0).min(ROWS), f, &tile) };
            }
        }
    }
}

/// A mask of the low `lanes` lanes (all 16 when `lanes >= 16`).
fn lane_mask(lanes: usize) -> __mmask16 {
    if lanes >= LANES {
        0xFFFF
    } else {
        (1u16 << lanes) - 1
    }
}

/// Where one forward register tile reads and writes.
struct ForwardTile {
    /// Padded input, plane 0, at the tile's first row and column.
    input: *const f32,
    plane: usize,
    row_stride: usize,
    channels: usize,
    kernel: [usize; 2],
    /// Packed weights at the tile's first filter.
    weights: *const f32,
    /// Filters in the packed weights (the stride between taps).
    filters: usize,
    /// Bias at the tile's first filter.
    bias: Option<*const f32>,
    relu: bool,
    /// Output at the tile's first filter, row and column.
    out: *mut f32,
    out_plane: usize,
    out_row: usize,
    mask: __mmask16,
}

/// Calls the forward tile of `rows` x `filters` (1..=ROWS x 1..=FILTERS).
///
/// # Safety
/// AVX-512F must be available, and `tile` must describe memory as [`run_pass`] does.
unsafe fn forward_tile_dispatch(rows: usize, filters: usize, tile: &ForwardTile) {
    macro_rules! by_filters {
        ($r:literal) => {
            match filters {
                1 => forward_tile::<$r, 1>(tile),
                2 => forward_tile::<$r, 2>(tile),
                3 => forward_tile::<$r, 3>(tile),
                _ => forward_tile::<$r, 4>(tile),
            }
        };
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        match rows {
            1 => by_filters!(1),
            2 => by_filters!(2),
            3 => by_filters!(3),
            4 => by_filters!(4),
            5 => by_filters!(5),
            _ => by_filters!(6),
        }
    }
}

/// `R` output rows x `F` filters: every channel and tap, then bias, ReLU and a masked store.
#[target_feature(enable = "avx512f")]
unsafe fn forward_tile<const R: usize, const F: usize>(t: &ForwardTile) {
    let [kh, kw] = t.kernel;
    // SAFETY (whole body): pointer offsets stay inside the regions the caller vouched for.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); F]; R];
        if let Some(bias) = t.bias {
            for f in 0..F {
                let b = _mm512_set1_ps(*bias.add(f));
                for row in acc.iter_mut() {
                    row[f] = b;
                }
            }
        }
        let mut weights = t.weights;
        for c in 0..t.channels {
            let plane = t.input.add(c * t.plane);
            for ky in 0..kh {
                for kx in 0..kw {
                    let tap = plane.add(ky * t.row_stride + kx);
                    for (r, row) in acc.iter_mut().enumerate() {
                        let x = _mm512_maskz_loadu_ps(t.mask, tap.add(r * t.row_stride));
                        for (f, a) in row.iter_mut().enumerate() {
                            *a = _mm512_fmadd_ps(x, _mm512_set1_ps(*weights.add(f)), *a);
                        }
                    }
                    weights = weights.add(t.filters);
                }
            }
        }
        let zero = _mm512_setzero_ps();
        for (r, row) in acc.iter().enumerate() {
            for (f, &a) in row.iter().enumerate() {
                let v = if t.relu { _mm512_max_ps(a, zero) } else { a };
                let at = t.out.add(f * t.out_plane + r * t.out_row);
                _mm512_mask_storeu_ps(at, t.mask, v);
            }
        }
    }
}

/// Where one weight-gradient register tile reads and writes.
struct WeightGradTile {
    /// Padded input of the first image, at the tile's channel and kernel row.
    inputs: *const f32,
    image_stride: usize,
    row_stride: usize,
    /// Output gradient of the first image at the tile's first filter.
    grads: *const f32,
    grad_image_stride: usize,
    grad_plane: usize,
    images: usize,
    /// Output rows, and output columns (the row stride of the gradient planes).
    output: [usize; 2],
    /// The tile's output columns among the 16 lanes.
    mask: __mmask16,
    /// `dw[k0][c][ky][0]`.
    dw: *mut f32,
    dw_filter_stride: usize,
}

/// Calls the weight-gradient tile of `filters` (1..=GRAD_FILTERS) x `taps` (1..=MAX_TAPS).
///
/// # Safety
/// AVX-512F must be available, and `tile` must describe memory as [`add_weight_grad`] does.
unsafe fn weight_grad_tile_dispatch(filters: usize, taps: usize, tile: &WeightGradTile) {
    macro_rules! by_taps {
        ($f:literal) => {
            match taps {
                1 => weight_grad_tile::<$f, 1>(tile),
                2 => weight_grad_tile::<$f, 2>(tile),
                3 => weight_grad_tile::<$f, 3>(tile),
                4 => weight_grad_tile::<$f, 4>(tile),
                _ => weight_grad_tile::<$f, 5>(tile),
            }
        };
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        match filters {
            1 => by_taps!(1),
            _ => by_taps!(2),
        }
    }
}

/// `F` filters x `T` kernel columns of one channel and kernel row: the products of every
/// gradient row with the input row `ky` below it, shifted by each column, over the images.
#[target_feature(enable = "avx512f")]
unsafe fn weight_grad_tile<const F: usize, const T: usize>(t: &WeightGradTile) {
    let [oh, ow] = t.output;
    // SAFETY (whole body): pointer offsets stay inside the regions the caller vouched for.
    unsafe {
        // acc[kx][f]: every lane sums over its own output columns; lanes are summed at the end.
        let mut acc = [[_mm512_setzero_ps(); F]; T];
        for n in 0..t.images {
            let mut row = t.inputs.add(n * t.image_stride);
            let mut grads = t.grads.add(n * t.grad_image_stride);
            for _ in 0..oh {
                let mut d = [_mm512_setzero_ps(); F];
                for (f, d) in d.iter_mut().enumerate() {
                    *d = _mm512_maskz_loadu_ps(t.mask, grads.add(f * t.grad_plane));
                }
                for (kx, accs) in acc.iter_mut().enumerate() {
                    let x = _mm512_maskz_loadu_ps(t.mask, row.add(kx));
                    for (a, &d) in accs.iter_mut().zip(&d) {
                        *a = _mm512_fmadd_ps(d, x, *a);
                    }
                }
                row = row.add(t.row_stride);
                grads = grads.add(ow);
            }
        }
        for (kx, accs) in acc.iter().enumerate() {
            for (f, &a) in accs.iter().enumerate() {
                *t.dw.add(f * t.dw_filter_stride + kx) += _mm512_reduce_add_ps(a);
            }
        }
    }
}
