//! Direct convolution with SIMD register tiles, for stride-1 convolutions (every conv of the
//! networks) on CPUs that have AVX-512 or AVX2 with FMA (the kernels are generic over the
//! instruction set, [`super::simd`]).
//!
//! The im2col + GEMM path spends half its time outside the multiply-adds: building the im2col
//! matrix (25 copies of every input), the GEMM packing it again, and scattering the column
//! gradient back (col2im). Here the multiply-adds read the zero-padded image directly:
//! * forward: a tile of `ROWS` output rows x `FILTERS` filters (per instruction set), a run of
//!   an output row's positions in the lanes of one register (stored masked where the row ends), accumulates
//!   `weight * input row shifted by (ky, kx)` over every channel and tap, then adds the bias,
//!   applies the ReLU and stores `[filters][rows][columns]` directly;
//! * input gradient: the same kernel, as the convolution of the output gradient (padded by
//!   `kernel - 1 - padding`) with the weights flipped and their two channel axes swapped;
//! * weight gradient: a tile of [`GRAD_FILTERS`] filters x the kernel's columns accumulates
//!   `output gradient row * input row shifted by kx` over the rows of every image of a group,
//!   then sums each register's lanes once.
//!
//! Those tiles waste lanes where an output row is not a multiple of the lane count (the
//! ConvNet's conv2 rows of 14 fill 14 of 16 AVX2 lanes, LeNet-5's rows of 10 fill 10 of 16).
//! On AVX2, where a pass's filter count is a multiple of the lane count and its rows are not,
//! the filters go in the lanes instead ([`Lanes::Best`]), so every lane computes:
//! * forward and input gradient: a tile of [`FILTER_LANE_POSITIONS`] positions of an output
//!   row x [`FILTER_LANE_VECTORS`] vectors of filters accumulates `broadcast input value *
//!   weight vector` (the packed weights already hold a tap's filters side by side), then
//!   scatters its lanes to the filters' planes;
//! * weight gradient: a tile of [`GRAD_VECTORS`] vectors of filters x the kernel's columns
//!   accumulates `broadcast input value * output gradient vector` over every position, from
//!   the output gradients transposed to `[position][filter]`, into a `[c][ky][kx][k]` sum
//!   that is added to the weight gradient once per group of images.
//!
//! Every sum runs in a fixed order, so results do not depend on threads or timing (they do
//! depend on the instruction set and the lane layout: the lanes decide how the weight
//! gradient is summed).

use std::cell::RefCell;

use rayon::prelude::*;

use super::conv::{ConvGeometry, Lanes, with_buffer};
use super::simd::{Avx2, Avx512, Simd};

/// Filters per weight-gradient register tile: GRAD_FILTERS x MAX_TAPS = 10 accumulators, which
/// fit AVX2's 16 registers too (on AVX-512, 4 filters, 20 accumulators, made the compiler spill
/// several and the tile ran 40% slower).
const GRAD_FILTERS: usize = 2;
/// Widest kernel the weight-gradient tile holds.
const MAX_TAPS: usize = 5;
/// Filters per share when one image's filters are spread over threads: a multiple of every
/// instruction set's tile, so no share ends in a partial tile that a whole one could cover
/// (with filters in the lanes, shares are whole vectors: a multiple of the lane count).
const SPREAD_FILTERS: usize = 4;
/// Vectors of filters per filter-lane weight-gradient tile: GRAD_VECTORS x MAX_TAPS = 10
/// accumulators, the 2 gradient vectors of a position and the broadcast input fit AVX2's 16
/// registers.
const GRAD_VECTORS: usize = 2;
/// Output positions per filter-lane forward tile, and vectors of filters: 12 accumulators,
/// the 2 weight vectors of a tap and the broadcast input take 15 of AVX2's 16 registers.
const FILTER_LANE_POSITIONS: usize = 6;
const FILTER_LANE_VECTORS: usize = 2;
/// Multiply-adds per output value (`channels x taps`) below which a pass keeps positions in
/// the lanes even where filters would fill more of them: a filter-lane forward tile scatters
/// each of its values to its own plane, and the weight gradient transposes the output
/// gradients first, which a shallow pass (the ConvNet's conv1: 25 multiply-adds per value)
/// does not earn back. LeNet-5's conv2 (150) gains from filter lanes.
const FILTER_LANES_MIN_DEPTH: usize = 100;
/// Zeros after the last padded plane that the tiles may read: they load whole input vectors (a
/// masked load costs a register and, on AVX2, cycles), so a row's last vector runs into the
/// next row and the last plane's into this slack. What those lanes compute is never stored
/// (forward) or is multiplied by zero gradient lanes (weight gradient).
const SLACK: usize = 16;

/// An instruction set the direct kernels run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F: 16 lanes.
    Avx512,
    /// AVX2 with FMA: 8 lanes.
    Avx2,
}

impl Isa {
    /// The instruction sets this CPU has, best first.
    pub fn available() -> Vec<Isa> {
        Self::ALL
            .into_iter()
            .filter(|isa| isa.is_available())
            .collect()
    }

    /// The best instruction set this CPU has.
    pub fn best() -> Option<Isa> {
        Self::ALL.into_iter().find(|isa| isa.is_available())
    }

    const ALL: [Isa; 2] = [Isa::Avx512, Isa::Avx2];

    /// Whether this CPU has it.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
        }
    }

    /// Panics unless this CPU has it: the kernels' safety rests on it.
    fn check(self) {
        assert!(self.is_available(), "direct conv: this CPU lacks {self:?}");
    }

    /// `f32` lanes per vector.
    fn lanes(self) -> usize {
        match self {
            Isa::Avx512 => Avx512::LANES,
            Isa::Avx2 => Avx2::LANES,
        }
    }
}

/// Which direct kernels run: the instruction set, and what their lanes hold.
#[derive(Clone, Copy, Debug)]
pub(super) struct DirectKernels {
    pub isa: Isa,
    pub lanes: Lanes,
}

impl DirectKernels {
    /// Whether a pass of `filters` output planes with rows of `width` positions, each the sum
    /// of `depth` multiply-adds, puts its filters in the lanes (see [`Lanes::Best`]). On
    /// AVX2 only: the filter-lane tiles were written and measured on an AVX2 machine, and no
    /// AVX-512 machine has measured them yet (the compiler spilled accumulators of the
    /// AVX-512 tile shapes tried), so AVX-512 keeps positions in the lanes.
    fn filter_lanes(self, filters: usize, width: usize, depth: usize) -> bool {
        let lanes = self.isa.lanes();
        self.isa == Isa::Avx2
            && self.lanes == Lanes::Best
            && filters.is_multiple_of(lanes)
            && !width.is_multiple_of(lanes)
            && depth >= FILTER_LANES_MIN_DEPTH
    }

    /// Whether the forward or input-gradient `pass` puts its filters in the lanes.
    fn pass_filter_lanes(self, pass: &Pass) -> bool {
        self.filter_lanes(pass.filters, pass.output[1], pass.channels * pass.taps())
    }

    /// Whether the weight gradient of `g` puts its filters in the lanes (the output
    /// gradients are transposed first: a copy that a shallow layer does not earn back).
    fn weight_grad_filter_lanes(self, g: &ConvGeometry) -> bool {
        self.filter_lanes(g.filters, g.output[1], g.patch_len())
    }
}

thread_local! {
    /// Per-thread zero-padded copy of one image (or of one output gradient), reused.
    static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// Per-thread output gradients of a group of images as `[n][position][filter]`.
    static GRADS_BY_POSITION: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// Per-thread weight gradient of a group of images as `[c][ky][kx][k]`.
    static WEIGHT_GRAD_BY_TAP: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Isa::Avx512 => "AVX-512",
            Isa::Avx2 => "AVX2",
        })
    }
}

/// Whether the direct kernels compute convolutions of geometry `g` (on a CPU that has one of
/// the instruction sets).
pub(super) fn fits(g: &ConvGeometry) -> bool {
    g.spec.stride == [1, 1]
        && g.spec.padding[0] < g.kernel[0]
        && g.spec.padding[1] < g.kernel[1]
        && g.kernel[1] <= MAX_TAPS
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

    /// The buffer the forward tiles read: the padded planes and [`SLACK`].
    fn buffer_len(&self) -> usize {
        self.padded_len() + SLACK
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
/// weights packed by [`pack_forward`]; with `spread`, its filters are shared out among rayon's
/// threads (for large images in batches smaller than the thread count, where one image per
/// thread would leave threads idle).
pub(super) fn forward_image(
    kernels: DirectKernels,
    image: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
    spread: bool,
    out: &mut [f32],
) {
    let pass = Pass::forward(g);
    with_buffer(&PADDED, pass.buffer_len(), |padded| {
        pad(image, g.input, g.spec.padding, padded);
        padded[pass.padded_len()..].fill(0.0);
        let padded = &*padded;
        let operands = |filters| PassOperands {
            pass: &pass,
            padded,
            packed,
            bias,
            relu: g.spec.relu,
            filters,
        };
        if !spread {
            return run_pass(kernels, &operands(0..g.filters), out);
        }
        let plane = g.positions();
        let share = if kernels.pass_filter_lanes(&pass) {
            kernels.isa.lanes()
        } else {
            SPREAD_FILTERS
        };
        let group = g
            .filters
            .div_ceil(rayon::current_num_threads())
            .next_multiple_of(share);
        out[..g.output_len()]
            .par_chunks_mut(group * plane)
            .enumerate()
            .for_each(|(i, out)| {
                let first = i * group;
                run_pass(kernels, &operands(first..first + out.len() / plane), out);
            });
    });
}

/// One image's input gradient (`[c][h][w]`, overwritten) from its gradient w.r.t. the conv
/// output before the ReLU (`[k][oh][ow]`) and weights packed by [`pack_input_grad`].
pub(super) fn input_grad_image(
    kernels: DirectKernels,
    dy: &[f32],
    packed: &[f32],
    g: &ConvGeometry,
    dx: &mut [f32],
) {
    let pass = Pass::input_grad(g);
    let margin = [
        (pass.padded[0] - g.output[0]) / 2,
        (pass.padded[1] - g.output[1]) / 2,
    ];
    with_buffer(&PADDED, pass.buffer_len(), |padded| {
        pad(dy, g.output, margin, padded);
        padded[pass.padded_len()..].fill(0.0);
        let operands = PassOperands {
            pass: &pass,
            padded,
            packed,
            bias: None,
            relu: false,
            filters: 0..pass.filters,
        };
        run_pass(kernels, &operands, dx);
    });
}

/// Adds to `dw` (`[k][c][kh][kw]`) the weight gradient of a group of images: `images` whole
/// input images and `dys` their gradients w.r.t. the conv output before the ReLU.
pub(super) fn add_weight_grad(
    kernels: DirectKernels,
    images: &[f32],
    dys: &[f32],
    g: &ConvGeometry,
    dw: &mut [f32],
) {
    let isa = kernels.isa;
    isa.check();
    let pass = Pass::forward(g);
    let count = images.len() / g.input_len();
    assert!(
        images.len() == count * g.input_len()
            && dys.len() == count * g.output_len()
            && dw.len() == g.filters * g.patch_len()
            && fits(g),
        "conv2d weight gradient: operand lengths"
    );
    with_buffer(&PADDED, count * pass.padded_len() + SLACK, |padded| {
        for (image, out) in images
            .chunks_exact(g.input_len())
            .zip(padded.chunks_exact_mut(pass.padded_len()))
        {
            pad(image, g.input, g.spec.padding, out);
        }
        padded[count * pass.padded_len()..].fill(0.0);
        let grad = WeightGrad {
            padded,
            pass: &pass,
            dys,
            images: count,
            g,
        };
        if kernels.weight_grad_filter_lanes(g) {
            return add_weight_grad_by_filter_lanes(isa, &grad, dw);
        }
        // SAFETY: the CPU has `isa` (checked above); the lengths the loops rely on were
        // checked above.
        unsafe {
            match isa {
                Isa::Avx512 => weight_grad_avx512(&grad, dw),
                Isa::Avx2 => weight_grad_avx2(&grad, dw),
            }
        }
    });
}

/// [`add_weight_grad`] with the filters in the lanes: the output gradients transposed to
/// `[n][position][filter]`, the filter-lane tiles into a `[c][ky][kx][k]` sum, that sum added
/// to `dw`.
fn add_weight_grad_by_filter_lanes(isa: Isa, grad: &WeightGrad<'_>, dw: &mut [f32]) {
    let g = grad.g;
    let (positions, taps) = (g.positions(), g.kernel[0] * g.kernel[1]);
    with_buffer(&GRADS_BY_POSITION, grad.dys.len(), |by_position| {
        for (dy, out) in grad
            .dys
            .chunks_exact(g.output_len())
            .zip(by_position.chunks_exact_mut(g.output_len()))
        {
            for (k, plane) in dy.chunks_exact(positions).enumerate() {
                for (p, &d) in plane.iter().enumerate() {
                    out[p * g.filters + k] = d;
                }
            }
        }
        with_buffer(&WEIGHT_GRAD_BY_TAP, dw.len(), |by_tap| {
            by_tap.fill(0.0);
            let grad = WeightGrad {
                dys: by_position,
                ..*grad
            };
            // SAFETY: the CPU has `isa` (the caller checked); `add_weight_grad` checked the
            // lengths of the padded images and the gradients (transposed here, same length),
            // and `by_tap` has the length of `dw`.
            match isa {
                Isa::Avx2 => unsafe { filter_lane_weight_grad_avx2(&grad, by_tap) },
                Isa::Avx512 => unreachable!("filter lanes are AVX2 only"),
            }
            for (k, filter) in dw.chunks_exact_mut(g.channels * taps).enumerate() {
                for (i, w) in filter.iter_mut().enumerate() {
                    *w += by_tap[i * g.filters + k];
                }
            }
        });
    });
}

#[target_feature(enable = "avx2,fma")]
unsafe fn filter_lane_weight_grad_avx2(grad: &WeightGrad<'_>, by_tap: &mut [f32]) {
    // SAFETY: forwarded from the caller.
    unsafe { filter_lane_weight_grad::<Avx2>(grad, by_tap) }
}

/// The filter-lane weight-gradient tiles over every image, vector of filters, channel and
/// kernel row, adding to `by_tap` (`[c][ky][kx][k]`); `grad.dys` is `[n][position][filter]`.
///
/// # Safety
/// The CPU must have `S`; the operands must have the lengths [`add_weight_grad`] checks, the
/// filter count must be a multiple of `S::LANES`, and `by_tap` must have `dw`'s length.
#[inline(always)]
unsafe fn filter_lane_weight_grad<S: Simd>(grad: &WeightGrad<'_>, by_tap: &mut [f32]) {
    let WeightGrad {
        padded,
        pass,
        dys,
        images,
        g,
    } = *grad;
    let [kh, kw] = g.kernel;
    let [hp, wp] = pass.padded;
    let vectors = g.filters / S::LANES;
    for n in 0..images {
        for v0 in (0..vectors).step_by(GRAD_VECTORS) {
            let v = (vectors - v0).min(GRAD_VECTORS);
            let k0 = v0 * S::LANES;
            for c in 0..g.channels {
                for ky in 0..kh {
                    let tile = FilterLaneGradTile {
                        input: padded[n * pass.padded_len() + (c * hp + ky) * wp..].as_ptr(),
                        row_stride: wp,
                        grads: dys[n * g.output_len() + k0..].as_ptr(),
                        filters: g.filters,
                        output: g.output,
                        sums: by_tap[((c * kh + ky) * kw) * g.filters + k0..].as_mut_ptr(),
                    };
                    // SAFETY: the CPU has `S`. The tile reads rows `ky..ky + oh` of image
                    // `n`'s padded plane `c` at columns `0..ow + kw - 1 <= wp`, the gradient
                    // vectors `k0..k0 + v * LANES <= filters` of image `n`'s positions, and
                    // adds to `by_tap[c][ky][0..kw][k0..k0 + v * LANES]`: all inside the
                    // slices, whose lengths the caller vouched for.
                    unsafe { filter_lane_grad_tile_dispatch::<S>(v, kw, &tile) };
                }
            }
        }
    }
}

/// Where one filter-lane weight-gradient tile reads and writes.
struct FilterLaneGradTile {
    /// Padded input of the tile's image at its channel and kernel row, column 0.
    input: *const f32,
    row_stride: usize,
    /// Output gradients `[position][filter]` of the tile's image at its first filter.
    grads: *const f32,
    /// Filters (the stride between positions, and between kernel columns in `sums`).
    filters: usize,
    output: [usize; 2],
    /// `by_tap[c][ky][0][k0]`.
    sums: *mut f32,
}

/// Calls the filter-lane weight-gradient tile of `vectors` (1..=GRAD_VECTORS) x `taps`
/// (1..=MAX_TAPS).
///
/// # Safety
/// The CPU must have `S`, and `tile` must describe memory as [`filter_lane_weight_grad`]
/// does.
#[inline(always)]
unsafe fn filter_lane_grad_tile_dispatch<S: Simd>(
    vectors: usize,
    taps: usize,
    tile: &FilterLaneGradTile,
) {
    macro_rules! by_taps {
        ($v:literal) => {
            match taps {
                1 => filter_lane_grad_tile::<S, $v, 1>(tile),
                2 => filter_lane_grad_tile::<S, $v, 2>(tile),
                3 => filter_lane_grad_tile::<S, $v, 3>(tile),
                4 => filter_lane_grad_tile::<S, $v, 4>(tile),
                _ => filter_lane_grad_tile::<S, $v, 5>(tile),
            }
        };
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        match vectors {
            1 => by_taps!(1),
            _ => by_taps!(2),
        }
    }
}

/// `V` vectors of filters x `T` kernel columns of one image, channel and kernel row: every
/// output position's gradient vector times the input value under each kernel column, added
/// to the sums.
///
/// # Safety
/// As [`filter_lane_grad_tile_dispatch`].
#[inline(always)]
unsafe fn filter_lane_grad_tile<S: Simd, const V: usize, const T: usize>(t: &FilterLaneGradTile) {
    let [oh, ow] = t.output;
    // SAFETY (whole body): the CPU has `S`; pointer offsets stay inside the regions the
    // caller vouched for.
    unsafe {
        let mut acc = [[S::zero(); V]; T];
        for (kx, accs) in acc.iter_mut().enumerate() {
            for (v, a) in accs.iter_mut().enumerate() {
                *a = S::load_all(t.sums.add(kx * t.filters + v * S::LANES));
            }
        }
        let mut row = t.input;
        let mut grads = t.grads;
        for _ in 0..oh {
            for ox in 0..ow {
                let mut d = [S::zero(); V];
                for (v, d) in d.iter_mut().enumerate() {
                    *d = S::load_all(grads.add(v * S::LANES));
                }
                for (kx, accs) in acc.iter_mut().enumerate() {
                    let x = S::splat(*row.add(ox + kx));
                    for (a, &d) in accs.iter_mut().zip(&d) {
                        *a = S::fmadd(x, d, *a);
                    }
                }
                grads = grads.add(t.filters);
            }
            row = row.add(t.row_stride);
        }
        for (kx, accs) in acc.iter().enumerate() {
            for (v, &a) in accs.iter().enumerate() {
                S::store_all(t.sums.add(kx * t.filters + v * S::LANES), a);
            }
        }
    }
}

/// The operands of [`add_weight_grad`] once the images are padded.
struct WeightGrad<'a> {
    padded: &'a [f32],
    pass: &'a Pass,
    dys: &'a [f32],
    images: usize,
    g: &'a ConvGeometry,
}

#[target_feature(enable = "avx512f")]
unsafe fn weight_grad_avx512(grad: &WeightGrad<'_>, dw: &mut [f32]) {
    // SAFETY: forwarded from the caller.
    unsafe { weight_grad::<Avx512>(grad, dw) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn weight_grad_avx2(grad: &WeightGrad<'_>, dw: &mut [f32]) {
    // SAFETY: forwarded from the caller.
    unsafe { weight_grad::<Avx2>(grad, dw) }
}

/// The weight-gradient register tiles over every filter, channel and kernel row.
///
/// # Safety
/// The CPU must have `S`, and the operands the lengths [`add_weight_grad`] checks.
#[inline(always)]
unsafe fn weight_grad<S: Simd>(grad: &WeightGrad<'_>, dw: &mut [f32]) {
    let WeightGrad {
        padded,
        pass,
        dys,
        images,
        g,
    } = *grad;
    let [kh, kw] = g.kernel;
    let [hp, wp] = pass.padded;
    let [oh, ow] = g.output;
    for ox0 in (0..ow).step_by(S::LANES) {
        // SAFETY: the CPU has `S`.
        let mask = unsafe { S::mask(ow - ox0) };
        let full = ow - ox0 >= S::LANES;
        for k0 in (0..g.filters).step_by(GRAD_FILTERS) {
            let f = (g.filters - k0).min(GRAD_FILTERS);
            for c in 0..g.channels {
                for ky in 0..kh {
                    let tile = WeightGradTile::<S> {
                        inputs: padded[(c * hp + ky) * wp + ox0..].as_ptr(),
                        image_stride: pass.padded_len(),
                        row_stride: wp,
                        grads: dys[k0 * oh * ow + ox0..].as_ptr(),
                        grad_image_stride: g.output_len(),
                        grad_plane: oh * ow,
                        images,
                        output: g.output,
                        mask,
                        dw: dw[(k0 * g.channels + c) * kh * kw + ky * kw..].as_mut_ptr(),
                        dw_filter_stride: g.patch_len(),
                    };
                    // SAFETY: the CPU has `S`. For each of `images` images the tile reads
                    // rows `ky..ky + oh` of padded plane `c` at columns
                    // `ox0..ox0 + LANES + kw - 1` (past `wp` into the next row, past the
                    // last image at most `LANES - 1 <= SLACK` floats into the slack), and the
                    // masked columns (`ox0..ow`) of rows `0..oh` of gradient planes
                    // `k0..k0 + f`: all inside `padded` and `dys`, whose lengths the caller
                    // checked. It adds to `dw[k0 + i][c][ky][0..kw]` for `i < f`, inside `dw`.
                    unsafe {
                        if full {
                            weight_grad_tile_dispatch::<S, true>(f, kw, &tile)
                        } else {
                            weight_grad_tile_dispatch::<S, false>(f, kw, &tile)
                        }
                    };
                }
            }
        }
    }
}

/// Runs the forward register tiles over the outputs of the operands' pass for their range of
/// filters (into `out`, which starts at the range's first filter).
fn run_pass(kernels: DirectKernels, operands: &PassOperands<'_>, out: &mut [f32]) {
    let isa = kernels.isa;
    isa.check();
    let PassOperands {
        pass,
        padded,
        packed,
        bias,
        ref filters,
        ..
    } = *operands;
    let [oh, ow] = pass.output;
    let [hp, wp] = pass.padded;
    assert!(
        padded.len() >= pass.buffer_len()
            && packed.len() == pass.channels * pass.taps() * pass.filters
            && filters.start <= filters.end
            && filters.end <= pass.filters
            && out.len() >= filters.len() * oh * ow
            && bias.is_none_or(|b| b.len() == pass.filters)
            && hp + 1 >= oh + pass.kernel[0]
            && wp + 1 >= ow + pass.kernel[1],
        "direct conv: operand lengths"
    );
    if kernels.pass_filter_lanes(pass) {
        assert!(
            filters.start.is_multiple_of(isa.lanes()) && filters.len().is_multiple_of(isa.lanes()),
            "direct conv: filter range {filters:?} is not in whole vectors"
        );
        // SAFETY: as below; the filter range is in whole vectors (checked above).
        return match isa {
            Isa::Avx2 => unsafe { run_filter_lane_pass_avx2(operands, out) },
            Isa::Avx512 => unreachable!("filter lanes are AVX2 only"),
        };
    }
    // SAFETY: the CPU has `isa` (checked above); the lengths the tiles rely on were checked
    // above.
    unsafe {
        match isa {
            Isa::Avx512 => run_pass_avx512(operands, out),
            Isa::Avx2 => run_pass_avx2(operands, out),
        }
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn run_filter_lane_pass_avx2(operands: &PassOperands<'_>, out: &mut [f32]) {
    // SAFETY: forwarded from the caller.
    unsafe { run_filter_lane_tiles::<Avx2>(operands, out) }
}

/// The filter-lane forward tiles of instruction set `S` over the outputs of the operands'
/// filters (a range of whole vectors).
///
/// # Safety
/// The CPU must have `S`, the operands the lengths [`run_pass`] checks, and the filter range
/// must start and end on a multiple of `S::LANES`.
#[inline(always)]
unsafe fn run_filter_lane_tiles<S: Simd>(operands: &PassOperands<'_>, out: &mut [f32]) {
    let PassOperands {
        pass,
        padded,
        packed,
        bias,
        relu,
        ref filters,
    } = *operands;
    let [oh, ow] = pass.output;
    let [hp, wp] = pass.padded;
    for k0 in filters.clone().step_by(FILTER_LANE_VECTORS * S::LANES) {
        let vectors = ((filters.end - k0) / S::LANES).min(FILTER_LANE_VECTORS);
        for oy in 0..oh {
            for ox0 in (0..ow).step_by(FILTER_LANE_POSITIONS) {
                let tile = FilterLaneTile {
                    input: padded[oy * wp + ox0..].as_ptr(),
                    plane: hp * wp,
                    row_stride: wp,
                    channels: pass.channels,
                    kernel: pass.kernel,
                    weights: packed[k0..].as_ptr(),
                    filters: pass.filters,
                    bias: bias.map(|b| b[k0..].as_ptr()),
                    relu,
                    out: out[(k0 - filters.start) * oh * ow + oy * ow + ox0..].as_mut_ptr(),
                    out_plane: oh * ow,
                };
                // SAFETY: the CPU has `S`. The tile reads rows `oy..oy + kh <= hp` of every
                // padded plane at columns `ox0..ox0 + positions + kw - 1 <= ow + kw - 1 <=
                // wp`; weight vectors `[c][tap][k0..k0 + vectors * LANES]` (within the range,
                // which ends on a vector); the bias there; and it writes positions
                // `ox0..ox0 + positions <= ow` of row `oy` of output planes
                // `k0..k0 + vectors * LANES` (`out` starts at plane `filters.start`): all
                // inside the slices, whose lengths the caller checked.
                unsafe {
                    filter_lane_tile_dispatch::<S>(
                        (ow - ox0).min(FILTER_LANE_POSITIONS),
                        vectors,
                        &tile,
                    )
                };
            }
        }
    }
}

/// Where one filter-lane forward tile reads and writes.
struct FilterLaneTile {
    /// Padded input, plane 0, at the tile's output row and first column.
    input: *const f32,
    plane: usize,
    row_stride: usize,
    channels: usize,
    kernel: [usize; 2],
    /// Packed weights `[c][ky][kx][k]` at the tile's first filter.
    weights: *const f32,
    /// Filters in the packed weights (the stride between taps).
    filters: usize,
    /// Bias at the tile's first filter.
    bias: Option<*const f32>,
    relu: bool,
    /// Output at the tile's first filter, row and column.
    out: *mut f32,
    out_plane: usize,
}

/// Calls the filter-lane forward tile of `positions` (1..=FILTER_LANE_POSITIONS) x `vectors`
/// (1..=FILTER_LANE_VECTORS).
///
/// # Safety
/// The CPU must have `S`, and `tile` must describe memory as [`run_filter_lane_tiles`] does.
#[inline(always)]
unsafe fn filter_lane_tile_dispatch<S: Simd>(
    positions: usize,
    vectors: usize,
    tile: &FilterLaneTile,
) {
    debug_assert!(
        (1..=FILTER_LANE_POSITIONS).contains(&positions)
            && (1..=FILTER_LANE_VECTORS).contains(&vectors)
    );
    macro_rules! by_vectors {
        ($p:literal) => {
            match vectors {
                1 => filter_lane_tile::<S, $p, 1>(tile),
                _ => filter_lane_tile::<S, $p, 2>(tile),
            }
        };
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        match positions {
            1 => by_vectors!(1),
            2 => by_vectors!(2),
            3 => by_vectors!(3),
            4 => by_vectors!(4),
            5 => by_vectors!(5),
            _ => by_vectors!(6),
        }
    }
}

/// `P` positions x `V` vectors of filters: every channel and tap, then bias, ReLU, and each
/// lane stored to its filter's plane.
///
/// # Safety
/// As [`filter_lane_tile_dispatch`].
#[inline(always)]
unsafe fn filter_lane_tile<S: Simd, const P: usize, const V: usize>(t: &FilterLaneTile) {
    let [kh, kw] = t.kernel;
    // SAFETY (whole body): the CPU has `S`; pointer offsets stay inside the regions the
    // caller vouched for.
    unsafe {
        let mut acc = [[S::zero(); V]; P];
        if let Some(bias) = t.bias {
            for v in 0..V {
                let b = S::load_all(bias.add(v * S::LANES));
                for position in acc.iter_mut() {
                    position[v] = b;
                }
            }
        }
        let mut weights = t.weights;
        for c in 0..t.channels {
            let plane = t.input.add(c * t.plane);
            for ky in 0..kh {
                let row = plane.add(ky * t.row_stride);
                for kx in 0..kw {
                    for (p, accs) in acc.iter_mut().enumerate() {
                        let x = S::splat(*row.add(kx + p));
                        for (v, a) in accs.iter_mut().enumerate() {
                            *a = S::fmadd(x, S::load_all(weights.add(v * S::LANES)), *a);
                        }
                    }
                    weights = weights.add(t.filters);
                }
            }
        }
        // The vectors go to a buffer first, in unrolled stores, and the scatter loop reads
        // that: a loop reading `acc` itself made the compiler keep `acc` in memory, storing
        // every accumulator on every tap.
        let mut values = [0.0f32; FILTER_LANE_POSITIONS * FILTER_LANE_VECTORS * 16];
        for (p, accs) in acc.iter().enumerate() {
            for (v, &a) in accs.iter().enumerate() {
                let a = if t.relu { S::relu(a) } else { a };
                S::store_all(values.as_mut_ptr().add((p * V + v) * S::LANES), a);
            }
        }
        for (p, position) in values[..P * V * S::LANES]
            .chunks_exact(V * S::LANES)
            .enumerate()
        {
            for (k, &value) in position.iter().enumerate() {
                *t.out.add(k * t.out_plane + p) = value;
            }
        }
    }
}

/// What [`run_pass`] reads, and which filters it computes.
struct PassOperands<'a> {
    pass: &'a Pass,
    padded: &'a [f32],
    packed: &'a [f32],
    bias: Option<&'a [f32]>,
    relu: bool,
    filters: std::ops::Range<usize>,
}

#[target_feature(enable = "avx512f")]
unsafe fn run_pass_avx512(operands: &PassOperands<'_>, out: &mut [f32]) {
    // SAFETY: forwarded from the caller.
    unsafe { run_tiles::<Avx512>(operands, out) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn run_pass_avx2(operands: &PassOperands<'_>, out: &mut [f32]) {
    // SAFETY: forwarded from the caller.
    unsafe { run_tiles::<Avx2>(operands, out) }
}

/// The forward register tiles of instruction set `S` over the outputs of the operands' filters.
///
/// # Safety
/// The CPU must have `S`, and the operands the lengths [`run_pass`] checks.
#[inline(always)]
unsafe fn run_tiles<S: Simd>(operands: &PassOperands<'_>, out: &mut [f32]) {
    let PassOperands {
        pass,
        padded,
        packed,
        bias,
        relu,
        ref filters,
    } = *operands;
    let [oh, ow] = pass.output;
    let [hp, wp] = pass.padded;
    for ox0 in (0..ow).step_by(S::LANES) {
        // SAFETY: the CPU has `S`.
        let mask = unsafe { S::mask(ow - ox0) };
        for k0 in filters.clone().step_by(S::FILTERS) {
            let f = (filters.end - k0).min(S::FILTERS);
            for oy0 in (0..oh).step_by(S::ROWS) {
                let tile = ForwardTile::<S> {
                    input: padded[oy0 * wp + ox0..].as_ptr(),
                    plane: hp * wp,
                    row_stride: wp,
                    channels: pass.channels,
                    kernel: pass.kernel,
                    weights: packed[k0..].as_ptr(),
                    filters: pass.filters,
                    bias: bias.map(|b| b[k0..].as_ptr()),
                    relu,
                    out: out[((k0 - filters.start) * oh + oy0) * ow + ox0..].as_mut_ptr(),
                    out_plane: oh * ow,
                    out_row: ow,
                    mask,
                };
                // SAFETY: the CPU has `S`. The tile reads rows
                // `oy0..oy0 + r + kh - 1 < hp` of every padded plane at columns
                // `ox0..ox0 + LANES + kw - 1`; past `wp` that runs into the next row, and
                // past the last plane at most `LANES - 1 <= SLACK` floats into the slack;
                // weights `[c][tap][k0..k0 + f]`; and it writes the masked lanes (the
                // `ow - ox0` real columns) of rows `oy0..oy0 + r` of output planes
                // `k0..k0 + f` (`out` starts at plane `filters.start`): all inside the
                // slices, whose lengths the caller checked.
                unsafe { forward_tile_dispatch((oh - oy0).min(S::ROWS), f, &tile) };
            }
        }
    }
}

/// Where one forward register tile reads and writes.
struct ForwardTile<S: Simd> {
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
    mask: S::Mask,
}

/// Calls the forward tile of `rows` x `filters` (1..=S::ROWS x 1..=S::FILTERS).
///
/// # Safety
/// The CPU must have `S`, and `tile` must describe memory as [`run_tiles`] does.
#[inline(always)]
unsafe fn forward_tile_dispatch<S: Simd>(rows: usize, filters: usize, tile: &ForwardTile<S>) {
    debug_assert!((1..=S::ROWS).contains(&rows) && (1..=S::FILTERS).contains(&filters));
    macro_rules! by_filters {
        ($r:literal) => {
            // The arms above S::FILTERS are never taken; the compiler drops them.
            match filters {
                1 => forward_tile::<S, $r, 1>(tile),
                2 => forward_tile::<S, $r, 2>(tile),
                3 if S::FILTERS >= 3 => forward_tile::<S, $r, 3>(tile),
                _ if S::FILTERS >= 4 => forward_tile::<S, $r, 4>(tile),
                _ => unreachable!("forward tile of {filters} filters"),
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
///
/// # Safety
/// As [`forward_tile_dispatch`].
#[inline(always)]
unsafe fn forward_tile<S: Simd, const R: usize, const F: usize>(t: &ForwardTile<S>) {
    let [kh, kw] = t.kernel;
    // SAFETY (whole body): the CPU has `S`; pointer offsets stay inside the regions the
    // caller vouched for.
    unsafe {
        let mut acc = [[S::zero(); F]; R];
        if let Some(bias) = t.bias {
            for f in 0..F {
                let b = S::splat(*bias.add(f));
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
                        let x = S::load_all(tap.add(r * t.row_stride));
                        for (f, a) in row.iter_mut().enumerate() {
                            *a = S::fmadd(x, S::splat(*weights.add(f)), *a);
                        }
                    }
                    weights = weights.add(t.filters);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (f, &a) in row.iter().enumerate() {
                let v = if t.relu { S::relu(a) } else { a };
                S::store(t.out.add(f * t.out_plane + r * t.out_row), t.mask, v);
            }
        }
    }
}

/// Where one weight-gradient register tile reads and writes.
struct WeightGradTile<S: Simd> {
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
    /// The tile's output columns among the lanes.
    mask: S::Mask,
    /// `dw[k0][c][ky][0]`.
    dw: *mut f32,
    dw_filter_stride: usize,
}

/// Calls the weight-gradient tile of `filters` (1..=GRAD_FILTERS) x `taps` (1..=MAX_TAPS),
/// `FULL` when all the lanes are output columns.
///
/// # Safety
/// The CPU must have `S`, and `tile` must describe memory as [`weight_grad`] does.
#[inline(always)]
unsafe fn weight_grad_tile_dispatch<S: Simd, const FULL: bool>(
    filters: usize,
    taps: usize,
    tile: &WeightGradTile<S>,
) {
    macro_rules! by_taps {
        ($f:literal) => {
            match taps {
                1 => weight_grad_tile::<S, FULL, $f, 1>(tile),
                2 => weight_grad_tile::<S, FULL, $f, 2>(tile),
                3 => weight_grad_tile::<S, FULL, $f, 3>(tile),
                4 => weight_grad_tile::<S, FULL, $f, 4>(tile),
                _ => weight_grad_tile::<S, FULL, $f, 5>(tile),
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
/// Input vectors are loaded whole; gradient vectors too when `FULL`, else masked, so the
/// lanes past the row's end add `0 * input`.
///
/// # Safety
/// As [`weight_grad_tile_dispatch`].
#[inline(always)]
unsafe fn weight_grad_tile<S: Simd, const FULL: bool, const F: usize, const T: usize>(
    t: &WeightGradTile<S>,
) {
    let [oh, ow] = t.output;
    // SAFETY (whole body): the CPU has `S`; pointer offsets stay inside the regions the
    // caller vouched for.
    unsafe {
        // acc[kx][f]: every lane sums over its own output columns; lanes are summed at the end.
        let mut acc = [[S::zero(); F]; T];
        for n in 0..t.images {
            let mut row = t.inputs.add(n * t.image_stride);
            let mut grads = t.grads.add(n * t.grad_image_stride);
            for _ in 0..oh {
                let mut d = [S::zero(); F];
                for (f, d) in d.iter_mut().enumerate() {
                    let at = grads.add(f * t.grad_plane);
                    *d = if FULL {
                        S::load_all(at)
                    } else {
                        S::load(t.mask, at)
                    };
                }
                for (kx, accs) in acc.iter_mut().enumerate() {
                    let x = S::load_all(row.add(kx));
                    for (a, &d) in accs.iter_mut().zip(&d) {
                        *a = S::fmadd(d, x, *a);
                    }
                }
                row = row.add(t.row_stride);
                grads = grads.add(ow);
            }
        }
        for (kx, accs) in acc.iter().enumerate() {
            for (f, &a) in accs.iter().enumerate() {
                *t.dw.add(f * t.dw_filter_stride + kx) += S::sum(a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Which passes put filters in the lanes (the values of every layout are checked against
    //! the definition in `conv`'s tests, on shapes that take both).
    use super::*;
    use crate::spec::ConvSpec;

    /// Forward, input gradient and weight gradient: filters in the lanes?
    fn layouts(
        kernels: DirectKernels,
        input: [usize; 4],
        filters: usize,
        padding: usize,
    ) -> [bool; 3] {
        let g = ConvGeometry::new(input, [filters, input[1], 5, 5], ConvSpec::relu(padding));
        [
            kernels.pass_filter_lanes(&Pass::forward(&g)),
            kernels.pass_filter_lanes(&Pass::input_grad(&g)),
            kernels.weight_grad_filter_lanes(&g),
        ]
    }

    #[test]
    fn filters_go_in_the_lanes_where_they_fill_more_of_them() {
        let best = DirectKernels {
            isa: Isa::Avx2,
            lanes: Lanes::Best,
        };
        // ConvNet conv2: rows of 14, 64 filters from 32 channels.
        assert_eq!(layouts(best, [64, 32, 14, 14], 64, 2), [true; 3]);
        // ConvNet conv1: 25 multiply-adds per output, too shallow.
        assert_eq!(layouts(best, [64, 1, 28, 28], 32, 2), [false; 3]);
        // LeNet-5 conv2: 16 filters, but its input gradient has 6 "filters" (channels).
        assert_eq!(layouts(best, [64, 6, 14, 14], 16, 0), [true, false, true]);
        // Rows of 16 fill every lane already.
        assert_eq!(layouts(best, [64, 32, 16, 16], 64, 2), [false; 3]);
        let positions = DirectKernels {
            lanes: Lanes::Positions,
            ..best
        };
        assert_eq!(layouts(positions, [64, 32, 14, 14], 64, 2), [false; 3]);
        let avx512 = DirectKernels {
            isa: Isa::Avx512,
            ..best
        };
        assert_eq!(layouts(avx512, [64, 32, 14, 14], 64, 2), [false; 3]);
    }
}
