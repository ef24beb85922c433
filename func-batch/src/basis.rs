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
//! and an unbatched output, as a vjp of `tanh` runs): the product's own
//! diagonal, a view. Reshapes keep that knowledge; a matmul of
//! such a value with an unbatched matrix becomes a copy of (scaled) matrix
//! rows. The batched value itself is always there, so every
//! other rule simply uses it. The knowledge is dropped for good at the first
//! in-place write at the level (the write may change the values).
//!
//! The copy equals the dense product exactly, except that the dense product
//! turns an infinite or NaN weight into NaN for every row (`0 * inf`), where
//! the copy keeps it in its own row only.

use crate::interp::{Arg, BatchInterp};
use func_core::{Backend, BinaryOp, DType, HostData, Primitive, Result, Shape, Tensor};

/// What is known of a batched value `v` (batch of `size`, `n` elements per
/// example): `v.reshape([size, n])[i, j]` is 0 unless `j == i + shift`,
/// and those entries (the diagonal at offset `shift`) are 1, or `scale`.
#[derive(Clone)]
pub(crate) struct Basis<B: Backend> {
    pub(crate) shift: isize,
    /// The entries at `j == i + shift` in order of `i`: the first is row
    /// `max(0, -shift)`'s. Unbatched, one level down (a view of the value's
    /// diagonal).
    pub(crate) scale: Option<Tensor<B>>,
}

/// Rows `start..start + len` of the `n x n` identity, `[len, n]`.
///
/// A small block (up to [`HOST_BASIS`] elements) is written on the host and
/// handed to the backend in one call: the in-place machinery a diagonal
/// write goes through costs more than the block itself (a sixth of a
/// 16 x 16 `jacrev`). A large one is zero-filled by the backend, which
/// reuses its cached buffers, and then gets its diagonal: a fresh host
/// buffer of a 2048 x 2048 basis page-faults in all of its 16 MB.
pub(crate) fn one_hot_rows<B: Backend>(start: usize, len: usize, n: usize, dtype: DType) -> Result<Tensor<B>> {
    let shape = Shape::from([len, n]);
    let numel = shape.check("one-hot basis")?;
    if numel > HOST_BASIS {
        let rows = Tensor::<B>::try_zeros(shape, dtype)?;
        if len > 0 {
            rows.diagonal(start as isize, 0, 1).try_copy_(&Tensor::try_full([], 1.0, dtype)?)?;
        }
        return Ok(rows);
    }
    fn block<T: Clone>(shape: &Shape, (start, len, n): (usize, usize, usize), zero: T, one: T) -> Result<Vec<T>> {
        let mut v = func_core::alloc::try_filled("one-hot basis", shape, len * n, zero)?;
        (0..len).for_each(|r| v[r * n + start + r] = one.clone());
        Ok(v)
    }
    let at = (start, len, n);
    let data = match dtype {
        DType::F32 => HostData::F32(block(&shape, at, 0.0, 1.0)?),
        DType::F64 => HostData::F64(block(&shape, at, 0.0, 1.0)?),
        DType::I64 => HostData::I64(block(&shape, at, 0, 1)?),
        DType::Bool => HostData::Bool(block(&shape, at, false, true)?),
        // Any other element type, through its conversion from f64 (element
        // `i` is row `i / n`, column `i % n`).
        dtype => HostData::try_from_fn("one-hot basis", &shape, dtype, numel, |i| {
            f64::from(u8::from(i % n == start + i / n))
        })?,
    };
    Tensor::try_from_host(data, shape)
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
pub(crate) fn shortcut<B: Backend>(it: &BatchInterp, prim: &Primitive, args: &[Arg<B>]) -> Result<Option<Tensor<B>>> {
    match prim {
        Primitive::Reshape { shape } => {
            let a = &args[0];
            let mut dims = Shape::from([a.value.dims()[0]]);
            dims.extend_from_slice(shape.dims());
            Ok(Some(it.wrap_basis(a.value.try_reshape_to(dims)?, a.basis.clone())))
        }
        Primitive::Binary(
            op @ (BinaryOp::Mul | BinaryOp::TanhBackward | BinaryOp::SigmoidBackward | BinaryOp::ReluBackward),
        ) => {
            // A product scales the one-hot value by the unbatched operand (on
            // either side). A fused activation backward (`tanh_backward(v,
            // y)`, the tangent or cotangent through tanh) is linear in its
            // first operand only: it scales by `op(1, y)` (`1 - y^2`, or
            // relu's 0/1 mask), and zeros stay zeros.
            let (a, o) = match (&args[0], &args[1]) {
                (a, o) if a.basis.is_some() && !o.batched => (a, o),
                (o, a) if *op == BinaryOp::Mul && a.basis.is_some() && !o.batched => (a, o),
                _ => return Ok(None),
            };
            let per = Shape::from(&a.value.dims()[1..]);
            let fits = Shape::broadcast(o.value.dims(), per.dims()).is_some_and(|s| s == per);
            if !fits || o.value.dtype() != a.value.dtype() {
                return Ok(None);
            }
            let Some(basis) = &a.basis else { return Ok(None) };
            let value = a.value.try_binary(*op, &o.value)?;
            // Row `i`'s one entry is now `op(old entry, o[j])`, which the
            // product has just computed: the new scale is that diagonal of
            // the value, a view (no kernel). Nothing else holds the fresh
            // value, and a write at this level drops the basis, so the view
            // keeps the values of this product.
            let size = value.dims()[0];
            let rows = if value.ndim() == 2 { value.clone() } else { value.try_reshape_to([size, per.numel()])? };
            let scale = func_core::bind(Primitive::Diagonal { offset: basis.shift, dim1: 0, dim2: 1 }, &[&rows])?;
            Ok(Some(it.wrap_basis(value, Some(Basis { shift: basis.shift, scale: Some(scale) }))))
        }
        Primitive::Matmul => {
            let (a, b) = (&args[0], &args[1]);
            let Some(basis) = &a.basis else { return Ok(None) };
            let per = &a.value.dims()[1..];
            // Only a row vector per example ([.., 1, k]): its one-hot entry
            // picks a row of b.
            if b.batched || b.value.ndim() != 2 || per[..per.len() - 1].iter().any(|&d| d != 1) {
                return Ok(None);
            }
            let (size, k, n2) = (a.value.dims()[0], per[per.len() - 1], b.value.dims()[1]);
            let lo = (-basis.shift).clamp(0, size as isize) as usize;
            let hi = (k as isize - basis.shift).clamp(lo as isize, size as isize) as usize;
            let mut parts = Vec::with_capacity(3);
            if lo > 0 {
                parts.push(Tensor::try_zeros([lo, n2], b.value.dtype())?);
            }
            if hi > lo {
                let first = (lo as isize + basis.shift) as usize;
                let mut rows = b.value.try_narrow(0, first, hi - lo)?;
                if let Some(s) = &basis.scale {
                    // Rows `lo..hi` are the scale's entries: the diagonal of
                    // the value's `[size, k]` rows at offset `shift`.
                    debug_assert_eq!(s.numel(), hi - lo);
                    rows = rows.try_mul(&s.unsqueeze(1))?;
                }
                parts.push(rows);
            }
            if size > hi {
                parts.push(Tensor::try_zeros([size - hi, n2], b.value.dtype())?);
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
