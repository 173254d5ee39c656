//! The backend extension: the raw ops a backend provides ([`RawKernels`]) and the tensor-level
//! ops models call ([`KernelBackend`]: conv, max and average pool, fully connected layer and
//! loss), implemented for concrete backends and for `Autodiff<B>`.

use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{Scalar, Shape, TensorMetadata, backend::Backend};

use crate::builtin::BuiltinLayers;
use crate::spec::AdamStep;

use crate::spec::{ConvSpec, PoolSpec};

/// Gradients of a layer with weights and a bias: a fused conv + bias (+ ReLU) or a fully
/// connected layer.
pub struct LayerGrads<B: Backend> {
    /// Gradient w.r.t. the input (`[n, c, h, w]` or `[n, inputs]`), when it was asked for.
    pub input: Option<FloatTensor<B>>,
    /// Gradient w.r.t. the weights (`[k, c, kh, kw]` or `[inputs, outputs]`).
    pub weight: FloatTensor<B>,
    /// Gradient w.r.t. the bias `[k]`.
    pub bias: FloatTensor<B>,
}

/// The hand-written kernels a concrete (non-autodiff) backend implements: forward passes that
/// keep what their backward needs, and the backward passes.
pub trait RawKernels: BuiltinLayers {
    /// `relu?(conv2d(input, weight) + bias)`, NCHW, weights `[k, c, kh, kw]`.
    fn conv2d_forward(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        spec: ConvSpec,
    ) -> FloatTensor<Self>;

    /// Gradients of [`RawKernels::conv2d_forward`] from its inputs, its `output` (the ReLU mask)
    /// and the output gradient. The input gradient is computed only if `want_input_grad` is set
    /// (a network's first layer does not need it).
    fn conv2d_backward(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        spec: ConvSpec,
        want_input_grad: bool,
    ) -> LayerGrads<Self>;

    /// Max-pool; also returns the flat in-plane index (`y * w + x`) of each maximum.
    fn max_pool2d_forward(
        input: FloatTensor<Self>,
        spec: PoolSpec,
    ) -> (FloatTensor<Self>, IntTensor<Self>);

    /// Routes `output_grad` back to the maxima recorded in `argmax`.
    fn max_pool2d_backward(
        input_shape: Shape,
        output_grad: FloatTensor<Self>,
        argmax: IntTensor<Self>,
        spec: PoolSpec,
    ) -> FloatTensor<Self>;

    /// Average pool: the mean of each window (global average pooling is
    /// [`PoolSpec::global`]). (Not `avg_pool2d_*`: Burn's own backend ops have those names.)
    fn average_pool2d_forward(input: FloatTensor<Self>, spec: PoolSpec) -> FloatTensor<Self>;

    /// Spreads `output_grad` evenly over each window of an input of `input_shape`.
    fn average_pool2d_backward(
        input_shape: Shape,
        output_grad: FloatTensor<Self>,
        spec: PoolSpec,
    ) -> FloatTensor<Self>;

    /// `max_pool(relu?(conv2d(input, weight) + bias))` as one op; returns the pooled maps and
    /// the flat in-plane index of each maximum in the conv output. The default runs
    /// [`RawKernels::conv2d_forward`] then [`RawKernels::max_pool2d_forward`]; the ndarray
    /// backend pools each image's conv output while it is in cache.
    fn conv2d_pool_forward(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        conv: ConvSpec,
        pool: PoolSpec,
    ) -> (FloatTensor<Self>, IntTensor<Self>) {
        conv_then_max_pool::<Self>(input, weight, bias, conv, pool)
    }

    /// Gradients of [`RawKernels::conv2d_pool_forward`] from its inputs, its pooled output and
    /// argmax, and the gradient w.r.t. the pooled output. The ReLU passed a maximum exactly
    /// when the pooled value is positive, so the conv output itself is not needed.
    #[allow(clippy::too_many_arguments)]
    fn conv2d_pool_backward(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pooled: FloatTensor<Self>,
        argmax: IntTensor<Self>,
        pooled_grad: FloatTensor<Self>,
        conv: ConvSpec,
        pool: PoolSpec,
        want_input_grad: bool,
    ) -> LayerGrads<Self> {
        let [n, _, h, w] = input.shape().dims::<4>();
        let [k, _, kh, kw] = weight.shape().dims::<4>();
        let [oh, ow] = conv
            .output_size([h, w], [kh, kw])
            .expect("conv2d+pool backward: kernel fits the input");
        // Pooled values are ReLU outputs (>= 0): their sign is the ReLU's mask at the maxima.
        let pooled_grad = if conv.relu {
            Self::float_mul(pooled_grad, Self::float_sign(pooled))
        } else {
            pooled_grad
        };
        let conv_grad =
            Self::max_pool2d_backward(Shape::new([n, k, oh, ow]), pooled_grad, argmax, pool);
        conv2d_backward_from_output_grad::<Self>(input, weight, conv_grad, conv, want_input_grad)
    }

    /// `relu?(x [n, inputs] * weight [inputs, outputs] + bias)` (Burn's `Linear` layout). The
    /// default is Burn's own ops; the ndarray backend overrides it with multi-threaded GEMMs
    /// and the ReLU applied to their output.
    fn linear_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let output = Self::linear(x, weight, bias);
        if relu { Self::relu(output) } else { output }
    }

    /// Gradients of [`RawKernels::linear_forward`] from its input, weights, output where it
    /// ends with a ReLU (the ReLU's mask), and output gradient; the input gradient only if
    /// `want_input_grad` is set. The default uses Burn's own backward ops.
    fn linear_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        relu_output: Option<FloatTensor<Self>>,
        output_grad: FloatTensor<Self>,
        want_input_grad: bool,
    ) -> LayerGrads<Self> {
        let output_grad = match relu_output {
            Some(output) => Self::relu_backward(output, output_grad),
            None => output_grad,
        };
        LayerGrads {
            input: want_input_grad.then(|| Self::linear_x_backward(weight, output_grad.clone())),
            weight: Self::linear_weight_backward(x, output_grad.clone()),
            bias: Self::linear_bias_backward(output_grad),
        }
    }

    /// The mean softmax cross-entropy of `logits` `[n, classes]` against `targets` `[n]`
    /// ([`crate::cross_entropy`]); the default composes Burn's tensor ops.
    fn cross_entropy_forward(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        crate::loss::forward::<Self>(logits, targets)
    }

    /// Its gradient w.r.t. the logits, scaled by `loss_grad` (the loss's own one-element
    /// gradient); the default composes Burn's tensor ops.
    fn cross_entropy_backward(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        loss_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        crate::loss::backward::<Self>(logits, targets, loss_grad)
    }

    /// One Adam update ([`crate::FusedAdam`]): returns the new parameter and moments. The
    /// default composes Burn's tensor ops with the arithmetic of Burn's Adam; the ndarray
    /// backend does it in one multi-threaded pass.
    fn adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        step: &AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let s = step.scalars();
        let scalar = |x: f32| Scalar::Float(x as f64);
        let grad = match s.weight_decay {
            Some(penalty) => {
                Self::float_add(Self::float_mul_scalar(param.clone(), scalar(penalty)), grad)
            }
            None => grad,
        };
        let moment_1 = Self::float_add(
            Self::float_mul_scalar(moment_1, scalar(s.beta_1)),
            Self::float_mul_scalar(grad.clone(), scalar(s.one_minus_beta_1)),
        );
        let squared = Self::float_mul(grad.clone(), grad);
        let moment_2 = Self::float_add(
            Self::float_mul_scalar(moment_2, scalar(s.beta_2)),
            Self::float_mul_scalar(squared, scalar(s.one_minus_beta_2)),
        );
        let denominator =
            Self::float_add_scalar(Self::float_sqrt(moment_2.clone()), scalar(s.epsilon_scaled));
        let update = Self::float_div(
            Self::float_mul_scalar(moment_1.clone(), scalar(s.moment_scale)),
            denominator,
        );
        let param = Self::float_sub(param, Self::float_mul_scalar(update, scalar(s.lr)));
        (param, moment_1, moment_2)
    }
}

/// The conv's gradients from the gradient w.r.t. its output after the ReLU's mask (the conv
/// then taken as linear): the second half of [`RawKernels::conv2d_pool_backward`].
pub fn conv2d_backward_from_output_grad<B: RawKernels>(
    input: FloatTensor<B>,
    weight: FloatTensor<B>,
    conv_grad: FloatTensor<B>,
    conv: ConvSpec,
    want_input_grad: bool,
) -> LayerGrads<B> {
    let linear = ConvSpec {
        relu: false,
        ..conv
    };
    // Without ReLU the forward output is not read: the gradient stands in for it.
    B::conv2d_backward(
        input,
        weight,
        conv_grad.clone(),
        conv_grad,
        linear,
        want_input_grad,
    )
}

/// The conv then the max-pool as two ops, the conv output going through memory:
/// [`RawKernels::conv2d_pool_forward`]'s default, and what a backend that fuses some windows
/// runs for the others.
pub fn conv_then_max_pool<B: RawKernels>(
    input: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: Option<FloatTensor<B>>,
    conv: ConvSpec,
    pool: PoolSpec,
) -> (FloatTensor<B>, IntTensor<B>) {
    let output = B::conv2d_forward(input, weight, bias, conv);
    B::max_pool2d_forward(output, pool)
}

/// The custom ops as the models use them: implemented by every backend the workbench runs on
/// (ndarray, wgpu, and `Autodiff` over either, with hand-written backward passes).
pub trait KernelBackend: BuiltinLayers {
    /// `relu?(conv2d(input, weight) + bias)` with the hand-written kernel.
    fn custom_conv2d(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        spec: ConvSpec,
    ) -> FloatTensor<Self>;

    /// Max-pool with the hand-written kernel.
    fn custom_max_pool2d(input: FloatTensor<Self>, spec: PoolSpec) -> FloatTensor<Self>;

    /// Average pool with the hand-written kernel.
    fn custom_avg_pool2d(input: FloatTensor<Self>, spec: PoolSpec) -> FloatTensor<Self>;

    /// `max_pool(relu?(conv2d(input, weight) + bias))` as one op with the hand-written kernels.
    fn custom_conv2d_pool(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        conv: ConvSpec,
        pool: PoolSpec,
    ) -> FloatTensor<Self>;

    /// `relu?(x * weight + bias)` for `x [n, inputs]`, `weight [inputs, outputs]`, with the
    /// hand-written kernel where the backend has one.
    fn custom_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        relu: bool,
    ) -> FloatTensor<Self>;

    /// Mean softmax cross-entropy of `logits` `[n, classes]` against `targets` `[n]` (see
    /// [`crate::cross_entropy`]): [`RawKernels::cross_entropy_forward`], and under `Autodiff`
    /// with [`RawKernels::cross_entropy_backward`] as its backward.
    fn softmax_cross_entropy(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Every concrete backend with the raw kernels runs the models' ops as their forward passes
/// (what the forward keeps for a backward is dropped: without autodiff there is none).
impl<B: RawKernels> KernelBackend for B {
    fn softmax_cross_entropy(logits: FloatTensor<B>, targets: IntTensor<B>) -> FloatTensor<B> {
        B::cross_entropy_forward(logits, targets)
    }

    fn custom_conv2d(
        input: FloatTensor<B>,
        weight: FloatTensor<B>,
        bias: Option<FloatTensor<B>>,
        spec: ConvSpec,
    ) -> FloatTensor<B> {
        B::conv2d_forward(input, weight, bias, spec)
    }

    fn custom_max_pool2d(input: FloatTensor<B>, spec: PoolSpec) -> FloatTensor<B> {
        B::max_pool2d_forward(input, spec).0
    }

    fn custom_avg_pool2d(input: FloatTensor<B>, spec: PoolSpec) -> FloatTensor<B> {
        B::average_pool2d_forward(input, spec)
    }

    fn custom_conv2d_pool(
        input: FloatTensor<B>,
        weight: FloatTensor<B>,
        bias: Option<FloatTensor<B>>,
        conv: ConvSpec,
        pool: PoolSpec,
    ) -> FloatTensor<B> {
        B::conv2d_pool_forward(input, weight, bias, conv, pool).0
    }

    fn custom_linear(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        bias: Option<FloatTensor<B>>,
        relu: bool,
    ) -> FloatTensor<B> {
        B::linear_forward(x, weight, bias, relu)
    }
}
