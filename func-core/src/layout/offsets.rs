//! [`StridedOffsets`]: the storage offsets of a [`Layout`]'s elements, in
//! row-major order.

use super::Layout;
use crate::DimVec;
use smallvec::SmallVec;

impl Layout {
    /// Iterate over the storage offsets of all elements in row-major order.
    pub fn offsets(&self) -> StridedOffsets<'_> {
        StridedOffsets::new(self)
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
