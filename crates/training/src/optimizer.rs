//! Turning an [`OptimizerConfig`] into a Burn optimizer ([`AnyOptimizer`]) and the schedule
//! into an `LrScheduler`.

use anyhow::{Result, anyhow};
use burn::lr_scheduler::composed::{ComposedLrScheduler, ComposedLrSchedulerConfig};
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::exponential::ExponentialLrSchedulerConfig;
use burn::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::module::{AutodiffModule, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::record::AdaptorRecord;
use burn::optim::{
    Adam, AdamConfig, GradientsParams, LearningRate, MultiGradientsParams, Optimizer, RmsProp,
    RmsPropConfig, Sgd, SgdConfig,
};
use burn::record::Record;
use burn::tensor::backend::AutodiffBackend;
use custom_kernels::{FusedAdam, FusedAdamConfig, KernelChoice, RawKernels};
use hashbrown::HashMap;

use crate::config::{OptimizerConfig, ScheduleConfig, TrainConfig};

/// The L2 penalty, if any.
fn weight_decay(config: &TrainConfig) -> Option<WeightDecayConfig> {
    (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay))
}

/// The configured Adam betas and epsilon.
fn adam_settings(config: &TrainConfig) -> (f32, f32, f32) {
    let OptimizerConfig::Adam {
        beta1,
        beta2,
        epsilon,
    } = config.optimizer
    else {
        unreachable!("Adam settings asked of {}", config.optimizer.name())
    };
    (beta1, beta2, epsilon)
}

/// Adam with the configured betas and epsilon.
fn adam(config: &TrainConfig, weight_decay: Option<WeightDecayConfig>) -> AdamConfig {
    let (beta1, beta2, epsilon) = adam_settings(config);
    AdamConfig::new()
        .with_beta_1(beta1)
        .with_beta_2(beta2)
        .with_epsilon(epsilon)
        .with_weight_decay(weight_decay)
}

/// The same Adam as [`adam`], updated by the fused kernel of `custom_kernels` (one pass per
/// parameter instead of a dozen tensor operations; identical results on the CPU).
fn fused_adam(config: &TrainConfig) -> FusedAdamConfig {
    let (beta1, beta2, epsilon) = adam_settings(config);
    FusedAdamConfig::new()
        .with_beta_1(beta1)
        .with_beta_2(beta2)
        .with_epsilon(epsilon)
        .with_weight_decay((config.weight_decay > 0.0).then_some(config.weight_decay))
}

/// RMSProp with the configured decay, momentum and epsilon (plain, not centred).
fn rmsprop(config: &TrainConfig, weight_decay: Option<WeightDecayConfig>) -> RmsPropConfig {
    let OptimizerConfig::Rmsprop {
        decay,
        momentum,
        epsilon,
    } = config.optimizer
    else {
        unreachable!("rmsprop() called for {}", config.optimizer.name())
    };
    RmsPropConfig::new()
        .with_alpha(decay)
        .with_momentum(momentum)
        .with_epsilon(epsilon)
        .with_weight_decay(weight_decay)
}

/// SGD with the configured momentum (dampening 0, as in PyTorch).
fn sgd(config: &TrainConfig, weight_decay: Option<WeightDecayConfig>) -> SgdConfig {
    let OptimizerConfig::Sgd { momentum, nesterov } = config.optimizer else {
        unreachable!("sgd() called for {}", config.optimizer.name())
    };
    let momentum = (momentum > 0.0).then(|| {
        MomentumConfig::new()
            .with_momentum(momentum)
            .with_dampening(0.0)
            .with_nesterov(nesterov)
    });
    SgdConfig::new()
        .with_weight_decay(weight_decay)
        .with_momentum(momentum)
}

/// The learning-rate scheduler for a run of `iterations_per_epoch * config.epochs` steps.
pub fn scheduler(config: &TrainConfig, iterations_per_epoch: usize) -> Result<ComposedLrScheduler> {
    let lr = config.learning_rate;
    let total = (iterations_per_epoch * config.epochs).max(1);
    let composed = ComposedLrSchedulerConfig::new();
    let composed = match config.schedule {
        ScheduleConfig::Constant => composed.linear(LinearLrSchedulerConfig::new(lr, lr, 1)),
        ScheduleConfig::Cosine { min_lr } => {
            composed.cosine(CosineAnnealingLrSchedulerConfig::new(lr, total).with_min_lr(min_lr))
        }
        ScheduleConfig::Exponential { gamma } => {
            composed.exponential(ExponentialLrSchedulerConfig::new(
                lr,
                gamma.powf(1.0 / iterations_per_epoch.max(1) as f64),
            ))
        }
    };
    composed
        .init()
        .map_err(|e| anyhow!("invalid learning-rate schedule: {e}"))
}

/// The optimizers of the training tool behind one type. Burn's `Learner` is generic over the
/// optimizer, and each optimizer type compiled the whole training loop again (once per
/// backend): with four optimizers and two backends, the training crate was most of the
/// workspace's build. Each step only matches on the variant and calls Burn's optimizer.
#[derive(Clone)]
pub enum AnyOptimizer<M, B>
where
    M: AutodiffModule<B>,
    B: AutodiffBackend<InnerBackend: RawKernels>,
{
    /// Adam with the fused update of `custom_kernels` (`--kernels custom`).
    FusedAdam(OptimizerAdaptor<FusedAdam, M, B>),
    /// Burn's Adam (`--kernels builtin`).
    Adam(OptimizerAdaptor<Adam, M, B>),
    /// Burn's RMSProp.
    RmsProp(OptimizerAdaptor<RmsProp, M, B>),
    /// Burn's SGD.
    Sgd(OptimizerAdaptor<Sgd<B::InnerBackend>, M, B>),
}

/// The state of an [`AnyOptimizer`]: its variant's record, the others empty (a struct of
/// options rather than an enum, so a checkpoint says plainly which optimizer wrote it).
#[derive(Record)]
pub struct AnyOptimizerRecord<B: AutodiffBackend<InnerBackend: RawKernels>> {
    fused_adam: Option<StateOf<FusedAdam, B>>,
    adam: Option<StateOf<Adam, B>>,
    rmsprop: Option<StateOf<RmsProp, B>>,
    sgd: Option<StateOf<Sgd<<B as AutodiffBackend>::InnerBackend>, B>>,
}

/// The state Burn's `OptimizerAdaptor` keeps for simple optimizer `O`.
type StateOf<O, B> = HashMap<ParamId, AdaptorRecord<O, B>>;

impl<B: AutodiffBackend<InnerBackend: RawKernels>> AnyOptimizerRecord<B> {
    /// The optimizer whose state this is (`None` for a record of none or several).
    pub fn optimizer(&self) -> Option<&'static str> {
        match (
            self.fused_adam.is_some(),
            self.adam.is_some(),
            self.rmsprop.is_some(),
            self.sgd.is_some(),
        ) {
            (true, false, false, false) => Some(FUSED_ADAM),
            (false, true, false, false) => Some(ADAM),
            (false, false, true, false) => Some(RMSPROP),
            (false, false, false, true) => Some(SGD),
            _ => None,
        }
    }

    fn empty() -> Self {
        Self {
            fused_adam: None,
            adam: None,
            rmsprop: None,
            sgd: None,
        }
    }
}

const FUSED_ADAM: &str = "fused Adam";
const ADAM: &str = "Adam";
const RMSPROP: &str = "RMSProp";
const SGD: &str = "SGD";

impl<M, B> AnyOptimizer<M, B>
where
    M: AutodiffModule<B>,
    B: AutodiffBackend<InnerBackend: RawKernels>,
{
    /// The optimizer `config` asks for (`kernels`: the fused Adam with the custom kernels).
    pub fn new(config: &TrainConfig, kernels: KernelChoice) -> Self {
        let decay = weight_decay(config);
        match config.optimizer {
            OptimizerConfig::Adam { .. } if kernels == KernelChoice::Custom => {
                Self::FusedAdam(fused_adam(config).init())
            }
            OptimizerConfig::Adam { .. } => Self::Adam(adam(config, decay).init()),
            OptimizerConfig::Rmsprop { .. } => Self::RmsProp(rmsprop(config, decay).init()),
            OptimizerConfig::Sgd { .. } => Self::Sgd(sgd(config, decay).init()),
        }
    }

    /// The name of this optimizer, as [`AnyOptimizerRecord::optimizer`] gives it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::FusedAdam(_) => FUSED_ADAM,
            Self::Adam(_) => ADAM,
            Self::RmsProp(_) => RMSPROP,
            Self::Sgd(_) => SGD,
        }
    }
}

impl<M, B> Optimizer<M, B> for AnyOptimizer<M, B>
where
    M: AutodiffModule<B>,
    B: AutodiffBackend<InnerBackend: RawKernels>,
{
    type Record = AnyOptimizerRecord<B>;

    fn step(&mut self, lr: LearningRate, module: M, grads: GradientsParams) -> M {
        match self {
            Self::FusedAdam(optimizer) => optimizer.step(lr, module, grads),
            Self::Adam(optimizer) => optimizer.step(lr, module, grads),
            Self::RmsProp(optimizer) => optimizer.step(lr, module, grads),
            Self::Sgd(optimizer) => optimizer.step(lr, module, grads),
        }
    }

    fn step_multi(&mut self, lr: LearningRate, module: M, grads: MultiGradientsParams) -> M {
        match self {
            Self::FusedAdam(optimizer) => optimizer.step_multi(lr, module, grads),
            Self::Adam(optimizer) => optimizer.step_multi(lr, module, grads),
            Self::RmsProp(optimizer) => optimizer.step_multi(lr, module, grads),
            Self::Sgd(optimizer) => optimizer.step_multi(lr, module, grads),
        }
    }

    fn to_record(&self) -> Self::Record {
        let mut record = AnyOptimizerRecord::empty();
        match self {
            Self::FusedAdam(optimizer) => record.fused_adam = Some(optimizer.to_record()),
            Self::Adam(optimizer) => record.adam = Some(optimizer.to_record()),
            Self::RmsProp(optimizer) => record.rmsprop = Some(optimizer.to_record()),
            Self::Sgd(optimizer) => record.sgd = Some(optimizer.to_record()),
        }
        record
    }

    /// Panics on the record of another optimizer: the run checks every checkpoint's record
    /// with [`AnyOptimizerRecord::optimizer`] before Burn loads it.
    fn load_record(self, record: Self::Record) -> Self {
        let (found, name) = (record.optimizer(), self.name());
        match self {
            Self::FusedAdam(o) => {
                Self::FusedAdam(o.load_record(expect_state(record.fused_adam, found, name)))
            }
            Self::Adam(o) => Self::Adam(o.load_record(expect_state(record.adam, found, name))),
            Self::RmsProp(o) => {
                Self::RmsProp(o.load_record(expect_state(record.rmsprop, found, name)))
            }
            Self::Sgd(o) => Self::Sgd(o.load_record(expect_state(record.sgd, found, name))),
        }
    }
}

fn expect_state<T>(state: Option<T>, found: Option<&str>, name: &str) -> T {
    state.unwrap_or_else(|| panic!("the state of {found:?} loaded into {name}"))
}
