//! [`RawKernels`] for Burn's ndarray backend: the tensors' buffers go straight to the CPU kernels.

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Shape, TensorMetadata};
use burn_ndarray::{NdArray, NdArrayTensor};
use ndarray::{ArcArray, IxDyn};

use crate::backend::{LayerGrads, RawKernels};
use crate::builtin::{BuiltinLayers, builtin_layer_methods};
use crate::cpu::{
    AdamTarget, ConvGeometry, LinearGeometry, PoolGeometry, adam_update, avg_pool2d_backward,
    avg_pool2d_forward, conv2d_backward, conv2d_forward, conv2d_pool_backward, conv2d_pool_forward,
    linear_backward, linear_forward, max_pool2d_backward, max_pool2d_forward, pool_geometry,
};
use crate::spec::AdamStep;
use crate::spec::{ConvSpec, PoolSpec};

type B = NdArray;

fn dims4(tensor: &NdArrayTensor) -> [usize; 4] {
    tensor.shape().dims::<4>()
}

fn dims2(tensor: &NdArrayTensor) -> [usize; 2] {
    tensor.shape().dims::<2>()
}

/// Runs `f` on the tensor's `f32` values in row-major order (copying only if the storage is
/// not already contiguous row-major).
fn with_f32<R>(tensor: &NdArrayTensor, f: impl FnOnce(&[f32]) -> R) -> R {
    match tensor {
        NdArrayTensor::F32(storage) => {
            let view = storage.view();
            match view.as_slice() {
                Some(slice) => f(slice),
                None => f(view
                    .as_standard_layout()
                    .as_slice()
                    .expect("standard layout")),
            }
        }
        other => panic!("custom kernels expect f32 tensors, got {:?}", other.dtype()),
    }
}

/// The tensor's `f32` values as an owned, uniquely held, row-major array that can be updated in
/// place: no copy when the optimizer holds the only reference (the usual case), one copy
/// otherwise (copy-on-write).
fn into_unique_f32(tensor: NdArrayTensor) -> ArcArray<f32, IxDyn> {
    match tensor {
        NdArrayTensor::F32(storage) => {
            let mut array = storage.into_owned();
            if !array.is_standard_layout() {
                array = array.as_standard_layout().into_owned().into_shared();
            }
            array
        }
        other => panic!("custom kernels expect f32 tensors, got {:?}", other.dtype()),
    }
}

fn with_i32<R>(tensor: &NdArrayTensor, f: impl FnOnce(&[i32]) -> R) -> R {
    match tensor {
        NdArrayTensor::I32(storage) => {
            let view = storage.view();
            match view.as_slice() {
                Some(slice) => f(slice),
                None => f(view
                    .as_standard_layout()
                    .as_slice()
                    .expect("standard layout")),
            }
        }
        other => panic!(
            "expected the i32 argmax of a custom max-pool, got {:?}",
            other.dtype()
        ),
    }
}

fn tensor<E>(values: Vec<E>, shape: &[usize]) -> NdArrayTensor
where
    NdArrayTensor: From<ArcArray<E, IxDyn>>,
{
    ArcArray::from_shape_vec(IxDyn(shape), values)
        .expect("kernel output matches its shape")
        .into()
}

/// Burn's own layer ops, compiled here for ndarray (see [`BuiltinLayers`]).
impl BuiltinLayers for B {
    builtin_layer_methods!();
}

impl RawKernels for B {
    fn conv2d_forward(
        input: FloatTensor<B>,
        weight: FloatTensor<B>,
        bias: Option<FloatTensor<B>>,
        spec: ConvSpec,
    ) -> FloatTensor<B> {
        let g = ConvGeometry::new(dims4(&input), dims4(&weight), spec);
        let out = with_f32(&input, |x| {
            with_f32(&weight, |w| match &bias {
                Some(bias) => with_f32(bias, |b| conv2d_forward(x, w, Some(b), &g)),
                None => conv2d_forward(x, w, None, &g),
            })
        });
        tensor(out, &[g.batch, g.filters, g.output[0], g.output[1]])
    }

    fn conv2d_backward(
        input: FloatTensor<B>,
        weight: FloatTensor<B>,
        output: FloatTensor<B>,
        output_grad: FloatTensor<B>,
        spec: ConvSpec,
        want_input_grad: bool,
    ) -> LayerGrads<B> {
        let input_shape = dims4(&input);
        let weight_shape = dims4(&weight);
        let g = ConvGeometry::new(input_shape, weight_shape, spec);
        let (dx, dw, db) = with_f32(&input, |x| {
            with_f32(&weight, |w| {
                with_f32(&output, |y| {
                    with_f32(&output_grad, |dy| {
                        conv2d_backward(x, w, y, dy, &g, want_input_grad)
                    })
                })
            })
        });
        LayerGrads {
            input: dx.map(|dx| tensor(dx, &input_shape)),
            weight: tensor(dw, &weight_shape),
            bias: tensor(db, &[g.filters]),
        }
    }

    fn max_pool2d_forward(
        input: FloatTensor<B>,
        spec: PoolSpec,
    ) -> (FloatTensor<B>, NdArrayTensor) {
        let shape = dims4(&input);
        let g = PoolGeometry::new(shape, spec);
        let (out, argmax) = with_f32(&input, |x| max_pool2d_forward(x, &g));
        let out_shape = [shape[0], shape[1], g.output[0], g.output[1]];
        (tensor(out, &out_shape), tensor(argmax, &out_shape))
    }

    fn max_pool2d_backward(
        input_shape: Shape,
        output_grad: FloatTensor<B>,
        argmax: NdArrayTensor,
        spec: PoolSpec,
    ) -> FloatTensor<B> {
        let shape = input_shape.dims::<4>();
        let g = PoolGeometry::new(shape, spec);
        let dx = with_f32(&output_grad, |dy| {
            with_i32(&argmax, |arg| max_pool2d_backward(dy, arg, &g))
        });
        tensor(dx, &shape)
    }

    fn average_pool2d_forward(input: FloatTensor<B>, spec: PoolSpec) -> FloatTensor<B> {
        let shape = dims4(&input);
        let g = PoolGeometry::new(shape, spec);
        let out = with_f32(&input, |x| avg_pool2d_forward(x, &g));
        tensor(out, &[shape[0], shape[1], g.output[0], g.output[1]])
    }

    fn average_pool2d_backward(
        input_shape: Shape,
        output_grad: FloatTensor<B>,
        spec: PoolSpec,
    ) -> FloatTensor<B> {
        let shape = input_shape.dims::<4>();
        let g = PoolGeometry::new(shape, spec);
        let dx = with_f32(&output_grad, |dy| avg_pool2d_backward(dy, &g));
        tensor(dx, &shape)
    }

    fn conv2d_pool_forward(
        input: FloatTensor<B>,
        weight: FloatTensor<B>,
        bias: Option<FloatTensor<B>>,
        conv: ConvSpec,
        pool: PoolSpec,
    ) -> (FloatTensor<B>, NdArrayTensor) {
        let g = ConvGeometry::new(dims4(&input), dims4(&weight), conv);
        let p = pool_geometry(&g, pool);
        let (pooled, argmax) = with_f32(&input, |x| {
            with_f32(&weight, |w| match &bias {
                Some(bias) => with_f32(bias, |b| conv2d_pool_forward(x, w, Some(b), &g, &p)),
                None => conv2d_pool_forward(x, w, None, &g, &p),
            })
        });
        let shape = [g.batch, g.filters, p.output[0], p.output[1]];
        (tensor(pooled, &shape), tensor(argmax, &shape))
    }

    fn conv2d_pool_backward(
        input: FloatTensor<B>,
        weight: FloatTensor<B>,
        pooled: FloatTensor<B>,
        argmax: NdArrayTensor,
        pooled_grad: FloatTensor<B>,
        conv: ConvSpec,
        pool: PoolSpec,
        want_input_grad: bool,
    ) -> LayerGrads<B> {
        let (input_shape, weight_shape) = (dims4(&input), dims4(&weight));
        let g = ConvGeometry::new(input_shape, weight_shape, conv);
        let p = pool_geometry(&g, pool);
        let (dx, dw, db) = with_f32(&input, |x| {
            with_f32(&weight, |w| {
                with_f32(&pooled, |y| {
                    with_i32(&argmax, |arg| {
                        with_f32(&pooled_grad, |dy| {
                            conv2d_pool_backward(x, w, y, arg, dy, &g, &p, want_input_grad)
                        })
                    })
                })
            })
        });
        LayerGrads {
            input: dx.map(|dx| tensor(dx, &input_shape)),
            weight: tensor(dw, &weight_shape),
            bias: tensor(db, &[g.filters]),
        }
    }

    fn linear_forward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        bias: Option<FloatTensor<B>>,
        relu: bool,
    ) -> FloatTensor<B> {
        let g = LinearGeometry::new(dims2(&x), dims2(&weight));
        let out = with_f32(&x, |x| {
            with_f32(&weight, |w| match &bias {
                Some(bias) => with_f32(bias, |b| linear_forward(x, w, Some(b), relu, &g)),
                None => linear_forward(x, w, None, relu, &g),
            })
        });
        tensor(out, &[g.batch, g.outputs])
    }

    fn linear_backward(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        relu_output: Option<FloatTensor<B>>,
        output_grad: FloatTensor<B>,
        want_input_grad: bool,
    ) -> LayerGrads<B> {
        let g = LinearGeometry::new(dims2(&x), dims2(&weight));
        let (dx, dw, db) = with_f32(&x, |x| {
            with_f32(&weight, |w| {
                with_f32(&output_grad, |dy| match &relu_output {
                    Some(y) => with_f32(y, |y| {
                        linear_backward(x, w, dy, Some(y), &g, want_input_grad)
                    }),
                    None => linear_backward(x, w, dy, None, &g, want_input_grad),
                })
            })
        });
        LayerGrads {
            input: dx.map(|dx| tensor(dx, &[g.batch, g.inputs])),
            weight: tensor(dw, &[g.inputs, g.outputs]),
            bias: tensor(db, &[g.outputs]),
        }
    }

    fn adam_step(
        param: FloatTensor<B>,
        grad: FloatTensor<B>,
        moment_1: FloatTensor<B>,
        moment_2: FloatTensor<B>,
        step: &AdamStep,
    ) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
        let mut param = into_unique_f32(param);
        let mut grad = into_unique_f32(grad);
        let mut moment_1 = into_unique_f32(moment_1);
        let mut moment_2 = into_unique_f32(moment_2);
        // Standard-layout arrays; `as_slice_mut` also makes each unique (copy-on-write).
        let m = moment_1.as_slice_mut().expect("standard layout");
        let v = moment_2.as_slice_mut().expect("standard layout");
        // A shared parameter (the Learner's model of the previous step) gets its new values
        // in the gradient's buffer instead of a copy of itself.
        let into_grad = !param.is_unique() && grad.is_unique();
        let target = if into_grad {
            AdamTarget::IntoGrad {
                param: param.as_slice().expect("standard layout"),
                grad: grad.as_slice_mut().expect("standard layout"),
            }
        } else {
            AdamTarget::InPlace {
                param: param.as_slice_mut().expect("standard layout"),
                grad: grad.as_slice().expect("standard layout"),
            }
        };
        adam_update(target, m, v, step);
        let updated = if into_grad { grad } else { param };
        (updated.into(), moment_1.into(), moment_2.into())
    }
}
