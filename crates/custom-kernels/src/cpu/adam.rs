//! One Adam update of a parameter, its two moments and its gradient, fused into a single
//! multi-threaded pass (Burn's Adam makes about a dozen single-threaded passes).

use rayon::prelude::*;

use crate::spec::{AdamScalars, AdamStep};

/// Elements per parallel task: big enough to amortise scheduling, small enough to balance.
const CHUNK: usize = 1 << 14;

/// Where the updated parameter goes.
pub enum AdamTarget<'a> {
    /// Into the parameter itself (the optimizer holds the only reference to it).
    InPlace {
        /// The parameter, updated in place.
        param: &'a mut [f32],
        /// Its gradient.
        grad: &'a [f32],
    },
    /// Into the gradient's buffer, which the update consumes: for a parameter that something
    /// else still holds (Burn's `Learner` keeps the previous model until the step returns), so
    /// that it is neither copied first nor given a freshly allocated buffer.
    IntoGrad {
        /// The parameter, read.
        param: &'a [f32],
        /// Its gradient on entry, the updated parameter on return.
        grad: &'a mut [f32],
    },
}

/// Updates the parameter (see [`AdamTarget`]), `moment_1` and `moment_2`, with exactly the
/// arithmetic of Burn's Adam (same operations in the same order, so the same results, whichever
/// the target).
pub fn adam_update(
    target: AdamTarget<'_>,
    moment_1: &mut [f32],
    moment_2: &mut [f32],
    step: &AdamStep,
) {
    let n = moment_1.len();
    let (param_len, grad_len) = match &target {
        AdamTarget::InPlace { param, grad } => (param.len(), grad.len()),
        AdamTarget::IntoGrad { param, grad } => (param.len(), grad.len()),
    };
    assert!(
        param_len == n && grad_len == n && moment_2.len() == n,
        "adam: parameter, gradient and moments differ in length"
    );
    let s = step.scalars();
    let moments = moment_1
        .par_chunks_mut(CHUNK)
        .zip(moment_2.par_chunks_mut(CHUNK));
    match target {
        AdamTarget::InPlace { param, grad } => param
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .zip(moments)
            .for_each(|((p, g), (m, v))| update_chunk::<true>(p, g, m, v, s)),
        AdamTarget::IntoGrad { param, grad } => grad
            .par_chunks_mut(CHUNK)
            .zip(param.par_chunks(CHUNK))
            .zip(moments)
            .for_each(|((g, p), (m, v))| update_chunk::<false>(g, p, m, v, s)),
    }
}

/// One chunk, with the widest vectors the CPU has: the same code compiled for AVX-512 when
/// present. Vectors change nothing in the results: every operation is the same correctly
/// rounded IEEE operation, lane by lane, and none is fused. `IN_PLACE`: `a` is the parameter
/// and `b` the gradient; otherwise `a` is the gradient, overwritten with the new parameter,
/// and `b` the parameter.
fn update_chunk<const IN_PLACE: bool>(
    a: &mut [f32],
    b: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    s: AdamScalars,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked just above).
        return unsafe { update_chunk_avx512::<IN_PLACE>(a, b, m, v, s) };
    }
    update_chunk_portable::<IN_PLACE>(a, b, m, v, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn update_chunk_avx512<const IN_PLACE: bool>(
    a: &mut [f32],
    b: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    s: AdamScalars,
) {
    update_chunk_portable::<IN_PLACE>(a, b, m, v, s)
}

/// The update with the scalars in locals (not re-read through a reference after every store,
/// which kept the loop scalar) and the weight-decay choice outside the loop.
#[inline(always)]
fn update_chunk_portable<const IN_PLACE: bool>(
    a: &mut [f32],
    b: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    s: AdamScalars,
) {
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
    // The new parameter from the old one `p` and the gradient `g` (weight decay applied).
    let update = |p: f32, g: f32, m: &mut f32, v: &mut f32| {
        *m = *m * beta_1 + g * one_minus_beta_1;
        *v = *v * beta_2 + g * g * one_minus_beta_2;
        let step = *m * moment_scale / (v.sqrt() + epsilon_scaled);
        p - step * lr
    };
    let elements = a.iter_mut().zip(b).zip(m.iter_mut().zip(v.iter_mut()));
    let penalty = weight_decay.unwrap_or(0.0);
    match (weight_decay.is_some(), IN_PLACE) {
        (true, true) => {
            for ((p, &g), (m, v)) in elements {
                *p = update(*p, *p * penalty + g, m, v);
            }
        }
        (false, true) => {
            for ((p, &g), (m, v)) in elements {
                *p = update(*p, g, m, v);
            }
        }
        (true, false) => {
            for ((g, &p), (m, v)) in elements {
                *g = update(p, p * penalty + *g, m, v);
            }
        }
        (false, false) => {
            for ((g, &p), (m, v)) in elements {
                *g = update(p, *g, m, v);
            }
        }
    }
}
