//! The transforms: jvp, vjp, grad, grad_and_value, linearize, jacrev,
//! jacfwd, hessian, with their `_aux` (torch.func's `has_aux`) and options
//! forms.

use crate::jvp::JvpInterp;
use crate::vjp::{Tape, VjpInterp};
use func_batch::{Randomness, VmapOptions, try_vmap};
use func_core::{Backend, DType, Error, Level, Result, Shape, Tensor, TensorTree, TreeDef, with_interpreter};
use std::sync::Arc;

fn fail<T>(r: Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn check_float<B: Backend>(transform: &str, leaves: &[Tensor<B>]) -> Result<()> {
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
fn like<B: Backend, X: TensorTree<B>>(x: &X, leaves: Vec<Tensor<B>>) -> X {
    x.rebuild(&mut leaves.into_iter())
}

// ----- jvp ---------------------------------------------------------------------------------------

fn jvp_core<B, X, Y, A, F>(f: &F, primals: &X, tangents: &X) -> Result<(Y, Y, A)>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Y, A) + ?Sized,
{
    let (pd, td) = (primals.tree_def(), tangents.tree_def());
    let (pl, tl) = (primals.leaves(), tangents.leaves());
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
    let (y, ys, ts, aux) = with_interpreter::<B, _>(interp, move || {
        let wrapped: Vec<Tensor<B>> = pl.into_iter().zip(tl).map(|(p, t)| it.wrap(p, Some(t), true)).collect();
        let (y, aux) = f(&like(primals, wrapped));
        let (ys, ts): (Vec<_>, Vec<_>) = y.leaves().iter().map(|l| it.unwrap(l)).unzip();
        let aux_leaves: Vec<Tensor<B>> = aux.leaves().iter().map(|l| it.unwrap(l).0).collect();
        (y, ys, ts, like(&aux, aux_leaves))
    });
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
/// # Panics
///
/// When primals and tangents differ in structure or shape, or an input or
/// tangent is not floating point (see [`try_jvp`]).
///
/// A tangent may have another float dtype than its primal, as in torch: an
/// f64 tangent of an f32 primal gives f64 output tangents (computed in the
/// primal's precision).
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
    fail(try_jvp(f, primals, tangents))
}

/// [`jvp`] returning argument errors.
///
/// # Errors
///
/// When primals and tangents differ in structure or shape, or an input or
/// tangent is not floating point.
pub fn try_jvp<B, X, Y, F>(f: F, primals: &X, tangents: &X) -> Result<(Y, Y)>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Y,
{
    let (y, t, ()) = jvp_core(&|x: &X| (f(x), ()), primals, tangents)?;
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
    fail(jvp_core(&f, primals, tangents))
}

// ----- vjp ---------------------------------------------------------------------------------------

/// What a `vjp_fn` owns: the tape and how to read it.
struct VjpState<B: Backend, X> {
    tape: Arc<Tape<B>>,
    inputs: Vec<(usize, Shape, DType)>,
    outputs: Vec<Option<usize>>,
    /// Each output leaf's dtype: a cotangent is cast to it, as torch does.
    out_dtypes: Vec<DType>,
    out_def: TreeDef,
    template: X,
}

impl<B: Backend, X: TensorTree<B>> VjpState<B, X> {
    fn pull<Y: TensorTree<B>>(&self, ct: &Y) -> Result<X> {
        let cd = ct.tree_def();
        let leaves = ct.leaves();
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
        let mut seeds: Vec<(usize, Tensor<B>)> = Vec::with_capacity(leaves.len());
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
        let wanted: Vec<usize> = self.inputs.iter().map(|(n, _, _)| *n).collect();
        let cts = self.tape.backward(seeds, &wanted)?;
        let grads: Vec<Tensor<B>> = cts
            .into_iter()
            .zip(&self.inputs)
            .map(|(c, (_, shape, dtype))| c.unwrap_or_else(|| Tensor::zeros(shape.clone(), *dtype)))
            .collect();
        Ok(like(&self.template, grads))
    }
}

#[allow(clippy::type_complexity)]
fn vjp_core<B, X, Y, A, F>(f: &F, primals: &X) -> Result<(Y, Arc<VjpState<B, X>>, A)>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Y, A) + ?Sized,
{
    let leaves = primals.leaves();
    check_float("vjp", &leaves)?;
    let tape = Tape::new();
    let interp = Arc::new(VjpInterp { level: Level::new("vjp"), tape: tape.clone() });
    let it = interp.clone();
    let metas: Vec<(Shape, DType)> = leaves.iter().map(|l| (l.shape().clone(), l.dtype())).collect();
    let template = like(primals, leaves.clone());
    let (y, outputs, nodes, aux) = with_interpreter::<B, _>(interp, move || -> Result<_> {
        let mut nodes = Vec::with_capacity(leaves.len());
        let wrapped: Vec<Tensor<B>> = leaves
            .into_iter()
            .map(|l| {
                let (t, n) = it.input(l);
                nodes.push(n);
                t
            })
            .collect();
        let (y, aux) = f(&like(primals, wrapped));
        let mut outs = Vec::new();
        let mut prims = Vec::new();
        for (i, l) in y.leaves().iter().enumerate() {
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
        }
        let aux_leaves: Vec<Tensor<B>> = aux.leaves().iter().map(|l| it.unwrap(l).0).collect();
        Ok((like(&y, prims), outs, nodes, like(&aux, aux_leaves)))
    })?;
    let inputs = nodes.into_iter().zip(metas).map(|(n, (s, d))| (n, s, d)).collect();
    let out_dtypes = y.leaves().iter().map(Tensor::dtype).collect();
    let state = Arc::new(VjpState { tape, inputs, outputs, out_dtypes, out_def: y.tree_def(), template });
    Ok((y, state, aux))
}

fn vjp_fn_of<B: Backend, X: TensorTree<B>, Y: TensorTree<B>>(state: Arc<VjpState<B, X>>) -> impl Fn(&Y) -> X + Clone {
    move |ct: &Y| fail(state.pull(ct))
}

/// `torch.func.vjp(f, primals)`: `f(primals)` and a function `vjp_fn` that
/// maps an output cotangent `u` to `u^T J`. `vjp_fn` can be called many
/// times, under any transform.
///
/// # Panics
///
/// When an input or output is not floating point ([`try_vjp`] returns the
/// error). `vjp_fn` panics when the cotangent's structure or shapes differ
/// from the output's, showing both, or a cotangent is not floating point.
/// A cotangent of another float dtype is cast to its output's dtype, as
/// torch does: the gradients keep the primals' dtypes.
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
    fail(try_vjp(f, primals))
}

/// [`vjp`] returning argument errors.
///
/// # Errors
///
/// When an input or output is not floating point.
pub fn try_vjp<B, X, Y, F>(f: F, primals: &X) -> Result<(Y, impl Fn(&Y) -> X + Clone + use<B, X, Y, F>)>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Y,
{
    let (y, state, ()) = vjp_core(&|x: &X| (f(x), ()), primals)?;
    Ok((y, vjp_fn_of(state)))
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
    let (y, state, aux) = fail(vjp_core(&f, primals));
    (y, vjp_fn_of(state), aux)
}

// ----- grad --------------------------------------------------------------------------------------

fn grad_core<B, X, A, F>(f: &F, x: &X, name: &str) -> Result<(X, Tensor<B>, A)>
where
    B: Backend,
    X: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Tensor<B>, A) + ?Sized,
{
    let (y, state, aux) = vjp_core(f, x).map_err(|e| rename(e, name))?;
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
    Ok((g, y, aux))
}

fn rename(e: Error, name: &str) -> Error {
    match e {
        Error::Transform { why, .. } => Error::Transform { transform: name.to_string(), why },
        other => other,
    }
}

/// `torch.func.grad(f)`: the gradient of a scalar function, shaped like its
/// input tree. Inputs the output does not use get zeros.
///
/// # Panics
///
/// The returned function panics when `f` returns a non-scalar (suggesting
/// vjp or jacrev), or an input is not floating point.
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
    move |x: &X| fail(grad_core(&|x: &X| (f(x), ()), x, "grad")).0
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
        let (g, _, aux) = fail(grad_core(&*f, x, "grad"));
        (g, aux)
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
        let (g, v, ()) = fail(grad_core(&|x: &X| (f(x), ()), x, "grad_and_value"));
        (g, v)
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
        let (g, v, aux) = fail(grad_core(&*f, x, "grad_and_value"));
        (g, (v, aux))
    }
}

// ----- linearize ---------------------------------------------------------------------------------

/// `torch.func.linearize(f, primals)`: `f(primals)` and a function computing
/// `J t` for any tangent `t`. `f` is evaluated once: each call of the
/// returned function transposes the recorded reverse pass (the vjp of the
/// linear map `u -> u^T J`), never re-running `f`.
///
/// # Panics
///
/// When an input or output is not floating point.
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
    let (y, state, ()) = fail(vjp_core(&|x: &X| (f(x), ()), primals));
    let zero_ct: Arc<Y> = Arc::new(y.map_leaves(&mut |l| l.zeros_like()));
    let jvp_fn = move |t: &X| {
        let transpose = |u: &Y| fail(state.pull(u));
        let (_, back) = fail(try_vjp(transpose, &*zero_ct));
        back(t)
    };
    (y, jvp_fn)
}

// ----- jacobians ---------------------------------------------------------------------------------

/// Options of [`jacrev_with`] and [`jacfwd_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JacOptions {
    /// Compute the Jacobian in chunks of this many rows (jacrev) or columns
    /// (jacfwd), bounding the memory of the basis; `None`: all at once.
    pub chunk_size: Option<usize>,
    /// vmap's randomness mode for the batched pass.
    pub randomness: Randomness,
}

impl JacOptions {
    fn vmap(&self, name: &str) -> Result<VmapOptions> {
        let mut o = VmapOptions::new().randomness(self.randomness);
        match self.chunk_size {
            Some(0) => {
                return Err(Error::transform(name, "chunk_size should be a positive integer or None, but got 0"));
            }
            Some(c) => o = o.chunk_size(c),
            None => {}
        }
        Ok(o)
    }
}

fn jacrev_core<B, X, A, F>(f: &F, x: &X, opts: &JacOptions) -> Result<(X, A)>
where
    B: Backend,
    X: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Tensor<B>, A) + ?Sized,
{
    let vopts = opts.vmap("jacrev")?;
    let (y, state, aux) = vjp_core(f, x).map_err(|e| rename(e, "jacrev"))?;
    let m = y.numel();
    let mut basis_shape = Shape::from([m]);
    basis_shape.0.extend_from_slice(y.dims());
    let basis = Tensor::<B>::eye(m, y.dtype()).try_reshape_to(basis_shape)?;
    let rows: X = try_vmap(move |ct: &Tensor<B>| fail(state.pull(ct)), vopts)(&basis)?;
    let leaves: Vec<Tensor<B>> = rows
        .leaves()
        .iter()
        .map(|l| {
            let mut s = y.shape().clone();
            s.0.extend_from_slice(&l.dims()[1..]);
            l.try_reshape_to(s)
        })
        .collect::<Result<_>>()?;
    Ok((like(x, leaves), aux))
}

/// `torch.func.jacrev(f)`: the Jacobian of a one-tensor-output function by
/// reverse mode, as vmap of the vjp function over basis cotangents. The
/// result is shaped like the input tree, each leaf `output shape ++ leaf
/// shape` (`argnums=(0, 1)`: differentiate a tuple).
///
/// # Panics
///
/// When an input is not floating point.
///
/// # Examples
///
/// ```
/// use func_autodiff::jacrev;
/// use func_core::Tensor;
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
/// let j = jacrev(|x: &T| x * 3.0)(&T::from_vec(vec![1.0f64, 2.0], [2]));
/// assert_eq!(j.to_vec::<f64>(), vec![3.0, 0.0, 0.0, 3.0]);
/// ```
pub fn jacrev<B, X, F>(f: F) -> impl Fn(&X) -> X + Clone
where
    B: Backend,
    X: TensorTree<B>,
    F: Fn(&X) -> Tensor<B>,
{
    jacrev_with(f, JacOptions::default())
}

/// `jacrev(f, chunk_size=...)`.
///
/// # Panics
///
/// When `chunk_size` is 0 or an input is not floating point.
pub fn jacrev_with<B, X, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> X + Clone
where
    B: Backend,
    X: TensorTree<B>,
    F: Fn(&X) -> Tensor<B>,
{
    let f = Arc::new(f);
    move |x: &X| fail(jacrev_core(&|x: &X| (f(x), ()), x, &opts)).0
}

/// `jacrev(f, has_aux=True)`: `f` returns `(output, aux)`; the result is
/// `(jacobian, aux)`.
///
/// # Panics
///
/// As [`jacrev_with`].
pub fn jacrev_aux<B, X, A, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> (X, A) + Clone
where
    B: Backend,
    X: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Tensor<B>, A),
{
    let f = Arc::new(f);
    move |x: &X| fail(jacrev_core(&*f, x, &opts))
}

fn jacfwd_core<B, X, A, F>(f: &F, x: &X, opts: &JacOptions) -> Result<(X, A)>
where
    B: Backend,
    X: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Tensor<B>, A) + ?Sized,
{
    let vopts = opts.vmap("jacfwd")?.out_dims((Some(0), None));
    let leaves = x.leaves();
    check_float("jacfwd", &leaves)?;
    let sizes: Vec<usize> = leaves.iter().map(|l| l.numel()).collect();
    let n: usize = sizes.iter().sum();
    let mut basis = Vec::with_capacity(leaves.len());
    let mut off = 0;
    for (l, &k) in leaves.iter().zip(&sizes) {
        let mut s = Shape::from([n]);
        s.0.extend_from_slice(l.dims());
        let cols = Tensor::<B>::eye(n, l.dtype()).try_slice(1, off as isize, (off + k) as isize, 1)?;
        basis.push(cols.try_reshape_to(s)?);
        off += k;
    }
    let tangents = like(x, basis);
    let push = move |t: &X| {
        let (_, ty, aux): (Tensor<B>, Tensor<B>, A) = fail(jvp_core(f, x, t));
        (ty, aux)
    };
    let (cols, aux): (Tensor<B>, A) = try_vmap(push, vopts)(&tangents)?;
    // cols: [n, out..]; leaf i owns rows off..off+k.
    let mut out = Vec::with_capacity(leaves.len());
    let mut off = 0;
    for (l, &k) in leaves.iter().zip(&sizes) {
        let part = cols.try_slice(0, off as isize, (off + k) as isize, 1)?.movedim(0, -1);
        let mut s = Shape::from(&cols.dims()[1..]);
        s.0.extend_from_slice(l.dims());
        out.push(part.try_reshape_to(s)?);
        off += k;
    }
    Ok((like(x, out), aux))
}

/// `torch.func.jacfwd(f)`: the Jacobian by forward mode, as vmap of jvp over
/// basis tangents. Same result shape as [`jacrev`].
///
/// # Panics
///
/// When an input is not floating point.
///
/// # Examples
///
/// ```
/// use func_autodiff::jacfwd;
/// use func_core::Tensor;
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
/// let j = jacfwd(|x: &T| x.sum_dims(&[0], true) * x)(&T::from_vec(vec![1.0f64, 2.0], [2]));
/// assert_eq!(j.to_vec::<f64>(), vec![4.0, 1.0, 2.0, 5.0]);
/// ```
pub fn jacfwd<B, X, F>(f: F) -> impl Fn(&X) -> X + Clone
where
    B: Backend,
    X: TensorTree<B>,
    F: Fn(&X) -> Tensor<B>,
{
    jacfwd_with(f, JacOptions::default())
}

/// `jacfwd(f, randomness=...)` (and `chunk_size`, which torch.func's
/// jacfwd lacks).
///
/// # Panics
///
/// When `chunk_size` is 0 or an input is not floating point.
pub fn jacfwd_with<B, X, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> X + Clone
where
    B: Backend,
    X: TensorTree<B>,
    F: Fn(&X) -> Tensor<B>,
{
    let f = Arc::new(f);
    move |x: &X| fail(jacfwd_core(&|x: &X| (f(x), ()), x, &opts)).0
}

/// `jacfwd(f, has_aux=True)`: `(jacobian, aux)`.
///
/// # Panics
///
/// As [`jacfwd_with`].
pub fn jacfwd_aux<B, X, A, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> (X, A) + Clone
where
    B: Backend,
    X: TensorTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Tensor<B>, A),
{
    let f = Arc::new(f);
    move |x: &X| fail(jacfwd_core(&*f, x, &opts))
}

/// `torch.func.hessian(f)` = `jacfwd(jacrev(f))` for a scalar function of
/// one tensor: shape `x shape ++ x shape`.
///
/// # Panics
///
/// When `f` does not return one tensor or the input is not floating point.
///
/// # Examples
///
/// ```
/// use func_autodiff::hessian;
/// use func_core::Tensor;
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
/// let h = hessian(|x: &T| (x * x * x).sum())(&T::from_vec(vec![1.0f64, 2.0], [2]));
/// assert_eq!(h.to_vec::<f64>(), vec![6.0, 0.0, 0.0, 12.0]);
/// ```
pub fn hessian<B, F>(f: F) -> impl Fn(&Tensor<B>) -> Tensor<B> + Clone
where
    B: Backend,
    F: Fn(&Tensor<B>) -> Tensor<B>,
{
    jacfwd(jacrev(f))
}
