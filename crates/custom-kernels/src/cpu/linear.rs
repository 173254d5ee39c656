//! Fully connected layer, forward and backward: one multi-threaded GEMM per product, with the
//! transposes of the backward pass read through strides instead of copied.

use super::matmul::{Threads, matmul};

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

/// `x * w + bias`: `[batch, outputs]`, row-major.
pub fn linear_forward(x: &[f32], w: &[f32], bias: Option<&[f32]>, g: &LinearGeometry) -> Vec<f32> {
    let LinearGeometry {
        batch,
        inputs,
        outputs,
    } = *g;
    assert_eq!(x.len(), batch * inputs, "linear: input length");
    assert_eq!(w.len(), inputs * outputs, "linear: weight length");
    let mut y = vec![0.0f32; batch * outputs];
    if let Some(bias) = bias {
        assert_eq!(bias.len(), outputs, "linear: bias length");
        for row in y.chunks_exact_mut(outputs) {
            row.copy_from_slice(bias);
        }
    }
    let product = [batch, outputs, inputs];
    matmul(
        &mut y,
        x,
        false,
        w,
        false,
        product,
        bias.is_some(),
        Threads::All,
    );
    y
}

/// Gradients of [`linear_forward`] from its input, weights and output gradient `dy`:
/// `dx = dy * w^T` (only if `want_input_grad`), `dw = x^T * dy`, `dbias = sum of dy's rows`.
pub fn linear_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
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
    let dx = want_input_grad.then(|| {
        let mut dx = vec![0.0f32; batch * inputs];
        let product = [batch, inputs, outputs];
        matmul(&mut dx, dy, false, w, true, product, false, Threads::All);
        dx
    });
    let mut dw = vec![0.0f32; inputs * outputs];
    let product = [inputs, outputs, batch];
    matmul(&mut dw, x, true, dy, false, product, false, Threads::All);
    let mut db = vec![0.0f32; outputs];
    for row in dy.chunks_exact(outputs) {
        db.iter_mut().zip(row).for_each(|(sum, d)| *sum += d);
    }
    (dx, dw, db)
}
