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
//! ConvNet's conv2 rows of 14 fill 14 of 16 AVX-512 lanes, LeNet-5's rows of 10 fill 10 of
//! 16). Where a pass's filter count is a multiple of the lane count and its rows are not, the
//! filters go in the lanes instead (`Lanes::Best`), so every lane computes, in all three
//! passes on both instruction sets:
//! * forward and input gradient: a tile of `Simd::LANE_TILE_POSITIONS` positions of an
//!   output row x `Simd::LANE_TILE_VECTORS` vectors of filters (6 x 2 on AVX2, 14 x 1 on
//!   AVX-512, where each broadcast input then folds into its multiply-add) accumulates
//!   `broadcast input value * weight vector` (the packed weights already hold a tap's filters
//!   side by side) over a block of input channels whose weights stay in L1
//!   ([`FILTER_LANE_BLOCK_BYTES`]), keeps its sums for the next block, and after the last
//!   scatters its lanes to the filters' planes: the same sums in the same order as with
//!   positions in the lanes, so both layouts give the same values bit for bit;
//! * weight gradient: a tile of `Simd::GRAD_VECTORS` vectors of filters (2 on AVX2, 4 on
//!   AVX-512) x the kernel's columns
//!   accumulates `broadcast input value * output gradient vector` over every position, from
//!   the output gradients transposed to `[position][filter]`, into a `[c][ky][kx][k]` sum
//!   that is added to the weight gradient once per group of images.
//!
//! Every sum runs in a fixed order, so results do not depend on threads or timing (they do
//! depend on the instruction set and the lane layout: the lanes decide how the weight
//! gradient is summed).

/// Defines `unsafe fn $name(isa, operands...)`, which runs `$generic::<S>(operands...)`
/// compiled for `isa`'s instruction set: one `#[target_feature]` function per set, into which
/// the `#[inline(always)]` generic body is inlined, so it may use that set's instructions.
macro_rules! compiled_per_isa {
    ($(#[$doc:meta])* $vis:vis fn $name:ident => $generic:ident($($arg:ident: $ty:ty),* $(,)?)) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The CPU must have `isa`; the operands must be as the generic function requires.
        $vis unsafe fn $name(isa: Isa, $($arg: $ty),*) {
            #[target_feature(enable = "avx512f")]
            unsafe fn avx512($($arg: $ty),*) {
                // SAFETY: forwarded from the caller.
                unsafe { $generic::<Avx512>($($arg),*) }
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                // SAFETY: forwarded from the caller.
                unsafe { $generic::<Avx2>($($arg),*) }
            }
            // SAFETY: forwarded from the caller, who vouches that the CPU has `isa`.
            unsafe {
                match isa {
                    Isa::Avx512 => avx512($($arg),*),
                    Isa::Avx2 => avx2($($arg),*),
                }
            }
        }
    };
}

mod filter_lanes;
mod forward;
mod weight_grad;

use std::cell::RefCell;

use rayon::prelude::*;

use self::filter_lanes::{add_weight_grad_by_filter_lanes, run_filter_lanes};
use self::forward::run_tiles_for;
use self::weight_grad::weight_grad_for;
use super::geometry::ConvGeometry;
use super::scratch::with_buffer;
use super::simd::{Avx2, Avx512, Simd};

/// Filters per weight-gradient register tile: GRAD_FILTERS x MAX_TAPS = 10 accumulators, which
/// fit AVX2's 16 registers too (on AVX-512, 4 filters, 20 accumulators, made the compiler spill
/// several and the tile slower; docs/kernels.md, tuning constants).
const GRAD_FILTERS: usize = 2;
/// Widest kernel the weight-gradient tile holds.
const MAX_TAPS: usize = 5;
/// Filters per share when one image's filters are spread over threads: a multiple of every
/// instruction set's tile, so no share ends in a partial tile that a whole one could cover
/// (with filters in the lanes, shares are whole vectors: a multiple of the lane count).
const SPREAD_FILTERS: usize = 4;
/// Room for one filter-lane forward tile's values on their way to the filters' planes: the
/// largest tile of any instruction set (`LANE_TILE_POSITIONS x LANE_TILE_VECTORS x LANES`).
const LANE_TILE_VALUES: usize = 14 * 16;
/// Bytes of weights a filter-lane forward tile group reads per block of input channels: half
/// of a 32 KiB L1 data cache, so the weights that every tile of positions reads on every tap
/// stay there (the input rows and the tile's partial sums take the rest). Without blocks, the
/// ConvNet's conv2 streamed 100 KB (forward) and 200 KB (input gradient) of weights from L2
/// for every 6 positions.
const FILTER_LANE_BLOCK_BYTES: usize = 16 * 1024;
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

    /// Vectors of filters per filter-lane forward tile.
    fn lane_tile_vectors(self) -> usize {
        match self {
            Isa::Avx512 => Avx512::LANE_TILE_VECTORS,
            Isa::Avx2 => Avx2::LANE_TILE_VECTORS,
        }
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Isa::Avx512 => "AVX-512",
            Isa::Avx2 => "AVX2",
        })
    }
}

/// Which direct kernels run: the instruction set, and what their lanes hold.
#[derive(Clone, Copy, Debug)]
pub(super) struct DirectKernels {
    pub isa: Isa,
    /// Whether a pass may put its filters in the lanes where they fill more of them (else
    /// its lanes always hold a run of an output row's positions).
    pub allow_filter_lanes: bool,
}

impl DirectKernels {
    /// Whether a pass of `filters` output planes with rows of `width` positions, each the sum
    /// of `depth` multiply-adds, could put its filters in the lanes: they fill them where its
    /// rows do not, and it is deep enough to pay for the reordering.
    fn filter_lanes(self, filters: usize, width: usize, depth: usize) -> bool {
        let lanes = self.isa.lanes();
        self.allow_filter_lanes
            && filters.is_multiple_of(lanes)
            && !width.is_multiple_of(lanes)
            && depth >= FILTER_LANES_MIN_DEPTH
    }

    /// Whether the forward or input-gradient `pass` puts its filters in the lanes.
    fn pass_filter_lanes(self, pass: &Pass) -> bool {
        self.filter_lanes(pass.filters, pass.output[1], pass.channels * pass.taps())
    }

    /// Whether the weight gradient of `g` puts its filters in the lanes (the output
    /// gradients are transposed first: a copy that a shallow layer does not earn back). On
    /// both instruction sets.
    fn weight_grad_filter_lanes(self, g: &ConvGeometry) -> bool {
        self.filter_lanes(g.filters, g.output[1], g.patch_len())
    }
}

thread_local! {
    /// Per-thread zero-padded copy of one image (or of one output gradient), reused.
    static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// Per-thread output gradients of a group of images as `[n][position][filter]`.
    static GRADS_BY_POSITION: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// Per-thread sums of the filter-lane forward tiles between blocks of input channels, as
    /// `[position][filter]` for one group of filter vectors.
    static PARTIAL_SUMS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// Per-thread weight gradient of a group of images as `[c][ky][kx][k]`.
    static WEIGHT_GRAD_BY_TAP: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
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
        unsafe { weight_grad_for(isa, &grad, dw) }
    });
}

/// The operands of [`add_weight_grad`] once the images are padded.
struct WeightGrad<'a> {
    padded: &'a [f32],
    pass: &'a Pass,
    dys: &'a [f32],
    images: usize,
    g: &'a ConvGeometry,
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
        return run_filter_lanes(isa, operands, out);
    }
    // SAFETY: the CPU has `isa` (checked above); the lengths the tiles rely on were checked
    // above.
    unsafe { run_tiles_for(isa, operands, out) }
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
            allow_filter_lanes: true,
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
            allow_filter_lanes: false,
            ..best
        };
        assert_eq!(layouts(positions, [64, 32, 14, 14], 64, 2), [false; 3]);
        // AVX-512: the same rule with 16 lanes.
        let avx512 = DirectKernels {
            isa: Isa::Avx512,
            ..best
        };
        assert_eq!(layouts(avx512, [64, 32, 14, 14], 64, 2), [true; 3]);
        assert_eq!(layouts(avx512, [64, 6, 14, 14], 16, 0), [true, false, true]);
        assert_eq!(layouts(avx512, [64, 1, 28, 28], 32, 2), [false; 3]);
    }
}
