//! Shapes, strided layouts and the view arithmetic on them.
//!
//! NOTE: [views are metadata] Every view operation (reshape of contiguous
//! data, permute, broadcast, slice, select, squeeze/unsqueeze, diagonal) is a
//! new [`Layout`] over the same storage: shape, strides in elements and an
//! offset. No element is copied. vmap moves batch dimensions on every
//! operation, which is free only because of this.

use smallvec::SmallVec;
use std::fmt;

/// Inline capacity of shapes and strides: tensors of up to six dimensions
/// never allocate for their metadata.
pub type DimVec<T> = SmallVec<[T; 6]>;

/// The shape of a tensor: its size along each dimension.
///
/// # Examples
///
/// ```
/// use func_core::Shape;
/// let s = Shape::from([2, 3, 4]);
/// assert_eq!(s.numel(), 24);
/// assert_eq!(s.to_string(), "[2, 3, 4]");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub DimVec<usize>);

impl Shape {
    /// The shape of a scalar (no dimensions).
    pub fn scalar() -> Shape {
        Shape(DimVec::new())
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.0.len()
    }

    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }

    /// The sizes as a slice.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// Row-major (C-contiguous) strides for this shape.
    pub fn contiguous_strides(&self) -> DimVec<usize> {
        let mut strides: DimVec<usize> = SmallVec::from_elem(0, self.0.len());
        let mut acc = 1usize;
        for i in (0..self.0.len()).rev() {
            strides[i] = acc;
            acc *= self.0[i];
        }
        strides
    }

    /// NumPy broadcasting of two shapes, or `None` when they are incompatible.
    pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Shape> {
        let n = a.len().max(b.len());
        let mut out: DimVec<usize> = SmallVec::from_elem(0, n);
        for i in 0..n {
            let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
            let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
            out[i] = if da == db {
                da
            } else if da == 1 {
                db
            } else if db == 1 {
                da
            } else {
                return None;
            };
        }
        Some(Shape(out))
    }
}

impl std::ops::Deref for Shape {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        &self.0
    }
}

impl From<&[usize]> for Shape {
    fn from(v: &[usize]) -> Shape {
        Shape(SmallVec::from_slice(v))
    }
}

impl From<Vec<usize>> for Shape {
    fn from(v: Vec<usize>) -> Shape {
        Shape(SmallVec::from_vec(v))
    }
}

impl From<&Vec<usize>> for Shape {
    fn from(v: &Vec<usize>) -> Shape {
        Shape(SmallVec::from_slice(v))
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(v: [usize; N]) -> Shape {
        Shape(SmallVec::from_slice(&v))
    }
}

impl<const N: usize> From<&[usize; N]> for Shape {
    fn from(v: &[usize; N]) -> Shape {
        Shape(SmallVec::from_slice(v))
    }
}

impl From<&Shape> for Shape {
    fn from(v: &Shape) -> Shape {
        v.clone()
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where the elements of a tensor live in its storage: shape, strides (in
/// elements, never negative; 0 for a broadcast dimension) and the offset of
/// the first element.
///
/// See NOTE: [views are metadata].
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Layout {
    shape: Shape,
    strides: DimVec<usize>,
    offset: usize,
}

impl Layout {
    /// A row-major contiguous layout of `shape` at offset 0.
    pub fn contiguous(shape: impl Into<Shape>) -> Layout {
        let shape = shape.into();
        let strides = shape.contiguous_strides();
        Layout { shape, strides, offset: 0 }
    }

    /// A layout from its parts.
    ///
    /// # Panics
    ///
    /// Panics if `strides` and `shape` differ in length.
    pub fn new(shape: impl Into<Shape>, strides: &[usize], offset: usize) -> Layout {
        let shape = shape.into();
        assert_eq!(shape.ndim(), strides.len(), "Layout::new: shape and strides differ in rank");
        Layout { shape, strides: SmallVec::from_slice(strides), offset }
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
            expected *= d;
        }
        true
    }

    /// The contiguous slice `offset..offset+numel` if the layout is contiguous.
    pub fn contiguous_range(&self) -> Option<std::ops::Range<usize>> {
        if self.is_contiguous() { Some(self.offset..self.offset + self.numel()) } else { None }
    }

    /// The largest storage index this layout touches plus one (0 if empty).
    pub fn storage_span(&self) -> usize {
        if self.numel() == 0 {
            return 0;
        }
        self.offset + self.shape.0.iter().zip(&self.strides).map(|(&d, &s)| (d - 1) * s).sum::<usize>() + 1
    }

    /// Storage index of the element at multi-index `idx`.
    pub fn index_of(&self, idx: &[usize]) -> usize {
        self.offset + idx.iter().zip(&self.strides).map(|(&i, &s)| i * s).sum::<usize>()
    }

    /// Iterate over the storage offsets of all elements in row-major order.
    pub fn offsets(&self) -> StridedOffsets<'_> {
        StridedOffsets::new(self)
    }

    /// Reorder dimensions: output dimension `i` is input dimension `perm[i]`.
    pub fn permute(&self, perm: &[usize]) -> Layout {
        Layout {
            shape: Shape(perm.iter().map(|&p| self.shape.0[p]).collect()),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        }
    }

    /// Broadcast to `shape` (already checked compatible): new leading
    /// dimensions and size-1 dimensions get stride 0.
    pub fn broadcast_to(&self, shape: &Shape) -> Layout {
        let n = shape.ndim();
        let lead = n - self.ndim();
        let mut strides: DimVec<usize> = SmallVec::from_elem(0, n);
        for i in lead..n {
            let src = i - lead;
            strides[i] = if self.shape.0[src] == shape.0[i] { self.strides[src] } else { 0 };
        }
        Layout { shape: shape.clone(), strides, offset: self.offset }
    }

    /// Elements `start, start+step, ...` (< `stop`) along `axis`.
    pub fn slice(&self, axis: usize, start: usize, stop: usize, step: usize) -> Layout {
        let len = if stop > start { (stop - start).div_ceil(step) } else { 0 };
        let mut l = self.clone();
        l.offset += if len > 0 { start * self.strides[axis] } else { 0 };
        l.shape.0[axis] = len;
        l.strides[axis] *= step;
        l
    }

    /// The diagonal of dimensions `d1` and `d2` (`d1 != d2`), appended as the
    /// last dimension; `offset > 0` is above the main diagonal.
    pub fn diagonal(&self, offset: isize, d1: usize, d2: usize) -> Layout {
        let (n1, n2) = (self.shape.0[d1] as isize, self.shape.0[d2] as isize);
        let len = if offset >= 0 { n1.min(n2 - offset) } else { (n1 + offset).min(n2) }.max(0) as usize;
        let mut off = self.offset;
        if len > 0 {
            if offset >= 0 {
                off += offset as usize * self.strides[d2];
            } else {
                off += (-offset) as usize * self.strides[d1];
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
        strides.push(self.strides[d1] + self.strides[d2]);
        Layout { shape: Shape(shape), strides, offset: off }
    }

    /// A view with a new shape of the same number of elements, if one exists
    /// without copying (as `torch.Tensor.view` decides).
    pub fn reshape(&self, shape: &Shape) -> Option<Layout> {
        debug_assert_eq!(shape.numel(), self.numel());
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
            tensor_numel *= old_dims[tensor_d];
            if tensor_d == 0
                || (old_dims[tensor_d - 1] != 1 && old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride)
            {
                while view_d >= 0 && (view_numel < tensor_numel || new_dims[view_d as usize] == 1) {
                    new_strides[view_d as usize] = view_numel * chunk_base_stride;
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
            while d > 0 {
                d -= 1;
                self.index[d] += 1;
                self.next += strides[d];
                if self.index[d] < dims[d] {
                    break;
                }
                self.next -= strides[d] * dims[d];
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
