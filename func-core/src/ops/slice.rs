//! Views of part of a tensor: slice, narrow, select, diagonal, and the
//! split into pieces (NOTE: [views are metadata]).

use super::{norm_dim, ok};
use crate::interp::bind;
use crate::{Backend, Error, Primitive, Result, Tensor};

impl<B: Backend> Tensor<B> {
    /// Elements `start..stop` by `step` along `dim` (a view). Negative
    /// `start`/`stop` count from the end; bounds are clamped as in Python.
    ///
    /// # Errors
    ///
    /// When `dim` is out of range or `step` is 0.
    pub fn try_slice(&self, dim: isize, start: isize, stop: isize, step: usize) -> Result<Tensor<B>> {
        let axis = norm_dim("slice", dim, self.ndim())?;
        if step == 0 {
            return Err(Error::invalid("slice", "slice step must be positive"));
        }
        let n = self.dims()[axis] as isize;
        let clampi = |i: isize| if i < 0 { (i + n).max(0) } else { i.min(n) } as usize;
        let (start, stop) = (clampi(start), clampi(stop));
        let stop = stop.max(start);
        if start == 0 && stop as isize == n && step == 1 {
            return Ok(self.clone());
        }
        bind(Primitive::Slice { axis, start, stop, step }, &[self])
    }

    /// Elements `start..stop` by `step` along `dim` (a view).
    ///
    /// # Panics
    ///
    /// When `dim` is out of range or `step` is 0.
    pub fn slice(&self, dim: isize, start: isize, stop: isize, step: usize) -> Tensor<B> {
        ok(self.try_slice(dim, start, stop, step))
    }

    /// `length` elements from `start` along `dim` (a view).
    ///
    /// # Errors
    ///
    /// When `dim` is out of range or `start + length` exceeds the size of
    /// the dimension (or overflows).
    pub fn try_narrow(&self, dim: isize, start: usize, length: usize) -> Result<Tensor<B>> {
        let axis = norm_dim("narrow", dim, self.ndim())?;
        let n = self.dims()[axis];
        match start.checked_add(length) {
            // Sizes are at most isize::MAX, so `start` and `end` convert exactly.
            Some(end) if end <= n => self.try_slice(axis as isize, start as isize, end as isize, 1),
            _ => Err(Error::invalid(
                "narrow",
                format!(
                    "start ({start}) + length ({length}) exceeds dimension size ({n}) of dim {axis} in shape {}",
                    self.shape()
                ),
            )),
        }
    }

    /// `length` elements from `start` along `dim` (a view).
    ///
    /// # Panics
    ///
    /// As [`try_narrow`](Self::try_narrow) errs.
    pub fn narrow(&self, dim: isize, start: usize, length: usize) -> Tensor<B> {
        ok(self.try_narrow(dim, start, length))
    }

    /// The slice at `index` along `dim`, with that dim removed (a view).
    ///
    /// # Errors
    ///
    /// When `dim` or `index` is out of range.
    pub fn try_select(&self, dim: isize, index: isize) -> Result<Tensor<B>> {
        let axis = norm_dim("select", dim, self.ndim())?;
        let n = self.dims()[axis] as isize;
        if index < -n || index >= n {
            return Err(Error::invalid(
                "select",
                format!("index {index} is out of bounds for dimension {axis} with size {n}"),
            ));
        }
        let i = if index < 0 { index + n } else { index };
        let s = self.try_slice(axis as isize, i, i + 1, 1)?;
        s.try_squeeze_dim(axis as isize)
    }

    /// The slice at `index` along `dim`, that dim removed (a view).
    ///
    /// # Panics
    ///
    /// When `dim` or `index` is out of range.
    pub fn select(&self, dim: isize, index: isize) -> Tensor<B> {
        ok(self.try_select(dim, index))
    }

    /// Diagonal of dims `d1`, `d2` appended as the last dim (a view).
    ///
    /// # Panics
    ///
    /// When the dims are equal or out of range.
    pub fn diagonal(&self, offset: isize, d1: isize, d2: isize) -> Tensor<B> {
        let n = self.ndim();
        let (dim1, dim2) = (ok(norm_dim("diagonal", d1, n)), ok(norm_dim("diagonal", d2, n)));
        if dim1 == dim2 {
            panic!("diagonal: diagonal dimensions cannot be identical {d1}, {d2}");
        }
        ok(bind(Primitive::Diagonal { offset, dim1, dim2 }, &[self]))
    }

    /// Split into pieces of `size` along `dim` (the last may be smaller); views.
    ///
    /// # Panics
    ///
    /// When `size` is 0 or `dim` is out of range.
    pub fn split(&self, size: usize, dim: isize) -> Vec<Tensor<B>> {
        assert!(size > 0, "split: split_size must be positive, got 0");
        let axis = ok(norm_dim("split", dim, self.ndim()));
        let n = self.dims()[axis];
        (0..n.max(1))
            .step_by(size)
            .map(|s| self.slice(axis as isize, s as isize, (s + size).min(n) as isize, 1))
            .collect()
    }

    /// Split into `chunks` nearly equal pieces along `dim` (torch's `chunk`); views.
    ///
    /// # Panics
    ///
    /// When `chunks` is 0 or `dim` is out of range.
    pub fn chunk(&self, chunks: usize, dim: isize) -> Vec<Tensor<B>> {
        assert!(chunks > 0, "chunk: number of chunks must be positive, got 0");
        let axis = ok(norm_dim("chunk", dim, self.ndim()));
        let size = self.dims()[axis].div_ceil(chunks).max(1);
        self.split(size, dim)
    }
}
