//! Elementwise comparisons with broadcasting (bool results), and `where`.

use super::ok;
use crate::eval::constant;
use crate::interp::bind;
use crate::{Backend, CmpOp, DType, Error, Primitive, Result, Shape, Tensor};

impl<B: Backend> Tensor<B> {
    /// Elementwise comparison with broadcasting; the result is bool.
    ///
    /// # Errors
    ///
    /// When the shapes do not broadcast.
    pub fn try_compare(&self, op: CmpOp, other: &Tensor<B>) -> Result<Tensor<B>> {
        let (a, b) = self.try_broadcast_pair(other, op.name())?;
        bind(Primitive::Compare(op), &[&a, &b])
    }

    fn cmp_scalar(&self, op: CmpOp, value: f64) -> Tensor<B> {
        let dtype = if self.dtype().is_float() { self.dtype() } else { DType::F64 };
        ok(constant::<B>(value, dtype).and_then(|c| self.try_compare(op, &c)))
    }

    /// `self == other` elementwise (bool).
    pub fn eq(&self, other: &Tensor<B>) -> Tensor<B> {
        ok(self.try_compare(CmpOp::Eq, other))
    }
    /// `self != other` elementwise (bool).
    pub fn ne(&self, other: &Tensor<B>) -> Tensor<B> {
        ok(self.try_compare(CmpOp::Ne, other))
    }
    /// `self < other` elementwise (bool).
    pub fn lt(&self, other: &Tensor<B>) -> Tensor<B> {
        ok(self.try_compare(CmpOp::Lt, other))
    }
    /// `self <= other` elementwise (bool).
    pub fn le(&self, other: &Tensor<B>) -> Tensor<B> {
        ok(self.try_compare(CmpOp::Le, other))
    }
    /// `self > other` elementwise (bool).
    pub fn gt(&self, other: &Tensor<B>) -> Tensor<B> {
        ok(self.try_compare(CmpOp::Gt, other))
    }
    /// `self >= other` elementwise (bool).
    pub fn ge(&self, other: &Tensor<B>) -> Tensor<B> {
        ok(self.try_compare(CmpOp::Ge, other))
    }
    /// torch's `logical_not`: `self == 0` elementwise (bool); for a bool
    /// mask, its inverse.
    pub fn logical_not(&self) -> Tensor<B> {
        self.cmp_scalar(CmpOp::Eq, 0.0)
    }
    /// `self == value` elementwise (bool).
    pub fn eq_scalar(&self, value: f64) -> Tensor<B> {
        self.cmp_scalar(CmpOp::Eq, value)
    }
    /// `self > value` elementwise (bool).
    pub fn gt_scalar(&self, value: f64) -> Tensor<B> {
        self.cmp_scalar(CmpOp::Gt, value)
    }
    /// `self >= value` elementwise (bool).
    pub fn ge_scalar(&self, value: f64) -> Tensor<B> {
        self.cmp_scalar(CmpOp::Ge, value)
    }
    /// `self < value` elementwise (bool).
    pub fn lt_scalar(&self, value: f64) -> Tensor<B> {
        self.cmp_scalar(CmpOp::Lt, value)
    }
    /// `self <= value` elementwise (bool).
    pub fn le_scalar(&self, value: f64) -> Tensor<B> {
        self.cmp_scalar(CmpOp::Le, value)
    }

    /// `torch.where(cond, a, b)`: `a` where `cond` is true, else `b`, with
    /// broadcasting of all three.
    ///
    /// # Errors
    ///
    /// When `cond` is not bool or the shapes do not broadcast.
    pub fn try_where_(cond: &Tensor<B>, a: &Tensor<B>, b: &Tensor<B>) -> Result<Tensor<B>> {
        if cond.dtype() != DType::Bool {
            return Err(Error::dtype("where", cond.dtype(), "the condition must be a bool tensor (from a comparison)"));
        }
        let (a, b) = a.try_broadcast_pair(b, "where")?;
        let shape = Shape::broadcast(cond.dims(), a.dims()).ok_or_else(|| {
            Error::shape_mismatch(
                "where",
                cond.shape(),
                a.shape(),
                "(condition and values) cannot be broadcast together",
            )
        })?;
        let c = if cond.shape() != &shape { cond.try_broadcast_to(shape.clone())? } else { cond.clone() };
        let a = if a.shape() != &shape { a.try_broadcast_to(shape.clone())? } else { a };
        let b = if b.shape() != &shape { b.try_broadcast_to(shape)? } else { b };
        bind(Primitive::Select, &[&c, &a, &b])
    }

    /// `torch.where(cond, a, b)`.
    ///
    /// # Panics
    ///
    /// When `cond` is not bool or the shapes do not broadcast.
    pub fn where_(cond: &Tensor<B>, a: &Tensor<B>, b: &Tensor<B>) -> Tensor<B> {
        ok(Self::try_where_(cond, a, b))
    }
}
