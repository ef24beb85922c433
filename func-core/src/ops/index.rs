//! Indexing: gather, index_select, scatter_add, one_hot.

use super::{norm_dim, ok};
use crate::interp::bind;
use crate::{Backend, CmpOp, DType, Error, Primitive, Result, Shape, Tensor};

impl<B: Backend> Tensor<B> {
    /// `torch.gather` along `dim`: `out[.., j, ..] = self[.., index[.., j, ..], ..]`.
    /// `index` is i64 with the shape of `self` except along `dim` (other
    /// sizes may be smaller, as torch allows: the input is narrowed to them).
    ///
    /// # Errors
    ///
    /// When `index` is not i64, ranks differ, or sizes exceed the input's.
    /// An index out of range is reported by the backend.
    pub fn try_gather(&self, dim: isize, index: &Tensor<B>) -> Result<Tensor<B>> {
        let axis = norm_dim("gather", dim, self.ndim())?;
        if index.dtype() != DType::I64 {
            return Err(Error::dtype("gather", index.dtype(), "expected an i64 index tensor"));
        }
        if index.ndim() != self.ndim() {
            return Err(Error::shape_mismatch(
                "gather",
                self.shape(),
                index.shape(),
                "index tensor must have the same number of dimensions as input",
            ));
        }
        let mut src = self.clone();
        for d in 0..self.ndim() {
            if d != axis {
                if index.dims()[d] > self.dims()[d] {
                    return Err(Error::shape_mismatch(
                        "gather",
                        self.shape(),
                        index.shape(),
                        format!("size of index dim {d} exceeds the input's"),
                    ));
                }
                if index.dims()[d] < self.dims()[d] {
                    src = src.try_slice(d as isize, 0, index.dims()[d] as isize, 1)?;
                }
            }
        }
        bind(Primitive::Gather { axis }, &[&src, index])
    }

    /// `torch.gather`.
    ///
    /// # Panics
    ///
    /// As [`try_gather`](Self::try_gather).
    pub fn gather(&self, dim: isize, index: &Tensor<B>) -> Tensor<B> {
        ok(self.try_gather(dim, index))
    }

    /// `torch.index_select`: the slices at `index` (1-D i64) along `dim`.
    ///
    /// # Panics
    ///
    /// When `index` is not 1-D i64, or an index is out of range.
    pub fn index_select(&self, dim: isize, index: &Tensor<B>) -> Tensor<B> {
        let axis = ok(norm_dim("index_select", dim, self.ndim()));
        assert!(index.ndim() == 1, "index_select: index must be 1-D, got shape {}", index.shape());
        let mut view_shape = vec![1usize; self.ndim()];
        view_shape[axis] = index.numel();
        let mut full: Shape = self.shape().clone();
        full.0[axis] = index.numel();
        let idx = index.reshape_to(view_shape).broadcast_to(full);
        self.gather(axis as isize, &idx)
    }

    /// `torch.scatter_add` (out of place): a copy of `self` with `src` added
    /// at `index` along `dim`. `index` and `src` share a shape equal to
    /// `self`'s except along `dim`.
    ///
    /// # Errors
    ///
    /// When dtypes or shapes do not fit.
    pub fn try_scatter_add(&self, dim: isize, index: &Tensor<B>, src: &Tensor<B>) -> Result<Tensor<B>> {
        let axis = norm_dim("scatter_add", dim, self.ndim())?;
        if index.dtype() != DType::I64 {
            return Err(Error::dtype("scatter_add", index.dtype(), "expected an i64 index tensor"));
        }
        if index.shape() != src.shape() {
            return Err(Error::shape_mismatch(
                "scatter_add",
                index.shape(),
                src.shape(),
                "(index and src) must be equal",
            ));
        }
        let fits =
            index.ndim() == self.ndim() && (0..self.ndim()).all(|d| d == axis || index.dims()[d] == self.dims()[d]);
        if !fits {
            return Err(Error::shape_mismatch(
                "scatter_add",
                self.shape(),
                index.shape(),
                format!("(self and index) must be equal except in dim {axis}"),
            ));
        }
        let src = src.try_to_dtype(self.dtype())?;
        bind(Primitive::ScatterAdd { axis }, &[self, index, &src])
    }

    /// `torch.scatter_add` (out of place).
    ///
    /// # Panics
    ///
    /// As [`try_scatter_add`](Self::try_scatter_add).
    pub fn scatter_add(&self, dim: isize, index: &Tensor<B>, src: &Tensor<B>) -> Tensor<B> {
        ok(self.try_scatter_add(dim, index, src))
    }

    /// One-hot encoding of a tensor of class indices (`torch.nn.functional.one_hot`):
    /// shape `[.., classes]`, with 1 at each index's class and 0 elsewhere,
    /// in `dtype`. Non-i64 indices are cast to i64 first.
    ///
    /// # Errors
    ///
    /// When a class value is negative or not smaller than `classes`. The
    /// values are checked directly when they can be read (concrete tensors,
    /// or tracers of grad/jvp); under vmap, where they differ per batch
    /// element, the check is a gather from `0..classes`, whose range check
    /// fails the same way.
    pub fn try_one_hot(&self, classes: usize, dtype: DType) -> Result<Tensor<B>> {
        let idx = self.try_to_dtype(DType::I64)?;
        let bad_class = |why: String| {
            Error::invalid(
                "one_hot",
                format!(
                    "{why}; class values must be non-negative and smaller than num_classes ({classes}) \
                     (index shape {}); raise num_classes or fix the labels",
                    self.shape()
                ),
            )
        };
        let checked = match idx.try_to_vec::<i64>() {
            Ok(values) => {
                if let Some(&v) = values.iter().find(|&&v| v < 0 || v as u64 >= classes as u64) {
                    return Err(bad_class(format!("class value {v} is out of range")));
                }
                idx
            }
            // Not readable (a vmap tracer): gather each index from 0..classes, so
            // that an out-of-range value fails in the backend's index check.
            Err(_) => {
                let flat = idx.try_reshape_to([idx.numel()])?;
                let range = Self::arange(classes, DType::I64);
                let picked = range
                    .try_gather(0, &flat)
                    .map_err(|e| bad_class(format!("a class value is out of range ({e})")))?;
                picked.try_reshape_to(idx.shape().clone())?
            }
        };
        let c = Self::arange(classes, DType::I64);
        checked.unsqueeze(-1).try_compare(CmpOp::Eq, &c)?.try_to_dtype(dtype)
    }

    /// One-hot encoding of a tensor of class indices: shape `[.., classes]`.
    ///
    /// # Panics
    ///
    /// As [`try_one_hot`](Self::try_one_hot): when a class value is negative
    /// or not smaller than `classes`.
    pub fn one_hot(&self, classes: usize, dtype: DType) -> Tensor<B> {
        ok(self.try_one_hot(classes, dtype))
    }
}
