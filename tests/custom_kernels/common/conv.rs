//! The conv and fused conv + pool checks: a case run forward and backward with the custom
//! kernels on the backend under test and with Burn's ops on the reference; a first layer, and
//! a layer whose input needs no gradient.

use super::*;

/// Input, weights and bias of a conv case.
pub struct ConvInputs {
    pub input: TensorData,
    pub weight: TensorData,
    pub bias: TensorData,
}

impl ConvInputs {
    /// Standard normal inputs drawn from a generator seeded by the case's shape, so that every
    /// test of the case sees the same numbers.
    pub fn random(case: &ConvCase) -> Self {
        let seed = conv_label(case)
            .bytes()
            .fold(TEST_SEED, |h, b| h.rotate_left(5) ^ u64::from(b));
        let mut rng = StdRng::seed_from_u64(seed);
        Self {
            input: random_data_from(&mut rng, &case.input),
            weight: random_data_from(
                &mut rng,
                &[case.filters, case.input[1], case.kernel[0], case.kernel[1]],
            ),
            bias: random_data_from(&mut rng, &[case.filters]),
        }
    }
}

/// Output and input, weight and bias gradients of one conv evaluation.
pub struct ConvResult {
    pub output: TensorData,
    pub input_grad: TensorData,
    pub weight_grad: TensorData,
    pub bias_grad: TensorData,
}

/// Runs a conv case forward and backward on backend `B` with the custom kernels.
pub fn run_custom_conv<B>(case: &ConvCase, inputs: &ConvInputs, device: &B::Device) -> ConvResult
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    run_layer::<B>(case, inputs, device, |x, w, b, spec| {
        custom::conv2d(x, w, Some(b), spec)
    })
}

/// Runs a conv case forward and backward with Burn's ops on the [`Reference`] backend.
pub fn run_reference_conv(case: &ConvCase, inputs: &ConvInputs) -> ConvResult {
    run_layer::<Reference>(case, inputs, &Default::default(), |x, w, b, spec| {
        builtin::conv2d(x, w, Some(b), spec)
    })
}

/// Runs `layer(input, weight, bias, spec)` forward and backward on tracked tensors made from
/// `inputs`, under a loss whose gradient differs per element.
pub(super) fn run_layer<B>(
    case: &ConvCase,
    inputs: &ConvInputs,
    device: &B::Device,
    layer: impl FnOnce(Tensor<B, 4>, Tensor<B, 4>, Tensor<B, 1>, ConvSpec) -> Tensor<B, 4>,
) -> ConvResult
where
    B: AutodiffBackend,
{
    let x = Tensor::<B, 4>::from_data(inputs.input.clone(), device).require_grad();
    let w = Tensor::<B, 4>::from_data(inputs.weight.clone(), device).require_grad();
    let b = Tensor::<B, 1>::from_data(inputs.bias.clone(), device).require_grad();
    let spec = ConvSpec {
        stride: case.stride,
        padding: case.padding,
        relu: case.relu,
    };
    let out = layer(x.clone(), w.clone(), b.clone(), spec);
    let mix = Tensor::<B, 4>::ones(out.dims(), device).cumsum(3) * 0.1;
    let grads = (out.clone() * mix).sum().backward();
    ConvResult {
        output: out.into_data(),
        input_grad: x.grad(&grads).unwrap().into_data(),
        weight_grad: w.grad(&grads).unwrap().into_data(),
        bias_grad: b.grad(&grads).unwrap().into_data(),
    }
}

/// The custom conv on `B` vs Burn's on the reference.
pub fn check_conv<B>(case: &ConvCase, device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let inputs = ConvInputs::random(case);
    let custom = run_custom_conv::<B>(case, &inputs, device);
    let label = conv_label(case);
    let reference = reference_once(&label, || run_reference_conv(case, &inputs));
    assert_conv_close(&label, &custom, &reference);
}

/// The custom fused conv + pool on `B` vs Burn's conv, ReLU and pool on the reference.
pub fn check_conv_pool<B>(case: &ConvCase, pool: PoolSpec, device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let inputs = ConvInputs::random(case);
    let custom = run_layer::<B>(case, &inputs, device, |x, w, b, spec| {
        custom::conv2d_pool(x, w, Some(b), spec, pool)
    });
    let label = format!("{} + pool {pool:?}", conv_label(case));
    let reference = reference_once(&label, || {
        run_layer::<Reference>(case, &inputs, &Default::default(), |x, w, b, spec| {
            builtin::conv2d_pool(x, w, Some(b), spec, pool)
        })
    });
    assert_conv_close(&label, &custom, &reference);
}

/// Asserts every part of two conv results agrees.
pub fn assert_conv_close(label: &str, custom: &ConvResult, reference: &ConvResult) {
    assert_close(
        &format!("{label}: output"),
        &custom.output,
        &reference.output,
    );
    assert_close(
        &format!("{label}: input grad"),
        &custom.input_grad,
        &reference.input_grad,
    );
    assert_close(
        &format!("{label}: weight grad"),
        &custom.weight_grad,
        &reference.weight_grad,
    );
    assert_close(
        &format!("{label}: bias grad"),
        &custom.bias_grad,
        &reference.bias_grad,
    );
}

/// A readable name for a conv case.
pub fn conv_label(case: &ConvCase) -> String {
    format!(
        "input {:?} filters {} kernel {:?} stride {:?} padding {:?} relu {}",
        case.input, case.filters, case.kernel, case.stride, case.padding, case.relu
    )
}

/// Untracked inputs take the inference path (nothing recorded) and still agree.
pub fn check_untracked<B>(device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let (x, w) = (random_data(&[2, 3, 8, 8]), random_data(&[4, 3, 3, 3]));
    let spec = ConvSpec::relu(1);
    let custom = custom::conv2d(
        Tensor::<B, 4>::from_data(x.clone(), device),
        Tensor::from_data(w.clone(), device),
        None,
        spec,
    );
    let cpu = Default::default();
    let reference = builtin::conv2d(
        Tensor::<Reference, 4>::from_data(x, &cpu),
        Tensor::from_data(w, &cpu),
        None,
        spec,
    );
    assert_close(
        "untracked conv without bias",
        &custom.into_data(),
        &reference.into_data(),
    );
}

/// Weight and bias gradients of `layer` on an input that needs no gradient (asserted to get
/// none), under the loss `sum(out^2)`.
pub(super) fn first_layer_grads<B: AutodiffBackend>(
    [input, weight, bias]: [&TensorData; 3],
    device: &B::Device,
    layer: impl FnOnce(Tensor<B, 4>, Tensor<B, 4>, Option<Tensor<B, 1>>) -> Tensor<B, 4>,
) -> (TensorData, TensorData) {
    let x = Tensor::<B, 4>::from_data(input.clone(), device);
    let w = Tensor::<B, 4>::from_data(weight.clone(), device).require_grad();
    let b = Tensor::<B, 1>::from_data(bias.clone(), device).require_grad();
    let out = layer(x.clone(), w.clone(), Some(b.clone()));
    let grads = (out.clone() * out).sum().backward();
    assert!(x.grad(&grads).is_none(), "no input gradient");
    (
        w.grad(&grads).unwrap().into_data(),
        b.grad(&grads).unwrap().into_data(),
    )
}

/// A first layer: the input needs no gradient, so the custom backward skips it; the weight
/// and bias gradients must still agree with Burn's, and the input must get no gradient.
pub fn check_input_without_gradient<B>(device: &B::Device)
where
    B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend,
{
    let data = [
        &random_data(&[3, 1, 12, 12]),
        &random_data(&[5, 1, 5, 5]),
        &random_data(&[5]),
    ];
    let (spec, pool, cpu) = (ConvSpec::relu(2), PoolSpec::TWO_BY_TWO, Default::default());
    // The layer alone, then fused with its pool.
    let custom = first_layer_grads::<B>(data, device, |x, w, b| custom::conv2d(x, w, b, spec));
    let reference =
        first_layer_grads::<Reference>(data, &cpu, |x, w, b| builtin::conv2d(x, w, b, spec));
    let custom_fused = first_layer_grads::<B>(data, device, |x, w, b| {
        custom::conv2d_pool(x, w, b, spec, pool)
    });
    let reference_fused = first_layer_grads::<Reference>(data, &cpu, |x, w, b| {
        builtin::conv2d_pool(x, w, b, spec, pool)
    });
    for (label, (w_custom, b_custom), (w_reference, b_reference)) in [
        ("first layer", custom, reference),
        ("fused first layer", custom_fused, reference_fused),
    ] {
        assert_close(&format!("{label}: weight grad"), &w_custom, &w_reference);
        assert_close(&format!("{label}: bias grad"), &b_custom, &b_reference);
    }
}
