//! The Jacobian and Hessian transforms: [`jacrev`], [`jacfwd`], [`hessian`],
//! with their `_with` (options), `_aux` (torch.func's `has_aux=True`) and
//! `try_` forms.
//!
//! They live in the facade because they are where the layers meet: `jacrev`
//! is vmap (func-batch) over a vjp function (func-autodiff), `jacfwd` vmap
//! over jvp, `hessian` is `jacfwd(jacrev(f))`. The transforms below them
//! compose only through func-core.
//!
//! ## Shapes
//!
//! As in torch.func, the Jacobian of `f: X -> Y` is nested as the output
//! structure, then the input structure, and the block for output leaf `o`
//! and input leaf `i` has shape `o.shape ++ i.shape`. Its Rust type is
//! `Y::Of<X>` ([`JacobianTree`]):
//!
//! | `f` | `jacrev(f)(&x)` |
//! |---|---|
//! | `Fn(&Tensor) -> Tensor` | `Tensor` |
//! | `Fn(&(Tensor, Tensor)) -> Tensor` | `(Tensor, Tensor)`: one block per input |
//! | `Fn(&Tensor) -> (Tensor, Tensor)` | `(Tensor, Tensor)`: one block per output |
//! | `Fn(&X) -> BTreeMap<String, Tensor>` | `BTreeMap<String, X>` |
//! | `Fn(&X) -> ()` | `()` |
//!
//! `hessian(f)` of a scalar `f: X -> Tensor` is `X::Of<X>`: for a pair
//! `(a, b)`, `((H_aa, H_ab), (H_ba, H_bb))`, as torch's
//! `hessian(f, argnums=(0, 1))`; for a parameter map, a map of maps.
//!
//! ## Memory and chunks
//!
//! The basis vectors (one-hot cotangents for `jacrev`, tangents for
//! `jacfwd`) are built one chunk at a time: with
//! [`JacOptions::chunk_size`] `Some(c)`, at most `c` basis vectors exist at
//! once, and the batched pass runs `ceil(n / c)` times. The batched pass
//! knows its inputs are one-hot ([`func_batch::try_vmap_one_hot`]): the
//! first matmul of `f` with a weight copies the weight's rows instead of
//! multiplying it by an identity.

use func_autodiff::{try_jvp_aux, try_vjp_aux};
use func_batch::{Randomness, VmapOptions, try_vmap_one_hot};
use func_core::{Backend, Error, JacobianTree, Result, Shape, Tensor, TensorTree};
use std::sync::Arc;

fn fail<T>(r: Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn rename(e: Error, name: &str) -> Error {
    match e {
        Error::Transform { why, .. } => Error::Transform { transform: name.to_string(), why },
        other => other,
    }
}

/// Options of the Jacobian and Hessian transforms (`jacrev_with`,
/// `jacfwd_with`, `hessian_with` and their `_aux_with` and `try_` forms).
///
/// # Examples
///
/// ```
/// use func::prelude::*;
/// let opts = JacOptions::new().chunk_size(2);
/// let j = jacrev_with(|x: &Tensor| x.sin(), opts)(&Tensor::zeros([5], DType::F64));
/// assert_eq!(j.to_vec::<f64>(), Tensor::eye(5, DType::F64).to_vec::<f64>());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JacOptions {
    /// Compute the Jacobian in chunks of this many rows (jacrev) or columns
    /// (jacfwd), bounding the memory of the basis; `None`: all at once.
    pub chunk_size: Option<usize>,
    /// vmap's randomness mode for the batched pass.
    pub randomness: Randomness,
}

impl JacOptions {
    /// The defaults: no chunking, randomness `Error`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `chunk_size`.
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.chunk_size = Some(n);
        self
    }

    /// Set the randomness mode.
    pub fn randomness(mut self, r: Randomness) -> Self {
        self.randomness = r;
        self
    }

    /// The number of basis vectors per pass, out of `total`.
    fn chunk(&self, name: &str, total: usize) -> Result<usize> {
        match self.chunk_size {
            Some(0) => Err(Error::transform(name, "chunk_size should be a positive integer or None, but got 0")),
            Some(c) => Ok(c.min(total).max(1)),
            None => Ok(total.max(1)),
        }
    }
}

/// `lead ++ shape`.
fn prefixed(lead: &[usize], shape: &Shape) -> Shape {
    let mut dims = lead.to_vec();
    dims.extend_from_slice(shape.dims());
    Shape::from(dims)
}

/// Concatenate the chunks of each leaf along dimension 0.
fn join<B: Backend>(chunks: Vec<Vec<Tensor<B>>>) -> Result<Vec<Tensor<B>>> {
    chunks
        .into_iter()
        .map(|mut c| if c.len() == 1 { Ok(c.remove(0)) } else { Tensor::try_cat(&c, 0) })
        .collect()
}

pub(crate) fn jacrev_core<B, X, Y, A, F>(f: &F, x: &X, opts: &JacOptions) -> Result<(Y::Of<X>, A)>
where
    B: Backend,
    X: TensorTree<B>,
    Y: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Y, A)> + ?Sized,
{
    let (y, vjp_fn, aux) = try_vjp_aux(|x: &X| f(x), x).map_err(|e| rename(e, "jacrev"))?;
    let ys = y.leaves();
    let xs = x.leaves();
    let m: usize = ys.iter().map(Tensor::numel).sum();
    // rows[j]: the chunks of input leaf j's rows, each [len] ++ x_j shape.
    let mut rows: Vec<Vec<Tensor<B>>> = vec![Vec::new(); xs.len()];
    if m == 0 {
        for (j, l) in xs.iter().enumerate() {
            rows[j].push(Tensor::try_zeros(prefixed(&[0], l.shape()), l.dtype())?);
        }
    } else {
        let chunk = opts.chunk("jacrev", m)?;
        let vopts = VmapOptions::new().randomness(opts.randomness);
        let pull = |ct: &Y| vjp_fn(ct).map_err(|e| rename(e, "jacrev"));
        for start in (0..m).step_by(chunk) {
            let len = chunk.min(m - start);
            let g: X = try_vmap_one_hot(pull, &vopts, &y, start, len)?;
            for (j, l) in g.leaves().into_iter().enumerate() {
                rows[j].push(l);
            }
        }
    }
    let rows = join(rows)?;
    // Output leaf i owns rows off..off + m_i of every input leaf's block.
    let mut per_output = Vec::with_capacity(ys.len());
    let mut off = 0;
    for yl in &ys {
        let k = yl.numel();
        let blocks: Vec<Tensor<B>> = rows
            .iter()
            .zip(&xs)
            .map(|(r, xl)| r.try_narrow(0, off, k)?.try_reshape_to(prefixed(yl.dims(), xl.shape())))
            .collect::<Result<_>>()?;
        per_output.push(x.rebuild(&mut blocks.into_iter()));
        off += k;
    }
    Ok((y.nest(&mut per_output.into_iter()), aux))
}

pub(crate) fn jacfwd_core<B, X, Y, A, F>(f: &F, x: &X, opts: &JacOptions) -> Result<(Y::Of<X>, A)>
where
    B: Backend,
    X: TensorTree<B>,
    Y: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Y, A)> + ?Sized,
{
    let xs = x.leaves();
    for (i, l) in xs.iter().enumerate() {
        if !l.dtype().is_float() {
            return Err(Error::transform(
                "jacfwd",
                format!(
                    "only floating point inputs can be differentiated, but input {i} (shape {}) has dtype {}. \
                     Cast it with .to_dtype(DType::F32), or capture it in the closure instead of differentiating it.",
                    l.shape(),
                    l.dtype()
                ),
            ));
        }
    }
    let n: usize = xs.iter().map(Tensor::numel).sum();
    let (y, cols, aux) = if n == 0 {
        // No input directions: evaluate once for the output's shapes.
        let (y, aux) = f(x)?;
        let cols = y
            .leaves()
            .iter()
            .map(|l| Tensor::try_zeros(prefixed(&[0], l.shape()), l.dtype()))
            .collect::<Result<Vec<_>>>()?;
        (y, cols, aux)
    } else {
        let chunk = opts.chunk("jacfwd", n)?;
        let vopts = VmapOptions::new().randomness(opts.randomness).out_dims((Some(0), None));
        let push = |t: &X| -> Result<(Y, A)> {
            let (_, ty, aux) = try_jvp_aux(|x: &X| f(x), x, t).map_err(|e| rename(e, "jacfwd"))?;
            Ok((ty, aux))
        };
        let mut first: Option<(Y, A)> = None;
        let mut chunks: Vec<Vec<Tensor<B>>> = Vec::new();
        for start in (0..n).step_by(chunk) {
            let len = chunk.min(n - start);
            let (ty, aux): (Y, A) = try_vmap_one_hot(push, &vopts, x, start, len)?;
            let leaves = ty.leaves();
            if chunks.is_empty() {
                chunks = vec![Vec::new(); leaves.len()];
            }
            for (i, l) in leaves.into_iter().enumerate() {
                chunks[i].push(l);
            }
            first.get_or_insert((ty, aux));
        }
        let Some((y, aux)) = first else {
            return Err(Error::transform("jacfwd", "internal: no chunk ran"));
        };
        (y, join(chunks)?, aux)
    };
    // cols[i]: [n] ++ y_i shape; input leaf j owns rows off..off + n_j.
    let mut per_output = Vec::with_capacity(cols.len());
    for c in &cols {
        let out_shape = Shape::from(&c.dims()[1..]);
        let mut off = 0;
        let blocks: Vec<Tensor<B>> = xs
            .iter()
            .map(|xl| {
                let k = xl.numel();
                let part = c.try_narrow(0, off, k)?.movedim(0, -1);
                off += k;
                part.try_reshape_to(prefixed(out_shape.dims(), xl.shape()))
            })
            .collect::<Result<_>>()?;
        per_output.push(x.rebuild(&mut blocks.into_iter()));
    }
    Ok((y.nest(&mut per_output.into_iter()), aux))
}

fn hessian_core<B, X, A, F>(f: &F, x: &X, opts: &JacOptions) -> Result<(X::Of<X>, A)>
where
    B: Backend,
    X: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Tensor<B>, A)> + ?Sized,
{
    let gradient = |x: &X| -> Result<(X, A)> { jacrev_core::<B, X, Tensor<B>, A, F>(f, x, opts) };
    jacfwd_core::<B, X, X, A, _>(&gradient, x, opts)
}

/// `torch.func.jacrev(f)`: the Jacobian of `f` by reverse mode: vmap of the vjp function over one-hot cotangents, one pass per chunk of output elements.
///
/// `f` returns any [`JacobianTree`] (a tensor, a tuple, a map, `()`); the
/// result is nested as the output structure, then the input structure, each
/// block of shape `out.shape ++ in.shape` (see the [module docs](self)). For
/// one tensor output the result is shaped like the input tree, so
/// `argnums=(0, 1)` is a function of a tuple.
///
/// # Panics
///
/// The returned function panics when an input or output is not floating
/// point, or `f` panics ([`try_jacrev`] returns the transform's errors).
///
/// # Examples
///
/// ```
/// use func::prelude::*;
/// let j = jacrev(|x: &Tensor| x * 3.0)(&Tensor::from_vec(vec![1.0f64, 2.0], [2]));
/// assert_eq!(j.to_vec::<f64>(), vec![3.0, 0.0, 0.0, 3.0]);
/// // Several outputs: one block per output, each `out.shape ++ in.shape`.
/// let (jsin, jsum) = jacrev(|x: &Tensor| (x.sin(), x.sum()))(&Tensor::zeros([2], DType::F64));
/// assert_eq!((jsin.dims(), jsum.dims()), (&[2, 2][..], &[2][..]));
/// ```
pub fn jacrev<B, X, Y, F>(f: F) -> impl Fn(&X) -> Y::Of<X> + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: JacobianTree<B>,
    F: Fn(&X) -> Y,
{
    jacrev_with(f, JacOptions::default())
}

/// [`jacrev`] with options: `jacrev(f, chunk_size=.., randomness=..)`.
///
/// # Panics
///
/// As [`jacrev`], and when `chunk_size` is `Some(0)`.
pub fn jacrev_with<B, X, Y, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> Y::Of<X> + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: JacobianTree<B>,
    F: Fn(&X) -> Y,
{
    let f = Arc::new(f);
    move |x: &X| fail(jacrev_core(&|x: &X| Ok((f(x), ())), x, &opts)).0
}

/// `jacrev(f, has_aux=True)`: `f` returns `(output, aux)`; the result is
/// `(jacobian, aux)`.
///
/// # Panics
///
/// As [`jacrev`].
pub fn jacrev_aux<B, X, Y, A, F>(f: F) -> impl Fn(&X) -> (Y::Of<X>, A) + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Y, A),
{
    jacrev_aux_with(f, JacOptions::default())
}

/// [`jacrev_aux`] with options.
///
/// # Panics
///
/// As [`jacrev_with`].
pub fn jacrev_aux_with<B, X, Y, A, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> (Y::Of<X>, A) + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Y, A),
{
    let f = Arc::new(f);
    move |x: &X| fail(jacrev_core(&|x: &X| Ok(f(x)), x, &opts))
}

/// [`jacrev_with`] whose `f` returns a `Result`; the returned function
/// returns one.
///
/// # Errors
///
/// When an input or output is not floating point, `chunk_size` is
/// `Some(0)`, or `f` returns an error.
pub fn try_jacrev<B, X, Y, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> Result<Y::Of<X>> + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: JacobianTree<B>,
    F: Fn(&X) -> Result<Y>,
{
    let f = Arc::new(f);
    move |x: &X| Ok(jacrev_core(&|x: &X| Ok((f(x)?, ())), x, &opts)?.0)
}

/// [`jacrev_aux_with`] whose `f` returns a `Result`.
///
/// # Errors
///
/// As [`try_jacrev`].
pub fn try_jacrev_aux<B, X, Y, A, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> Result<(Y::Of<X>, A)> + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Y, A)>,
{
    let f = Arc::new(f);
    move |x: &X| jacrev_core(&*f, x, &opts)
}

/// `torch.func.jacfwd(f)`: the Jacobian of `f` by forward mode: vmap of jvp over one-hot tangents, one pass per chunk of input elements.
///
/// `f` returns any [`JacobianTree`] (a tensor, a tuple, a map, `()`); the
/// result is nested as the output structure, then the input structure, each
/// block of shape `out.shape ++ in.shape` (see the [module docs](self)). For
/// one tensor output the result is shaped like the input tree, so
/// `argnums=(0, 1)` is a function of a tuple.
///
/// # Panics
///
/// The returned function panics when an input or output is not floating
/// point, or `f` panics ([`try_jacfwd`] returns the transform's errors).
///
/// # Examples
///
/// ```
/// use func::prelude::*;
/// let j = jacfwd(|x: &Tensor| x.sum_dims(&[0], true) * x)(&Tensor::from_vec(vec![1.0f64, 2.0], [2]));
/// assert_eq!(j.to_vec::<f64>(), vec![4.0, 1.0, 2.0, 5.0]);
/// // Two inputs: one block per input.
/// let (ja, jb) = jacfwd(|(a, b): &(Tensor, Tensor)| a * b)(&(Tensor::ones([2], DType::F64), Tensor::full([2], 2.0, DType::F64)));
/// assert_eq!(ja.to_vec::<f64>(), vec![2.0, 0.0, 0.0, 2.0]);
/// assert_eq!(jb.to_vec::<f64>(), vec![1.0, 0.0, 0.0, 1.0]);
/// ```
pub fn jacfwd<B, X, Y, F>(f: F) -> impl Fn(&X) -> Y::Of<X> + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: JacobianTree<B>,
    F: Fn(&X) -> Y,
{
    jacfwd_with(f, JacOptions::default())
}

/// [`jacfwd`] with options: `jacfwd(f, chunk_size=.., randomness=..)`.
///
/// # Panics
///
/// As [`jacfwd`], and when `chunk_size` is `Some(0)`.
pub fn jacfwd_with<B, X, Y, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> Y::Of<X> + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: JacobianTree<B>,
    F: Fn(&X) -> Y,
{
    let f = Arc::new(f);
    move |x: &X| fail(jacfwd_core(&|x: &X| Ok((f(x), ())), x, &opts)).0
}

/// `jacfwd(f, has_aux=True)`: `f` returns `(output, aux)`; the result is
/// `(jacobian, aux)`.
///
/// # Panics
///
/// As [`jacfwd`].
pub fn jacfwd_aux<B, X, Y, A, F>(f: F) -> impl Fn(&X) -> (Y::Of<X>, A) + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Y, A),
{
    jacfwd_aux_with(f, JacOptions::default())
}

/// [`jacfwd_aux`] with options.
///
/// # Panics
///
/// As [`jacfwd_with`].
pub fn jacfwd_aux_with<B, X, Y, A, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> (Y::Of<X>, A) + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Y, A),
{
    let f = Arc::new(f);
    move |x: &X| fail(jacfwd_core(&|x: &X| Ok(f(x)), x, &opts))
}

/// [`jacfwd_with`] whose `f` returns a `Result`; the returned function
/// returns one.
///
/// # Errors
///
/// When an input or output is not floating point, `chunk_size` is
/// `Some(0)`, or `f` returns an error.
pub fn try_jacfwd<B, X, Y, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> Result<Y::Of<X>> + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: JacobianTree<B>,
    F: Fn(&X) -> Result<Y>,
{
    let f = Arc::new(f);
    move |x: &X| Ok(jacfwd_core(&|x: &X| Ok((f(x)?, ())), x, &opts)?.0)
}

/// [`jacfwd_aux_with`] whose `f` returns a `Result`.
///
/// # Errors
///
/// As [`try_jacfwd`].
pub fn try_jacfwd_aux<B, X, Y, A, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> Result<(Y::Of<X>, A)> + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Y, A)>,
{
    let f = Arc::new(f);
    move |x: &X| jacfwd_core(&*f, x, &opts)
}

/// `torch.func.hessian(f)` = `jacfwd(jacrev(f))` for a function of a tree
/// returning one tensor: the result is nested input structure, then input
/// structure (`X::Of<X>`), each block of shape `out.shape ++ a.shape ++
/// b.shape` (`a.shape ++ b.shape` for a scalar `f`). For a tuple input
/// this is torch's `hessian(f, argnums=(0, 1))`; for a parameter map, a map
/// of maps.
///
/// # Panics
///
/// The returned function panics when an input is not floating point, or `f` panics ([`try_hessian`] returns the
/// transform's errors).
///
/// # Examples
///
/// ```
/// use func::prelude::*;
/// let h = hessian(|x: &Tensor| (x * x * x).sum())(&Tensor::from_vec(vec![1.0f64, 2.0], [2]));
/// assert_eq!(h.to_vec::<f64>(), vec![6.0, 0.0, 0.0, 12.0]);
/// // argnums=(0, 1): the four blocks of f(a, b) = sum(a^2 b).
/// let f = |(a, b): &(Tensor, Tensor)| (a * a * b).sum();
/// let ((haa, hab), (hba, hbb)) = hessian(f)(&(Tensor::scalar(3.0f64), Tensor::scalar(5.0f64)));
/// assert_eq!([haa.item::<f64>(), hab.item::<f64>(), hba.item::<f64>(), hbb.item::<f64>()], [10.0, 6.0, 6.0, 0.0]);
/// ```
pub fn hessian<B, X, F>(f: F) -> impl Fn(&X) -> X::Of<X> + Clone
where
    B: Backend,
    X: JacobianTree<B>,
    F: Fn(&X) -> Tensor<B>,
{
    hessian_with(f, JacOptions::default())
}

/// [`hessian`] with options (the chunk size applies to both passes).
///
/// # Panics
///
/// As [`hessian`], and when `chunk_size` is `Some(0)`.
pub fn hessian_with<B, X, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> X::Of<X> + Clone
where
    B: Backend,
    X: JacobianTree<B>,
    F: Fn(&X) -> Tensor<B>,
{
    let f = Arc::new(f);
    move |x: &X| fail(hessian_core(&|x: &X| Ok((f(x), ())), x, &opts)).0
}

/// `hessian` of an `f` returning `(output, aux)`: the result is
/// `(hessian, aux)`.
///
/// # Panics
///
/// As [`hessian`].
pub fn hessian_aux<B, X, A, F>(f: F) -> impl Fn(&X) -> (X::Of<X>, A) + Clone
where
    B: Backend,
    X: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Tensor<B>, A),
{
    hessian_aux_with(f, JacOptions::default())
}

/// [`hessian_aux`] with options.
///
/// # Panics
///
/// As [`hessian_with`].
pub fn hessian_aux_with<B, X, A, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> (X::Of<X>, A) + Clone
where
    B: Backend,
    X: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Tensor<B>, A),
{
    let f = Arc::new(f);
    move |x: &X| fail(hessian_core(&|x: &X| Ok(f(x)), x, &opts))
}

/// [`hessian_with`] whose `f` returns a `Result`; the returned function
/// returns one.
///
/// # Errors
///
/// When `f` returns an error, an input is not floating point, or
/// `chunk_size` is `Some(0)`.
pub fn try_hessian<B, X, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> Result<X::Of<X>> + Clone
where
    B: Backend,
    X: JacobianTree<B>,
    F: Fn(&X) -> Result<Tensor<B>>,
{
    let f = Arc::new(f);
    move |x: &X| Ok(hessian_core(&|x: &X| Ok((f(x)?, ())), x, &opts)?.0)
}

/// [`hessian_aux_with`] whose `f` returns a `Result`.
///
/// # Errors
///
/// As [`try_hessian`].
pub fn try_hessian_aux<B, X, A, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> Result<(X::Of<X>, A)> + Clone
where
    B: Backend,
    X: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Tensor<B>, A)>,
{
    let f = Arc::new(f);
    move |x: &X| hessian_core(&*f, x, &opts)
}
