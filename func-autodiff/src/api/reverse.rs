//! Reverse mode: `vjp` and its `_aux` and `try_` forms.

use super::common::{check_float, fail, like};
use crate::vjp::{Tape, VjpInterp};
use func_core::{Backend, DType, Error, Level, Result, Shape, Tensor, TensorTree, TreeDef, with_interpreter};
use smallvec::SmallVec;
use std::sync::Arc;

/// A per-leaf list of one call: inline for the usual one or two leaves (a
/// Jacobian of a small function makes several such lists per call).
type Leaves<T> = SmallVec<[T; 2]>;

/// What a `vjp_fn` owns: the tape and how to read it.
pub(crate) struct VjpState<B: Backend, X> {
    /// The recording's interpreter, for its tape.
    interp: Arc<VjpInterp<B>>,
    inputs: Leaves<(usize, Shape, DType)>,
    outputs: Leaves<Option<usize>>,
    /// Each output leaf's dtype: a cotangent is cast to it, as torch does.
    out_dtypes: Leaves<DType>,
    out_def: TreeDef,
    template: X,
    /// NOTE: [inputs written back] Inputs that `f` wrote into: (input
    /// index, the caller's tensor, its value at the end of `f`).
    writes: Leaves<(usize, Tensor<B>, Tensor<B>)>,
    /// Whether `writes` reached the callers' tensors.
    written: std::sync::atomic::AtomicBool,
}

impl<B: Backend, X: TensorTree<B>> VjpState<B, X> {
    /// NOTE: [inputs written back] As torch.func does, a write into an input
    /// inside `f` reaches the caller's tensor: here, when the recording
    /// ends (`vjp`, `linearize`) or after the backward pass (`grad`). The
    /// recorded operations that read the input's old value read the
    /// caller's tensor, so a backward pass after the write-back that would
    /// need them is refused, as torch refuses a backward pass through a
    /// tensor modified in place.
    pub(crate) fn write_back(&self) -> Result<()> {
        use std::sync::atomic::Ordering;
        if self.writes.is_empty() || self.written.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        for (_, dst, src) in &self.writes {
            dst.try_copy_(src)?;
        }
        Ok(())
    }

    /// The error of a backward pass that would read an input's value from
    /// before `f` wrote into it (see [`write_back`](Self::write_back)).
    fn check_not_overwritten(&self) -> Result<()> {
        if self.writes.is_empty() || !self.written.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        for (i, dst, _) in &self.writes {
            let node = self.inputs[*i].0;
            if self.interp.tape.has_consumer(node) {
                return Err(Error::transform(
                    "vjp",
                    format!(
                        "f wrote in place into its input {i} (shape {}) after an operation had read it, and the \
                         write was applied to the caller's tensor, so the value the backward pass needs is gone \
                         (torch raises \"one of the variables needed for gradient computation has been modified \
                         by an inplace operation\" here). Pass a copy of the input (x.deep_copy()) to vjp, or \
                         write into a copy inside f.",
                        dst.shape()
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn pull<Y: TensorTree<B>>(&self, ct: &Y) -> Result<X> {
        self.check_not_overwritten()?;
        let cd = ct.tree_def();
        let leaves = ct.leaves_inline();
        if cd != self.out_def {
            return Err(Error::transform(
                "vjp",
                format!(
                    "expected the cotangents to have the same structure and shapes as the output of f: the output \
                     is {}, but the cotangents are {cd}",
                    self.out_def
                ),
            ));
        }
        let mut seeds: Leaves<(usize, Tensor<B>)> = Leaves::with_capacity(leaves.len());
        for ((n, c), &dtype) in self.outputs.iter().zip(leaves).zip(&self.out_dtypes) {
            if let Some(n) = *n {
                // torch casts the cotangent to the output's dtype (an f64
                // cotangent for an f32 output gives f32 gradients).
                let c = if c.dtype() == dtype {
                    c
                } else if c.dtype().is_float() {
                    c.try_to_dtype(dtype)?
                } else {
                    return Err(Error::transform(
                        "vjp",
                        format!(
                            "cotangents must be floating point Tensors, but the cotangent of shape {} has dtype {} \
                             (the output has dtype {dtype}); cast it with .to_dtype(..)",
                            c.shape(),
                            c.dtype()
                        ),
                    ));
                };
                seeds.push((n, c));
            }
        }
        let wanted: Leaves<usize> = self.inputs.iter().map(|(n, _, _)| *n).collect();
        let cts = self.interp.tape.backward(seeds, &wanted)?;
        let grads: Leaves<Tensor<B>> = cts
            .into_iter()
            .zip(&self.inputs)
            .map(|(c, (_, shape, dtype))| match c {
                Some(c) => Ok(c),
                None => Tensor::try_zeros(shape.clone(), *dtype),
            })
            .collect::<Result<_>>()?;
        Ok(like(&self.template, grads))
    }
}

/// Record `f` at `primals` and write the inputs it wrote into back to the
/// caller's tensors (NOTE: [inputs written back]).
#[allow(clippy::type_complexity)]
pub(crate) fn vjp_core<B, X, Y, A, F>(f: &F, primals: &X) -> Result<(Y, Arc<VjpState<B, X>>, A)>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Y, A)> + ?Sized,
{
    let (y, state, aux) = vjp_record(f, primals)?;
    state.write_back()?;
    Ok((y, Arc::new(state), aux))
}

/// Record `f` at `primals`; the inputs it wrote into are written back by
/// [`VjpState::write_back`].
#[allow(clippy::type_complexity)]
pub(crate) fn vjp_record<B, X, Y, A, F>(f: &F, primals: &X) -> Result<(Y, VjpState<B, X>, A)>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Y, A)> + ?Sized,
{
    let leaves = primals.leaves_inline();
    check_float("vjp", &leaves)?;
    let interp = Arc::new(VjpInterp { level: Level::new("vjp"), tape: Tape::new() });
    let it = interp.clone();
    let kept = interp.clone();
    let metas: Leaves<(Shape, DType)> = leaves.iter().map(|l| (l.shape().clone(), l.dtype())).collect();
    let template = like(primals, leaves.iter().cloned());
    let originals: Leaves<Tensor<B>> = leaves.iter().cloned().collect();
    let (y, outputs, out_dtypes, nodes, aux, finals) = with_interpreter::<B, _>(interp, move || -> Result<_> {
        let mut nodes = Leaves::with_capacity(leaves.len());
        let wrapped: Leaves<Tensor<B>> = leaves
            .into_iter()
            .map(|l| {
                let (t, n) = it.input(l);
                nodes.push(n);
                t
            })
            .collect();
        let (y, aux) = f(&like(primals, wrapped.iter().cloned()))?;
        // An input `f` wrote into holds a new primal now.
        let finals: Leaves<Tensor<B>> = wrapped.iter().map(|w| it.unwrap(w).0).collect();
        let (mut outs, mut prims, mut dtypes) = (Leaves::new(), Leaves::new(), Leaves::new());
        for (i, l) in y.leaves_inline().iter().enumerate() {
            if !l.dtype().is_float() {
                return Err(Error::transform(
                    "vjp",
                    format!(
                        "all outputs of f must be floating point Tensors, but output {i} (shape {}) has dtype {}",
                        l.shape(),
                        l.dtype()
                    ),
                ));
            }
            let (p, n) = it.unwrap(l);
            prims.push(p);
            outs.push(n);
            dtypes.push(l.dtype());
        }
        let aux_leaves: Leaves<Tensor<B>> = aux.leaves().iter().map(|l| it.unwrap(l).0).collect();
        Ok((like(&y, prims), outs, dtypes, nodes, like(&aux, aux_leaves), finals))
    })?;
    let writes = originals
        .into_iter()
        .zip(finals)
        .enumerate()
        .filter(|(_, (o, f))| !o.same_handle(f))
        .map(|(i, (o, f))| (i, o, f))
        .collect();
    let inputs = nodes.into_iter().zip(metas).map(|(n, (s, d))| (n, s, d)).collect();
    let state = VjpState {
        interp: kept,
        inputs,
        outputs,
        out_dtypes,
        out_def: y.tree_def(),
        template,
        writes,
        written: std::sync::atomic::AtomicBool::new(false),
    };
    Ok((y, state, aux))
}

/// `torch.func.vjp(f, primals)`: `f(primals)` and a function `vjp_fn` that
/// maps an output cotangent `u` to `u^T J`. `vjp_fn` can be called many
/// times, under any transform.
///
/// A cotangent of another float dtype is cast to its output's dtype, as
/// torch does: the gradients keep the primals' dtypes.
///
/// # Panics
///
/// When an input or output is not floating point ([`try_vjp`] returns the
/// error). `vjp_fn` panics when the cotangent's structure or shapes differ
/// from the output's, showing both, or a cotangent is not floating point.
///
/// # Examples
///
/// ```
/// use func_autodiff::vjp;
/// use func_core::Tensor;
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
/// let x = T::from_vec(vec![1.0f64, 2.0], [2]);
/// let (y, vjp_fn) = vjp(|x: &T| x.exp(), &x);
/// let g = vjp_fn(&T::ones([2], func_core::DType::F64));
/// assert_eq!(g.to_vec::<f64>(), y.to_vec::<f64>());
/// ```
pub fn vjp<B, X, Y, F>(f: F, primals: &X) -> (Y, impl Fn(&Y) -> X + Clone + use<B, X, Y, F>)
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Y,
{
    let (y, state, ()) = fail(vjp_core(&|x: &X| Ok((f(x), ())), primals));
    (y, move |ct: &Y| fail(state.pull(ct)))
}

/// [`vjp`] whose `f` returns a `Result`, and whose `vjp_fn` returns one.
///
/// # Errors
///
/// When an input or output is not floating point or `f` returns an error;
/// `vjp_fn` returns an error when the cotangent's structure or shapes differ
/// from the output's, or a cotangent is not floating point.
///
/// # Examples
///
/// ```
/// use func_autodiff::try_vjp;
/// use func_core::{DType, Error, Tensor};
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
/// let x = T::from_vec(vec![1.0f64, 2.0], [2]);
/// let (_, vjp_fn) = try_vjp(|x: &T| Ok(x.exp()), &x)?;
/// let wrong_shape = T::ones([3], DType::F64);
/// assert!(matches!(vjp_fn(&wrong_shape), Err(Error::Transform { .. })));
/// # Ok::<(), Error>(())
/// ```
pub fn try_vjp<B, X, Y, F>(f: F, primals: &X) -> Result<(Y, impl Fn(&Y) -> Result<X> + Clone + use<B, X, Y, F>)>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Result<Y>,
{
    let (y, state, ()) = vjp_core(&|x: &X| Ok((f(x)?, ())), primals)?;
    Ok((y, move |ct: &Y| state.pull(ct)))
}

/// `vjp(f, primals, has_aux=True)`: `f` returns `(output, aux)`; the result
/// is `(output, vjp_fn, aux)`.
///
/// # Panics
///
/// As [`vjp`].
pub fn vjp_aux<B, X, Y, A, F>(f: F, primals: &X) -> (Y, impl Fn(&Y) -> X + Clone + use<B, X, Y, A, F>, A)
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Y, A),
{
    let (y, state, aux) = fail(vjp_core(&|x: &X| Ok(f(x)), primals));
    (y, move |ct: &Y| fail(state.pull(ct)), aux)
}

/// [`vjp_aux`] whose `f` returns a `Result`, and whose `vjp_fn` returns one.
///
/// # Errors
///
/// As [`try_vjp`].
#[allow(clippy::type_complexity)]
pub fn try_vjp_aux<B, X, Y, A, F>(
    f: F,
    primals: &X,
) -> Result<(Y, impl Fn(&Y) -> Result<X> + Clone + use<B, X, Y, A, F>, A)>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Y, A)>,
{
    let (y, state, aux) = vjp_core(&f, primals)?;
    Ok((y, move |ct: &Y| state.pull(ct), aux))
}
