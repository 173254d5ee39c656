//! One Adam update of a parameter, its two moments and its gradient, fused into a single
//! multi-threaded pass (Burn's Adam makes about a dozen single-threaded passes).

use rayon::prelude::*;

use crate::adam::AdamStep;

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
        .for_each(|((p, g), (m, v))| {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                let g = match s.weight_decay {
                    Some(penalty) => *p * penalty + g,
                    None => g,
                };
                *m = *m * s.beta_1 + g * s.one_minus_beta_1;
                *v = *v * s.beta_2 + g * g * s.one_minus_beta_2;
                let update = *m * s.moment_scale / (v.sqrt() + s.epsilon_scaled);
                *p -= update * s.lr;
            }
        });
}
