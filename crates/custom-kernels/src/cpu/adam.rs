//! One Adam update of a parameter, its two moments and its gradient, fused into a single
//! multi-threaded pass (Burn's Adam makes about a dozen single-threaded passes).

use rayon::prelude::*;

use crate::spec::{AdamScalars, AdamStep};

/// Elements per parallel task: big enough to amortise scheduling, small enough to balance.
const CHUNK: usize = 1 << 14;

/// Updates `param`, `moment_1` and `moment_2` in place from `grad`, with exactly the
/// arithmetic of Burn's Adam (same operations in the same order, so the same results).
pub fn adam_update(
    param: &mut [f32],
    grad: &[f32],
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    step: &AdamStep,
) {
    let n = param.len();
    assert!(
        grad.len() == n && moment_1.len() == n && moment_2.len() == n,
        "adam: parameter, gradient and moments differ in length"
    );
    let s = step.scalars();
    param
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(
            moment_1
                .par_chunks_mut(CHUNK)
                .zip(moment_2.par_chunks_mut(CHUNK)),
        )
        .for_each(|((p, g), (m, v))| update_chunk(p, g, m, v, s));
}

/// One chunk, with the widest vectors the CPU has: the same code compiled for AVX-512 when
/// present. Vectors change nothing in the results: every operation is the same correctly
/// rounded IEEE operation, lane by lane, and none is fused.
fn update_chunk(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: AdamScalars) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked just above).
        return unsafe { update_chunk_avx512(p, g, m, v, s) };
    }
    update_chunk_portable(p, g, m, v, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn update_chunk_avx512(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    s: AdamScalars,
) {
    update_chunk_portable(p, g, m, v, s)
}

/// The update with the scalars in locals (not re-read through a reference after every store,
/// which kept the loop scalar) and the weight-decay choice outside the loop.
#[inline(always)]
fn update_chunk_portable(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: AdamScalars) {
    let AdamScalars {
        beta_1,
        one_minus_beta_1,
        beta_2,
        one_minus_beta_2,
        moment_scale,
        epsilon_scaled,
        lr,
        weight_decay,
    } = s;
    let update = |p: &mut f32, g: f32, m: &mut f32, v: &mut f32| {
        *m = *m * beta_1 + g * one_minus_beta_1;
        *v = *v * beta_2 + g * g * one_minus_beta_2;
        let step = *m * moment_scale / (v.sqrt() + epsilon_scaled);
        *p -= step * lr;
    };
    let elements = p.iter_mut().zip(g).zip(m.iter_mut().zip(v.iter_mut()));
    match weight_decay {
        Some(penalty) => {
            for ((p, &g), (m, v)) in elements {
                let g = *p * penalty + g;
                update(p, g, m, v);
            }
        }
        None => {
            for ((p, &g), (m, v)) in elements {
                update(p, g, m, v);
            }
        }
    }
}
