//! Example custom ops (torch's `autograd.Function`, JAX's `custom_jvp` /
//! `custom_vjp`), used by the op catalogue, the transform laws and the
//! conformance cases against torch (`data/custom_ops_golden.json`).

use func_core::{Backend, CustomFn};

/// `log(1 + e^x)` with a custom JVP, `sigmoid(x) * t`: JAX's
/// `custom_jvp` example. The naive derivative `e^x / (1 + e^x)` is
/// `inf / inf = NaN` at `x = 100`; this one is finite. Reverse mode
/// transposes the JVP rule; vmap batches the forward.
///
/// # Examples
///
/// ```
/// use func_autodiff::grad;
/// use func_core::Tensor;
/// use func_testkit::{RefBackend, custom_examples::log1pexp};
/// type T = Tensor<RefBackend>;
/// let op = log1pexp::<RefBackend>();
/// let g = grad(move |x: &T| op.call(&[x]).remove(0).sum())(&T::from_vec(vec![100.0f64], [1]));
/// assert_eq!(g.to_vec::<f64>(), vec![1.0]);
/// ```
pub fn log1pexp<B: Backend>() -> CustomFn<B> {
    CustomFn::new("log1pexp", |x| vec![x[0].exp().log1p()])
        .with_jvp(|x, _y, t| vec![t[0].as_ref().map(|t| t * &x[0].sigmoid())])
}

/// A straight-through estimator: `round(x)` forward, the identity as its
/// derivative (both the JVP and the VJP rule), as in quantization-aware
/// training.
pub fn round_ste<B: Backend>() -> CustomFn<B> {
    CustomFn::new("round_ste", |x| vec![x[0].round()])
        .with_jvp(|_x, _y, t| vec![t[0].clone()])
        .with_vjp(|_x, _y, g| vec![g[0].clone()])
}

/// `clip_gradient(lo, hi)`: the identity forward, with the cotangent
/// clipped to `[lo, hi]` (a custom VJP; JAX's `custom_vjp` example). Its
/// forward mode is the forward's own derivative, the identity.
pub fn clip_gradient<B: Backend>(lo: f64, hi: f64) -> CustomFn<B> {
    CustomFn::new("clip_gradient", |x| vec![x[0].deep_copy()])
        .with_vjp(move |_x, _y, g| vec![g[0].as_ref().map(|g| g.clamp(Some(lo), Some(hi)))])
}
