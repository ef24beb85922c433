//! Strided layouts and the view arithmetic on them (in `views.rs`; [`Shape`]
//! is in `shape.rs`).
//!
//! NOTE: [views are metadata] Every view operation (reshape of contiguous
//! data, permute, broadcast, slice, select, squeeze/unsqueeze, diagonal) is a
//! new [`Layout`] over the same storage: shape, strides in elements and an
//! offset. No element is copied. vmap moves batch dimensions on every
//! operation, which is free only because of this.

mod offsets;
mod views;

pub use offsets::StridedOffsets;

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
#[derive(PartialEq, Eq, Hash, Debug)]
pub struct Layout {
    shape: Shape,
    strides: DimVec<usize>,
    offset: usize,
}

// By hand, as `Shape`'s: the strides are `Copy`, so one `memcpy` each.
impl Clone for Layout {
    #[inline]
    fn clone(&self) -> Self {
        Layout { shape: self.shape.clone(), strides: DimVec::from_slice(&self.strides), offset: self.offset }
    }
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

    /// The row-major layout of a `shape` whose [`Shape::check`] passed (the
    /// invariant then holds: a contiguous layout spans its elements).
    #[inline(always)]
    pub(crate) fn contiguous_of_checked(shape: Shape) -> Layout {
        let strides = shape.contiguous_strides();
        Layout { shape, strides, offset: 0 }
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
        for (&d, &s) in self.shape.0.iter().zip(self.strides.iter()).rev() {
            if d != 1 && s != expected {
                return false;
            }
            expected = expected.saturating_mul(d);
        }
        true
    }

    /// Whether the matrices in the last two dimensions are stored
    /// column-major (a transposed view): rows one element apart, columns
    /// further, both dimensions above 1. `false` below two dimensions.
    ///
    /// # Examples
    ///
    /// ```
    /// use func_core::Layout;
    /// assert!(Layout::contiguous([3, 4]).permute(&[1, 0]).is_column_major());
    /// assert!(!Layout::contiguous([3, 4]).is_column_major());
    /// assert!(!Layout::contiguous([4]).is_column_major());
    /// ```
    pub fn is_column_major(&self) -> bool {
        let (d, s, nd) = (self.dims(), &self.strides, self.ndim());
        nd >= 2 && d[nd - 2] > 1 && d[nd - 1] > 1 && s[nd - 2] == 1 && s[nd - 1] > 1
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
}

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
