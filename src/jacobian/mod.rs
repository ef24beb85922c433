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
//! multiplying it by an identity. A chunk of more than 65536 elements is
//! not even built unless a rule needs its values: `jacrev` of `tanh(w @ x)`
//! with 2048 outputs scales and copies rows of `w` and never holds the
//! `2048 x 2048` identity (its peak memory is the Jacobian's).

use func_autodiff::{try_jvp_aux, try_vjp_aux};
use func_batch::{Randomness, VmapOptions, try_vmap_one_hot};
use func_core::{Backend, Error, JacobianTree, Result, Shape, Tensor, TensorTree};
mod forms;

pub use forms::*;

pub(crate) fn fail<T>(r: Result<T>) -> T {
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
    chunks.into_iter().map(|mut c| if c.len() == 1 { Ok(c.remove(0)) } else { Tensor::try_cat(&c, 0) }).collect()
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
    let ys = y.leaves_inline();
    let xs = x.leaves_inline();
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
            for (j, l) in g.leaves_inline().into_iter().enumerate() {
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
    let xs = x.leaves_inline();
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
            .leaves_inline()
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
            let leaves = ty.leaves_inline();
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

pub(crate) fn hessian_core<B, X, A, F>(f: &F, x: &X, opts: &JacOptions) -> Result<(X::Of<X>, A)>
where
    B: Backend,
    X: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Tensor<B>, A)> + ?Sized,
{
    let gradient = |x: &X| -> Result<(X, A)> { jacrev_core::<B, X, Tensor<B>, A, F>(f, x, opts) };
    jacfwd_core::<B, X, X, A, _>(&gradient, x, opts)
}
