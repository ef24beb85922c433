//! One-hot bases: the batched values Jacobians are built from.
//!
//! NOTE: [one-hot bases] `jacrev` maps a vjp function over rows of the
//! identity and `jacfwd` maps jvp over them. Run as plain data, the first
//! linear layer of `f` would then multiply an `n x n` identity with its
//! weight: a GEMM whose result is a copy of the weight's rows. A batch
//! tracer made by [`try_vmap_one_hot`](crate::try_vmap_one_hot) therefore
//! carries what is known of its value ([`Basis`]): row `i` of the batch
//! (each example flattened) is zero except at column `i + shift`, where it
//! is 1, or `scale[i + shift]` after an elementwise product with an
//! unbatched tensor. Reshapes keep that knowledge and such products scale
//! it; a matmul of such a value with an unbatched matrix becomes a copy of
//! (scaled) matrix rows. The batched value itself is always there, so every
//! other rule simply uses it. The knowledge is dropped for good at the first
//! in-place write at the level (the write may change the values).
//!
//! The copy equals the dense product exactly, except that the dense product
//! turns an infinite or NaN weight into NaN for every row (`0 * inf`), where
//! the copy keeps it in its own row only.

use crate::interp::{Arg, BatchInterp};
use func_core::{Backend, BinaryOp, DType, HostData, Primitive, Result, Shape, Tensor};

/// What is known of a batched value `v` (batch of `size`, `n` elements per
/// example): `v.reshape([size, n])[i, j]` is `scale[j]` (or 1) when
/// `j == i + shift` and 0 otherwise.
#[derive(Clone)]
pub(crate) struct Basis<B: Backend> {
    pub(crate) shift: isize,
    /// `[n]`, unbatched, one level down.
    pub(crate) scale: Option<Tensor<B>>,
}

/// Rows `start..start + len` of the `n x n` identity, `[len, n]`, written
/// once on the host and handed to the backend in one call (no zero-fill
/// and diagonal write through the in-place machinery).
pub(crate) fn one_hot_rows<B: Backend>(start: usize, len: usize, n: usize, dtype: DType) -> Result<Tensor<B>> {
    let shape = Shape::from([len, n]);
    let numel = shape.check("one-hot basis")?;
    // Element `i` is row `i / n`, column `i % n` (no element when n = 0).
    let data =
        HostData::try_from_fn("one-hot basis", &shape, dtype, numel, |i| f64::from(u8::from(i % n == start + i / n)));
    Tensor::try_from_host(data?, shape)
}

/// The result of `prim` on `args` computed from the one-hot structure of an
/// argument, or `None` when the general rule applies.
///
/// A shortcut, not a rule: it is deliberately partial (three primitives),
/// and its catch-all arm sends every other primitive to the exhaustive
/// batching rules in `rules::apply`, which a new primitive must still join.
pub(crate) fn shortcut<B: Backend>(it: &BatchInterp, prim: &Primitive, args: &[Arg<B>]) -> Result<Option<Tensor<B>>> {
    match prim {
        Primitive::Reshape { shape } => {
            let a = &args[0];
            let mut dims = vec![a.value.dims()[0]];
            dims.extend_from_slice(shape.dims());
            Ok(Some(it.wrap_basis(a.value.try_reshape_to(dims)?, a.basis.clone())))
        }
        Primitive::Binary(BinaryOp::Mul) => {
            let (a, o) = match (&args[0], &args[1]) {
                (a, o) if a.basis.is_some() && !o.batched => (a, o),
                (o, a) if a.basis.is_some() && !o.batched => (a, o),
                _ => return Ok(None),
            };
            let per = Shape::from(&a.value.dims()[1..]);
            let fits = Shape::broadcast(o.value.dims(), per.dims()).is_some_and(|s| s == per);
            if !fits || o.value.dtype() != a.value.dtype() {
                return Ok(None);
            }
            let value = a.value.try_mul(&o.value)?;
            let factor = o.value.try_broadcast_to(per.clone())?.try_reshape_to([per.numel()])?;
            let Some(basis) = &a.basis else { return Ok(None) };
            let scale = match &basis.scale {
                Some(s) => s.try_mul(&factor)?,
                None => factor,
            };
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
                    rows = rows.try_mul(&s.try_narrow(0, first, hi - lo)?.unsqueeze(1))?;
                }
                parts.push(rows);
            }
            if size > hi {
                parts.push(Tensor::try_zeros([size - hi, n2], b.value.dtype())?);
            }
            let joined = if parts.len() == 1 { parts.remove(0) } else { Tensor::try_cat(&parts, 0)? };
            let mut dims = vec![size];
            dims.extend_from_slice(&per[..per.len() - 1]);
            dims.push(n2);
            Ok(Some(it.wrap(joined.try_reshape_to(dims)?)))
        }
        _ => Ok(None),
    }
}
