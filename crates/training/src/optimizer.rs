//! Turning an [`OptimizerConfig`] into a Burn optimizer and the schedule into an `LrScheduler`.

use anyhow::{Result, anyhow};
use burn::lr_scheduler::composed::{ComposedLrScheduler, ComposedLrSchedulerConfig};
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::exponential::ExponentialLrSchedulerConfig;
use burn::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, RmsPropConfig, SgdConfig};
use custom_kernels::FusedAdamConfig;

use crate::config::{OptimizerConfig, ScheduleConfig, TrainConfig};

/// The L2 penalty, if any.
pub fn weight_decay(config: &TrainConfig) -> Option<WeightDecayConfig> {
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
pub fn adam(config: &TrainConfig, weight_decay: Option<WeightDecayConfig>) -> AdamConfig {
    let (beta1, beta2, epsilon) = adam_settings(config);
    AdamConfig::new()
        .with_beta_1(beta1)
        .with_beta_2(beta2)
        .with_epsilon(epsilon)
        .with_weight_decay(weight_decay)
}

/// The same Adam as [`adam`], updated by the fused kernel of `custom_kernels` (one pass per
/// parameter instead of a dozen tensor operations; identical results on the CPU).
pub fn fused_adam(config: &TrainConfig) -> FusedAdamConfig {
    let (beta1, beta2, epsilon) = adam_settings(config);
    FusedAdamConfig::new()
        .with_beta_1(beta1)
        .with_beta_2(beta2)
        .with_epsilon(epsilon)
        .with_weight_decay((config.weight_decay > 0.0).then_some(config.weight_decay))
}

/// RMSProp with the configured decay, momentum and epsilon (plain, not centred).
pub fn rmsprop(config: &TrainConfig, weight_decay: Option<WeightDecayConfig>) -> RmsPropConfig {
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
pub fn sgd(config: &TrainConfig, weight_decay: Option<WeightDecayConfig>) -> SgdConfig {
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
