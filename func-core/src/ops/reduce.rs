//! Reductions and the composites built on them (mean, var, norm, logsumexp).

use super::{norm_dim, ok};
use crate::interp::bind;
use crate::{ArgReduceOp, Backend, DType, DimVec, Error, Primitive, ReduceOp, Result, Tensor};

impl<B: Backend> Tensor<B> {
    /// Reduce over `dims` (empty: all dimensions).
    ///
    /// # Errors
    ///
    /// When a dimension is out of range or repeated, or `max`/`min` reduce an
    /// empty set.
    pub fn try_reduce(&self, op: ReduceOp, dims: &[isize], keepdim: bool) -> Result<Tensor<B>> {
        let n = self.ndim();
        let mut axes: DimVec<usize> = if dims.is_empty() {
            (0..n).collect()
        } else {
            dims.iter().map(|&d| norm_dim(op.name(), d, n)).collect::<Result<_>>()?
        };
        axes.sort_unstable();
        if axes.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::invalid(op.name(), format!("dim appears multiple times in the list of dims {dims:?}")));
        }
        if n == 0 {
            axes.clear();
        }
        if matches!(op, ReduceOp::Max | ReduceOp::Min) && axes.iter().any(|&a| self.dims()[a] == 0) {
            return Err(Error::invalid(
                op.name(),
                format!(
                    "cannot reduce over a zero-size dimension of shape {} (the {} of no elements is undefined)",
                    self.shape(),
                    op.name()
                ),
            ));
        }
        let src = match self.dtype() {
            DType::Bool => self.try_to_dtype(DType::I64)?,
            _ => self.clone(),
        };
        if axes.is_empty() {
            return Ok(src);
        }
        bind(Primitive::Reduce { op, axes, keepdim }, &[&src])
    }

    /// Sum of all elements (a scalar tensor).
    pub fn sum(&self) -> Tensor<B> {
        ok(self.try_reduce(ReduceOp::Sum, &[], false))
    }

    /// Sum over `dims`.
    ///
    /// # Panics
    ///
    /// When a dimension is out of range or repeated.
    pub fn sum_dims(&self, dims: &[isize], keepdim: bool) -> Tensor<B> {
        ok(self.try_reduce(ReduceOp::Sum, dims, keepdim))
    }

    /// Product of all elements.
    pub fn prod(&self) -> Tensor<B> {
        ok(self.try_reduce(ReduceOp::Prod, &[], false))
    }

    /// Product over `dims`.
    ///
    /// # Panics
    ///
    /// When a dimension is out of range or repeated.
    pub fn prod_dims(&self, dims: &[isize], keepdim: bool) -> Tensor<B> {
        ok(self.try_reduce(ReduceOp::Prod, dims, keepdim))
    }

    /// Maximum of all elements.
    ///
    /// # Panics
    ///
    /// On an empty tensor.
    pub fn max(&self) -> Tensor<B> {
        ok(self.try_reduce(ReduceOp::Max, &[], false))
    }

    /// Maximum over `dims` (torch's `amax`).
    ///
    /// # Panics
    ///
    /// When a dimension is out of range or empty.
    pub fn max_dims(&self, dims: &[isize], keepdim: bool) -> Tensor<B> {
        ok(self.try_reduce(ReduceOp::Max, dims, keepdim))
    }

    /// Minimum of all elements.
    ///
    /// # Panics
    ///
    /// On an empty tensor.
    pub fn min(&self) -> Tensor<B> {
        ok(self.try_reduce(ReduceOp::Min, &[], false))
    }

    /// Minimum over `dims` (torch's `amin`).
    ///
    /// # Panics
    ///
    /// When a dimension is out of range or empty.
    pub fn min_dims(&self, dims: &[isize], keepdim: bool) -> Tensor<B> {
        ok(self.try_reduce(ReduceOp::Min, dims, keepdim))
    }

    fn arg_reduce(&self, op: ArgReduceOp, dim: isize, keepdim: bool) -> Tensor<B> {
        let axis = ok(norm_dim(op.name(), dim, self.ndim()));
        if self.ndim() > 0 && self.dims()[axis] == 0 {
            panic!("{}: expected reduction dim {axis} to have non-zero size (shape {})", op.name(), self.shape());
        }
        if self.ndim() == 0 {
            return Tensor::full(crate::Shape::scalar(), 0.0, crate::DType::I64);
        }
        self.un(Primitive::ArgReduce { op, axis, keepdim })
    }

    /// Index of the maximum along `dim` (first on ties), i64.
    ///
    /// # Panics
    ///
    /// When `dim` is out of range or empty.
    pub fn argmax(&self, dim: isize, keepdim: bool) -> Tensor<B> {
        self.arg_reduce(ArgReduceOp::ArgMax, dim, keepdim)
    }

    /// Index of the minimum along `dim` (first on ties), i64.
    ///
    /// # Panics
    ///
    /// When `dim` is out of range or empty.
    pub fn argmin(&self, dim: isize, keepdim: bool) -> Tensor<B> {
        self.arg_reduce(ArgReduceOp::ArgMin, dim, keepdim)
    }

    /// Inclusive cumulative sum along `dim`.
    ///
    /// # Panics
    ///
    /// When `dim` is out of range.
    pub fn cumsum(&self, dim: isize) -> Tensor<B> {
        if self.ndim() == 0 {
            return self.clone();
        }
        let axis = ok(norm_dim("cumsum", dim, self.ndim()));
        let src = if self.dtype() == DType::Bool { self.to_dtype(DType::I64) } else { self.clone() };
        src.un(Primitive::Cumsum { axis })
    }

    fn count(&self, dims: &[isize]) -> usize {
        if dims.is_empty() {
            self.numel()
        } else {
            dims.iter().map(|&d| self.dims()[ok(norm_dim("mean", d, self.ndim()))]).product()
        }
    }

    /// Mean of all elements.
    pub fn mean(&self) -> Tensor<B> {
        self.mean_dims(&[], false)
    }

    /// Mean over `dims` (empty: all).
    ///
    /// # Panics
    ///
    /// When a dimension is out of range.
    pub fn mean_dims(&self, dims: &[isize], keepdim: bool) -> Tensor<B> {
        let n = self.count(dims);
        let x = if self.dtype().is_float() { self.clone() } else { self.to_dtype(DType::F32) };
        x.sum_dims(dims, keepdim) / n as f64
    }

    /// Variance over `dims` (empty: all) with Bessel's `correction` (torch's
    /// default is 1).
    ///
    /// # Panics
    ///
    /// When a dimension is out of range.
    pub fn var_dims(&self, dims: &[isize], correction: usize, keepdim: bool) -> Tensor<B> {
        let n = self.count(dims);
        let mu = self.mean_dims(dims, true);
        let d = self - &mu;
        (&d * &d).sum_dims(dims, keepdim) / (n as f64 - correction as f64).max(0.0)
    }

    /// Euclidean (L2) norm of all elements.
    pub fn norm(&self) -> Tensor<B> {
        safe_sqrt(&(self * self).sum())
    }

    /// p-norm over `dims` (empty: all).
    ///
    /// # Panics
    ///
    /// When a dimension is out of range.
    pub fn norm_dims(&self, p: f64, dims: &[isize], keepdim: bool) -> Tensor<B> {
        if p == 2.0 {
            safe_sqrt(&(self * self).sum_dims(dims, keepdim))
        } else if p == 1.0 {
            self.abs().sum_dims(dims, keepdim)
        } else if p.is_infinite() {
            self.abs().max_dims(dims, keepdim)
        } else {
            safe_root(&self.abs().powf(p).sum_dims(dims, keepdim), p)
        }
    }

    /// `log(sum(exp(x)))` over `dims`, computed stably.
    ///
    /// # Panics
    ///
    /// When a dimension is out of range.
    pub fn logsumexp(&self, dims: &[isize], keepdim: bool) -> Tensor<B> {
        let m = self.max_dims(dims, true);
        // A constant shift: the derivative of logsumexp does not depend on it.
        let m = Tensor::where_(&m.abs().lt_scalar(f64::INFINITY), &m, &m.zeros_like());
        let s = (self - &m).exp().sum_dims(dims, true).log() + &m;
        if keepdim { s } else { ok(s.try_reduce(ReduceOp::Sum, dims, false)) }
    }
}

/// `sqrt(s)` for `s >= 0` whose derivative at 0 is 0 (the subgradient torch
/// uses for norms) rather than `0 / 0`. Only exact zeros are masked, so NaN
/// propagates to the value and the derivative, as in torch.
fn safe_sqrt<B: Backend>(s: &Tensor<B>) -> Tensor<B> {
    let zero = s.eq_scalar(0.0);
    let inner = Tensor::where_(&zero, &s.ones_like(), s);
    Tensor::where_(&zero, &s.zeros_like(), &inner.sqrt())
}

/// `s^(1/p)` for `s >= 0`, with derivative 0 at 0 and NaN propagating (as
/// [`safe_sqrt`]).
fn safe_root<B: Backend>(s: &Tensor<B>, p: f64) -> Tensor<B> {
    let zero = s.eq_scalar(0.0);
    let inner = Tensor::where_(&zero, &s.ones_like(), s);
    Tensor::where_(&zero, &s.zeros_like(), &inner.powf(1.0 / p))
}
