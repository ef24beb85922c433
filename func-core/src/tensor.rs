//! [`Tensor`]: a cheap, shareable handle to concrete data or a tracer.

use crate::interp::{self, Level};
use crate::{Backend, DType, Element, Error, HostData, Layout, Primitive, Result, Shape};
use std::any::Any;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Backend storage shared by a tensor and all its views.
pub struct StorageCell<B: Backend>(RwLock<B::Storage>);

impl<B: Backend> StorageCell<B> {
    pub(crate) fn new(s: B::Storage) -> Arc<Self> {
        Arc::new(StorageCell(RwLock::new(s)))
    }

    /// Read access to the storage.
    pub fn read(&self) -> RwLockReadGuard<'_, B::Storage> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Write access to the storage.
    pub fn write(&self) -> RwLockWriteGuard<'_, B::Storage> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// A tracer: a value owned by one live transform call.
pub struct Tracer {
    level: Level,
    data: Box<dyn Any + Send + Sync>,
}

pub(crate) enum Repr<B: Backend> {
    Concrete { storage: Arc<StorageCell<B>>, layout: Layout },
    Tracer(Tracer),
}

pub(crate) struct Inner<B: Backend> {
    pub(crate) shape: Shape,
    pub(crate) dtype: DType,
    pub(crate) repr: Repr<B>,
}

/// An n-dimensional array on backend `B`, or a tracer of a running transform.
///
/// A `Tensor` is a handle (an `Arc` inside): `clone()` aliases, as `y = x`
/// does in Python, and [`deep_copy`](Tensor::deep_copy) allocates (torch's
/// `.clone()`). Views (`permute`, `slice`, `broadcast_to`, ...) share storage,
/// and in-place operations write through them, with PyTorch's semantics.
///
/// Users of the `func` facade write `func::Tensor`, which fixes `B` to the
/// CPU backend.
///
/// # Examples
///
/// ```
/// # type Tensor = func_core::Tensor<func_testkit::RefBackend>;
/// let a = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
/// let b = &a + &a.t();
/// assert_eq!(b.to_vec::<f32>(), vec![2.0, 5.0, 5.0, 8.0]);
/// ```
pub struct Tensor<B: Backend> {
    pub(crate) inner: Arc<Inner<B>>,
}

impl<B: Backend> Clone for Tensor<B> {
    fn clone(&self) -> Self {
        Tensor { inner: self.inner.clone() }
    }
}

impl<B: Backend> Tensor<B> {
    // ----- construction of handles -------------------------------------------------------------

    pub(crate) fn from_storage(storage: Arc<StorageCell<B>>, layout: Layout, dtype: DType) -> Tensor<B> {
        Tensor {
            inner: Arc::new(Inner { shape: layout.shape().clone(), dtype, repr: Repr::Concrete { storage, layout } }),
        }
    }

    /// Wrap a backend storage holding `layout`'s elements. The tensor's
    /// dtype is the storage's ([`Backend::storage_dtype`]), so they agree.
    ///
    /// # Errors
    ///
    /// When `layout` addresses elements past the end of the storage
    /// (`layout.storage_span() > storage_len`).
    pub fn from_backend_storage(storage: B::Storage, layout: Layout) -> Result<Tensor<B>> {
        let be = B::default();
        let (len, dtype) = (be.storage_len(&storage), be.storage_dtype(&storage));
        // The span never overflows (NOTE: [layout invariant]), so this bounds every element.
        if layout.storage_span() > len {
            return Err(Error::invalid(
                "from_backend_storage",
                format!(
                    "layout {layout:?} addresses {} elements, but the {} storage holds {len}",
                    layout.storage_span(),
                    be.name()
                ),
            ));
        }
        Ok(Tensor::from_storage(StorageCell::new(storage), layout, dtype))
    }

    /// Make a tracer of `level` with logical `shape` and `dtype`, carrying a
    /// transform's own `data`. Used by transform crates.
    pub fn new_tracer<T: Any + Send + Sync>(level: &Level, shape: Shape, dtype: DType, data: T) -> Tensor<B> {
        Tensor {
            inner: Arc::new(Inner {
                shape,
                dtype,
                repr: Repr::Tracer(Tracer { level: level.clone(), data: Box::new(data) }),
            }),
        }
    }

    /// The data of this tensor if it is a tracer of `level` with data type `T`.
    pub fn tracer_data<T: Any>(&self, level: &Level) -> Option<&T> {
        match &self.inner.repr {
            Repr::Tracer(t) if t.level == *level => t.data.downcast_ref::<T>(),
            _ => None,
        }
    }

    /// The level of the transform owning this tracer; `None` for concrete data.
    pub fn level(&self) -> Option<&Level> {
        match &self.inner.repr {
            Repr::Tracer(t) => Some(&t.level),
            Repr::Concrete { .. } => None,
        }
    }

    #[inline]
    pub(crate) fn level_id(&self) -> Option<u64> {
        match &self.inner.repr {
            Repr::Tracer(t) => Some(t.level.id()),
            Repr::Concrete { .. } => None,
        }
    }

    /// Whether this is concrete data (not a tracer).
    pub fn is_concrete(&self) -> bool {
        matches!(self.inner.repr, Repr::Concrete { .. })
    }

    /// Whether two handles are the same tensor (the same handle, cloned).
    pub fn same_handle(&self, other: &Tensor<B>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Storage and layout of a concrete tensor.
    pub fn concrete(&self) -> Option<(&Arc<StorageCell<B>>, &Layout)> {
        match &self.inner.repr {
            Repr::Concrete { storage, layout } => Some((storage, layout)),
            Repr::Tracer(_) => None,
        }
    }

    /// Whether two concrete tensors share storage (one is a view of the other
    /// or both of a common base).
    pub fn shares_storage(&self, other: &Tensor<B>) -> bool {
        match (self.concrete(), other.concrete()) {
            (Some((a, _)), Some((b, _))) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    // ----- metadata ---------------------------------------------------------------------------

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.inner.shape
    }

    /// The sizes as a slice (`t.dims()[0]` is the leading size).
    pub fn dims(&self) -> &[usize] {
        &self.inner.shape.0
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.inner.dtype
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.inner.shape.ndim()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.inner.shape.numel()
    }

    /// Size of dimension `dim` (negative counts from the end).
    ///
    /// # Panics
    ///
    /// If `dim` is out of range.
    pub fn size(&self, dim: isize) -> usize {
        let d = crate::ops::norm_dim("size", dim, self.ndim()).unwrap_or_else(|e| panic!("{e}"));
        self.dims()[d]
    }

    // ----- creation ---------------------------------------------------------------------------

    /// A tensor from host data in row-major order.
    ///
    /// # Errors
    ///
    /// When `data.len()` is not the number of elements of `shape`, or the
    /// number of elements overflows.
    pub fn try_from_host(data: HostData, shape: impl Into<Shape>) -> Result<Tensor<B>> {
        let shape = shape.into();
        let numel = shape.check("from_vec")?;
        if data.len() != numel {
            return Err(Error::invalid_shape(
                "from_vec",
                &shape,
                format!("got {} elements, but the shape holds {numel}", data.len()),
            ));
        }
        let storage = B::default().from_host(data)?;
        Tensor::from_backend_storage(storage, Layout::try_contiguous(shape)?)
    }

    /// A tensor from a vector in row-major order.
    ///
    /// # Panics
    ///
    /// When `data.len()` differs from the number of elements of `shape`
    /// (use [`try_from_vec`](Self::try_from_vec) to get an error instead).
    pub fn from_vec<T: Element>(data: Vec<T>, shape: impl Into<Shape>) -> Tensor<B> {
        Self::try_from_vec(data, shape).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A tensor from a vector in row-major order.
    ///
    /// # Errors
    ///
    /// When `data.len()` differs from the number of elements of `shape`.
    pub fn try_from_vec<T: Element>(data: Vec<T>, shape: impl Into<Shape>) -> Result<Tensor<B>> {
        Self::try_from_host(T::into_host(data), shape)
    }

    /// A tensor from a slice in row-major order.
    ///
    /// # Panics
    ///
    /// When the length differs from the number of elements of `shape`.
    pub fn from_slice<T: Element>(data: &[T], shape: impl Into<Shape>) -> Tensor<B> {
        Self::from_vec(data.to_vec(), shape)
    }

    /// A 0-dimensional tensor.
    pub fn scalar<T: Element>(value: T) -> Tensor<B> {
        Self::from_vec(vec![value], Shape::scalar())
    }

    // ----- read-back --------------------------------------------------------------------------

    /// The elements in row-major order, converted to `T`.
    ///
    /// # Panics
    ///
    /// Under vmap (the value differs per batch element: data-dependent
    /// control flow), with torch.func's explanation.
    pub fn to_vec<T: Element>(&self) -> Vec<T> {
        self.try_to_vec().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The elements in row-major order, converted to `T`.
    ///
    /// # Errors
    ///
    /// Under a transform that cannot read its tracers (vmap).
    pub fn try_to_vec<T: Element>(&self) -> Result<Vec<T>> {
        Ok(T::from_host(self.try_to_host("to_vec")?))
    }

    pub(crate) fn try_to_host(&self, op: &str) -> Result<HostData> {
        let t = interp::lower_for_read(self, op)?;
        let (storage, layout) = t.concrete().ok_or_else(|| Error::invalid(op, "not concrete"))?;
        let guard = storage.read();
        B::default().to_host(&guard, layout)
    }

    /// The value of a one-element tensor.
    ///
    /// # Panics
    ///
    /// If the tensor does not have exactly one element, or under vmap
    /// (data-dependent control flow).
    pub fn item<T: Element>(&self) -> T {
        self.try_item().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The value of a one-element tensor.
    ///
    /// # Errors
    ///
    /// If the tensor does not have exactly one element, or under vmap.
    pub fn try_item<T: Element>(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(Error::invalid(
                "item",
                format!(
                    "a Tensor with {} elements cannot be converted to a scalar (shape {})",
                    self.numel(),
                    self.shape()
                ),
            ));
        }
        let v = T::from_host(self.try_to_host("item")?);
        Ok(v[0])
    }

    /// Bind a primitive with `self` as the first operand, panicking on error.
    pub(crate) fn un(&self, prim: Primitive) -> Tensor<B> {
        interp::bind(prim, &[self]).unwrap_or_else(|e| panic!("{e}"))
    }
}

// Tensor is Send + Sync because B::Storage is, the tracer data is, and the
// lock guards the storage.
#[allow(dead_code)]
fn _assert_send_sync<B: Backend>() {
    fn is<T: Send + Sync>() {}
    is::<Tensor<B>>();
}
