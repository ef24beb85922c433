//! One-hot bases: the batched values Jacobians are built from.
//!
//! NOTE: [one-hot bases] `jacrev` maps a vjp function over rows of the
//! identity and `jacfwd` maps jvp over them. Run as plain data, the first
//! linear layer of `f` would then multiply an `n x n` identity with its
//! weight: a GEMM whose result is a copy of the weight's rows. A batch
//! tracer made by [`try_vmap_one_hot`](crate::try_vmap_one_hot) therefore
//! carries what is known of its value ([`Basis`]): row `i` of the batch
//! (each example flattened) is zero except at column `i + shift`, where it
//! is 1, or a scale after an elementwise product with an unbatched tensor
//! (or a fused `tanh_backward`, `sigmoid_backward` or `relu_backward` of it
//! and an unbatched output, as a vjp of `tanh` runs). Reshapes keep that
//! knowledge; a matmul of such a value with an unbatched matrix becomes a
//! copy of (scaled) matrix rows. The knowledge is dropped for good at the
//! first in-place write at the level (the write may change the values).
//!
//! A large basis is deferred ([`Value::Lazy`], above [`HOST_BASIS`]
//! elements): the identity rows, and each scaling product of them, are
//! computed only when a rule other than these shortcuts reads them, and
//! then exactly as they would have been at once (the same kernels on the
//! same operands; a product keeps its own copy of its unbatched operand,
//! so a later write of it, below this level, does not reach the product).
//! `jacrev` of `tanh(w @ x)` with 2048 outputs thus never builds the
//! `2048 x 2048` identity nor its `tanh_backward`: its pullback is a copy
//! of scaled rows of `w`. Before the first write at the level, every
//! deferred value of the level is computed (`BatchInterp::force_lazy`), so
//! none reads a written operand later. A small basis is computed at once:
//! deferring costs more than the block.
//!
//! The copy equals the dense product exactly, except that the dense product
//! turns an infinite or NaN weight into NaN for every row (`0 * inf`), where
//! the copy keeps it in its own row only; likewise a NaN or infinite
//! operand of a scaling product reaches the rows only through the entries
//! it scales.

use crate::interp::{BatchInterp, Peek};
use func_core::{Backend, BinaryOp, DType, HostData, Primitive, Result, Shape, Tensor};
use std::sync::{Arc, OnceLock};

/// What is known of a batched value `v` (batch of `size`, `n` elements per
/// example): `v.reshape([size, n])[i, j]` is 0 unless `j == i + shift`,
/// and those entries (the diagonal at offset `shift`) are 1, or `scale`.
#[derive(Clone)]
pub(crate) struct Basis<B: Backend> {
    pub(crate) shift: isize,
    /// The entries at `j == i + shift` in order of `i`: the first is row
    /// `max(0, -shift)`'s. Unbatched, one level down.
    pub(crate) scale: Option<Tensor<B>>,
}

/// A batch tracer's value one level down (batch at 0): computed, or to be
/// computed on first use (NOTE: [one-hot bases]).
#[derive(Clone)]
pub(crate) enum Value<B: Backend> {
    Dense(Tensor<B>),
    /// A node's value viewed with other dimensions (boxed: a batch tracer's
    /// operands are moved around on every rule dispatch).
    Lazy(Arc<(Arc<Node<B>>, Shape)>),
}

/// A lazily computed batched value.
pub(crate) struct Node<B: Backend> {
    value: OnceLock<Tensor<B>>,
    make: Make<B>,
    dtype: DType,
}

/// How a [`Node`]'s value is computed.
enum Make<B: Backend> {
    /// `[len, n]`: row `i` is zero except for a 1 at column `i + shift`.
    OneHot { len: usize, n: usize, shift: isize },
    /// `op(a, o)` (or `op(o, a)` when `o_first`) for an unbatched `o`.
    Binary { op: BinaryOp, a: Value<B>, o: Tensor<B>, o_first: bool },
}

impl<B: Backend> Value<B> {
    pub(crate) fn dims(&self) -> &[usize] {
        match self {
            Value::Dense(t) => t.dims(),
            Value::Lazy(view) => view.1.dims(),
        }
    }

    pub(crate) fn dtype(&self) -> DType {
        match self {
            Value::Dense(t) => t.dtype(),
            Value::Lazy(view) => view.0.dtype,
        }
    }

    /// The value, computed now if it was not yet.
    pub(crate) fn get(&self) -> Result<Tensor<B>> {
        match self {
            Value::Dense(t) => Ok(t.clone()),
            Value::Lazy(view) => {
                let (v, dims) = (view.0.get()?, &view.1);
                if v.dims() == dims.dims() { Ok(v) } else { v.try_reshape_to(dims.clone()) }
            }
        }
    }

    /// The value, computed now if it was not yet ([`get`](Self::get)
    /// without a clone of a computed one).
    pub(crate) fn into_tensor(self) -> Result<Tensor<B>> {
        match self {
            Value::Dense(t) => Ok(t),
            lazy => lazy.get(),
        }
    }

    /// The same value with dimensions `dims` (same number of elements).
    fn reshaped(&self, dims: Shape) -> Result<Value<B>> {
        Ok(match self {
            Value::Dense(t) => Value::Dense(t.try_reshape_to(dims)?),
            Value::Lazy(view) => Value::Lazy(Arc::new((view.0.clone(), dims))),
        })
    }
}

impl<B: Backend> Node<B> {
    fn new(make: Make<B>, dtype: DType) -> Arc<Node<B>> {
        Arc::new(Node { value: OnceLock::new(), make, dtype })
    }

    /// The value, computed on the first call.
    pub(crate) fn get(&self) -> Result<Tensor<B>> {
        if let Some(v) = self.value.get() {
            return Ok(v.clone());
        }
        let v = match &self.make {
            Make::OneHot { len, n, shift } => one_hot_rows(*len, *n, *shift, self.dtype)?,
            Make::Binary { op, a, o, o_first } => product(*op, &a.get()?, o, *o_first)?,
        };
        Ok(self.value.get_or_init(|| v).clone())
    }
}

/// `op(a, o)`, or `op(o, a)` when `o_first`: a scaling product with the
/// unbatched `o` on the side it was given.
fn product<B: Backend>(op: BinaryOp, a: &Tensor<B>, o: &Tensor<B>, o_first: bool) -> Result<Tensor<B>> {
    if o_first { o.try_binary(op, a) } else { a.try_binary(op, o) }
}

/// A lazy value that can be computed now (NOTE: [one-hot bases]: before
/// the first write at its level).
pub(crate) trait Force: Send + Sync {
    fn force(&self) -> Result<()>;
}

impl<B: Backend> Force for Node<B> {
    fn force(&self) -> Result<()> {
        self.get().map(drop)
    }
}

/// One basis direction per example for a leaf of `n` elements: row `i` of
/// the `[len, n]` batch is zero except for a 1 at column `i + shift`, viewed
/// with `dims` (`[len, leaf dims..]`). Computed at once up to
/// [`HOST_BASIS`] elements (deferring costs more than a small block);
/// deferred beyond.
///
/// # Errors
///
/// When the small block cannot be allocated.
pub(crate) fn one_hot<B: Backend>(len: usize, n: usize, shift: isize, dims: Shape, dtype: DType) -> Result<Value<B>> {
    if len.saturating_mul(n) <= HOST_BASIS {
        return Ok(Value::Dense(one_hot_rows(len, n, shift, dtype)?.try_reshape_to(dims)?));
    }
    Ok(Value::Lazy(Arc::new((Node::new(Make::OneHot { len, n, shift }, dtype), dims))))
}

/// The `[len, n]` rows whose row `i` is zero except for a 1 at column `i +
/// shift` (when that column exists).
///
/// A small block (up to [`HOST_BASIS`] elements) is written on the host and
/// handed to the backend in one call: the in-place machinery a diagonal
/// write goes through costs more than the block itself (a sixth of a
/// 16 x 16 `jacrev`). A large one is zero-filled by the backend, which
/// reuses its cached buffers, and then gets its diagonal: a fresh host
/// buffer of a 2048 x 2048 basis page-faults in all of its 16 MB.
fn one_hot_rows<B: Backend>(len: usize, n: usize, shift: isize, dtype: DType) -> Result<Tensor<B>> {
    let shape = Shape::from([len, n]);
    let numel = shape.check("one-hot basis")?;
    let (lo, hi) = diagonal_rows(len, n, shift);
    if numel > HOST_BASIS {
        let rows = Tensor::<B>::try_zeros(shape, dtype)?;
        if hi > lo {
            rows.diagonal(shift, 0, 1).try_copy_(&Tensor::try_full([], 1.0, dtype)?)?;
        }
        return Ok(rows);
    }
    // Row `i`'s 1, at column `i + shift`, is element `i * (n + 1) + shift`.
    let ones = (lo..hi).map(|i| (i * (n + 1)).wrapping_add_signed(shift));
    let data = match dtype {
        DType::F32 => HostData::F32(block(&shape, numel, 0.0, 1.0, ones)?),
        DType::F64 => HostData::F64(block(&shape, numel, 0.0, 1.0, ones)?),
        DType::I64 => HostData::I64(block(&shape, numel, 0, 1, ones)?),
        DType::Bool => HostData::Bool(block(&shape, numel, false, true, ones)?),
        // Any other element type, through its conversion from f64 (element
        // `i` is row `i / n`, column `i % n`).
        dtype => HostData::try_from_fn("one-hot basis", &shape, dtype, numel, |i| {
            f64::from(u8::from((i % n) as isize == (i / n) as isize + shift))
        })?,
    };
    Tensor::try_from_host(data, shape)
}

/// `numel` elements, `one` at the positions `ones` and `zero` elsewhere.
fn block<T: Clone>(shape: &Shape, numel: usize, zero: T, one: T, ones: impl Iterator<Item = usize>) -> Result<Vec<T>> {
    let mut v = func_core::alloc::try_filled("one-hot basis", shape, numel, zero)?;
    ones.for_each(|i| v[i] = one.clone());
    Ok(v)
}

/// The largest one-hot block, in elements, written on the host
/// ([`one_hot_rows`]).
const HOST_BASIS: usize = 1 << 16;

/// The result of `prim` on `args` computed from the one-hot structure of an
/// argument, or `None` when the general rule applies.
///
/// A shortcut, not a rule: it is deliberately partial (reshape, matmul and
/// the products that scale: `mul` and the fused activation backwards),
/// and its catch-all arm sends every other primitive to the exhaustive
/// batching rules in `rules::apply`, which a new primitive must still join.
pub(crate) fn shortcut<B: Backend>(it: &BatchInterp, prim: &Primitive, args: &[Peek<B>]) -> Result<Option<Tensor<B>>> {
    match prim {
        Primitive::Reshape { shape } => {
            let a = &args[0];
            let mut dims = Shape::from([a.value.dims()[0]]);
            dims.extend_from_slice(shape.dims());
            Ok(Some(it.wrap_value(a.value.reshaped(dims)?, a.basis.clone())))
        }
        Primitive::Binary(
            op @ (BinaryOp::Mul | BinaryOp::TanhBackward | BinaryOp::SigmoidBackward | BinaryOp::ReluBackward),
        ) => {
            // A product scales the one-hot value by the unbatched operand (on
            // either side). A fused activation backward (`tanh_backward(v,
            // y)`, the tangent or cotangent through tanh) is linear in its
            // first operand only: it scales by `op(1, y)` (`1 - y^2`, or
            // relu's 0/1 mask), and zeros stay zeros.
            let (a, o, o_first) = match (&args[0], &args[1]) {
                (a, o) if a.basis.is_some() && !o.batched => (a, o, false),
                (o, a) if *op == BinaryOp::Mul && a.basis.is_some() && !o.batched => (a, o, true),
                _ => return Ok(None),
            };
            let (Some(basis), Value::Dense(o)) = (&a.basis, &o.value) else { return Ok(None) };
            let (dtype, per) = (a.value.dtype(), Shape::from(&a.value.dims()[1..]));
            let fits = Shape::broadcast(o.dims(), per.dims()).is_some_and(|s| s == per);
            if !fits || o.dtype() != dtype {
                return Ok(None);
            }
            if let Value::Dense(v) = &a.value {
                // Computed at once (a small basis): row `i`'s one entry is
                // now `op(old entry, o[j])`, which the product has just
                // computed: the new scale is that diagonal of the value, a
                // view (no kernel). Nothing else holds the fresh value, and
                // a write at this level drops the basis, so the view keeps
                // the values of this product.
                let value = product(*op, v, o, o_first)?;
                let size = value.dims()[0];
                let rows = if value.ndim() == 2 { value.clone() } else { value.try_reshape_to([size, per.numel()])? };
                let scale = func_core::bind(Primitive::Diagonal { offset: basis.shift, dim1: 0, dim2: 1 }, &[&rows])?;
                let basis = Basis { shift: basis.shift, scale: Some(scale) };
                return Ok(Some(it.wrap_value(Value::Dense(value), Some(basis))));
            }
            // Deferred (a large basis): row `i`'s one entry becomes `op(old
            // entry, o[j])`, `j = i + shift` in the flattened example; the
            // new scale is that, for the rows that have the entry.
            let (lo, hi) = diagonal_rows(a.value.dims()[0], per.numel(), basis.shift);
            let scale = if hi > lo {
                let flat = if o.dims() == per.dims() { o.clone() } else { o.try_broadcast_to(per.clone())? };
                let entries =
                    flat.try_reshape_to([per.numel()])?.try_narrow(0, (lo as isize + basis.shift) as usize, hi - lo)?;
                let old = match &basis.scale {
                    Some(s) => s.clone(),
                    None => Tensor::try_ones([hi - lo], dtype)?,
                };
                product(*op, &old, &entries, o_first)?
            } else {
                Tensor::try_zeros([0], dtype)?
            };
            // The product keeps its own copy of `o` (one example's size): a
            // write of `o` below this level, which vmap does not see, must
            // not reach the deferred product.
            let o = func_core::bind(Primitive::Copy, &[o])?;
            let make = Make::Binary { op: *op, a: a.value.clone(), o, o_first };
            let value = Value::Lazy(Arc::new((Node::new(make, dtype), Shape::from(a.value.dims()))));
            Ok(Some(it.wrap_value(value, Some(Basis { shift: basis.shift, scale: Some(scale) }))))
        }
        Primitive::Matmul => {
            let (a, b) = (&args[0], &args[1]);
            let (Some(basis), Value::Dense(b)) = (&a.basis, &b.value) else { return Ok(None) };
            let per = &a.value.dims()[1..];
            // Only a row vector per example ([.., 1, k]) times an unbatched
            // matrix: its one-hot entry picks a row of b.
            if args[1].batched || b.ndim() != 2 || per[..per.len() - 1].iter().any(|&d| d != 1) {
                return Ok(None);
            }
            let (size, k, n2) = (a.value.dims()[0], per[per.len() - 1], b.dims()[1]);
            let (lo, hi) = diagonal_rows(size, k, basis.shift);
            let mut parts = Vec::with_capacity(3);
            if lo > 0 {
                parts.push(Tensor::try_zeros([lo, n2], b.dtype())?);
            }
            if hi > lo {
                let first = (lo as isize + basis.shift) as usize;
                let mut rows = b.try_narrow(0, first, hi - lo)?;
                if let Some(s) = &basis.scale {
                    // Rows `lo..hi` are the scale's entries.
                    debug_assert_eq!(s.numel(), hi - lo);
                    rows = rows.try_mul(&s.unsqueeze(1))?;
                }
                parts.push(rows);
            }
            if size > hi {
                parts.push(Tensor::try_zeros([size - hi, n2], b.dtype())?);
            }
            // A new tensor, as the product is: unscaled rows alone are a view
            // of `b`, which a later write of either would reach through.
            let joined = match (parts.len(), &basis.scale) {
                (1, Some(_)) => parts.remove(0),
                (1, None) => func_core::bind(Primitive::Copy, &[&parts[0]])?,
                _ => Tensor::try_cat(&parts, 0)?,
            };
            let mut dims = Shape::from([size]);
            dims.extend_from_slice(&per[..per.len() - 1]);
            dims.push(n2);
            Ok(Some(it.wrap(joined.try_reshape_to(dims)?)))
        }
        _ => Ok(None),
    }
}

/// The rows `lo..hi` of a `[size, n]` basis at offset `shift` that hold
/// their one entry (column `i + shift` exists).
fn diagonal_rows(size: usize, n: usize, shift: isize) -> (usize, usize) {
    let lo = (-shift).clamp(0, size as isize) as usize;
    let hi = (n as isize - shift).clamp(lo as isize, size as isize) as usize;
    (lo, hi)
}
