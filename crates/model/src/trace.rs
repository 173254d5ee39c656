//! Layer-by-layer observation of a forward pass: the per-layer summary table and the
//! feature-map views of `infer filters` are both built on it.

use burn::prelude::*;

/// The output of one layer, handed to a [`LayerObserver`] during a forward pass.
pub enum LayerOutput<'a, B: Backend> {
    /// Feature maps `[batch, channels, height, width]` (conv and pool layers).
    Maps(&'a Tensor<B, 4>),
    /// Flat features `[batch, features]` (fully connected layers, logits).
    Features(&'a Tensor<B, 2>),
}

impl<B: Backend> LayerOutput<'_, B> {
    /// Shape of the output, batch dimension first.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            LayerOutput::Maps(t) => t.dims().to_vec(),
            LayerOutput::Features(t) => t.dims().to_vec(),
        }
    }
}

/// One layer as seen by a [`LayerObserver`].
pub struct LayerEvent<'a, B: Backend> {
    /// Short name of the layer, e.g. `conv1` or `pool2`.
    pub name: &'static str,
    /// Human-readable description, e.g. `conv 5x5/1 pad 2, 6 filters + ReLU`.
    pub description: String,
    /// Trainable parameters owned by this layer.
    pub params: usize,
    /// The layer's output for the current batch.
    pub output: LayerOutput<'a, B>,
}

/// Receives every layer's output during [`crate::Network::forward_observed`].
pub trait LayerObserver<B: Backend> {
    /// Called once per layer, in forward order.
    fn observe(&mut self, event: LayerEvent<'_, B>);

    /// Whether this observer looks at the layers' outputs. When it does not, a network may
    /// run a conv and its pool as one fused op (whose conv output is never materialised).
    fn wants_outputs(&self) -> bool {
        true
    }
}

/// The observer that ignores everything (plain `forward`).
pub struct NoObserver;

impl<B: Backend> LayerObserver<B> for NoObserver {
    #[inline]
    fn observe(&mut self, _event: LayerEvent<'_, B>) {}

    fn wants_outputs(&self) -> bool {
        false
    }
}

impl<B: Backend, F: FnMut(LayerEvent<'_, B>)> LayerObserver<B> for F {
    fn observe(&mut self, event: LayerEvent<'_, B>) {
        self(event)
    }
}

/// Reports a 4-D layer output to `observer`, if it looks at outputs (`describe` is called only
/// then: plain forward passes build no strings).
pub(crate) fn emit_maps<B: Backend>(
    observer: &mut impl LayerObserver<B>,
    name: &'static str,
    describe: impl FnOnce() -> String,
    params: usize,
    output: &Tensor<B, 4>,
) {
    if observer.wants_outputs() {
        observer.observe(LayerEvent {
            name,
            description: describe(),
            params,
            output: LayerOutput::Maps(output),
        });
    }
}

/// Reports a 2-D layer output to `observer`, as [`emit_maps`] does.
pub(crate) fn emit_features<B: Backend>(
    observer: &mut impl LayerObserver<B>,
    name: &'static str,
    describe: impl FnOnce() -> String,
    params: usize,
    output: &Tensor<B, 2>,
) {
    if observer.wants_outputs() {
        observer.observe(LayerEvent {
            name,
            description: describe(),
            params,
            output: LayerOutput::Features(output),
        });
    }
}
