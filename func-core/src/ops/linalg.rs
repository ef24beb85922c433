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

    /// `self + mat1 @ mat2`: torch's `addmm`, with batch dimensions. The
    /// product is [`matmul`](Self::matmul)'s for operands of at least two
    /// dimensions, and `self` broadcasts over it (a bias `[n]` adds to
    /// every row). The backend adds `self` as it writes the product, so the
    /// output is written once; under every transform the result equals
    /// `self + mat1.matmul(mat2)`.
    ///
    /// # Errors
    ///
    /// When `mat1` or `mat2` has fewer than two dimensions, the inner sizes
    /// differ, the batch dimensions do not broadcast, `self` does not
    /// broadcast to the product's shape, or the three are not of one float
    /// dtype.
    ///
    /// # Examples
    ///
    /// ```
    /// use func_core::Tensor;
    /// type T = Tensor<func_testkit::RefBackend>;
    /// let x = T::from_vec(vec![1.0, 2.0, 3.0, 4.0], [2, 2]);
    /// let w = T::from_vec(vec![1.0, 0.0, 0.0, 1.0], [2, 2]);
    /// let bias = T::from_vec(vec![10.0, 20.0], [2]);
    /// assert_eq!(bias.addmm(&x, &w).to_vec::<f64>(), [11.0, 22.0, 13.0, 24.0]);
    /// // The input must broadcast to the product, not enlarge it.
    /// assert!(T::from_vec(vec![0.0; 3], [3]).try_addmm(&x, &w).is_err());
    /// ```
    pub fn try_addmm(&self, mat1: &Tensor<B>, mat2: &Tensor<B>) -> Result<Tensor<B>> {
        if mat1.ndim() < 2 || mat2.ndim() < 2 {
            return Err(Error::shape_mismatch(
                "addmm",
                mat1.shape(),
                mat2.shape(),
                "both matrices of addmm need at least 2 dimensions; use `input + mat1.matmul(mat2)` for vectors",
            ));
        }
        if self.dtype() != mat1.dtype() {
            return Err(Error::dtype(
                "addmm",
                self.dtype(),
                format!("expected input and matrices of one dtype, got {} and {}", self.dtype(), mat1.dtype()),
            ));
        }
        // The matrices' checks and message are matmul's.
        let (da, db) = (mat1.dims(), mat2.dims());
        let (ra, rb) = (da.len(), db.len());
        let product = crate::Shape::broadcast(&da[..ra - 2], &db[..rb - 2]).map(|mut s| {
            s.0.extend([da[ra - 2], db[rb - 1]]);
            s
        });
        let product = match product {
            Some(p) if da[ra - 1] == db[rb - 2] && self.dtype().is_float() && mat1.dtype() == mat2.dtype() => p,
            // matmul names what is wrong with the matrices.
            _ => {
                return Err(mat1.try_matmul(mat2).err().unwrap_or_else(|| {
                    Error::shape_mismatch("addmm", mat1.shape(), mat2.shape(), "cannot be multiplied")
                }));
            }
        };
        if crate::Shape::broadcast(self.dims(), product.dims()).as_ref() != Some(&product) {
            return Err(Error::shape_mismatch(
                "addmm",
                self.shape(),
                &product,
                "input must broadcast to the shape of the product mat1 @ mat2",
            ));
        }
        bind(Primitive::Addmm, &[self, mat1, mat2])
    }

    /// `self + mat1 @ mat2` ([`try_addmm`](Self::try_addmm)).
    ///
    /// # Panics
    ///
    /// When the shapes do not fit; the message names them.
    pub fn addmm(&self, mat1: &Tensor<B>, mat2: &Tensor<B>) -> Tensor<B> {
        ok(self.try_addmm(mat1, mat2))
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
