//! The convolution against a plain-loop definition in f64, on shapes that exercise what
//! the integration tests' small batches do not: several backward chunks, rows wider than a
//! register (8 or 16 lanes), filter counts that leave partial register tiles, and the kernel
//! widths and paddings of both the direct and the im2col + GEMM paths, every path this CPU
//! has.
use super::*;
use crate::cpu::direct::Isa;
use crate::spec::ConvSpec;

/// Input `[n, c, h, w]`, filters, kernel, padding and stride.
type Case = ([usize; 4], usize, [usize; 2], [usize; 2], [usize; 2]);

/// Stride 1 (the direct path where the CPU has AVX-512 or AVX2) but for case 8,
/// whose stride and kernel width take the im2col + GEMM path everywhere. The batches of 1
/// (2.6 and 2.8 M multiply-adds, above `SPREAD_MIN_MACS`) spread the image's filters over
/// the threads (9 filters: a share of 8 and one of 1 on two threads; 24 filters in the
/// lanes of AVX2: shares of 16 and 8). On AVX2, cases 2-4 and 9 put filters in the lanes
/// (16 filters: in the forward and weight gradient; 32 channels: in the input gradient
/// too), with partial tiles of positions. On AVX-512, cases 2, 3 and 9 put them in the lanes
/// (case 9: 112 filters, a weight-gradient tile of 4 vectors and one of 3). Case 10 puts
/// them in the lanes of every pass on both sets, its 32 and 48 channels in several blocks
/// of the forward tiles (`FILTER_LANE_BLOCK_BYTES`), with a group of 3 vectors of 16.
const CASES: [Case; 11] = [
    ([11, 3, 9, 20], 5, [5, 5], [2, 2], [1, 1]),
    ([1, 24, 20, 24], 9, [5, 5], [2, 2], [1, 1]),
    ([5, 6, 10, 10], 16, [5, 5], [0, 0], [1, 1]),
    ([10, 32, 9, 9], 16, [3, 3], [1, 1], [1, 1]),
    ([1, 24, 14, 14], 24, [5, 5], [2, 2], [1, 1]),
    ([9, 2, 7, 7], 9, [3, 3], [0, 0], [1, 1]),
    ([10, 1, 28, 28], 6, [5, 5], [2, 2], [1, 1]),
    ([3, 4, 6, 18], 7, [2, 4], [1, 3], [1, 1]),
    ([9, 2, 9, 9], 3, [3, 6], [1, 2], [2, 1]),
    ([3, 4, 7, 7], 112, [5, 5], [2, 2], [1, 1]),
    ([2, 32, 9, 9], 48, [5, 5], [2, 2], [1, 1]),
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

/// Case `i`'s geometry (with or without the ReLU) and its input, weights and output gradient.
fn case_operands(i: usize, case: Case, relu: bool) -> (ConvGeometry, [Vec<f32>; 3]) {
    let (input, filters, kernel, padding, stride) = case;
    let spec = ConvSpec {
        stride,
        padding,
        relu,
    };
    let g = ConvGeometry::new(input, [filters, input[1], kernel[0], kernel[1]], spec);
    let x = values(g.batch * g.input_len(), 1 + i as u32);
    let w = values(filters * g.patch_len(), 2 + i as u32);
    let dy = values(g.batch * g.output_len(), 3 + i as u32);
    (g, [x, w, dy])
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
    for (i, case) in CASES.into_iter().enumerate() {
        let (input, filters, kernel) = (case.0, case.1, case.2);
        let (g, [x, w, dy]) = case_operands(i, case, false);
        let [y, dx, dw, db] = reference(&x, &w, &dy, &g);
        for path in paths(&g) {
            let label = format!("case {i} {input:?} {filters} filters {kernel:?} {path:?}");
            let output = conv2d_forward_on(path, &x, &w, None, &g);
            assert_close(&format!("{label} forward"), &output, &y);
            let (got_dx, got_dw, got_db) = conv2d_backward_on(path, &x, &w, &output, &dy, &g, true);
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

/// The forward and the input gradient are the same fused sums in the same order whichever
/// values the lanes hold (positions, or filters in blocks of channels): bit for bit, so the
/// layout a CPU takes changes the speed, not the results. (The weight gradient's lanes decide
/// how its sums are added, so it agrees only to rounding, above.)
#[test]
fn both_lane_layouts_give_the_same_forward_and_input_gradient_bit_for_bit() {
    for (i, case) in CASES.into_iter().enumerate() {
        let (input, filters) = (case.0, case.1);
        let (g, [x, w, dy]) = case_operands(i, case, true);
        if !direct::fits(&g) {
            continue;
        }
        let b = values(filters, 4 + i as u32);
        for isa in Isa::available() {
            let [best, positions] = [Lanes::Best, Lanes::Positions].map(|lanes| {
                let path = ConvPath::Direct(isa, lanes);
                let y = conv2d_forward_on(path, &x, &w, Some(&b), &g);
                let (dx, _, _) = conv2d_backward_on(path, &x, &w, &y, &dy, &g, true);
                (y, dx.unwrap())
            });
            let label = format!("case {i} {input:?} {filters} filters on {isa}");
            assert!(best.0 == positions.0, "{label}: forward differs");
            assert!(best.1 == positions.1, "{label}: input gradient differs");
        }
    }
}
