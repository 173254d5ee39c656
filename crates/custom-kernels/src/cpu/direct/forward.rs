//! The forward register tiles with a run of an output row's positions in the vector lanes:
//! `ROWS` output rows x `FILTERS` filters per tile (per instruction set), for the forward
//! pass and the input gradient.

use super::{Avx2, Avx512, Isa, PassOperands, Simd};

compiled_per_isa!(
    /// [`run_tiles`] compiled for an instruction set.
    pub(super) fn run_tiles_for => run_tiles(operands: &PassOperands<'_>, out: &mut [f32])
);

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
    // SAFETY: (for the whole body) the CPU has `S`; pointer offsets stay inside the regions the
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
