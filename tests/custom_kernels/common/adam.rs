//! The fused Adam against Burn's Adam: the trajectories of a tiny network.

use super::*;

/// A module with a 4-D, a 2-D and a 1-D parameter, for the optimizer comparison.
#[derive(Module, Debug)]
pub struct TinyNet<B: Backend> {
    pub kernel: Param<Tensor<B, 4>>,
    pub weight: Param<Tensor<B, 2>>,
    pub bias: Param<Tensor<B, 1>>,
}

/// The shapes of [`TinyNet`]'s parameters.
pub(super) const TINY_SHAPES: [&[usize]; 3] = [&[3, 2, 3, 3], &[18, 5], &[5]];

/// One value per parameter of [`TinyNet`] (its start, or one step's loss coefficients).
pub(super) type TinyData = [TensorData; 3];

pub(super) fn tiny_data() -> TinyData {
    TINY_SHAPES.map(random_data)
}

impl<B: Backend> TinyNet<B> {
    fn new([kernel, weight, bias]: &TinyData, device: &B::Device) -> Self {
        Self {
            kernel: Param::from_data(kernel.clone(), device),
            weight: Param::from_data(weight.clone(), device),
            bias: Param::from_data(bias.clone(), device),
        }
    }

    /// `sum(tanh(p * a) * p)` over the parameters `p`, with coefficients `a` of the same
    /// shapes: a different gradient for every parameter element, from elementwise ops only
    /// (so the wgpu side compiles none of Burn's CubeCL matmuls).
    fn loss(&self, [a, b, c]: &TinyData, device: &B::Device) -> Tensor<B, 1> {
        fn term<B: Backend, const D: usize>(
            p: Tensor<B, D>,
            a: &TensorData,
            device: &B::Device,
        ) -> Tensor<B, 1> {
            let a = Tensor::<B, D>::from_data(a.clone(), device);
            ((p.clone() * a).tanh() * p).sum()
        }
        term(self.kernel.val(), a, device)
            + term(self.weight.val(), b, device)
            + term(self.bias.val(), c, device)
    }

    fn values(&self) -> Vec<f32> {
        [
            self.kernel.val().into_data(),
            self.weight.val().into_data(),
            self.bias.val().into_data(),
        ]
        .into_iter()
        .flat_map(|d| d.to_vec::<f32>().unwrap())
        .collect()
    }
}

/// Parameters of [`TinyNet`] after a step of `optimizer` per loss in `losses`, from `start`.
/// With `hold_previous`, each step runs while a clone of the network is held, as Burn's
/// `Learner` holds its model during the optimizer step; the clone must come out unchanged.
pub(super) fn adam_trajectory<B: AutodiffBackend>(
    start: &TinyData,
    losses: &[TinyData],
    mut optimizer: impl Optimizer<TinyNet<B>, B>,
    hold_previous: bool,
    device: &B::Device,
) -> Vec<f32> {
    let mut net = TinyNet::<B>::new(start, device);
    for loss in losses {
        let grads = GradientsParams::from_grads(net.loss(loss, device).backward(), &net);
        if hold_previous {
            let (previous, before) = (net.clone(), net.values());
            net = optimizer.step(ADAM_LR, net, grads);
            assert_eq!(previous.values(), before, "the held model changed");
        } else {
            net = optimizer.step(ADAM_LR, net, grads);
        }
    }
    net.values()
}

/// The learning rate of the Adam comparisons.
pub(super) const ADAM_LR: f64 = 0.01;

/// Parameters at the start, then after `steps` updates with Burn's Adam on the reference
/// and with `FusedAdam` on `B`, same settings, same starting point and losses; with
/// `hold_previous`, `FusedAdam` updates parameters that a clone of the network also holds.
pub fn adam_trajectories<B>(
    weight_decay: Option<f32>,
    steps: usize,
    hold_previous: bool,
    device: &B::Device,
) -> [Vec<f32>; 3]
where
    B: AutodiffBackend<InnerBackend: RawKernels>,
{
    let start = tiny_data();
    let losses: Vec<TinyData> = (0..steps).map(|_| tiny_data()).collect();
    let burn_adam = AdamConfig::new()
        .with_epsilon(1e-7)
        .with_weight_decay(weight_decay.map(WeightDecayConfig::new))
        .init::<Reference, TinyNet<Reference>>();
    let fused_adam = FusedAdamConfig::new()
        .with_epsilon(1e-7)
        .with_weight_decay(weight_decay)
        .init::<B, TinyNet<B>>();
    [
        TinyNet::<Reference>::new(&start, &Default::default()).values(),
        adam_trajectory::<Reference>(&start, &losses, burn_adam, false, &Default::default()),
        adam_trajectory::<B>(&start, &losses, fused_adam, hold_previous, device),
    ]
}
