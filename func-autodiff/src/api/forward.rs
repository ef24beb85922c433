//! Forward mode: `jvp` and its `_aux` and `try_` forms.
//!
//! torch.func's `jvp(..., strict=True)` raises "not implemented" in torch
//! itself; func-rs has no `strict` either. An output that does not depend on
//! the inputs gets a zero tangent (as with `strict=False`); a caller who
//! wants to know can compare the tangent with zero, and [`grad`] and
//! `jacrev` give zeros for unused inputs too.
//!
//! [`grad`]: crate::grad

use super::common::{check_float, fail, like};
use crate::jvp::JvpInterp;
use func_core::{Backend, DType, Error, Level, Result, Tensor, TensorTree, with_interpreter};
use std::sync::Arc;

pub(crate) fn jvp_core<B, X, Y, A, F>(f: &F, primals: &X, tangents: &X) -> Result<(Y, Y, A)>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Y, A)> + ?Sized,
{
    let (pd, td) = (primals.tree_def(), tangents.tree_def());
    let (pl, tl) = (primals.leaves_inline(), tangents.leaves_inline());
    // A float tangent of another float dtype is accepted, as torch does.
    let dtypes_fit =
        |p: &Tensor<B>, t: &Tensor<B>| p.dtype() == t.dtype() || (p.dtype().is_float() && t.dtype().is_float());
    let same = pd.same_structure(&td) && pl.iter().zip(&tl).all(|(p, t)| p.shape() == t.shape() && dtypes_fit(p, t));
    if !same {
        return Err(Error::transform(
            "jvp",
            format!(
                "expected primals and tangents to have the same structure and shapes, and floating point dtypes, \
                 but got primals {pd} and tangents {td} (dtypes {:?} and {:?})",
                pl.iter().map(|t| t.dtype()).collect::<Vec<_>>(),
                tl.iter().map(|t| t.dtype()).collect::<Vec<_>>()
            ),
        ));
    }
    check_float("jvp", &pl)?;
    // torch computes with the tangent's own dtype, so an f64 tangent of an f32
    // primal gives f64 output tangents. Here the tangent is carried in the
    // primal's dtype (every rule keeps a tangent in its primal's dtype) and
    // the output tangents are cast to the dtype torch's promotion gives.
    let widest = tl.iter().map(Tensor::dtype).filter(|d| d.is_float()).reduce(DType::promote);
    let tl = pl.iter().zip(tl).map(|(p, t)| t.try_to_dtype(p.dtype())).collect::<Result<Vec<_>>>()?;
    let interp = Arc::new(JvpInterp { level: Level::new("jvp") });
    let it = interp.clone();
    let originals = pl.clone();
    let (y, ys, ts, aux, finals) = with_interpreter::<B, _>(interp, move || -> Result<_> {
        let wrapped: Vec<Tensor<B>> = pl.into_iter().zip(tl).map(|(p, t)| it.wrap(p, Some(t), true)).collect();
        let (y, aux) = f(&like(primals, wrapped.clone()))?;
        let (ys, ts): (Vec<_>, Vec<_>) = y.leaves_inline().iter().map(|l| it.unwrap(l)).unzip();
        let aux_leaves: Vec<Tensor<B>> = aux.leaves().iter().map(|l| it.unwrap(l).0).collect();
        // An input `f` wrote into holds a new primal now.
        let finals: Vec<Tensor<B>> = wrapped.iter().map(|w| it.unwrap(w).0).collect();
        Ok((y, ys, ts, like(&aux, aux_leaves), finals))
    })?;
    // NOTE: [inputs written back] (reverse.rs): the caller's tensors get the
    // writes `f` made into its inputs, as in torch.func.
    for (o, f) in originals.iter().zip(&finals) {
        if !o.same_handle(f) {
            o.try_copy_(f)?;
        }
    }
    // Symbolic zero tangents become zeros here, outside the transform (a
    // factory inside it would make a tracer of it).
    let ts: Vec<Tensor<B>> = ts.into_iter().zip(&ys).map(|(t, p)| t.unwrap_or_else(|| p.zeros_like())).collect();
    let ts = match widest {
        Some(w) => ts
            .into_iter()
            .map(|t| if t.dtype().is_float() { t.try_to_dtype(t.dtype().promote(w)) } else { Ok(t) })
            .collect::<Result<Vec<_>>>()?,
        None => ts,
    };
    Ok((like(&y, ys), like(&y, ts), aux))
}

/// `torch.func.jvp(f, primals, tangents)`: `f(primals)` and the directional
/// derivative `J tangents`, in one forward pass.
///
/// A tangent may have another float dtype than its primal, as in torch: an
/// f64 tangent of an f32 primal gives f64 output tangents (computed in the
/// primal's precision).
///
/// # Panics
///
/// When primals and tangents differ in structure or shape, or an input or
/// tangent is not floating point, or `f` panics (see [`try_jvp`]).
///
/// # Examples
///
/// ```
/// use func_autodiff::jvp;
/// use func_core::Tensor;
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
/// let x = T::from_vec(vec![1.0f64, 2.0], [2]);
/// let (y, dy) = jvp(|x: &T| x * x, &x, &T::from_vec(vec![1.0f64, 0.0], [2]));
/// assert_eq!(dy.to_vec::<f64>(), vec![2.0, 0.0]);
/// ```
pub fn jvp<B, X, Y, F>(f: F, primals: &X, tangents: &X) -> (Y, Y)
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Y,
{
    fail(try_jvp(|x: &X| Ok(f(x)), primals, tangents))
}

/// [`jvp`] whose `f` returns a `Result`: argument errors and errors raised
/// inside `f` come back as `Err`.
///
/// # Errors
///
/// When primals and tangents differ in structure or shape, an input or
/// tangent is not floating point, or `f` returns an error.
///
/// # Examples
///
/// ```
/// use func_autodiff::try_jvp;
/// use func_core::{Error, Tensor};
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
/// let x = T::from_vec(vec![1.0f64, 2.0], [2]);
/// let bad = |x: &T| x.try_matmul(&T::ones([3], func_core::DType::F64));
/// assert!(matches!(try_jvp(bad, &x, &x), Err(Error::ShapeMismatch { .. })));
/// ```
pub fn try_jvp<B, X, Y, F>(f: F, primals: &X, tangents: &X) -> Result<(Y, Y)>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Result<Y>,
{
    let (y, t, ()) = jvp_core(&|x: &X| Ok((f(x)?, ())), primals, tangents)?;
    Ok((y, t))
}

/// `jvp(f, primals, tangents, has_aux=True)`: `f` returns `(output, aux)`;
/// the result is `(output, tangent, aux)`.
///
/// # Panics
///
/// As [`jvp`].
pub fn jvp_aux<B, X, Y, A, F>(f: F, primals: &X, tangents: &X) -> (Y, Y, A)
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Y, A),
{
    fail(jvp_core(&|x: &X| Ok(f(x)), primals, tangents))
}

/// [`jvp_aux`] whose `f` returns a `Result`.
///
/// # Errors
///
/// As [`try_jvp`].
pub fn try_jvp_aux<B, X, Y, A, F>(f: F, primals: &X, tangents: &X) -> Result<(Y, Y, A)>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Y, A)>,
{
    jvp_core(&f, primals, tangents)
}
