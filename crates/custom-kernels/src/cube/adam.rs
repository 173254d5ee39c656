//! The CubeCL kernel of the fused Adam update ([`crate::FusedAdam`]): one launch per parameter
//! tensor instead of about a dozen tensor ops, the arithmetic in the same order as
//! [`crate::RawKernels::adam_step`]'s default (Burn's Adam).

use cubecl::prelude::*;

/// One Adam update, one thread per element, into new tensors (the parameter may still be
/// held elsewhere: Burn's `Learner` keeps the previous model until the step returns). The
/// scalars are [`crate::spec::AdamScalars`]'s; `penalty` is read only when `decay` is set.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn adam_step_kernel<F: Float>(
    param: &Tensor<F>,
    grad: &Tensor<F>,
    moment_1: &Tensor<F>,
    moment_2: &Tensor<F>,
    new_param: &mut Tensor<F>,
    new_moment_1: &mut Tensor<F>,
    new_moment_2: &mut Tensor<F>,
    beta_1: f32,
    one_minus_beta_1: f32,
    beta_2: f32,
    one_minus_beta_2: f32,
    moment_scale: f32,
    epsilon_scaled: f32,
    lr: f32,
    penalty: f32,
    #[comptime] decay: bool,
    #[define(F)] _dtype: StorageType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= param.len() {
        terminate!();
    }
    let p = param[pos];
    let mut g = grad[pos];
    if decay {
        g = p * F::cast_from(penalty) + g;
    }
    let m1 = moment_1[pos] * F::cast_from(beta_1) + g * F::cast_from(one_minus_beta_1);
    let m2 = moment_2[pos] * F::cast_from(beta_2) + (g * g) * F::cast_from(one_minus_beta_2);
    let denominator = F::sqrt(m2) + F::cast_from(epsilon_scaled);
    let update = (m1 * F::cast_from(moment_scale)) / denominator;
    new_param[pos] = p - update * F::cast_from(lr);
    new_moment_1[pos] = m1;
    new_moment_2[pos] = m2;
}
