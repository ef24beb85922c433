//! In-place operations with PyTorch's aliasing semantics.
//!
//! NOTE: [in-place through views] Every in-place op is "compute the
//! out-of-place result, then `copy_` it into `self`". On concrete tensors the
//! copy writes into the shared storage, so the base and every view of it see
//! the change. Under a transform, a write into a view tracer becomes a write
//! of its whole alias root, computed out of place, after which every view of
//! the root is re-derived (NOTE: [writes through traced views]); a write into
//! a root is up to the interpreter that owns it (see
//! [`Interpreter::copy_into`](crate::Interpreter::copy_into)): vmap writes
//! into the batched value one level down (reaching real storage at the
//! bottom), autodiff rebinds the tracer to the new primal and derivative.
//! Writing into a broadcast view is an error, traced or not.
//!
//! When every operand is concrete, no interpreter can own one, and the
//! binary in-place ops (`add_`, `mul_scalar_`, ...) take a fast path that
//! computes and writes under one lock set: the destination's write lock and
//! the operand's read lock, taken in the global order (NOTE: [lock order] in
//! `eval`). The read-modify-write is then atomic, and concurrent updates of
//! one tensor are never lost. It computes exactly what the general path
//! does (the same broadcasting, dtype promotion and cast back).

use super::elementwise::binary_plan;
use super::ok;
use crate::interp::bind_copy;
use crate::{Backend, BinaryOp, Error, Result, Shape, Tensor};

impl<B: Backend> Tensor<B> {
    /// Write `src` (broadcast to this shape, cast to this dtype) into `self`.
    ///
    /// # Errors
    ///
    /// When `src` does not broadcast to `self`'s shape, when `self` is a
    /// broadcast view (the write would be lost), when a transform cannot
    /// express the write (vmap: a batched value into an unbatched tensor), or
    /// [`Error::Poisoned`] when a thread panicked while writing either
    /// storage.
    pub fn try_copy_(&self, src: &Tensor<B>) -> Result<()> {
        self.write_named(src, "copy_")
    }

    /// `copy_` reported as the in-place operation `op`.
    fn write_named(&self, src: &Tensor<B>, op: &str) -> Result<()> {
        let ok_shape =
            src.ndim() <= self.ndim() && Shape::broadcast(src.dims(), self.dims()).as_ref() == Some(self.shape());
        if !ok_shape {
            return Err(Error::shape_mismatch(
                op,
                self.shape(),
                src.shape(),
                "(destination and source): the source must broadcast to the destination's shape",
            ));
        }
        let src = src.try_to_dtype(self.dtype())?.try_broadcast_to(self.shape().clone())?;
        bind_copy(self, &src, op)
    }

    /// Write `src` into `self` in place (torch's `copy_`).
    ///
    /// # Panics
    ///
    /// As [`try_copy_`](Self::try_copy_).
    pub fn copy_(&self, src: &Tensor<B>) {
        ok(self.try_copy_(src))
    }

    fn inplace(&self, op: BinaryOp, other: &Tensor<B>) -> Result<()> {
        let name = format!("{}_", op.name());
        if self.is_concrete() && other.is_concrete() {
            // No interpreter owns either operand: evaluate and write under the
            // destination's write lock, atomically.
            let Some(shape) = Shape::broadcast(self.dims(), other.dims()) else {
                return Err(Error::shape_mismatch(
                    name,
                    self.shape(),
                    other.shape(),
                    "(destination and operand) cannot be broadcast together: the sizes must match or be 1 in each \
                     trailing dimension",
                ));
            };
            if &shape != self.shape() {
                return Err(larger_result(&name, self, other));
            }
            let other = other.try_broadcast_to(shape)?;
            let (prim_op, dtype) = binary_plan(op, self.dtype(), other.dtype(), self.shape(), other.shape())?;
            return crate::eval::binary_inplace_concrete(self, prim_op, &other, dtype, &name);
        }
        let r = self.try_binary(op, other)?;
        if r.shape() != self.shape() {
            return Err(larger_result(&name, self, other));
        }
        self.write_named(&r, &name)
    }

    /// `self += other` in place.
    ///
    /// # Panics
    ///
    /// When `other` does not broadcast to `self`, when `self` is a broadcast
    /// view, under vmap when `self` is not batched but `other` is, or when a
    /// thread panicked while writing either storage (it is poisoned).
    pub fn add_(&self, other: &Tensor<B>) {
        ok(self.inplace(BinaryOp::Add, other))
    }

    /// `self -= other` in place.
    ///
    /// # Panics
    ///
    /// As [`add_`](Self::add_).
    pub fn sub_(&self, other: &Tensor<B>) {
        ok(self.inplace(BinaryOp::Sub, other))
    }

    /// `self *= other` in place.
    ///
    /// # Panics
    ///
    /// As [`add_`](Self::add_).
    pub fn mul_(&self, other: &Tensor<B>) {
        ok(self.inplace(BinaryOp::Mul, other))
    }

    /// `self /= other` in place.
    ///
    /// # Panics
    ///
    /// As [`add_`](Self::add_).
    pub fn div_(&self, other: &Tensor<B>) {
        ok(self.inplace(BinaryOp::Div, other))
    }

    /// `self += value` in place.
    ///
    /// # Panics
    ///
    /// When `self` is a broadcast view, or its storage is poisoned.
    pub fn add_scalar_(&self, value: f64) {
        ok(self.scalar_operand(value).and_then(|c| self.inplace(BinaryOp::Add, &c)))
    }

    /// `self *= value` in place.
    ///
    /// # Panics
    ///
    /// As [`add_scalar_`](Self::add_scalar_).
    pub fn mul_scalar_(&self, value: f64) {
        ok(self.scalar_operand(value).and_then(|c| self.inplace(BinaryOp::Mul, &c)))
    }

    /// Fill with `value` in place.
    ///
    /// # Panics
    ///
    /// As [`add_scalar_`](Self::add_scalar_).
    pub fn fill_(&self, value: f64) {
        ok(crate::eval::constant::<B>(value, self.dtype()).and_then(|c| self.write_named(&c, "fill_")))
    }

    /// Fill with zeros in place.
    pub fn zero_(&self) {
        self.fill_(0.0)
    }

    /// Assign `value` into the slice `start..stop` by `step` of `dim`
    /// (Python's `t[.., start:stop:step, ..] = value`).
    ///
    /// # Panics
    ///
    /// When the slice is invalid or `value` does not broadcast to it.
    pub fn slice_assign_(&self, dim: isize, start: isize, stop: isize, step: usize, value: &Tensor<B>) {
        let view = self.slice(dim, start, stop, step);
        view.copy_(value)
    }
}

/// The error of an in-place operation whose broadcast result is larger than
/// its destination.
fn larger_result<B: Backend>(name: &str, dst: &Tensor<B>, other: &Tensor<B>) -> Error {
    Error::shape_mismatch(
        name,
        dst.shape(),
        other.shape(),
        "the result of the in-place operation would have a larger shape than the destination",
    )
}
