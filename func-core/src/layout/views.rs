//! The view arithmetic on [`Layout`]s: permute, broadcast, slice, diagonal
//! and reshape, each a new layout over the same storage (NOTE: [views are
//! metadata]).

use super::Layout;
use crate::{DimVec, Error, Result, Shape};
use smallvec::SmallVec;

impl Layout {
    /// Reorder dimensions: output dimension `i` is input dimension `perm[i]`.
    ///
    /// # Panics
    ///
    /// When `perm` is not a permutation of `0..ndim`.
    pub fn permute(&self, perm: &[usize]) -> Layout {
        let mut seen: DimVec<bool> = SmallVec::from_elem(false, self.ndim());
        let is_perm = perm.len() == self.ndim()
            && perm.iter().all(|&p| p < self.ndim() && !std::mem::replace(&mut seen[p], true));
        assert!(is_perm, "Layout::permute: {perm:?} is not a permutation of the {} dimensions", self.ndim());
        Layout {
            shape: Shape(perm.iter().map(|&p| self.shape.0[p]).collect()),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        }
    }

    /// Broadcast to `shape`: new leading dimensions and size-1 dimensions
    /// get stride 0.
    ///
    /// # Errors
    ///
    /// When `shape` is not a broadcast of this layout's shape, or has too
    /// many elements (its product overflows).
    pub fn try_broadcast_to(&self, shape: &Shape) -> Result<Layout> {
        let n = shape.ndim();
        let fits =
            n >= self.ndim() && self.dims().iter().rev().zip(shape.iter().rev()).all(|(&a, &b)| a == b || a == 1);
        if !fits {
            return Err(Error::shape_mismatch(
                "broadcast_to",
                &self.shape,
                shape,
                "are not compatible: the input's sizes must equal the target's or be 1, from the trailing dimension",
            ));
        }
        let lead = n - self.ndim();
        let mut strides: DimVec<usize> = SmallVec::from_elem(0, n);
        for i in lead..n {
            let src = i - lead;
            strides[i] = if self.shape.0[src] == shape.0[i] { self.strides[src] } else { 0 };
        }
        Layout::validated("broadcast_to", shape.clone(), strides, self.offset)
    }

    /// Broadcast to `shape` (see [`try_broadcast_to`](Self::try_broadcast_to)).
    ///
    /// # Panics
    ///
    /// As `try_broadcast_to` errs.
    pub fn broadcast_to(&self, shape: &Shape) -> Layout {
        self.try_broadcast_to(shape).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Elements `start, start+step, ...` (< `stop`) along `axis`; empty when
    /// `stop <= start`.
    ///
    /// # Errors
    ///
    /// When `axis` is out of range, `step` is 0 or `stop` is past the end of
    /// the dimension.
    pub fn try_slice(&self, axis: usize, start: usize, stop: usize, step: usize) -> Result<Layout> {
        if axis >= self.ndim() || step == 0 || stop > self.shape.0[axis] {
            return Err(Error::invalid(
                "slice",
                format!(
                    "cannot slice {start}..{stop} by step {step} along axis {axis} of shape {}: the axis must exist, \
                     the step be positive and the end at most the size",
                    self.shape
                ),
            ));
        }
        let len = if stop > start { (stop - start).div_ceil(step) } else { 0 };
        let mut l = self.clone();
        // start < stop <= size, so start * stride <= (size - 1) * stride, within the span.
        l.offset += if len > 0 { start * self.strides[axis] } else { 0 };
        l.shape.0[axis] = len;
        // Exact when len >= 2 ((len - 1) * step < size); otherwise the stride addresses nothing.
        l.strides[axis] = self.strides[axis].saturating_mul(step);
        Ok(l)
    }

    /// Elements `start, start+step, ...` (< `stop`) along `axis`.
    ///
    /// # Panics
    ///
    /// As [`try_slice`](Self::try_slice) errs.
    pub fn slice(&self, axis: usize, start: usize, stop: usize, step: usize) -> Layout {
        self.try_slice(axis, start, stop, step).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The diagonal of dimensions `d1` and `d2` (`d1 != d2`), appended as the
    /// last dimension; `offset > 0` is above the main diagonal.
    ///
    /// # Panics
    ///
    /// When `d1` or `d2` is out of range, or they are equal.
    pub fn diagonal(&self, offset: isize, d1: usize, d2: usize) -> Layout {
        assert!(
            d1 < self.ndim() && d2 < self.ndim() && d1 != d2,
            "Layout::diagonal: dimensions {d1} and {d2} must be distinct and below {}",
            self.ndim()
        );
        // Sizes are at most isize::MAX (NOTE: [layout invariant]).
        let (n1, n2) = (self.shape.0[d1] as isize, self.shape.0[d2] as isize);
        let len = if offset >= 0 { n1.min(n2.saturating_sub(offset)) } else { n1.saturating_add(offset).min(n2) }.max(0)
            as usize;
        let mut off = self.offset;
        if len > 0 {
            if offset >= 0 {
                off += offset as usize * self.strides[d2];
            } else {
                off += offset.unsigned_abs() * self.strides[d1];
            }
        }
        let mut shape: DimVec<usize> = SmallVec::new();
        let mut strides: DimVec<usize> = SmallVec::new();
        for i in 0..self.ndim() {
            if i != d1 && i != d2 {
                shape.push(self.shape.0[i]);
                strides.push(self.strides[i]);
            }
        }
        shape.push(len);
        // Exact when len >= 2 (the diagonal lies inside the layout); otherwise unused.
        strides.push(self.strides[d1].saturating_add(self.strides[d2]));
        Layout { shape: Shape(shape), strides, offset: off }
    }

    /// A view with a new shape of the same number of elements, if one exists
    /// without copying (as `torch.Tensor.view` decides).
    ///
    /// Returns `None` also when `shape` has a different number of elements.
    pub fn reshape(&self, shape: &Shape) -> Option<Layout> {
        if self.is_contiguous() {
            return (shape.try_numel().ok()? == self.numel()).then(|| Layout {
                shape: shape.clone(),
                strides: shape.contiguous_strides(),
                offset: self.offset,
            });
        }
        self.reshape_strided(shape)
    }

    /// Whether [`reshape`](Self::reshape) to `shape` gives a view, without
    /// building it (a contiguous layout always does).
    pub fn reshapes_to(&self, shape: &Shape) -> bool {
        if self.is_contiguous() {
            return shape.try_numel().ok() == Some(self.numel());
        }
        self.reshape_strided(shape).is_some()
    }

    /// [`reshape`](Self::reshape) of a layout that may not be contiguous.
    fn reshape_strided(&self, shape: &Shape) -> Option<Layout> {
        if shape.try_numel().ok()? != self.numel() {
            return None;
        }
        // General case: split the old shape into contiguous chunks and map the
        // new dimensions onto them (torch's computeStride).
        let old_dims: DimVec<usize> = self.shape.0.clone();
        let old_strides = &self.strides;
        let new_dims = &shape.0;
        let mut new_strides: DimVec<usize> = SmallVec::from_elem(0, new_dims.len());
        if self.numel() == 0 {
            return Some(Layout { shape: shape.clone(), strides: shape.contiguous_strides(), offset: self.offset });
        }
        let mut view_d = new_dims.len() as isize - 1;
        let mut chunk_base_stride = *old_strides.last().unwrap_or(&1);
        let mut tensor_numel = 1usize;
        let mut view_numel = 1usize;
        for tensor_d in (0..old_dims.len()).rev() {
            // Products of sizes of a non-empty layout are at most numel; strides
            // saturate only for trailing size-1 dimensions, which address nothing.
            tensor_numel *= old_dims[tensor_d];
            if tensor_d == 0
                || (old_dims[tensor_d - 1] != 1
                    && old_strides[tensor_d - 1] != tensor_numel.saturating_mul(chunk_base_stride))
            {
                while view_d >= 0 && (view_numel < tensor_numel || new_dims[view_d as usize] == 1) {
                    new_strides[view_d as usize] = view_numel.saturating_mul(chunk_base_stride);
                    view_numel *= new_dims[view_d as usize];
                    view_d -= 1;
                }
                if view_numel != tensor_numel {
                    return None;
                }
                if tensor_d > 0 {
                    chunk_base_stride = old_strides[tensor_d - 1];
                    tensor_numel = 1;
                    view_numel = 1;
                }
            }
        }
        if view_d != -1 {
            return None;
        }
        Some(Layout { shape: shape.clone(), strides: new_strides, offset: self.offset })
    }
}
