//! Helpers shared by the integration tests.

use func_core::{Backend, Tensor};

/// Elementwise comparison, tolerance scaled to each element; the count checked.
pub fn close<B: Backend>(got: &Tensor<B>, want: &[f64]) -> usize {
    let got = got.to_vec::<f64>();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "element {i}: {g} vs {w}");
    }
    got.len()
}
