//! The weight-gradient register tiles with a run of an output row's positions in the vector
//! lanes: [`GRAD_FILTERS`] filters x the kernel's columns per tile, each register's lanes
//! summed once at the end.

use super::{Avx2, Avx512, GRAD_FILTERS, Isa, Simd, WeightGrad};

compiled_per_isa!(
    /// [`weight_grad`] compiled for an instruction set.
    pub(super) fn weight_grad_for => weight_grad(grad: &WeightGrad<'_>, dw: &mut [f32])
);

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
    // SAFETY: (for the whole body) the CPU has `S`; pointer offsets stay inside the regions the
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
