//! Matrix products.

use super::ok;
use crate::interp::bind;
use crate::{Backend, Error, Primitive, Result, Tensor};

impl<B: Backend> Tensor<B> {
    /// `torch.matmul`: matrix product with NumPy-broadcast batch dimensions;
    /// a 1-D operand is a vector (a row on the left, a column on the right,
    /// its dimension absent from the result).
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
        // A 1-D operand is a vector, which the primitive takes as it is
        // (a row on the left, a column on the right, its dimension absent
        // from the result): no traced reshapes around the product.
        let (da, db) = (self.dims(), other.dims());
        let (ra, rb) = (da.len(), db.len());
        let k = da[ra - 1];
        let kb = if rb == 1 { db[0] } else { db[rb - 2] };
        if k != kb {
            return Err(Error::shape_mismatch(
                "matmul",
                self.shape(),
                other.shape(),
                format!("cannot be multiplied ({k} is not {kb})"),
            ));
        }
        if crate::Shape::broadcast(&da[..ra.saturating_sub(2)], &db[..rb.saturating_sub(2)]).is_none() {
            return Err(Error::shape_mismatch(
                "matmul",
                self.shape(),
                other.shape(),
                "have batch dimensions that do not broadcast",
            ));
        }
        bind(Primitive::Matmul, &[self, other])
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
