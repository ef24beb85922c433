//! Strided layouts and the view arithmetic on them ([`Shape`] is in
//! `shape.rs`).
//!
//! NOTE: [views are metadata] Every view operation (reshape of contiguous
//! data, permute, broadcast, slice, select, squeeze/unsqueeze, diagonal) is a
//! new [`Layout`] over the same storage: shape, strides in elements and an
//! offset. No element is copied. vmap moves batch dimensions on every
//! operation, which is free only because of this.

use crate::{DimVec, Error, Result, Shape};
use smallvec::SmallVec;
/// Where the elements of a tensor live in its storage: shape, strides (in
/// elements, never negative; 0 for a broadcast dimension) and the offset of
/// the first element.
///
/// See NOTE: [views are metadata].
///
/// NOTE: [layout invariant] Every `Layout` satisfies, by construction:
/// - the shape has at most [`MAX_NUMEL`](crate::MAX_NUMEL) elements, and each size is at most
///   [`MAX_NUMEL`](crate::MAX_NUMEL) (checked products, as [`Shape::check`]);
/// - if it has elements, the largest storage index it addresses,
///   `offset + sum((size - 1) * stride)`, is computed without overflow, and
///   [`storage_span`](Layout::storage_span) (that index plus one) is at most
///   `isize::MAX`.
///
/// So `storage_span` never wraps, comparing it with a storage's length
/// bounds every element, and every stride of a dimension of size > 1 and
/// every element offset fits in `isize`. Constructors check this and return
/// an error (`try_` forms) or panic with the error's message.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Layout {
    shape: Shape,
    strides: DimVec<usize>,
    offset: usize,
}

/// The span `offset + sum((d - 1) * s) + 1` of a layout with elements, or
/// `None` when it overflows or exceeds `isize::MAX`.
fn checked_span(dims: &[usize], strides: &[usize], offset: usize) -> Option<usize> {
    let mut last = offset;
    for (&d, &s) in dims.iter().zip(strides) {
        last = last.checked_add(d.checked_sub(1)?.checked_mul(s)?)?;
    }
    last.checked_add(1).filter(|&n| n <= isize::MAX as usize)
}

impl Layout {
    /// Check the NOTE: [layout invariant] for a layout's parts.
    fn validated(op: &str, shape: Shape, strides: DimVec<usize>, offset: usize) -> Result<Layout> {
        if shape.ndim() != strides.len() {
            return Err(Error::invalid_shape(
                op,
                &shape,
                format!("got {} strides for a shape of {} dimensions", strides.len(), shape.ndim()),
            ));
        }
        let numel = shape.check(op)?;
        if numel > 0 && checked_span(&shape, &strides, offset).is_none() {
            return Err(Error::invalid_shape(
                op,
                &shape,
                format!(
                    "strides {strides:?} and offset {offset} address elements beyond isize::MAX \
                     (the storage index computation overflows)"
                ),
            ));
        }
        Ok(Layout { shape, strides, offset })
    }

    /// A row-major contiguous layout of `shape` at offset 0.
    ///
    /// # Errors
    ///
    /// When `shape` has too many elements for a storage (more than
    /// `isize::MAX`, or its product overflows).
    pub fn try_contiguous(shape: impl Into<Shape>) -> Result<Layout> {
        let shape = shape.into();
        // The span of a contiguous layout is its number of elements, which
        // `check` bounds: the invariant holds without computing the span.
        shape.check("Layout::contiguous")?;
        let strides = shape.contiguous_strides();
        Ok(Layout { shape, strides, offset: 0 })
    }

    /// A row-major contiguous layout of `shape` at offset 0.
    ///
    /// # Panics
    ///
    /// As [`try_contiguous`](Self::try_contiguous) errs.
    pub fn contiguous(shape: impl Into<Shape>) -> Layout {
        Layout::try_contiguous(shape).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A layout from its parts, checked (see NOTE: [layout invariant]).
    ///
    /// Whether the layout fits a particular storage is a separate check:
    /// `layout.storage_span() <= storage length`.
    ///
    /// # Errors
    ///
    /// When `strides` and `shape` differ in length, the shape has too many
    /// elements, or the storage index computation overflows.
    pub fn try_new(shape: impl Into<Shape>, strides: &[usize], offset: usize) -> Result<Layout> {
        Layout::validated("Layout::new", shape.into(), SmallVec::from_slice(strides), offset)
    }

    /// A layout from its parts.
    ///
    /// # Panics
    ///
    /// As [`try_new`](Self::try_new) errs (ranks differ, too many elements,
    /// or the storage index computation overflows), with its message.
    pub fn new(shape: impl Into<Shape>, strides: &[usize], offset: usize) -> Layout {
        Layout::try_new(shape, strides, offset).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The sizes as a slice.
    pub fn dims(&self) -> &[usize] {
        &self.shape.0
    }

    /// Strides in elements.
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    /// Offset of the first element in the storage.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.ndim()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    /// Whether the elements are row-major and dense (offset may be nonzero).
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1usize;
        for i in (0..self.ndim()).rev() {
            let d = self.shape.0[i];
            if d != 1 && self.strides[i] != expected {
                return false;
            }
            expected = expected.saturating_mul(d);
        }
        true
    }

    /// Whether two different elements of the layout share one storage
    /// location: a broadcast (stride-0) dimension of size > 1, or strides
    /// that make elements collide (a layout built with [`Layout::new`]).
    /// A write through such a layout would lose all but one of the values
    /// written to each shared location, so in-place operations refuse it.
    ///
    /// # Examples
    ///
    /// ```
    /// use func_core::{Layout, Shape};
    /// assert!(!Layout::contiguous([2, 3]).overlaps());
    /// assert!(Layout::contiguous([3]).broadcast_to(&Shape::from([2, 3])).overlaps());
    /// // Rows of length 3 starting one element apart: [0 1 2], [1 2 3].
    /// assert!(Layout::new([2, 3], &[1, 1], 0).overlaps());
    /// // Strides 2 and 3 interleave without colliding: 0 2 4 / 3 5 7.
    /// assert!(!Layout::new([2, 3], &[3, 2], 0).overlaps());
    /// ```
    pub fn overlaps(&self) -> bool {
        if self.numel() <= 1 {
            return false;
        }
        let mut dims: DimVec<(usize, usize)> =
            self.shape.0.iter().zip(&self.strides).filter(|&(&d, _)| d > 1).map(|(&d, &s)| (d, s)).collect();
        dims.sort_unstable_by_key(|&(_, s)| s);
        // Sufficient for no overlap: each stride exceeds the largest offset
        // the smaller strides reach (no overflow: NOTE: [layout invariant]).
        let mut reach = 0usize;
        let nested = dims.iter().all(|&(d, s)| {
            let ok = s > reach;
            reach += (d - 1) * s;
            ok
        });
        if nested {
            return false;
        }
        // Interleaved strides: check exactly.
        let mut offsets: Vec<usize> = self.offsets().collect();
        offsets.sort_unstable();
        offsets.windows(2).any(|w| w[0] == w[1])
    }

    /// The contiguous slice `offset..offset+numel` if the layout is contiguous.
    pub fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        // A contiguous layout with elements spans exactly offset + numel (no overflow: NOTE: [layout invariant]).
        if self.is_contiguous() { Some(self.offset..self.offset.saturating_add(self.numel())) } else { None }
    }

    /// The largest storage index this layout touches plus one (0 if empty).
    /// Never overflows (NOTE: [layout invariant]) and is at most `isize::MAX`.
    pub fn storage_span(&self) -> usize {
        // One pass, no overflow checks: this runs several times per
        // operation. A layout with elements has a span that fits (NOTE:
        // [layout invariant]), so only the empty case is tested; debug builds
        // check the invariant.
        if self.shape.0.contains(&0) {
            return 0;
        }
        let mut last = self.offset;
        for (&d, &s) in self.shape.0.iter().zip(&self.strides) {
            last = last.wrapping_add((d - 1).wrapping_mul(s));
        }
        debug_assert_eq!(
            checked_span(&self.shape, &self.strides, self.offset),
            Some(last + 1),
            "Layout invariant broken: span of {self:?} overflows"
        );
        last + 1
    }

    /// Storage index of the element at multi-index `idx`.
    ///
    /// # Panics
    ///
    /// When `idx` does not have one in-range index per dimension.
    pub fn index_of(&self, idx: &[usize]) -> usize {
        assert!(
            idx.len() == self.ndim() && idx.iter().zip(self.dims()).all(|(&i, &d)| i < d),
            "Layout::index_of: index {idx:?} is out of range for shape {}",
            self.shape
        );
        // In range, so each term is at most (d - 1) * s and the sum is below the span.
        self.offset + idx.iter().zip(&self.strides).map(|(&i, &s)| i * s).sum::<usize>()
    }

    /// Iterate over the storage offsets of all elements in row-major order.
    pub fn offsets(&self) -> StridedOffsets<'_> {
        StridedOffsets::new(self)
    }

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
        if shape.try_numel().ok()? != self.numel() {
            return None;
        }
        if self.is_contiguous() {
            return Some(Layout { shape: shape.clone(), strides: shape.contiguous_strides(), offset: self.offset });
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

/// Iterator over the storage offsets of a [`Layout`], row-major.
pub struct StridedOffsets<'a> {
    layout: &'a Layout,
    index: DimVec<usize>,
    next: usize,
    remaining: usize,
}

impl<'a> StridedOffsets<'a> {
    fn new(layout: &'a Layout) -> Self {
        StridedOffsets {
            layout,
            index: SmallVec::from_elem(0, layout.ndim()),
            next: layout.offset,
            remaining: layout.numel(),
        }
    }
}

impl Iterator for StridedOffsets<'_> {
    type Item = usize;
    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let out = self.next;
        if self.remaining > 0 {
            let dims = &self.layout.shape.0;
            let strides = &self.layout.strides;
            let mut d = dims.len();
            // Wrapping steps: a position one past the end of a dimension (or
            // the saturated stride of a size-1 dimension) may leave usize, but
            // it is never returned, and the rewind restores the exact offset.
            while d > 0 {
                d -= 1;
                self.index[d] += 1;
                self.next = self.next.wrapping_add(strides[d]);
                if self.index[d] < dims[d] {
                    break;
                }
                self.next = self.next.wrapping_sub(strides[d].wrapping_mul(dims[d]));
                self.index[d] = 0;
            }
        }
        Some(out)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for StridedOffsets<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_of_transpose() {
        let l = Layout::contiguous([2, 3]).permute(&[1, 0]);
        assert_eq!(l.offsets().collect::<Vec<_>>(), vec![0, 3, 1, 4, 2, 5]);
        assert!(!l.is_contiguous());
    }

    #[test]
    fn reshape_views_when_possible() {
        let l = Layout::contiguous([4, 6]).slice(1, 0, 3, 1); // [4, 3] stride [6, 1]
        assert!(l.reshape(&Shape::from([4, 3, 1])).is_some());
        assert!(l.reshape(&Shape::from([12])).is_none());
        let t = Layout::contiguous([2, 3]).permute(&[1, 0]);
        assert!(t.reshape(&Shape::from([6])).is_none());
        let s = l.reshape(&Shape::from([2, 2, 3])).unwrap();
        assert_eq!(s.strides(), &[12, 6, 1]);
    }

    #[test]
    fn broadcast_and_slice() {
        let l = Layout::contiguous([3, 1]).broadcast_to(&Shape::from([2, 3, 4]));
        assert_eq!(l.strides(), &[0, 1, 0]);
        let s = Layout::contiguous([10]).slice(0, 1, 8, 3);
        assert_eq!(s.offsets().collect::<Vec<_>>(), vec![1, 4, 7]);
        let d = Layout::contiguous([3, 3]).diagonal(1, 0, 1);
        assert_eq!(d.offsets().collect::<Vec<_>>(), vec![1, 5]);
    }
}
