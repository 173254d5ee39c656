//! [`RawKernels`] for Burn's `CubeBackend` (wgpu): allocate the outputs and launch the kernels.

use burn::tensor::ops::{FloatTensor, FloatTensorOps};
use burn::tensor::{DType, Shape, TensorMetadata};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use cubecl::{CubeCount, CubeDim};

use super::conv::{
    self, ConvKernelShape, GemmTile, conv2d_forward_kernel, conv2d_input_grad_kernel,
    conv2d_max_pool_forward_kernel, conv2d_weight_grad_kernel, conv2d_weight_grad_reduce_kernel,
};
use super::pool::{
    avg_pool2d_backward_kernel, avg_pool2d_forward_kernel, max_pool2d_backward_kernel,
    max_pool2d_forward_kernel,
};
use crate::backend::{LayerGrads, RawKernels, conv_then_max_pool};
use crate::builtin::BuiltinLayers;
use crate::spec::{ConvSpec, PoolSpec};

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

/// The conv and pool ops launch this crate's kernels (`cube::conv`, `cube::pool`). The fully
/// connected layer and the Adam update keep the trait's defaults (Burn's tensor ops): Burn's
/// matmul is already a tuned GPU GEMM.
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
