//! `FusedAdam` is Burn's Adam: the same parameters, bit for bit, after several updates on the
//! ndarray backend (the fused kernel does the same `f32` operations in the same order), with
//! and without weight decay, whether it updates the parameters in place or, when the previous
//! model is still held (as in Burn's `Learner`), into the gradients' buffers.

use super::common;

use burn::backend::Autodiff;
use burn_ndarray::NdArray;

type B = Autodiff<NdArray>;

#[test]
fn fused_adam_equals_burn_adam() {
    for (weight_decay, hold_previous) in [
        (None, false),
        (Some(0.05), false),
        (None, true),
        (Some(0.05), true),
    ] {
        let [start, burn, fused] =
            common::adam_trajectories::<B>(weight_decay, 6, hold_previous, &Default::default());
        assert_eq!(burn.len(), 3 * 2 * 9 + 18 * 5 + 5);
        let trained = start.iter().zip(&burn).filter(|(a, b)| a != b).count();
        assert_eq!(trained, burn.len(), "every parameter moved");
        let moved = burn.iter().zip(&fused).filter(|(a, b)| a != b).count();
        assert_eq!(
            moved, 0,
            "weight decay {weight_decay:?}, previous model held {hold_previous}: {moved} parameters differ from Burn's Adam"
        );
    }
}
