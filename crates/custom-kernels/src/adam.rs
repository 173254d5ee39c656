//! Adam as a fused kernel: the same algorithm and arithmetic as Burn's `Adam` (bias-corrected
//! moments, optional L2 weight decay), with each parameter's update done in one pass by the
//! backend ([`RawKernels::adam_step`]) instead of a dozen tensor operations. Plugs into Burn's
//! `Learner` like any optimizer.

use burn::config::Config;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{LearningRate, SimpleOptimizer};
use burn::record::Record;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorPrimitive};

use crate::backend::RawKernels;
use crate::spec::AdamStep;

/// Configuration of [`FusedAdam`]; the defaults are those of Burn's `AdamConfig`.
#[derive(Config, Debug)]
pub struct FusedAdamConfig {
    /// Decay of the first moment.
    #[config(default = 0.9)]
    pub beta_1: f32,
    /// Decay of the second moment.
    #[config(default = 0.999)]
    pub beta_2: f32,
    /// Added to the square root of the second moment.
    #[config(default = 1e-5)]
    pub epsilon: f32,
    /// L2 penalty added to the gradient (`grad + penalty * param`), as Burn's weight decay.
    pub weight_decay: Option<f32>,
}

impl FusedAdamConfig {
    /// The optimizer for a module trained on `B`.
    pub fn init<B, M>(&self) -> OptimizerAdaptor<FusedAdam, M, B>
    where
        B: AutodiffBackend<InnerBackend: RawKernels>,
        M: AutodiffModule<B>,
    {
        OptimizerAdaptor::from(FusedAdam {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
            weight_decay: self.weight_decay,
        })
    }
}

/// Adam with one fused update kernel per parameter tensor.
#[derive(Clone, Debug)]
pub struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: Option<f32>,
}

/// Per-parameter state: the step count and the two moments.
#[derive(Record, Clone)]
pub struct FusedAdamState<B: Backend, const D: usize> {
    /// Updates done so far.
    pub time: usize,
    /// First moment (mean of the gradients).
    pub moment_1: Tensor<B, D>,
    /// Second moment (mean of the squared gradients).
    pub moment_2: Tensor<B, D>,
}

impl<B: RawKernels> SimpleOptimizer<B> for FusedAdam {
    type State<const D: usize> = FusedAdamState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let (time, moment_1, moment_2) = match state {
            Some(state) => (state.time + 1, state.moment_1, state.moment_2),
            None => (1, grad.zeros_like(), grad.zeros_like()),
        };
        let step = AdamStep {
            lr: lr as f32,
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
            weight_decay: self.weight_decay,
            time,
        };
        let (param, moment_1, moment_2) = B::adam_step(
            tensor.into_primitive().tensor(),
            grad.into_primitive().tensor(),
            moment_1.into_primitive().tensor(),
            moment_2.into_primitive().tensor(),
            &step,
        );
        let wrap = |t| Tensor::<B, D>::from_primitive(TensorPrimitive::Float(t));
        let state = FusedAdamState {
            time,
            moment_1: wrap(moment_1),
            moment_2: wrap(moment_2),
        };
        (wrap(param), Some(state))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        state.moment_1 = state.moment_1.to_device(device);
        state.moment_2 = state.moment_2.to_device(device);
        state
    }
}
