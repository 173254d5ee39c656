//! The sizes of one convolution, derived once from the operands' shapes and the layer's spec:
//! what every CPU path (direct kernels, im2col + GEMM, the fused conv + pool) indexes by.

use crate::spec::ConvSpec;

/// Every size a convolution needs, derived once from the shapes and the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub channels: usize,
    /// Input height and width.
    pub input: [usize; 2],
    /// Filters (output channels).
    pub filters: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Output height and width.
    pub output: [usize; 2],
    /// Stride, padding and ReLU.
    pub spec: ConvSpec,
}

impl ConvGeometry {
    /// Geometry of input `[n, c, h, w]` convolved with weights `[k, c, kh, kw]`.
    ///
    /// # Panics
    /// If the channel counts disagree or the kernel does not fit the padded input.
    pub fn new(input: [usize; 4], weight: [usize; 4], spec: ConvSpec) -> Self {
        assert_eq!(
            input[1], weight[1],
            "conv2d: input has {} channels, weights expect {}",
            input[1], weight[1]
        );
        let output = spec
            .output_size([input[2], input[3]], [weight[2], weight[3]])
            .unwrap_or_else(|| {
                panic!("conv2d: kernel {weight:?} does not fit input {input:?} with {spec:?}")
            });
        Self {
            batch: input[0],
            channels: input[1],
            input: [input[2], input[3]],
            filters: weight[0],
            kernel: [weight[2], weight[3]],
            output,
            spec,
        }
    }

    /// Rows of the im2col matrix: `channels * kh * kw`.
    pub fn patch_len(&self) -> usize {
        self.channels * self.kernel[0] * self.kernel[1]
    }

    /// Output positions per image: `oh * ow`.
    pub fn positions(&self) -> usize {
        self.output[0] * self.output[1]
    }

    /// Values per input image: `channels * h * w`.
    pub fn input_len(&self) -> usize {
        self.channels * self.input[0] * self.input[1]
    }

    /// Values per output image: `filters * oh * ow`.
    pub fn output_len(&self) -> usize {
        self.filters * self.positions()
    }

    /// True when the input itself is the im2col matrix (1x1 kernel, stride 1, no padding).
    pub(super) fn col_is_input(&self) -> bool {
        self.kernel == [1, 1] && self.spec.stride == [1, 1] && self.spec.padding == [0, 0]
    }

    /// Multiply-accumulates of the forward pass.
    pub fn macs(&self) -> usize {
        self.batch * self.output_len() * self.patch_len()
    }

    pub(super) fn check_operands(&self, input: &[f32], weight: &[f32]) {
        assert_eq!(
            input.len(),
            self.batch * self.input_len(),
            "conv2d: input length"
        );
        assert_eq!(
            weight.len(),
            self.filters * self.patch_len(),
            "conv2d: weight length"
        );
    }
}
