//! # func-batch
//!
//! `vmap`: vectorizing map, torch.func's `vmap` in Rust. `vmap(f)` returns a
//! function that runs `f` over a batch dimension of its inputs as if `f` were
//! applied to each slice and the results stacked, but in one pass: every
//! primitive `f` runs has a batching rule that turns it into one batched
//! operation (a vmapped matmul is one batched matmul; a vmapped convolution
//! is one convolution of a larger batch, or, with batched weights, one
//! im2col and one batched matmul).
//!
//! Most users reach this through the `func` facade. It composes with every
//! other transform: `vmap(grad(f))` gives per-sample gradients,
//! `vmap(vmap(f))` maps two dimensions.
//!
//! ```
//! use func_batch::{vmap, vmap_with, VmapOptions};
//! use func_core::Tensor;
//! use func_testkit::RefBackend;
//! type T = Tensor<RefBackend>;
//!
//! // A function of one example: a dot product of two vectors.
//! let dot = |(a, b): &(T, T)| (a * b).sum();
//! let xs = T::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]);
//! let ys = T::from_vec(vec![1.0f64, 1.0, 2.0, 2.0], [2, 2]);
//! let batched = vmap(dot);
//! assert_eq!(batched(&(xs.clone(), ys.clone())).to_vec::<f64>(), vec![3.0, 14.0]);
//!
//! // in_dims: map over the columns of xs, keep w fixed (None).
//! let w = T::from_vec(vec![10.0f64, 100.0], [2]);
//! let f = vmap_with(dot, VmapOptions::new().in_dims((Some(1), None)));
//! assert_eq!(f(&(xs, w)).to_vec::<f64>(), vec![310.0, 420.0]);
//! ```
//!
//! ## Themes
//!
//! - **Options** ([`VmapOptions`]): `in_dims` and `out_dims` ([`Dims`], a
//!   prefix of the input/output tree; `None` = unbatched, negatives wrap),
//!   `chunk_size` (run the batch in pieces to bound memory), `randomness`
//!   ([`Randomness`]: `Error` by default, `Different`, `Same`).
//! - **Rules**: one per [`Primitive`](func_core::Primitive), grouped by family
//!   in `rules/`, with an exhaustive match. NOTE: [batch dim canonical at 0].
//! - **In-place ops** on a batched tensor write through to its storage, also
//!   through views (a view whose batched value cannot be the same view, such
//!   as a reshape of a non-contiguous batch, writes its per-sample root:
//!   func-core's NOTE: [writes through traced views]); an in-place op whose
//!   target is unbatched but whose operand is batched is an error naming the
//!   op, the level and the fix.
//! - **Data-dependent control flow** (`item()`, `to_vec()` on a batched value)
//!   is an error explaining why and what to do instead.
//! - There is no slice-and-stack fallback: every built-in primitive has a
//!   real batching rule. A custom op ([`CustomFn`](func_core::CustomFn))
//!   uses its own batching rule, or else its forward runs on the batched
//!   values, batched by the rules of its Tensor operations (torch's
//!   `generate_vmap_rule=True`); an opaque forward without a batching rule is
//!   an error naming the op.
//! - Inputs and outputs are [`TensorTree`]s of tensors only, so torch.func's
//!   errors for non-tensor inputs and outputs cannot arise: non-tensor
//!   arguments are captured by the closure instead.
#![deny(missing_docs)]

mod basis;
mod dims;
mod interp;
mod rules;

pub use dims::Dims;

use basis::{Basis, Value};
use func_core::{Backend, Error, Result, Shape, Tensor, TensorTree, with_interpreter};
use interp::BatchInterp;
use std::sync::Arc;

/// How random operations behave under vmap (torch.func's `randomness`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Randomness {
    /// A random operation inside the function is an error (the default).
    #[default]
    Error,
    /// Each batch element gets independent randomness.
    Different,
    /// All batch elements share one draw.
    Same,
}

/// Options of [`vmap_with`], with torch.func's defaults: `in_dims = 0`,
/// `out_dims = 0`, no chunking, randomness `Error`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VmapOptions {
    /// Mapped dimension per input leaf (a prefix of the input tree).
    pub in_dims: Dims,
    /// Where the batch dimension goes in each output leaf.
    pub out_dims: Dims,
    /// Run the batch in chunks of this size (`None`: all at once).
    pub chunk_size: Option<usize>,
    /// Behaviour of random operations.
    pub randomness: Randomness,
}

impl VmapOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `in_dims`, e.g. `(None, Some(0))` or `0`.
    pub fn in_dims(mut self, d: impl Into<Dims>) -> Self {
        self.in_dims = d.into();
        self
    }

    /// Set `out_dims`.
    pub fn out_dims(mut self, d: impl Into<Dims>) -> Self {
        self.out_dims = d.into();
        self
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
}

/// `vmap(f)` with the default options: map dimension 0 of every input leaf,
/// put the batch at dimension 0 of every output leaf.
///
/// # Panics
///
/// The returned function panics with torch.func's messages when the inputs
/// do not fit (see [`try_vmap`] for the `Result` form).
///
/// # Examples
///
/// ```
/// use func_batch::vmap;
/// use func_core::Tensor;
/// use func_testkit::RefBackend;
/// let xs = Tensor::<RefBackend>::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]);
/// let row_sums = vmap(|x: &Tensor<RefBackend>| x.sum())(&xs);
/// assert_eq!(row_sums.to_vec::<f64>(), vec![3.0, 7.0]);
/// ```
pub fn vmap<B, X, Y, F>(f: F) -> impl Fn(&X) -> Y + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Y,
{
    vmap_with(f, VmapOptions::default())
}

/// `vmap(f, in_dims, out_dims, chunk_size, randomness)`.
///
/// # Panics
///
/// The returned function panics when the inputs do not fit the options:
/// batch sizes differ, nothing is batched, an in_dim is out of range,
/// in_dims does not match the input tree, `chunk_size` is 0, a random op runs
/// in `Error` mode, or the function reads a batched value (`item()`).
///
/// # Examples
///
/// ```
/// use func_batch::{vmap_with, VmapOptions};
/// use func_core::Tensor;
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
/// let x = T::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]);
/// // Map over columns, stack the results as columns.
/// let f = vmap_with(|c: &T| c * 2.0, VmapOptions::new().in_dims(1).out_dims(1));
/// assert_eq!(f(&x).to_vec::<f64>(), vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
/// ```
pub fn vmap_with<B, X, Y, F>(f: F, opts: VmapOptions) -> impl Fn(&X) -> Y + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Y,
{
    let f = Arc::new(f);
    move |x: &X| call(&|x: &X| Ok(f(x)), &opts, x).unwrap_or_else(|e| panic!("{e}"))
}

/// The `Result` form of [`vmap_with`]: `f` returns a `Result`, and the
/// returned function returns one. Argument errors and errors raised inside
/// `f` (its `try_` operations' `?`, a batched `item()` read) come back as
/// `Err`.
///
/// # Errors
///
/// The misuses listed under [`vmap_with`]'s Panics, checked before `f` runs,
/// and any error `f` returns.
///
/// # Examples
///
/// ```
/// use func_batch::{try_vmap, VmapOptions};
/// use func_core::Tensor;
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
/// let f = try_vmap(|(a, b): &(T, T)| a.try_add(b), VmapOptions::new());
/// let err = f(&(T::zeros([2, 3], func_core::DType::F32), T::zeros([3, 3], func_core::DType::F32))).unwrap_err();
/// assert!(err.to_string().contains("same size in the mapped dimension"));
/// // An error inside f comes back too: per example, [3] + [4] does not broadcast.
/// let err = f(&(T::zeros([2, 3], func_core::DType::F32), T::zeros([2, 4], func_core::DType::F32))).unwrap_err();
/// assert!(matches!(err, func_core::Error::ShapeMismatch { .. }));
/// ```
pub fn try_vmap<B, X, Y, F>(f: F, opts: VmapOptions) -> impl Fn(&X) -> Result<Y> + Clone
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Result<Y>,
{
    let f = Arc::new(f);
    move |x: &X| call(&*f, &opts, x)
}

fn call<B, X, Y, F>(f: &F, opts: &VmapOptions, x: &X) -> Result<Y>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Result<Y> + ?Sized,
{
    let tree = x.tree_def();
    let leaves = x.leaves_inline();
    let dims = opts.in_dims.per_leaf(&tree, "in_dims")?;
    let mut in_dims = Vec::with_capacity(leaves.len());
    let mut sizes = Vec::new();
    for (leaf, d) in leaves.iter().zip(&dims) {
        match d {
            None => in_dims.push(None),
            Some(d) => {
                let n = leaf.ndim() as isize;
                if *d < -n || *d >= n {
                    return Err(Error::transform(
                        "vmap",
                        format!(
                            "vmap(f, in_dims={})(<inputs>): Got in_dim={d} for an input, but that input is a Tensor of \
                             shape {} ({n} dimensions), so expected in_dim to satisfy -{n} <= in_dim < {n}.",
                            opts.in_dims,
                            leaf.shape()
                        ),
                    ));
                }
                let d = if *d < 0 { d + n } else { *d } as usize;
                sizes.push(leaf.dims()[d]);
                in_dims.push(Some(d));
            }
        }
    }
    let Some(&size) = sizes.first() else {
        return Err(Error::transform(
            "vmap",
            format!(
                "vmap(f, in_dims={})(<inputs>): at least one input must be batched, but every input is unbatched \
                 (in_dims None) for inputs of structure {tree}. Expected at least one Tensor to vmap over: set the \
                 in_dim of the argument to map over to its batch dimension.",
                opts.in_dims
            ),
        ));
    };
    if sizes.iter().any(|&s| s != size) {
        return Err(Error::transform(
            "vmap",
            format!(
                "Expected all tensors to have the same size in the mapped dimension, got sizes {sizes:?} for the \
                 mapped dimension (in_dims={}, inputs {tree})",
                opts.in_dims
            ),
        ));
    }
    let chunk = match opts.chunk_size {
        Some(0) => {
            return Err(Error::transform("vmap", "chunk_size should be a positive integer or None, but got 0"));
        }
        Some(c) if c < size => c,
        _ => return run_level(f, opts, x, Inputs::Mapped(&leaves, &in_dims), 0, size),
    };
    // Chunked: run each piece under its own level, then join the pieces.
    let mut pieces: Vec<Vec<Tensor<B>>> = Vec::new();
    let mut template = None;
    let mut out_dims = Vec::new();
    for start in (0..size).step_by(chunk) {
        let len = chunk.min(size - start);
        let part: Vec<Tensor<B>> = leaves
            .iter()
            .zip(&in_dims)
            .map(|(l, d)| match d {
                Some(d) => l.narrow(*d as isize, start, len),
                None => l.clone(),
            })
            .collect();
        let y: Y = run_level(f, opts, x, Inputs::Mapped(&part, &in_dims), start, len)?;
        if template.is_none() {
            out_dims = opts.out_dims.per_leaf(&y.tree_def(), "out_dims")?;
        }
        pieces.push(y.leaves());
        template.get_or_insert(y);
    }
    let Some(template) = template else {
        return Err(Error::transform("vmap", "internal: no chunk ran"));
    };
    let joined: Vec<Tensor<B>> = (0..out_dims.len())
        .map(|i| match out_dims[i] {
            None => Ok(pieces[0][i].clone()),
            Some(d) => Tensor::try_cat(&pieces.iter().map(|p| p[i].clone()).collect::<Vec<_>>(), d),
        })
        .collect::<Result<_>>()?;
    Ok(template.rebuild(&mut joined.into_iter()))
}

/// The inputs of one vmap level, one per leaf of `x`.
enum Inputs<'a, B: Backend> {
    /// Leaves, each mapped over its dimension (`None`: not mapped).
    Mapped(&'a [Tensor<B>], &'a [Option<usize>]),
    /// One-hot bases (NOTE: [one-hot bases]), each batched at 0.
    OneHot(Vec<(Value<B>, Basis<B>)>),
}

fn run_level<B, X, Y, F>(
    f: &F,
    opts: &VmapOptions,
    x: &X,
    inputs: Inputs<'_, B>,
    offset: usize,
    size: usize,
) -> Result<Y>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Result<Y> + ?Sized,
{
    let interp = Arc::new(BatchInterp::new(size, offset, opts.randomness, matches!(inputs, Inputs::OneHot(_))));
    let moved: Vec<Tensor<B>> = match inputs {
        Inputs::OneHot(bases) => bases.into_iter().map(|(v, b)| interp.wrap_value(v, Some(b))).collect(),
        Inputs::Mapped(leaves, in_dims) => leaves
            .iter()
            .zip(in_dims)
            .map(|(l, d)| match d {
                Some(d) => interp.wrap(l.movedim(*d as isize, 0)),
                None => l.clone(),
            })
            .collect(),
    };
    let it = interp.clone();
    with_interpreter::<B, _>(interp, move || {
        let xin = x.rebuild(&mut moved.into_iter());
        let y = f(&xin)?;
        let out_dims = opts.out_dims.per_leaf(&y.tree_def(), "out_dims")?;
        let outs: Vec<Tensor<B>> = y
            .leaves_inline()
            .iter()
            .zip(&out_dims)
            .map(|(leaf, od)| {
                let a = it.unwrap(leaf)?;
                match od {
                    None if a.batched => Err(Error::transform(
                        "vmap",
                        format!(
                            "an output (shape {} per example) is batched, but its out_dim is None; out_dims None is \
                             only for outputs that do not depend on the batched inputs",
                            leaf.shape()
                        ),
                    )),
                    None => Ok(a.value),
                    Some(d) => {
                        let v = it.materialize(&a)?;
                        let n = v.ndim() as isize;
                        if *d < -n || *d >= n {
                            return Err(Error::transform(
                                "vmap",
                                format!(
                                    "out_dims={}: Got out_dim={d} for an output of shape {} per example, so expected \
                                     out_dim to satisfy -{n} <= out_dim < {n}.",
                                    opts.out_dims,
                                    leaf.shape()
                                ),
                            ));
                        }
                        Ok(v.movedim(0, *d))
                    }
                }
            })
            .collect::<Result<_>>()?;
        Ok(y.rebuild(&mut outs.into_iter()))
    })
}

/// `try_vmap(f, opts)` over rows `start..start + len` of the `n x n`
/// identity, `n` being the number of elements of `template`: each row is
/// split over the leaves of `template` and shaped like them, so `f` sees one
/// basis direction per example, a tree like `template` (each leaf in its own
/// dtype). This is how `jacrev` (rows of cotangents) and `jacfwd` (rows of
/// tangents) are built.
///
/// The batched inputs know they are one-hot, so a matmul of one with a
/// matrix is a copy of the matrix's rows rather than a product with an
/// identity (NOTE: [one-hot bases] in the source). `opts.in_dims` and
/// `opts.chunk_size` are not used (every leaf is batched at 0, and the rows
/// given are one chunk); `out_dims` and `randomness` are.
///
/// # Errors
///
/// When `template` has no elements, `len` is 0 or the rows reach past `n`,
/// or as [`try_vmap`].
///
/// # Examples
///
/// ```
/// use func_batch::{VmapOptions, try_vmap_one_hot};
/// use func_core::{DType, Tensor};
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
/// let w = T::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2]);
/// // Rows 1 and 2 of the 3 x 3 identity, times w: rows 1 and 2 of w.
/// let rows: T = try_vmap_one_hot(|e: &T| e.try_matmul(&w), &VmapOptions::new(), &T::zeros([3], DType::F64), 1, 2)?;
/// assert_eq!(rows.to_vec::<f64>(), vec![3.0, 4.0, 5.0, 6.0]);
/// # Ok::<(), func_core::Error>(())
/// ```
pub fn try_vmap_one_hot<B, X, Y, F>(f: F, opts: &VmapOptions, template: &X, start: usize, len: usize) -> Result<Y>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: Fn(&X) -> Result<Y>,
{
    let leaves = template.leaves_inline();
    let n: usize = leaves.iter().map(Tensor::numel).sum();
    if len == 0 || start.checked_add(len).is_none_or(|end| end > n) {
        return Err(Error::transform(
            "vmap",
            format!(
                "one-hot rows {start}..{} do not fit the {n} elements of the template {}: give 0 < len and \
                 start + len <= {n}",
                start.saturating_add(len),
                template.tree_def()
            ),
        ));
    }
    // Row `i` of leaf `l` (its elements `off..off + k` of the whole row)
    // has its 1 at column `start + i - off`, when that is in `0..k`.
    let mut off = 0;
    let mut bases = Vec::with_capacity(leaves.len());
    for l in &leaves {
        let (k, shift) = (l.numel(), start as isize - off as isize);
        let mut dims = Shape::from([len]);
        dims.extend_from_slice(l.dims());
        bases.push((basis::one_hot(len, k, shift, dims, l.dtype())?, Basis { shift, scale: None }));
        off += k;
    }
    run_level(&f, opts, template, Inputs::OneHot(bases), 0, len)
}
