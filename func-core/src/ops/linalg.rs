//! Matrix products.

use super::ok;
use crate::interp::bind;
use crate::{Backend, Error, Primitive, Result, Tensor};

impl<B: Backend> Tensor<B> {
    /// `torch.matmul`: matrix product with NumPy-broadcast batch dimensions;
    /// a 1-D operand is a vector (a dimension added, then removed).
    ///
    /// # Errors
    ///
    /// When an operand is 0-D, the inner sizes differ, the batch dimensions do
    /// not broadcast, or the dtype is not float.
    pub fn try_matmul(&self, other: &Tensor<B>) -> Result<Tensor<B>> {
        if self.ndim() == 0 || other.ndim() == 0 {
            return Err(Error::shape_mismatch(
                "matmul",
                self.shape(),
                other.shape(),
                "both arguments to matmul need to be at least 1D",
            ));
        }
        if !self.dtype().is_float() || self.dtype() != other.dtype() {
            return Err(Error::dtype(
                "matmul",
                if self.dtype().is_float() { other.dtype() } else { self.dtype() },
                format!(
                    "expected both operands to be floating point of one dtype, got {} and {}",
                    self.dtype(),
                    other.dtype()
                ),
            ));
        }
        let a = if self.ndim() == 1 { self.unsqueeze(0) } else { self.clone() };
        let b = if other.ndim() == 1 { other.unsqueeze(1) } else { other.clone() };
        let (ra, rb) = (a.ndim(), b.ndim());
        if a.dims()[ra - 1] != b.dims()[rb - 2] {
            return Err(Error::shape_mismatch(
                "matmul",
                self.shape(),
                other.shape(),
                format!("cannot be multiplied ({} is not {})", a.dims()[ra - 1], b.dims()[rb - 2]),
            ));
        }
        if crate::Shape::broadcast(&a.dims()[..ra - 2], &b.dims()[..rb - 2]).is_none() {
            return Err(Error::shape_mismatch(
                "matmul",
                self.shape(),
                other.shape(),
                "have batch dimensions that do not broadcast",
            ));
        }
        let mut out = bind(Primitive::Matmul, &[&a, &b])?;
        if other.ndim() == 1 {
            out = out.try_squeeze_dim(-1)?;
        }
        if self.ndim() == 1 {
            out = out.try_squeeze_dim(if other.ndim() == 1 { -1 } else { -2 })?;
        }
        Ok(out)
    }

    /// `torch.matmul`.
    ///
    /// # Panics
    ///
    /// When the shapes cannot be multiplied; the message names both.
    pub fn matmul(&self, other: &Tensor<B>) -> Tensor<B> {
        ok(self.try_matmul(other))
    }

    /// Dot product of two 1-D tensors.
    ///
    /// # Panics
    ///
    /// When the lengths differ.
    pub fn dot(&self, other: &Tensor<B>) -> Tensor<B> {
        (self * other).sum()
    }

    /// Outer product of two 1-D tensors: `[n] x [m] -> [n, m]`.
    pub fn outer(&self, other: &Tensor<B>) -> Tensor<B> {
        self.unsqueeze(-1) * other.unsqueeze(0)
    }
}
