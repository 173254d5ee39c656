//! [`KernelBackend`] for `Autodiff<B>`: the forward runs the inner backend's kernel, the
//! hand-written backward is registered on Burn's autodiff graph.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::tensor::ops::FloatTensorOps;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{Shape, TensorMetadata};

use crate::backend::{KernelBackend, LayerGrads, RawKernels};
use crate::builtin::BuiltinLayers;
use crate::spec::{ConvSpec, PoolSpec};

#[derive(Debug)]
struct ConvBackward {
    spec: ConvSpec,
}

impl<B: RawKernels> Backward<B, 3> for ConvBackward {
    /// Input and weight (checkpointed nodes) and the forward output (for the ReLU mask).
    type State = (NodeId, NodeId, FloatTensor<B>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let parents = ops.parents.map(|node| node.map(|node| node.id));
        let output_grad = grads.consume::<B>(&ops.node);
        let (input_id, weight_id, output) = ops.state;
        let input: FloatTensor<B> = checkpointer.retrieve_node_output(input_id);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_id);
        let g = B::conv2d_backward(
            input,
            weight,
            output,
            output_grad,
            self.spec,
            parents[0].is_some(),
        );
        register_layer_grads::<B>(grads, parents, g);
    }
}

#[derive(Debug)]
struct MaxPoolBackward {
    spec: PoolSpec,
}

impl<B: RawKernels> Backward<B, 1> for MaxPoolBackward {
    /// Input shape and the argmax of every output element.
    type State = (Shape, IntTensor<B>);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_input] = ops.parents;
        let output_grad = grads.consume::<B>(&ops.node);
        let (shape, argmax) = ops.state;
        if let Some(node) = node_input {
            grads.register::<B>(
                node.id,
                B::max_pool2d_backward(shape, output_grad, argmax, self.spec),
            );
        }
    }
}

#[derive(Debug)]
struct AvgPoolBackward {
    spec: PoolSpec,
}

impl<B: RawKernels> Backward<B, 1> for AvgPoolBackward {
    /// The input shape: the gradient does not depend on the values.
    type State = Shape;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_input] = ops.parents;
        let output_grad = grads.consume::<B>(&ops.node);
        if let Some(node) = node_input {
            grads.register::<B>(
                node.id,
                B::average_pool2d_backward(ops.state, output_grad, self.spec),
            );
        }
    }
}

#[derive(Debug)]
struct ConvPoolBackward {
    conv: ConvSpec,
    pool: PoolSpec,
}

impl<B: RawKernels> Backward<B, 3> for ConvPoolBackward {
    /// Input and weight (checkpointed nodes), the pooled output and the argmax.
    type State = (NodeId, NodeId, FloatTensor<B>, IntTensor<B>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let parents = ops.parents.map(|node| node.map(|node| node.id));
        let pooled_grad = grads.consume::<B>(&ops.node);
        let (input_id, weight_id, pooled, argmax) = ops.state;
        let input: FloatTensor<B> = checkpointer.retrieve_node_output(input_id);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_id);
        let g = B::conv2d_pool_backward(
            input,
            weight,
            pooled,
            argmax,
            pooled_grad,
            self.conv,
            self.pool,
            parents[0].is_some(),
        );
        register_layer_grads::<B>(grads, parents, g);
    }
}

/// Registers a layer's gradients on the parents (input, weight, bias) that track them.
fn register_layer_grads<B: RawKernels>(
    grads: &mut Gradients,
    [input, weight, bias]: [Option<NodeId>; 3],
    g: LayerGrads<B>,
) {
    if let (Some(id), Some(input_grad)) = (input, g.input) {
        grads.register::<B>(id, input_grad);
    }
    if let Some(id) = weight {
        grads.register::<B>(id, g.weight);
    }
    if let Some(id) = bias {
        grads.register::<B>(id, g.bias);
    }
}

#[derive(Debug)]
struct LinearBackward;

impl<B: RawKernels> Backward<B, 3> for LinearBackward {
    /// Input and weight (checkpointed nodes), and the output where a ReLU ends the layer.
    type State = (NodeId, NodeId, Option<FloatTensor<B>>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let parents = ops.parents.map(|node| node.map(|node| node.id));
        let output_grad = grads.consume::<B>(&ops.node);
        let (input_id, weight_id, relu_output) = ops.state;
        let input: FloatTensor<B> = checkpointer.retrieve_node_output(input_id);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_id);
        let want_input_grad = parents[0].is_some();
        let g = B::linear_backward(input, weight, relu_output, output_grad, want_input_grad);
        register_layer_grads::<B>(grads, parents, g);
    }
}

#[derive(Debug)]
struct CrossEntropyBackward;

impl<B: RawKernels> Backward<B, 1> for CrossEntropyBackward {
    /// The logits and the targets.
    type State = (FloatTensor<B>, IntTensor<B>);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_logits] = ops.parents;
        let loss_grad = grads.consume::<B>(&ops.node);
        let (logits, targets) = ops.state;
        if let Some(node) = node_logits {
            grads.register::<B>(
                node.id,
                B::cross_entropy_backward(logits, targets, loss_grad),
            );
        }
    }
}

/// A zero bias of length `weight.shape[outputs_dim]` that nothing tracks: layers called
/// without a bias use it, so every layer op has the same three parents (input, weight, bias).
fn untracked_zero_bias<B: RawKernels, C: CheckpointStrategy>(
    weight: &FloatTensor<Autodiff<B, C>>,
    outputs_dim: usize,
) -> FloatTensor<Autodiff<B, C>> {
    let shape = weight.primitive.shape();
    let device = Autodiff::<B, C>::float_device(weight);
    let dtype = weight.primitive.dtype().into();
    Autodiff::<B, C>::float_zeros([shape[outputs_dim]].into(), &device, dtype)
}

/// Burn's own layer ops on `Autodiff<B>`: the defaults, with Burn's own backward.
impl<B: RawKernels, C: CheckpointStrategy> BuiltinLayers for Autodiff<B, C> {}

impl<B: RawKernels, C: CheckpointStrategy> KernelBackend for Autodiff<B, C> {
    fn softmax_cross_entropy(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        match CrossEntropyBackward
            .prepare::<C>([logits.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let loss = B::cross_entropy_forward(logits.primitive.clone(), targets.clone());
                prep.finish((logits.primitive, targets), loss)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::cross_entropy_forward(logits.primitive, targets))
            }
        }
    }

    fn custom_conv2d(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        spec: ConvSpec,
    ) -> FloatTensor<Self> {
        let Some(bias) = bias else {
            let zeros = untracked_zero_bias::<B, C>(&weight, 0);
            return Self::custom_conv2d(input, weight, Some(zeros), spec);
        };
        let op = ConvBackward { spec };
        match op
            .prepare::<C>([input.node.clone(), weight.node.clone(), bias.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let input_id = prep.checkpoint(&input);
                let weight_id = prep.checkpoint(&weight);
                let output = B::conv2d_forward(
                    input.primitive,
                    weight.primitive,
                    Some(bias.primitive),
                    spec,
                );
                prep.finish((input_id, weight_id, output.clone()), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv2d_forward(
                input.primitive,
                weight.primitive,
                Some(bias.primitive),
                spec,
            )),
        }
    }

    fn custom_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let Some(bias) = bias else {
            let zeros = untracked_zero_bias::<B, C>(&weight, 1);
            return Self::custom_linear(x, weight, Some(zeros), relu);
        };
        match LinearBackward
            .prepare::<C>([x.node.clone(), weight.node.clone(), bias.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let input_id = prep.checkpoint(&x);
                let weight_id = prep.checkpoint(&weight);
                let output =
                    B::linear_forward(x.primitive, weight.primitive, Some(bias.primitive), relu);
                let relu_output = relu.then(|| output.clone());
                prep.finish((input_id, weight_id, relu_output), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::linear_forward(
                x.primitive,
                weight.primitive,
                Some(bias.primitive),
                relu,
            )),
        }
    }

    fn custom_conv2d_pool(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        conv: ConvSpec,
        pool: PoolSpec,
    ) -> FloatTensor<Self> {
        let Some(bias) = bias else {
            let zeros = untracked_zero_bias::<B, C>(&weight, 0);
            return Self::custom_conv2d_pool(input, weight, Some(zeros), conv, pool);
        };
        let op = ConvPoolBackward { conv, pool };
        match op
            .prepare::<C>([input.node.clone(), weight.node.clone(), bias.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let input_id = prep.checkpoint(&input);
                let weight_id = prep.checkpoint(&weight);
                let (pooled, argmax) = B::conv2d_pool_forward(
                    input.primitive,
                    weight.primitive,
                    Some(bias.primitive),
                    conv,
                    pool,
                );
                prep.finish((input_id, weight_id, pooled.clone(), argmax), pooled)
            }
            OpsKind::UnTracked(prep) => prep.finish(
                B::conv2d_pool_forward(
                    input.primitive,
                    weight.primitive,
                    Some(bias.primitive),
                    conv,
                    pool,
                )
                .0,
            ),
        }
    }

    fn custom_max_pool2d(input: FloatTensor<Self>, spec: PoolSpec) -> FloatTensor<Self> {
        let op = MaxPoolBackward { spec };
        match op
            .prepare::<C>([input.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let shape = input.primitive.shape();
                let (output, argmax) = B::max_pool2d_forward(input.primitive, spec);
                prep.finish((shape, argmax), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::max_pool2d_forward(input.primitive, spec).0),
        }
    }

    fn custom_avg_pool2d(input: FloatTensor<Self>, spec: PoolSpec) -> FloatTensor<Self> {
        let op = AvgPoolBackward { spec };
        match op
            .prepare::<C>([input.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let shape = input.primitive.shape();
                prep.finish(shape, B::average_pool2d_forward(input.primitive, spec))
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::average_pool2d_forward(input.primitive, spec))
            }
        }
    }
}
