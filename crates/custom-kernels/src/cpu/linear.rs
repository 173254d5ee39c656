//! Fully connected layer, forward and backward: one multi-threaded GEMM per product, with the
//! transposes of the backward pass read through strides instead of copied, and the ReLU that
//! follows a hidden layer applied to its output (forward) and to its gradient (backward).

use super::matmul::Operand::{Plain, Transposed};
use super::matmul::{Threads, Write, matmul, matmul_new};

/// Sizes of `x [batch, inputs] * w [inputs, outputs]` (Burn's `Linear` weight layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearGeometry {
    /// Rows of `x`.
    pub batch: usize,
    /// Features in.
    pub inputs: usize,
    /// Features out.
    pub outputs: usize,
}

impl LinearGeometry {
    /// Geometry of `x [batch, inputs]` times `w [inputs, outputs]`.
    ///
    /// # Panics
    /// If the inner sizes disagree.
    pub fn new(x: [usize; 2], w: [usize; 2]) -> Self {
        assert_eq!(
            x[1], w[0],
            "linear: input has {} features, weights expect {}",
            x[1], w[0]
        );
        Self {
            batch: x[0],
            inputs: x[1],
            outputs: w[1],
        }
    }
}

/// `x * w + bias`, through a ReLU if `relu` is set: `[batch, outputs]`, row-major.
pub fn linear_forward(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    g: &LinearGeometry,
) -> Vec<f32> {
    let mut y = affine(x, w, bias, g);
    if relu {
        y.iter_mut().for_each(|v| *v = relu_mask(*v, *v));
    }
    y
}

/// Burn's ReLU rule, for the output (`value` = `output`) and for its gradient: zero where the
/// output is not above zero, `value` elsewhere (a NaN output passes its value on).
#[inline(always)]
fn relu_mask(value: f32, output: f32) -> f32 {
    if output <= 0.0 { 0.0 } else { value }
}

/// `x * w + bias`.
fn affine(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &LinearGeometry) -> Vec<f32> {
    let LinearGeometry {
        batch,
        inputs,
        outputs,
    } = *g;
    assert_eq!(x.len(), batch * inputs, "linear: input length");
    assert_eq!(w.len(), inputs * outputs, "linear: weight length");
    let product = [batch, outputs, inputs];
    let Some(bias) = bias else {
        return matmul_new(Plain(x), Plain(w), product, Threads::All);
    };
    assert_eq!(bias.len(), outputs, "linear: bias length");
    let mut y = bias.repeat(batch);
    matmul(
        &mut y,
        Plain(x),
        Plain(w),
        product,
        Write::Add,
        Threads::All,
    );
    y
}

/// Gradients of [`linear_forward`] from its input, weights and output gradient `dy`:
/// `dx = dy * w^T` (only if `want_input_grad`), `dw = x^T * dy`, `dbias = sum of dy's rows`,
/// with `dy` first zeroed where the ReLU's output `relu_output` is not above zero (Burn's
/// `relu_backward`) when the layer has one.
pub fn linear_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    relu_output: Option<&[f32]>,
    g: &LinearGeometry,
    want_input_grad: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let LinearGeometry {
        batch,
        inputs,
        outputs,
    } = *g;
    assert_eq!(
        dy.len(),
        batch * outputs,
        "linear backward: gradient length"
    );
    let masked: Vec<f32>;
    let dy = match relu_output {
        Some(y) => {
            assert_eq!(y.len(), dy.len(), "linear backward: output length");
            masked = dy.iter().zip(y).map(|(&d, &y)| relu_mask(d, y)).collect();
            &masked
        }
        None => dy,
    };
    let dx = want_input_grad.then(|| {
        matmul_new(
            Plain(dy),
            Transposed(w),
            [batch, inputs, outputs],
            Threads::All,
        )
    });
    let dw = matmul_new(
        Transposed(x),
        Plain(dy),
        [inputs, outputs, batch],
        Threads::All,
    );
    let mut db = vec![0.0f32; outputs];
    for row in dy.chunks_exact(outputs) {
        db.iter_mut().zip(row).for_each(|(sum, d)| *sum += d);
    }
    (dx, dw, db)
}
