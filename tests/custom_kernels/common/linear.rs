//! The fully connected layer checks, against Burn's `linear`.

use super::*;

/// Output and input, weight and bias gradients of the fully connected `layer` on backend
/// `B`. `transposed_weight` passes the weight as the transpose of an `[outputs, inputs]`
/// tensor (a strided view, as Burn's column-layout `Linear` stores it).
pub(super) fn run_linear<B: AutodiffBackend>(
    [batch, inputs, outputs]: [usize; 3],
    data: &ConvInputs,
    transposed_weight: bool,
    device: &B::Device,
    layer: impl FnOnce(Tensor<B, 2>, Tensor<B, 2>, Option<Tensor<B, 1>>) -> Tensor<B, 2>,
) -> ConvResult {
    let x = Tensor::<B, 2>::from_data(data.input.clone(), device).require_grad();
    let w = if transposed_weight {
        let stored = data
            .weight
            .clone()
            .convert::<f32>()
            .to_vec::<f32>()
            .unwrap();
        let mut by_output = vec![0.0f32; stored.len()];
        for i in 0..inputs {
            for o in 0..outputs {
                by_output[o * inputs + i] = stored[i * outputs + o];
            }
        }
        let by_output = TensorData::new(by_output, [outputs, inputs]);
        Tensor::<B, 2>::from_data(by_output, device)
            .transpose()
            .require_grad()
    } else {
        Tensor::<B, 2>::from_data(data.weight.clone(), device).require_grad()
    };
    let b = Tensor::<B, 1>::from_data(data.bias.clone(), device).require_grad();
    let out = layer(x.clone(), w.clone(), Some(b.clone()));
    assert_eq!(out.dims(), [batch, outputs]);
    // Per-element gradients in (0, 1]: sums over a thousand outputs stay well inside f32.
    let mix = Tensor::<B, 2>::ones(out.dims(), device).cumsum(1) / outputs as f32;
    let grads = (out.clone() * mix).sum().backward();
    ConvResult {
        output: out.into_data(),
        input_grad: x.grad(&grads).unwrap().into_data(),
        weight_grad: w.grad(&grads).unwrap().into_data(),
        bias_grad: b.grad(&grads).unwrap().into_data(),
    }
}

/// Random input, weights and bias of a fully connected case.
pub fn linear_inputs([batch, inputs, outputs]: [usize; 3]) -> ConvInputs {
    ConvInputs {
        input: random_data(&[batch, inputs]),
        weight: random_data(&[inputs, outputs]),
        bias: random_data(&[outputs]),
    }
}

/// The custom fully connected layer on `B`, with a contiguous and with a transposed
/// (strided) weight, vs Burn's on the reference.
pub fn check_linear<B>(dims: [usize; 3], device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let data = linear_inputs(dims);
    let reference =
        run_linear::<Reference>(dims, &data, false, &Default::default(), builtin::linear);
    let reference_relu =
        run_linear::<Reference>(dims, &data, false, &Default::default(), |x, w, b| {
            burn::tensor::activation::relu(builtin::linear(x, w, b))
        });
    for transposed in [false, true] {
        let custom = run_linear::<B>(dims, &data, transposed, device, custom::linear);
        let label = format!("linear {dims:?} (weight transposed: {transposed})");
        assert_conv_close(&label, &custom, &reference);
        let custom = run_linear::<B>(dims, &data, transposed, device, custom::linear_relu);
        let label = format!("linear + ReLU {dims:?} (weight transposed: {transposed})");
        assert_conv_close(&label, &custom, &reference_relu);
    }
}

/// Output and weight gradient of the fully connected `layer` without bias on an input that
/// needs no gradient (asserted to get none), under the loss `sum(out^2)`.
pub(super) fn linear_first_layer<B: AutodiffBackend>(
    data: &ConvInputs,
    device: &B::Device,
    layer: impl FnOnce(Tensor<B, 2>, Tensor<B, 2>, Option<Tensor<B, 1>>) -> Tensor<B, 2>,
) -> (TensorData, TensorData) {
    let x = Tensor::<B, 2>::from_data(data.input.clone(), device);
    let w = Tensor::<B, 2>::from_data(data.weight.clone(), device).require_grad();
    let out = layer(x.clone(), w.clone(), None);
    let grads = (out.clone() * out.clone()).sum().backward();
    assert!(x.grad(&grads).is_none(), "no input gradient");
    (out.into_data(), w.grad(&grads).unwrap().into_data())
}

/// A fully connected layer on an input that needs no gradient (an MLP's first layer) and
/// without bias: the input gets no gradient, the weight gradient and output still agree.
pub fn check_linear_first_layer<B>(device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let data = linear_inputs([6, 20, 9]);
    let (out_custom, w_custom) = linear_first_layer::<B>(&data, device, custom::linear);
    let (out_reference, w_reference) =
        linear_first_layer::<Reference>(&data, &Default::default(), builtin::linear);
    assert_close("linear first layer: output", &out_custom, &out_reference);
    assert_close("linear first layer: weight grad", &w_custom, &w_reference);
}
