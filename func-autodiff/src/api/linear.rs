//! `linearize` and its `try_` form.

use super::common::{fail, rename};
use super::reverse::{VjpState, try_vjp, vjp_core};
use func_core::{Backend, Result, TensorTree};
use std::sync::Arc;

/// `torch.func.linearize(f, primals)`: `f(primals)` and a function computing
/// `J t` for any tangent `t`. `f` is evaluated once: each call of the
/// returned function transposes the recorded reverse pass (the vjp of the
/// linear map `u -> u^T J`), never re-running `f`.
///
/// # Panics
///
/// When an input or output is not floating point; the returned function
/// panics when the tangent's structure or shapes differ from the primals'.
///
/// # Examples
///
/// ```
/// use func_autodiff::linearize;
/// use func_core::Tensor;
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
/// let x = T::from_vec(vec![1.0f64, 2.0], [2]);
/// let (y, jvp_fn) = linearize(|x: &T| x * x, &x);
/// assert_eq!(jvp_fn(&T::from_vec(vec![1.0f64, 1.0], [2])).to_vec::<f64>(), vec![2.0, 4.0]);
/// ```
pub fn linearize<B, X, Y, F>(f: F, primals: &X) -> (Y, impl Fn(&X) -> Y + Clone + use<B, X, Y, F>)
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Y,
{
    let (y, state, ()) = fail(vjp_core(&|x: &X| Ok((f(x), ())), primals));
    let zero_ct: Arc<Y> = Arc::new(y.map_leaves(&mut |l| l.zeros_like()));
    (y, move |t: &X| fail(push(&state, &*zero_ct, t)))
}

/// [`linearize`] whose `f` returns a `Result`, and whose `jvp_fn` returns
/// one.
///
/// # Errors
///
/// When an input or output is not floating point or `f` returns an error;
/// `jvp_fn` returns an error when the tangent's structure or shapes differ
/// from the primals'.
pub fn try_linearize<B, X, Y, F>(f: F, primals: &X) -> Result<(Y, impl Fn(&X) -> Result<Y> + Clone + use<B, X, Y, F>)>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Result<Y>,
{
    let (y, state, ()) = vjp_core(&|x: &X| Ok((f(x)?, ())), primals)?;
    let zero_ct: Arc<Y> = Arc::new(y.map_leaves(&mut |l| l.zeros_like()));
    Ok((y, move |t: &X| push(&state, &*zero_ct, t)))
}

/// `J t`: the vjp of the linear map `u -> u^T J` (at any `u`, here zeros),
/// applied to `t`.
fn push<B: Backend, X: TensorTree<B>, Y: TensorTree<B>>(state: &VjpState<B, X>, zero_ct: &Y, t: &X) -> Result<Y> {
    let (_, back) = try_vjp(|u: &Y| state.pull(u), zero_ct)?;
    back(t).map_err(|e| rename(e, "linearize"))
}
