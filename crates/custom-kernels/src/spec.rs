//! Geometry of the custom conv and pool ops.

use serde::{Deserialize, Serialize};

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
        let axis = |i: usize| {
            let span = (input[i] + 2 * self.padding[i]).checked_sub(kernel[i])?;
            (self.stride[i] > 0).then(|| span / self.stride[i] + 1)
        };
        Some([axis(0)?, axis(1)?])
    }
}

/// A 2-D max-pooling window without padding.
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

    /// Output `[height, width]` for an input of `input`, if any.
    pub fn output_size(&self, input: [usize; 2]) -> Option<[usize; 2]> {
        let axis = |i: usize| {
            let span = input[i].checked_sub(self.kernel[i])?;
            (self.stride[i] > 0).then(|| span / self.stride[i] + 1)
        };
        Some([axis(0)?, axis(1)?])
    }
}
