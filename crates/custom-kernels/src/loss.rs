//! Softmax cross-entropy as one op with a hand-written, exact gradient.
//!
//! Burn 0.21's `CrossEntropyLoss` goes through `log`, whose autodiff backward multiplies by
//! `recip(x)`. On the ndarray backend `recip` uses the CPU's approximate reciprocal
//! instruction (`rcpps`, about 12 correct bits) when the tensor is uniquely owned and exact
//! division otherwise, and which of the two runs depends on the autodiff graph's bookkeeping
//! (hash-map order, so on the process's address layout). Gradients then carry a relative
//! error of up to ~1e-4 that changes from run to run, and training with a fixed seed is not
//! reproducible. Here the gradient is `(softmax(logits) - one_hot(targets)) / n`, computed
//! with exact division: the same bits on every run, as in PyTorch's fused loss.

use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorPrimitive};

/// The loss on any backend, from tensor ops (numerically stable: the row maximum is
/// subtracted before `exp`).
pub(crate) fn forward<B: Backend>(logits: FloatTensor<B>, targets: IntTensor<B>) -> FloatTensor<B> {
    let logits = Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(logits));
    let targets = Tensor::<B, 1, Int>::from_primitive(targets);
    let [n, _] = logits.dims();
    let shifted = logits.clone() - logits.max_dim(1);
    let log_sum_exp = shifted.clone().exp().sum_dim(1).log();
    let picked = shifted.gather(1, targets.reshape([n, 1]));
    (log_sum_exp - picked).mean().into_primitive().tensor()
}

/// Gradient of [`forward`] w.r.t. the logits, scaled by `loss_grad` (the one-element gradient
/// of the loss): `(softmax(logits) - one_hot(targets)) * loss_grad / n`.
pub(crate) fn backward<B: Backend>(
    logits: FloatTensor<B>,
    targets: IntTensor<B>,
    loss_grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let logits = Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(logits));
    let targets = Tensor::<B, 1, Int>::from_primitive(targets);
    let loss_grad = Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(loss_grad));
    let [n, _] = logits.dims();
    let device = logits.device();
    let minus_one = Tensor::<B, 2>::full([n, 1], -1.0, &device);
    let delta =
        softmax(logits, 1).scatter(1, targets.reshape([n, 1]), minus_one, IndexingUpdateOp::Add);
    let scale = loss_grad.reshape([1, 1]) / n as f64;
    (delta * scale).into_primitive().tensor()
}
