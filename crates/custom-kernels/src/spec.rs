//! What each custom op is told besides its tensors: the geometry of conv and pool, the
//! scalars of an Adam step. Plain data, so the CPU kernels depend on nothing above them.

use serde::{Deserialize, Serialize};

/// Output positions along one axis of a conv or pool window sliding over `input` values with
/// `padding` zeros on each side: `floor((W - F + 2P) / S) + 1`. `None` when the window does not
/// fit, or the window or the stride is 0. The one place the project computes it (`model::layer_math` and the
/// ops' shape checks call it).
pub fn output_len(input: usize, window: usize, stride: usize, padding: usize) -> Option<usize> {
    let span = (input + 2 * padding).checked_sub(window)?;
    (stride > 0 && window > 0).then(|| span / stride + 1)
}

/// A 2-D convolution: stride, zero padding and whether ReLU is fused after the bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConvSpec {
    /// Step between output positions, `[height, width]`.
    pub stride: [usize; 2],
    /// Zeros added on each side, `[height, width]`.
    pub padding: [usize; 2],
    /// Apply `max(0, x)` to the output.
    pub relu: bool,
}

impl ConvSpec {
    /// Stride 1, `padding` on every side, with ReLU.
    pub fn relu(padding: usize) -> Self {
        Self {
            stride: [1, 1],
            padding: [padding, padding],
            relu: true,
        }
    }

    /// Output `[height, width]` for an input of `input` and a kernel of `kernel`, if any.
    pub fn output_size(&self, input: [usize; 2], kernel: [usize; 2]) -> Option<[usize; 2]> {
        let axis = |i: usize| output_len(input[i], kernel[i], self.stride[i], self.padding[i]);
        Some([axis(0)?, axis(1)?])
    }
}

/// A 2-D pooling window (max or average) without padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PoolSpec {
    /// Window `[height, width]`.
    pub kernel: [usize; 2],
    /// Step between windows, `[height, width]`.
    pub stride: [usize; 2],
}

impl PoolSpec {
    /// The classic 2x2 window with stride 2.
    pub const TWO_BY_TWO: PoolSpec = PoolSpec {
        kernel: [2, 2],
        stride: [2, 2],
    };

    /// A square `size x size` window moving by `stride` in both directions.
    pub fn square(size: usize, stride: usize) -> Self {
        Self {
            kernel: [size, size],
            stride: [stride, stride],
        }
    }

    /// Global pooling over an input of `input` `[height, width]`: one window covering it, one
    /// output per plane.
    pub fn global(input: [usize; 2]) -> Self {
        Self {
            kernel: input,
            stride: input,
        }
    }

    /// Output `[height, width]` for an input of `input`, if any.
    pub fn output_size(&self, input: [usize; 2]) -> Option<[usize; 2]> {
        let axis = |i: usize| output_len(input[i], self.kernel[i], self.stride[i], 0);
        Some([axis(0)?, axis(1)?])
    }

    /// Elements in one window (the divisor of average pooling).
    pub fn window_len(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }
}

/// Everything one update needs besides the tensors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamStep {
    /// Learning rate of this step.
    pub lr: f32,
    /// Decay of the first moment.
    pub beta_1: f32,
    /// Decay of the second moment.
    pub beta_2: f32,
    /// Added to the square root of the second moment.
    pub epsilon: f32,
    /// L2 penalty, if any.
    pub weight_decay: Option<f32>,
    /// 1 for the first update of a parameter, then 2, 3, ...
    pub time: usize,
}

/// The scalars of one update, computed once, in `f32` as Burn's Adam computes them.
#[derive(Clone, Copy, Debug)]
pub struct AdamScalars {
    /// `beta_1`.
    pub beta_1: f32,
    /// `1 - beta_1`.
    pub one_minus_beta_1: f32,
    /// `beta_2`.
    pub beta_2: f32,
    /// `1 - beta_2`.
    pub one_minus_beta_2: f32,
    /// `sqrt(1 - beta_2^t) / (1 - beta_1^t)`: both bias corrections.
    pub moment_scale: f32,
    /// `epsilon * sqrt(1 - beta_2^t)`.
    pub epsilon_scaled: f32,
    /// Learning rate.
    pub lr: f32,
    /// L2 penalty, if any.
    pub weight_decay: Option<f32>,
}

impl AdamStep {
    /// The per-step scalars: `m' = m b1 + g (1 - b1)`, `v' = v b2 + g² (1 - b2)`,
    /// `param' = param - lr (m' scale) / (sqrt(v') + epsilon_scaled)`.
    pub fn scalars(&self) -> AdamScalars {
        let time = self.time as i32;
        let correction_2 = (1.0 - self.beta_2.powi(time)).sqrt();
        AdamScalars {
            beta_1: self.beta_1,
            one_minus_beta_1: 1.0 - self.beta_1,
            beta_2: self.beta_2,
            one_minus_beta_2: 1.0 - self.beta_2,
            moment_scale: correction_2 / (1.0 - self.beta_1.powi(time)),
            epsilon_scaled: self.epsilon * correction_2,
            lr: self.lr,
            weight_decay: self.weight_decay,
        }
    }
}
