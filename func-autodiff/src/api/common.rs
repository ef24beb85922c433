//! Helpers shared by the transform families.

use func_core::{Backend, Error, Result, Tensor, TensorTree};

/// The panicking forms' way of raising an error: its message, as a panic.
pub(crate) fn fail<T>(r: Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// An error unless every leaf is floating point.
pub(crate) fn check_float<B: Backend>(transform: &str, leaves: &[Tensor<B>]) -> Result<()> {
    for (i, l) in leaves.iter().enumerate() {
        if !l.dtype().is_float() {
            return Err(Error::transform(
                transform,
                format!(
                    "only floating point inputs can be differentiated, but input {i} (shape {}) has dtype {}. \
                     Cast it with .to_dtype(DType::F32), or capture it in the closure instead of differentiating it.",
                    l.shape(),
                    l.dtype()
                ),
            ));
        }
    }
    Ok(())
}

/// Rebuild an owned copy of `x`'s structure with `leaves`.
pub(crate) fn like<B: Backend, X: TensorTree<B>>(x: &X, leaves: impl IntoIterator<Item = Tensor<B>>) -> X {
    x.rebuild(&mut leaves.into_iter())
}

/// `e` reported under the transform `name` (grad's errors come from its vjp).
pub(crate) fn rename(e: Error, name: &str) -> Error {
    match e {
        Error::Transform { why, .. } => Error::Transform { transform: name.to_string(), why },
        other => other,
    }
}
