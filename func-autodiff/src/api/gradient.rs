//! `grad` and `grad_and_value`, with their `_aux` and `try_` forms.

use super::common::{fail, rename};
use super::reverse::vjp_record;
use func_core::{Backend, Error, Result, Tensor, TensorTree};
use std::sync::Arc;

fn grad_core<B, X, A, F>(f: &F, x: &X, name: &str) -> Result<(X, Tensor<B>, A)>
where
    B: Backend,
    X: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Tensor<B>, A)> + ?Sized,
{
    // The gradient is computed before the inputs `f` wrote into are written
    // back (NOTE: [inputs written back]).
    let (y, state, aux) = vjp_record(f, x).map_err(|e| rename(e, name))?;
    if y.ndim() != 0 {
        return Err(Error::transform(
            name,
            format!(
                "expected f(*args) to return a scalar Tensor, got a tensor with {} dims (shape {}). Maybe you wanted \
                 to use the vjp or jacrev APIs instead?",
                y.ndim(),
                y.shape()
            ),
        ));
    }
    let g = state.pull(&y.ones_like())?;
    state.write_back()?;
    Ok((g, y, aux))
}

/// `torch.func.grad(f)`: the gradient of a scalar function, shaped like its
/// input tree. Inputs the output does not use get zeros.
///
/// # Panics
///
/// The returned function panics when `f` returns a non-scalar (suggesting
/// vjp or jacrev), or an input is not floating point ([`try_grad`] returns
/// these as errors).
///
/// # Examples
///
/// ```
/// use func_autodiff::grad;
/// use func_core::Tensor;
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
/// // argnums=(0, 1): differentiate a tuple.
/// let f = |(a, b): &(T, T)| (a * b).sum();
/// let (ga, gb) = grad(f)(&(T::scalar(3.0f64), T::scalar(4.0f64)));
/// assert_eq!((ga.item::<f64>(), gb.item::<f64>()), (4.0, 3.0));
/// ```
pub fn grad<B, X, F>(f: F) -> impl Fn(&X) -> X + Clone
where
    B: Backend,
    X: TensorTree<B>,
    F: Fn(&X) -> Tensor<B>,
{
    let f = Arc::new(f);
    move |x: &X| fail(grad_core(&|x: &X| Ok((f(x), ())), x, "grad")).0
}

/// [`grad`] whose `f` returns a `Result`; the returned function returns
/// one.
///
/// # Errors
///
/// When `f` returns an error or a non-scalar, or an input is not floating
/// point.
///
/// # Examples
///
/// ```
/// use func_autodiff::try_grad;
/// use func_core::{Error, Tensor};
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
/// let not_scalar = try_grad(|x: &T| Ok(x * 2.0));
/// assert!(matches!(not_scalar(&T::from_vec(vec![1.0f64, 2.0], [2])), Err(Error::Transform { .. })));
/// ```
pub fn try_grad<B, X, F>(f: F) -> impl Fn(&X) -> Result<X> + Clone
where
    B: Backend,
    X: TensorTree<B>,
    F: Fn(&X) -> Result<Tensor<B>>,
{
    let f = Arc::new(f);
    move |x: &X| Ok(grad_core(&|x: &X| Ok((f(x)?, ())), x, "grad")?.0)
}

/// `grad(f, has_aux=True)`: `f` returns `(scalar, aux)`; the result is
/// `(gradient, aux)`.
///
/// # Panics
///
/// As [`grad`].
pub fn grad_aux<B, X, A, F>(f: F) -> impl Fn(&X) -> (X, A) + Clone
where
    B: Backend,
    X: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Tensor<B>, A),
{
    let f = Arc::new(f);
    move |x: &X| {
        let (g, _, aux) = fail(grad_core(&|x: &X| Ok(f(x)), x, "grad"));
        (g, aux)
    }
}

/// [`grad_aux`] whose `f` returns a `Result`.
///
/// # Errors
///
/// As [`try_grad`].
pub fn try_grad_aux<B, X, A, F>(f: F) -> impl Fn(&X) -> Result<(X, A)> + Clone
where
    B: Backend,
    X: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Tensor<B>, A)>,
{
    let f = Arc::new(f);
    move |x: &X| {
        let (g, _, aux) = grad_core(&*f, x, "grad")?;
        Ok((g, aux))
    }
}

/// `torch.func.grad_and_value(f)`: `(gradient, value)` from one evaluation.
///
/// # Panics
///
/// As [`grad`].
///
/// # Examples
///
/// ```
/// use func_autodiff::grad_and_value;
/// use func_core::Tensor;
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
/// let (g, v) = grad_and_value(|x: &T| (x * x).sum())(&T::from_vec(vec![3.0f64], [1]));
/// assert_eq!((g.to_vec::<f64>(), v.item::<f64>()), (vec![6.0], 9.0));
/// ```
pub fn grad_and_value<B, X, F>(f: F) -> impl Fn(&X) -> (X, Tensor<B>) + Clone
where
    B: Backend,
    X: TensorTree<B>,
    F: Fn(&X) -> Tensor<B>,
{
    let f = Arc::new(f);
    move |x: &X| {
        let (g, v, ()) = fail(grad_core(&|x: &X| Ok((f(x), ())), x, "grad_and_value"));
        (g, v)
    }
}

/// [`grad_and_value`] whose `f` returns a `Result`.
///
/// # Errors
///
/// As [`try_grad`].
pub fn try_grad_and_value<B, X, F>(f: F) -> impl Fn(&X) -> Result<(X, Tensor<B>)> + Clone
where
    B: Backend,
    X: TensorTree<B>,
    F: Fn(&X) -> Result<Tensor<B>>,
{
    let f = Arc::new(f);
    move |x: &X| {
        let (g, v, ()) = grad_core(&|x: &X| Ok((f(x)?, ())), x, "grad_and_value")?;
        Ok((g, v))
    }
}

/// `grad_and_value(f, has_aux=True)`: `(gradient, (value, aux))`.
///
/// # Panics
///
/// As [`grad`].
pub fn grad_and_value_aux<B, X, A, F>(f: F) -> impl Fn(&X) -> (X, (Tensor<B>, A)) + Clone
where
    B: Backend,
    X: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Tensor<B>, A),
{
    let f = Arc::new(f);
    move |x: &X| {
        let (g, v, aux) = fail(grad_core(&|x: &X| Ok(f(x)), x, "grad_and_value"));
        (g, (v, aux))
    }
}

/// [`grad_and_value_aux`] whose `f` returns a `Result`.
///
/// # Errors
///
/// As [`try_grad`].
#[allow(clippy::type_complexity)]
pub fn try_grad_and_value_aux<B, X, A, F>(f: F) -> impl Fn(&X) -> Result<(X, (Tensor<B>, A))> + Clone
where
    B: Backend,
    X: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Tensor<B>, A)>,
{
    let f = Arc::new(f);
    move |x: &X| {
        let (g, v, aux) = grad_core(&*f, x, "grad_and_value")?;
        Ok((g, (v, aux)))
    }
}
