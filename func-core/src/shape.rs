//! [`Shape`]: the sizes of a tensor's dimensions, with checked arithmetic.

use crate::{Error, Result};
use smallvec::SmallVec;
use std::fmt;

/// The largest number of elements, and the largest size of one dimension, of
/// a tensor (as torch, whose sizes are `int64_t`; a `Vec` holds at most
/// `isize::MAX` bytes).
pub const MAX_NUMEL: usize = isize::MAX as usize;

/// Inline capacity of shapes and strides: tensors of up to six dimensions
/// never allocate for their metadata.
pub type DimVec<T> = SmallVec<[T; INLINE_DIMS]>;

/// The inline capacity of a [`DimVec`].
const INLINE_DIMS: usize = 6;

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
#[derive(PartialEq, Eq, Hash, Default)]
pub struct Shape(pub(crate) DimVec<usize>);

// By hand: `SmallVec`'s own `Clone` copies element by element through
// `Extend`; the sizes are `Copy`, so one `memcpy` does (shapes are cloned
// on every traced operation).
impl Clone for Shape {
    #[inline]
    fn clone(&self) -> Self {
        Shape(DimVec::from_slice(&self.0))
    }
}

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
    ///
    /// # Panics
    ///
    /// When the product of the sizes overflows `usize` (use
    /// [`try_numel`](Self::try_numel) to get an error). Shapes of tensors
    /// never do: every operation creating one checks it.
    pub fn numel(&self) -> usize {
        self.try_numel().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Number of elements, computed with checked arithmetic.
    ///
    /// # Errors
    ///
    /// When the product of the sizes overflows `usize`.
    pub fn try_numel(&self) -> Result<usize> {
        self.0.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| {
            Error::invalid_shape(
                "numel",
                self,
                "the number of elements (the product of the sizes) overflows usize; use smaller sizes",
            )
        })
    }

    /// Check that this shape can describe a tensor: every size and the number
    /// of elements are at most [`MAX_NUMEL`] (torch's `int64_t` limit).
    /// Returns the number of elements.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidShape`] naming `op` when a size or the number of
    /// elements is too large.
    pub fn check(&self, op: &str) -> Result<usize> {
        // One pass (this runs on every new tensor): the largest size, and
        // the product with a flag for overflow.
        let (mut largest, mut n, mut overflow) = (0usize, 1usize, false);
        for &d in &self.0 {
            largest = largest.max(d);
            let (p, o) = n.overflowing_mul(d);
            (n, overflow) = (p, overflow | o);
        }
        if largest > MAX_NUMEL {
            return Err(Error::invalid_shape(
                op,
                self,
                format!("size {largest} is larger than the maximum size of a dimension ({MAX_NUMEL})"),
            ));
        }
        match n {
            n if !overflow && n <= MAX_NUMEL => Ok(n),
            _ => Err(Error::invalid_shape(
                op,
                self,
                format!(
                    "the number of elements (the product of the sizes) overflows: a tensor holds at most \
                     {MAX_NUMEL} elements; use smaller sizes"
                ),
            )),
        }
    }

    /// The sizes as a slice.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// Row-major (C-contiguous) strides for this shape. The strides of a
    /// shape without elements may saturate at `usize::MAX` (they address
    /// nothing).
    pub fn contiguous_strides(&self) -> DimVec<usize> {
        let nd = self.0.len();
        let mut acc = 1usize;
        if nd <= INLINE_DIMS {
            // Filled in a fixed-size array, which becomes the inline buffer.
            let mut buf = [0usize; INLINE_DIMS];
            for i in (0..nd).rev() {
                buf[i] = acc;
                acc = acc.saturating_mul(self.0[i]);
            }
            return DimVec::from_buf_and_len(buf, nd);
        }
        let mut strides: DimVec<usize> = SmallVec::from_elem(0, nd);
        for i in (0..nd).rev() {
            strides[i] = acc;
            acc = acc.saturating_mul(self.0[i]);
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

impl Shape {
    /// The sizes, mutable (the number of dimensions is fixed; see
    /// [`push`](Self::push), [`insert`](Self::insert), [`remove`](Self::remove)).
    pub fn dims_mut(&mut self) -> &mut [usize] {
        &mut self.0
    }

    /// Append a dimension of size `d`.
    pub fn push(&mut self, d: usize) {
        self.0.push(d)
    }

    /// Insert a dimension of size `d` at `axis`.
    ///
    /// # Panics
    ///
    /// When `axis > self.ndim()`.
    pub fn insert(&mut self, axis: usize, d: usize) {
        self.0.insert(axis, d)
    }

    /// Remove dimension `axis`, returning its size.
    ///
    /// # Panics
    ///
    /// When `axis >= self.ndim()`.
    pub fn remove(&mut self, axis: usize) -> usize {
        self.0.remove(axis)
    }

    /// Append the dimensions `dims`.
    pub fn extend_from_slice(&mut self, dims: &[usize]) {
        self.0.extend_from_slice(dims)
    }
}

impl Extend<usize> for Shape {
    fn extend<I: IntoIterator<Item = usize>>(&mut self, iter: I) {
        self.0.extend(iter)
    }
}

impl FromIterator<usize> for Shape {
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Shape {
        Shape(iter.into_iter().collect())
    }
}

impl From<DimVec<usize>> for Shape {
    fn from(v: DimVec<usize>) -> Shape {
        Shape(v)
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
