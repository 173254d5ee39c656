//! [`RawKernels`] for Burn's `CubeBackend` (wgpu): allocate the outputs and launch the kernels.

use burn::tensor::ops::{ActivationOps, FloatTensor, FloatTensorOps, ModuleOps};
use burn::tensor::{DType, Shape, TensorMetadata};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use cubecl::{CubeCount, CubeDim};

use super::adam::adam_step_kernel;
use super::conv::{
    self, ConvKernelShape, GemmTile, conv2d_forward_kernel, conv2d_input_grad_kernel,
    conv2d_max_pool_forward_kernel, conv2d_weight_grad_kernel, conv2d_weight_grad_reduce_kernel,
};
use super::linear::{bias_grad_kernel, bias_relu_kernel, relu_bias_grad_kernel};
use super::loss::{LOSS_THREADS, cross_entropy_backward_kernel, cross_entropy_forward_kernel};
use super::pool::{
    avg_pool2d_backward_kernel, avg_pool2d_forward_kernel, max_pool2d_backward_kernel,
    max_pool2d_forward_kernel, max_pool2d_relu_backward_kernel,
};
use crate::backend::{
    LayerGrads, RawKernels, conv_then_max_pool, conv2d_backward_from_output_grad,
};
use crate::builtin::BuiltinLayers;
use crate::spec::{AdamStep, ConvSpec, PoolSpec};

/// Threads per cube (workgroup) of the one-thread-per-element kernels.
const THREADS: usize = 256;

/// The weight gradient's reduction over the batch is cut into chunks, computed by separate
/// cubes, until about this many cubes run (a few per multiprocessor of a large GPU)...
const WEIGHT_GRAD_CUBES: usize = 512;

/// ...but no chunk is shorter than this many output positions.
const MIN_WEIGHT_GRAD_CHUNK: usize = 256;

/// Cubes along one axis of a launch (WebGPU's limit per dimension).
const MAX_CUBES_PER_AXIS: usize = 65_535;

/// `cubes` cubes of `threads` threads, laid out over x and y (the kernels use the linear
/// `CUBE_POS` and return from the cubes past the end).
fn cubes_grid(cubes: usize, threads: usize) -> (CubeCount, CubeDim) {
    let x = cubes.clamp(1, MAX_CUBES_PER_AXIS);
    let y = cubes.div_ceil(x).max(1);
    assert!(
        y <= MAX_CUBES_PER_AXIS,
        "launch of {cubes} cubes is too large"
    );
    (
        CubeCount::Static(x as u32, y as u32, 1),
        CubeDim::new_1d(threads as u32),
    )
}

/// One thread per element of a tensor of `elements` elements.
fn launch_grid(elements: usize) -> (CubeCount, CubeDim) {
    cubes_grid(elements.div_ceil(THREADS), THREADS)
}

/// The comptime geometry of a conv with `spec` and a `kernel` `[height, width]`.
fn geometry(spec: ConvSpec, [kernel_h, kernel_w]: [usize; 2]) -> ConvKernelShape {
    ConvKernelShape {
        kernel_h,
        kernel_w,
        stride_h: spec.stride[0],
        stride_w: spec.stride[1],
        pad_h: spec.padding[0],
        pad_w: spec.padding[1],
        relu: spec.relu,
    }
}

/// A new contiguous tensor on the same device as `like`.
fn empty_like<R: CubeRuntime>(like: &CubeTensor<R>, shape: Shape, dtype: DType) -> CubeTensor<R> {
    let handle = like.client.empty(shape.num_elements() * dtype.size());
    CubeTensor::new_contiguous(
        like.client.clone(),
        like.device.clone(),
        shape,
        handle,
        dtype,
    )
}

/// The conv's bias, contiguous, or `filters` zeros on the weights' device.
fn bias_or_zeros<R, F, I, BT>(
    bias: Option<CubeTensor<R>>,
    weight: &CubeTensor<R>,
    filters: usize,
) -> CubeTensor<R>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    match bias {
        Some(bias) => into_contiguous(bias),
        None => CubeBackend::<R, F, I, BT>::float_zeros(
            Shape::new([filters]),
            &weight.device,
            weight.dtype.into(),
        ),
    }
}

fn dims4<R: CubeRuntime>(tensor: &CubeTensor<R>) -> [usize; 4] {
    tensor.shape().dims::<4>()
}

/// Burn's own layer ops: the defaults.
impl<R, F, I, BT> BuiltinLayers for CubeBackend<R, F, I, BT>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
}

/// Every op launches this crate's kernels (`cube::conv`, `cube::pool`, `cube::linear`,
/// `cube::loss`, `cube::adam`), except the fully connected layer's GEMMs, which stay Burn's
/// matmul (already a tuned GPU GEMM). On a GPU a small network's training step is bound by
/// its number of launches (`cargo xtask gpu-calls` counts them), so each op is as few
/// launches as it can be.
impl<R, F, I, BT> RawKernels for CubeBackend<R, F, I, BT>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    fn conv2d_forward(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        spec: ConvSpec,
    ) -> FloatTensor<Self> {
        let input = into_contiguous(input);
        let weight = into_contiguous(weight);
        let [n, c, h, w] = dims4(&input);
        let [k, wc, kh, kw] = dims4(&weight);
        assert_eq!(c, wc, "conv2d: input has {c} channels, weights expect {wc}");
        let [oh, ow] = spec.output_size([h, w], [kh, kw]).unwrap_or_else(|| {
            panic!("conv2d: kernel {kh}x{kw} does not fit input {h}x{w} with {spec:?}")
        });
        let bias = bias_or_zeros::<R, F, I, BT>(bias, &weight, k);
        let output = empty_like(&input, Shape::new([n, k, oh, ow]), input.dtype);
        let tile = GemmTile::for_columns(k);
        let (count, dim) = cubes_grid(tile.count(n * oh * ow, k), conv::THREADS);
        let dtype = input.dtype;
        let client = input.client.clone();
        conv2d_forward_kernel::launch::<R>(
            &client,
            count,
            dim,
            input.into_tensor_arg(),
            weight.into_tensor_arg(),
            bias.into_tensor_arg(),
            output.clone().into_tensor_arg(),
            geometry(spec, [kh, kw]),
            tile,
            dtype.into(),
        );
        output
    }

    /// 2x2/2 pooling of an even-sized conv output runs fused into the conv's kernel (the conv
    /// output never goes to memory); other windows run the conv kernel then the pool kernel.
    fn conv2d_pool_forward(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        conv: ConvSpec,
        pool: PoolSpec,
    ) -> (FloatTensor<Self>, CubeTensor<R>) {
        let [n, c, h, w] = dims4(&input);
        let [k, wc, kh, kw] = dims4(&weight);
        let out = conv.output_size([h, w], [kh, kw]);
        let fusable = matches!(out, Some([oh, ow]) if oh % 2 == 0 && ow % 2 == 0);
        if pool != PoolSpec::TWO_BY_TWO || !fusable || c != wc {
            return conv_then_max_pool::<Self>(input, weight, bias, conv, pool);
        }
        let [oh, ow] = out.expect("checked above");
        let input = into_contiguous(input);
        let weight = into_contiguous(weight);
        let bias = bias_or_zeros::<R, F, I, BT>(bias, &weight, k);
        let shape = Shape::new([n, k, oh / 2, ow / 2]);
        let pooled = empty_like(&input, shape.clone(), input.dtype);
        let argmax = empty_like(&input, shape, I::dtype());
        let tile = GemmTile::for_columns(k);
        let (count, dim) = cubes_grid(tile.count(n * oh * ow, k), conv::THREADS);
        let dtypes = [input.dtype.into(), I::dtype().into()];
        let client = input.client.clone();
        conv2d_max_pool_forward_kernel::launch::<R>(
            &client,
            count,
            dim,
            input.into_tensor_arg(),
            weight.into_tensor_arg(),
            bias.into_tensor_arg(),
            pooled.clone().into_tensor_arg(),
            argmax.clone().into_tensor_arg(),
            geometry(conv, [kh, kw]),
            tile,
            dtypes,
        );
        (pooled, argmax)
    }

    fn conv2d_backward(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        spec: ConvSpec,
        want_input_grad: bool,
    ) -> LayerGrads<Self> {
        let input = into_contiguous(input);
        let weight = into_contiguous(weight);
        let output = into_contiguous(output);
        let grad = into_contiguous(output_grad);
        let [n, c, h, w] = dims4(&input);
        let [filters, _, kh, kw] = dims4(&weight);
        let [_, _, oh, ow] = dims4(&grad);
        let dtype = input.dtype;
        let client = input.client.clone();
        let geometry = geometry(spec, [kh, kw]);

        let input_grad = want_input_grad.then(|| {
            let input_grad = empty_like(&input, input.shape(), dtype);
            let tile = GemmTile::for_columns(c);
            let (count, dim) = cubes_grid(tile.count(n * h * w, c), conv::THREADS);
            conv2d_input_grad_kernel::launch::<R>(
                &client,
                count,
                dim,
                weight.clone().into_tensor_arg(),
                output.clone().into_tensor_arg(),
                grad.clone().into_tensor_arg(),
                input_grad.clone().into_tensor_arg(),
                geometry,
                tile,
                dtype.into(),
            );
            input_grad
        });

        // The weight and bias gradients: a `(C * KH * KW + 1) x filters` product reduced over
        // the batch's output positions, in chunks whose partial sums are added afterwards.
        let rows = c * kh * kw + 1;
        let positions = n * oh * ow;
        let tile = GemmTile::for_columns(filters);
        let tiles = tile.count(rows, filters);
        let chunks = WEIGHT_GRAD_CUBES
            .div_ceil(tiles)
            .clamp(1, positions.div_ceil(MIN_WEIGHT_GRAD_CHUNK).max(1));
        let partial = empty_like(&weight, Shape::new([chunks, rows, filters]), dtype);
        let (count, dim) = cubes_grid(tiles * chunks, conv::THREADS);
        conv2d_weight_grad_kernel::launch::<R>(
            &client,
            count,
            dim,
            input.into_tensor_arg(),
            output.into_tensor_arg(),
            grad.into_tensor_arg(),
            partial.clone().into_tensor_arg(),
            geometry,
            tile,
            dtype.into(),
        );
        let weight_grad = empty_like(&weight, weight.shape(), dtype);
        let bias_grad = empty_like(&weight, Shape::new([filters]), dtype);
        let (count, dim) = launch_grid(rows * filters);
        conv2d_weight_grad_reduce_kernel::launch::<R>(
            &client,
            count,
            dim,
            partial.into_tensor_arg(),
            weight_grad.clone().into_tensor_arg(),
            bias_grad.clone().into_tensor_arg(),
            dtype.into(),
        );

        LayerGrads {
            input: input_grad,
            weight: weight_grad,
            bias: bias_grad,
        }
    }

    fn max_pool2d_forward(
        input: FloatTensor<Self>,
        spec: PoolSpec,
    ) -> (FloatTensor<Self>, CubeTensor<R>) {
        let input = into_contiguous(input);
        let [n, c, h, w] = dims4(&input);
        let shape = pooled_shape(n, c, [h, w], spec);
        let output = empty_like(&input, shape.clone(), input.dtype);
        let (count, dim) = launch_grid(shape.num_elements());
        let argmax = empty_like(&input, shape, I::dtype());
        let dtypes = [input.dtype.into(), I::dtype().into()];
        max_pool2d_forward_kernel::launch::<R>(
            &input.client,
            count,
            dim,
            input.clone().into_tensor_arg(),
            output.clone().into_tensor_arg(),
            argmax.clone().into_tensor_arg(),
            spec.kernel[0] as u32,
            spec.kernel[1] as u32,
            spec.stride[0] as u32,
            spec.stride[1] as u32,
            dtypes,
        );
        (output, argmax)
    }

    fn max_pool2d_backward(
        input_shape: Shape,
        output_grad: FloatTensor<Self>,
        argmax: CubeTensor<R>,
        spec: PoolSpec,
    ) -> FloatTensor<Self> {
        let grad = into_contiguous(output_grad);
        let argmax = into_contiguous(argmax);
        let input_grad = empty_like(&grad, input_shape.clone(), grad.dtype);
        let (count, dim) = launch_grid(input_shape.num_elements());
        let dtypes = [grad.dtype.into(), argmax.dtype.into()];
        max_pool2d_backward_kernel::launch::<R>(
            &grad.client.clone(),
            count,
            dim,
            grad.into_tensor_arg(),
            argmax.into_tensor_arg(),
            input_grad.clone().into_tensor_arg(),
            spec.kernel[0] as u32,
            spec.kernel[1] as u32,
            spec.stride[0] as u32,
            spec.stride[1] as u32,
            dtypes,
        );
        input_grad
    }

    fn average_pool2d_forward(input: FloatTensor<Self>, spec: PoolSpec) -> FloatTensor<Self> {
        let input = into_contiguous(input);
        let [n, c, h, w] = dims4(&input);
        let shape = pooled_shape(n, c, [h, w], spec);
        let output = empty_like(&input, shape.clone(), input.dtype);
        let (count, dim) = launch_grid(shape.num_elements());
        avg_pool2d_forward_kernel::launch::<R>(
            &input.client,
            count,
            dim,
            input.clone().into_tensor_arg(),
            output.clone().into_tensor_arg(),
            spec.kernel[0] as u32,
            spec.kernel[1] as u32,
            spec.stride[0] as u32,
            spec.stride[1] as u32,
            input.dtype.into(),
        );
        output
    }

    fn average_pool2d_backward(
        input_shape: Shape,
        output_grad: FloatTensor<Self>,
        spec: PoolSpec,
    ) -> FloatTensor<Self> {
        let grad = into_contiguous(output_grad);
        let input_grad = empty_like(&grad, input_shape.clone(), grad.dtype);
        let (count, dim) = launch_grid(input_shape.num_elements());
        avg_pool2d_backward_kernel::launch::<R>(
            &grad.client.clone(),
            count,
            dim,
            grad.clone().into_tensor_arg(),
            input_grad.clone().into_tensor_arg(),
            spec.kernel[0] as u32,
            spec.kernel[1] as u32,
            spec.stride[0] as u32,
            spec.stride[1] as u32,
            grad.dtype.into(),
        );
        input_grad
    }

    /// The ReLU's mask is applied while the gradient is routed through the pool (one launch
    /// instead of three).
    fn conv2d_pool_backward(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pooled: FloatTensor<Self>,
        argmax: CubeTensor<R>,
        pooled_grad: FloatTensor<Self>,
        conv: ConvSpec,
        pool: PoolSpec,
        want_input_grad: bool,
    ) -> LayerGrads<Self> {
        let [n, _, h, w] = dims4(&input);
        let [k, _, kh, kw] = dims4(&weight);
        let [oh, ow] = conv
            .output_size([h, w], [kh, kw])
            .expect("conv2d+pool backward: kernel fits the input");
        let conv_shape = Shape::new([n, k, oh, ow]);
        let conv_grad = if conv.relu {
            let grad = into_contiguous(pooled_grad);
            let pooled = into_contiguous(pooled);
            let argmax = into_contiguous(argmax);
            let conv_grad = empty_like(&grad, conv_shape.clone(), grad.dtype);
            let (count, dim) = launch_grid(conv_shape.num_elements());
            let dtypes = [grad.dtype.into(), argmax.dtype.into()];
            max_pool2d_relu_backward_kernel::launch::<R>(
                &grad.client.clone(),
                count,
                dim,
                grad.into_tensor_arg(),
                pooled.into_tensor_arg(),
                argmax.into_tensor_arg(),
                conv_grad.clone().into_tensor_arg(),
                pool.kernel[0] as u32,
                pool.kernel[1] as u32,
                pool.stride[0] as u32,
                pool.stride[1] as u32,
                dtypes,
            );
            conv_grad
        } else {
            Self::max_pool2d_backward(conv_shape, pooled_grad, argmax, pool)
        };
        conv2d_backward_from_output_grad::<Self>(input, weight, conv_grad, conv, want_input_grad)
    }

    /// Burn's matmul, then the bias and the ReLU in place (two launches).
    fn linear_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        relu: bool,
    ) -> FloatTensor<Self> {
        let output = into_contiguous(Self::float_matmul(x, weight));
        let Some(bias) = bias else {
            return if relu { Self::relu(output) } else { output };
        };
        let bias = into_contiguous(bias);
        let (count, dim) = launch_grid(output.shape().num_elements());
        let dtype = output.dtype;
        bias_relu_kernel::launch::<R>(
            &output.client.clone(),
            count,
            dim,
            output.clone().into_tensor_arg(),
            bias.into_tensor_arg(),
            relu,
            dtype.into(),
        );
        output
    }

    /// The ReLU's mask and the bias gradient in one launch, then Burn's matmuls.
    fn linear_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        relu_output: Option<FloatTensor<Self>>,
        output_grad: FloatTensor<Self>,
        want_input_grad: bool,
    ) -> LayerGrads<Self> {
        let grad = into_contiguous(output_grad);
        let [_, cols] = grad.shape().dims::<2>();
        let dtype = grad.dtype;
        let client = grad.client.clone();
        let bias_grad = empty_like(&grad, Shape::new([cols]), dtype);
        let (count, dim) = launch_grid(cols);
        let grad = match relu_output {
            Some(output) => {
                let masked = empty_like(&grad, grad.shape(), dtype);
                relu_bias_grad_kernel::launch::<R>(
                    &client,
                    count,
                    dim,
                    grad.into_tensor_arg(),
                    into_contiguous(output).into_tensor_arg(),
                    masked.clone().into_tensor_arg(),
                    bias_grad.clone().into_tensor_arg(),
                    dtype.into(),
                );
                masked
            }
            None => {
                bias_grad_kernel::launch::<R>(
                    &client,
                    count,
                    dim,
                    grad.clone().into_tensor_arg(),
                    bias_grad.clone().into_tensor_arg(),
                    dtype.into(),
                );
                grad
            }
        };
        LayerGrads {
            input: want_input_grad.then(|| Self::linear_x_backward(weight, grad.clone())),
            weight: Self::linear_weight_backward(x, grad),
            bias: bias_grad,
        }
    }

    /// One launch (one cube).
    fn cross_entropy_forward(
        logits: FloatTensor<Self>,
        targets: CubeTensor<R>,
    ) -> FloatTensor<Self> {
        let logits = into_contiguous(logits);
        let targets = into_contiguous(targets);
        let loss = empty_like(&logits, Shape::new([1]), logits.dtype);
        let dtypes = [logits.dtype.into(), targets.dtype.into()];
        cross_entropy_forward_kernel::launch::<R>(
            &logits.client.clone(),
            CubeCount::Static(1, 1, 1),
            CubeDim::new_1d(LOSS_THREADS),
            logits.into_tensor_arg(),
            targets.into_tensor_arg(),
            loss.clone().into_tensor_arg(),
            LOSS_THREADS,
            dtypes,
        );
        loss
    }

    /// One launch (a thread per row).
    fn cross_entropy_backward(
        logits: FloatTensor<Self>,
        targets: CubeTensor<R>,
        loss_grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let logits = into_contiguous(logits);
        let targets = into_contiguous(targets);
        let loss_grad = into_contiguous(loss_grad);
        let grad = empty_like(&logits, logits.shape(), logits.dtype);
        let (count, dim) = launch_grid(targets.shape().num_elements());
        let dtypes = [logits.dtype.into(), targets.dtype.into()];
        cross_entropy_backward_kernel::launch::<R>(
            &logits.client.clone(),
            count,
            dim,
            logits.into_tensor_arg(),
            targets.into_tensor_arg(),
            loss_grad.into_tensor_arg(),
            grad.clone().into_tensor_arg(),
            dtypes,
        );
        grad
    }

    /// One launch per parameter tensor, into new tensors.
    fn adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        step: &AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let s = step.scalars();
        let [param, grad, moment_1, moment_2] =
            [param, grad, moment_1, moment_2].map(into_contiguous);
        let shape = param.shape();
        let dtype = param.dtype;
        let [new_param, new_moment_1, new_moment_2] =
            [(); 3].map(|()| empty_like(&param, shape.clone(), dtype));
        let (count, dim) = launch_grid(shape.num_elements());
        adam_step_kernel::launch::<R>(
            &param.client.clone(),
            count,
            dim,
            param.into_tensor_arg(),
            grad.into_tensor_arg(),
            moment_1.into_tensor_arg(),
            moment_2.into_tensor_arg(),
            new_param.clone().into_tensor_arg(),
            new_moment_1.clone().into_tensor_arg(),
            new_moment_2.clone().into_tensor_arg(),
            s.beta_1,
            s.one_minus_beta_1,
            s.beta_2,
            s.one_minus_beta_2,
            s.moment_scale,
            s.epsilon_scaled,
            s.lr,
            s.weight_decay.unwrap_or(0.0),
            s.weight_decay.is_some(),
            dtype.into(),
        );
        (new_param, new_moment_1, new_moment_2)
    }
}

/// The output shape of pooling `n x c` planes of `input` `[h, w]` with `spec`.
///
/// # Panics
/// If the window does not fit the input.
fn pooled_shape(n: usize, c: usize, input: [usize; 2], spec: PoolSpec) -> Shape {
    let [oh, ow] = spec
        .output_size(input)
        .unwrap_or_else(|| panic!("pool2d: window {spec:?} does not fit input {input:?}"));
    Shape::new([n, c, oh, ow])
}
