//! Output-size and parameter-count arithmetic of convolution and pooling layers.
//!
//! These are the formulas every CNN course derives by hand:
//!
//! * explicit padding `P`: `out = floor((W - F + 2P) / S) + 1`
//! * `SAME` (TensorFlow convention, zero padding added as needed, the smaller half before):
//!   `out = ceil(W / S)`
//! * `VALID` (no padding): `out = ceil((W - F + 1) / S)`
//! * parameters of a conv layer with weight sharing: `(F * F * C_in + 1) * K`
//! * the receptive field of an output position `i` through layers `1..L`: walking back from
//!   the last, positions `[a, b]` of a layer's output see `[a S - P, b S - P + F - 1]` of its
//!   input
//!
//! where `W` is the input width (or height), `F` the filter size, `S` the stride,
//! `C_in` the number of input channels and `K` the number of filters.

use custom_kernels::spec::output_len;

/// How a convolution or pooling layer pads its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Zero padding chosen so that `out = ceil(W / S)`.
    Same,
    /// No padding: `out = ceil((W - F + 1) / S)`.
    Valid,
    /// `P` zeros on each side: `out = floor((W - F + 2P) / S) + 1`.
    Explicit(usize),
}

/// Spatial output size of a conv/pool layer along one axis.
///
/// Returns `None` when the filter does not fit (no output position) or the stride is zero.
/// Explicit and `VALID` padding use the kernels' own formula
/// ([`custom_kernels::spec::output_len`]).
///
/// ```
/// use model::layer_math::{output_size, Padding};
/// assert_eq!(output_size(32, 8, 2, Padding::Same), Some(16));
/// assert_eq!(output_size(32, 8, 2, Padding::Valid), Some(13));
/// assert_eq!(output_size(32, 8, 2, Padding::Explicit(1)), Some(14));
/// ```
pub fn output_size(input: usize, filter: usize, stride: usize, padding: Padding) -> Option<usize> {
    match padding {
        Padding::Same => (stride > 0 && filter > 0).then(|| input.div_ceil(stride)),
        Padding::Valid => output_len(input, filter, stride, 0),
        Padding::Explicit(pad) => output_len(input, filter, stride, pad),
    }
}

/// The zeros `SAME` adds along one axis, `[before, after]`: as many as make
/// `out = ceil(W / S)` positions fit, the smaller half before (TensorFlow's convention).
/// `infer convolve --padding same` pads exactly so.
pub fn same_padding(input: usize, filter: usize, stride: usize) -> [usize; 2] {
    let out = input.div_ceil(stride.max(1));
    let total = ((out.saturating_sub(1)) * stride + filter).saturating_sub(input);
    [total / 2, total - total / 2]
}

/// Trainable parameters of a conv layer with weight sharing: `(F_h * F_w * C_in + 1) * K`
/// (one bias per filter).
pub fn conv_params(filter_h: usize, filter_w: usize, in_channels: usize, filters: usize) -> usize {
    (filter_h * filter_w * in_channels + 1) * filters
}

/// One conv or pool layer along one axis: what its output size and receptive field depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Filter (or pooling window) size `F`.
    pub filter: usize,
    /// Stride `S`.
    pub stride: usize,
    /// Zeros added before the input `P` (and as many after).
    pub padding: usize,
}

impl Window {
    /// The output size for an input of `input`: `floor((W - F + 2P) / S) + 1`, or `None`
    /// where the window does not fit.
    pub fn output_size(&self, input: usize) -> Option<usize> {
        output_size(
            input,
            self.filter,
            self.stride,
            Padding::Explicit(self.padding),
        )
    }

    /// The formula filled in, e.g. `(28 - 5 + 2*2)/1 + 1 = 28` (`None` where it does not fit).
    pub fn output_size_formula(&self, input: usize) -> Option<String> {
        let Window {
            filter,
            stride,
            padding,
        } = *self;
        Some(format!(
            "({input} - {filter} + 2*{padding})/{stride} + 1 = {}",
            self.output_size(input)?
        ))
    }
}

/// The first and last input positions that output position `index` of the last of `layers`
/// sees, through all of them in order. Positions in the padding lie below 0 or past the input.
///
/// ```
/// use model::layer_math::{Window, receptive_field};
/// let conv5 = |padding| Window { filter: 5, stride: 1, padding };
/// let pool2 = Window { filter: 2, stride: 2, padding: 0 };
/// // LeNet-5's conv2 output 0 sees 14 input pixels, two of them padding.
/// assert_eq!(receptive_field(&[conv5(2), pool2, conv5(0)], 0), (-2, 11));
/// ```
pub fn receptive_field(layers: &[Window], index: usize) -> (isize, isize) {
    let (mut first, mut last) = (index as isize, index as isize);
    for window in layers.iter().rev() {
        let (filter, stride, padding) = (
            window.filter as isize,
            window.stride as isize,
            window.padding as isize,
        );
        first = first * stride - padding;
        last = last * stride - padding + filter - 1;
    }
    (first, last)
}

/// Trainable parameters of a fully connected layer: `(inputs + 1) * outputs`.
pub fn linear_params(inputs: usize, outputs: usize) -> usize {
    (inputs + 1) * outputs
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook case: 32x32x3 input, 20 filters of 8x8, stride 2.
    #[test]
    fn textbook_32x32x3_input_20_filters_8x8_stride_2() {
        assert_eq!(output_size(32, 8, 2, Padding::Same), Some(16));
        assert_eq!(output_size(32, 8, 2, Padding::Valid), Some(13));
        assert_eq!(output_size(32, 8, 2, Padding::Explicit(1)), Some(14));
        assert_eq!(conv_params(8, 8, 3, 20), 3_860);
        // Without sharing, each of the 16x16x20 SAME outputs would own its 8x8x3 + 1 weights.
        let side = output_size(32, 8, 2, Padding::Same).unwrap();
        assert_eq!(side * side * 20 * conv_params(8, 8, 3, 1), 988_160);
    }

    #[test]
    fn mnist_layers() {
        // LeNet-5: 5x5 SAME on 28 keeps 28, pool 2 gives 14, 5x5 VALID gives 10, pool gives 5.
        assert_eq!(output_size(28, 5, 1, Padding::Explicit(2)), Some(28));
        assert_eq!(output_size(28, 5, 1, Padding::Same), Some(28));
        assert_eq!(output_size(28, 2, 2, Padding::Valid), Some(14));
        assert_eq!(output_size(14, 5, 1, Padding::Valid), Some(10));
        assert_eq!(output_size(10, 2, 2, Padding::Valid), Some(5));
        assert_eq!(conv_params(5, 5, 1, 6), 156);
        assert_eq!(conv_params(5, 5, 6, 16), 2_416);
        assert_eq!(linear_params(400, 120), 48_120);
    }

    #[test]
    fn same_padding_amount() {
        assert_eq!(same_padding(28, 5, 1), [2, 2]);
        assert_eq!(same_padding(32, 8, 2), [3, 3]);
        assert_eq!(same_padding(5, 3, 2), [1, 1]);
        // An even kernel at stride 1 needs an odd total: the extra zero goes after.
        assert_eq!(same_padding(5, 4, 1), [1, 2]);
        assert_eq!(same_padding(6, 1, 2), [0, 0]);
    }

    /// Padding an axis by `same_padding` and sliding the filter without padding gives exactly
    /// the `SAME` output size, for every small geometry.
    #[test]
    fn same_padding_gives_the_same_output_size() {
        for input in 1..20 {
            for filter in 1..8 {
                for stride in 1..4 {
                    let [before, after] = same_padding(input, filter, stride);
                    let padded = input + before + after;
                    assert_eq!(
                        output_len(padded, filter, stride, 0),
                        output_size(input, filter, stride, Padding::Same),
                        "input {input}, filter {filter}, stride {stride}"
                    );
                }
            }
        }
    }

    #[test]
    fn filter_larger_than_input_has_no_output() {
        assert_eq!(output_size(4, 5, 1, Padding::Valid), None);
        assert_eq!(output_size(4, 7, 1, Padding::Explicit(1)), None);
        assert_eq!(output_size(4, 3, 0, Padding::Same), None);
    }
}
