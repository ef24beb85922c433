//! [`Tensor`]: a cheap, shareable handle to concrete data or a tracer.

use crate::interp::{self, Level};
use crate::{Backend, DType, Element, Error, HostData, Layout, Primitive, Result, Shape};
use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

/// Source of [`StorageCell::id`]s: every storage ever created gets a new one.
static NEXT_STORAGE_ID: AtomicU64 = AtomicU64::new(0);

/// Backend storage shared by a tensor and all its views, behind a
/// reader-writer lock.
///
/// Each cell has a unique [`id`](Self::id). Operations that lock several
/// storages at once lock them in increasing id order, so two threads can
/// never each hold a lock the other waits for (see the threading contract on
/// [`Tensor`]).
///
/// A thread that panics while writing a storage (a backend kernel panicking
/// inside an in-place operation) leaves it *poisoned*: every later access
/// fails with [`Error::Poisoned`] rather than showing half-written data.
pub struct StorageCell<B: Backend> {
    id: u64,
    backend: B,
    lock: RwLock<B::Storage>,
}

impl<B: Backend> StorageCell<B> {
    pub(crate) fn new(backend: B, s: B::Storage) -> Arc<Self> {
        Arc::new(StorageCell { id: NEXT_STORAGE_ID.fetch_add(1, Ordering::Relaxed), backend, lock: RwLock::new(s) })
    }

    /// The backend instance that made this storage; operations on it run
    /// there (NOTE: [backend instances]).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// A number no other storage of this process has: the key of the global
    /// lock order.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Read access to the storage for the operation `op`, blocking while
    /// another thread writes it.
    ///
    /// Hold the guard only for the duration of a backend call, and do not
    /// lock another storage while holding it: operations that need several
    /// storages lock them together in id order.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] when a thread panicked while writing this storage.
    pub fn read(&self, op: &str) -> Result<RwLockReadGuard<'_, B::Storage>> {
        self.lock.read().map_err(|_| Error::poisoned(op))
    }

    /// Write access for the operation `op`. Not public: replacing the storage
    /// behind a tensor would leave the dtype its handles cache stale.
    pub(crate) fn write(&self, op: &str) -> Result<RwLockWriteGuard<'_, B::Storage>> {
        self.lock.write().map_err(|_| Error::poisoned(op))
    }
}

/// A tracer: a value owned by one live transform call.
///
/// NOTE: [traced views] A tracer is either an alias *root* (an input, a
/// factory output, the result of a non-view operation), whose virtual layout
/// is contiguous at offset 0, or a *view* of a root of its own level, which
/// records the root, the chain of view primitives from the root and its
/// virtual layout into the root (the views applied to the root's layout).
/// View-or-copy is decided from that layout exactly as for concrete tensors
/// (NOTE: [view or copy]); a write through a view computes the root's new
/// value and writes the whole root, after which every live view of the root
/// is re-derived from it (NOTE: [writes through traced views]). The data is
/// behind a lock so it can be rebound ([`Tensor::rebind_tracer`]).
pub(crate) struct Tracer<B: Backend> {
    level: Level,
    data: RwLock<Arc<dyn Any + Send + Sync>>,
    /// Set once, on a fresh view tracer.
    alias: OnceLock<Alias<B>>,
    /// On a root: the views taken of it (pruned when they die).
    views: Mutex<Vec<Weak<Inner<B>>>>,
}

/// How a view tracer derives from its root.
pub(crate) struct Alias<B: Backend> {
    pub(crate) root: Tensor<B>,
    pub(crate) chain: Vec<Primitive>,
    pub(crate) layout: Layout,
}

pub(crate) enum Repr<B: Backend> {
    Concrete { storage: Arc<StorageCell<B>>, layout: Layout },
    Tracer(Tracer<B>),
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
/// # Threads
///
/// `Tensor` is `Send + Sync`: handles can be cloned into other threads and
/// shared by reference. The contract, as in PyTorch:
///
/// - **Reading from many threads is safe.** Any number of threads may run
///   out-of-place operations (`&a + &b`, `matmul`, `to_vec`, views) on the
///   same tensors at once.
/// - **Each operation locks the storages it touches.** A storage (shared by a
///   tensor and all its views) sits behind a reader-writer lock. An
///   operation locks all its operands' storages together, in one global
///   order (by [`StorageCell::id`]), for the duration of the backend call, so
///   operations on any tensors from any threads cannot deadlock.
/// - **Each in-place operation is atomic per storage.** `copy_`, `add_`,
///   `add_scalar_`, `fill_`, ... on concrete tensors read their operands,
///   compute and write while holding the destination storage's write lock:
///   no other operation on that storage (through this tensor or any view of
///   it) sees a half-written result or interleaves with the update, so
///   concurrent `a.add_scalar_(1.0)` calls on eight threads add exactly 8.
///   The *order* in which concurrent in-place operations on aliasing tensors
///   apply is unspecified; order them yourself (join, channel, mutex) when
///   the result depends on it. Several operations in a row, say
///   `a.copy_(&(&a + &b))`, are not atomic as a whole: use `a.add_(&b)`.
/// - **A storage whose writer panicked is poisoned.** If a backend kernel
///   panics during an in-place write, every later operation on that storage
///   fails with [`Error::Poisoned`] (the panicking forms panic with its
///   message) instead of showing half-written data.
/// - **Tracers stay on their thread.** A tracer belongs to the transform call
///   that made it, on the thread running it; using it on another thread
///   panics with an explanation. Pass concrete tensors between threads and
///   run transforms inside each.
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

    /// Wrap a storage that the instance `be` made, holding `layout`'s
    /// elements. The tensor's dtype is the storage's
    /// ([`Backend::storage_dtype`]), so they agree, and operations on it run
    /// on `be` (NOTE: [backend instances]).
    ///
    /// # Errors
    ///
    /// When `layout` addresses elements past the end of the storage
    /// (`layout.storage_span() > storage_len`).
    pub fn from_backend_storage(be: B, storage: B::Storage, layout: Layout) -> Result<Tensor<B>> {
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
        Ok(Tensor::from_storage(StorageCell::new(be, storage), layout, dtype))
    }

    /// Make a tracer of `level` with logical `shape` and `dtype`, carrying a
    /// transform's own `data`. Used by transform crates.
    pub fn new_tracer<T: Any + Send + Sync>(level: &Level, shape: Shape, dtype: DType, data: T) -> Tensor<B> {
        Tensor {
            inner: Arc::new(Inner {
                shape,
                dtype,
                repr: Repr::Tracer(Tracer {
                    level: level.clone(),
                    data: RwLock::new(Arc::new(data)),
                    alias: OnceLock::new(),
                    views: Mutex::new(Vec::new()),
                }),
            }),
        }
    }

    /// The data of this tensor if it is a tracer of `level` with data type `T`.
    ///
    /// The data is shared: a tracer rebound by an in-place operation
    /// ([`rebind_tracer`](Self::rebind_tracer)) holds new data afterwards,
    /// while an `Arc` obtained before keeps the old value.
    pub fn tracer_data<T: Any + Send + Sync>(&self, level: &Level) -> Option<Arc<T>> {
        match &self.inner.repr {
            Repr::Tracer(t) if t.level == *level => {
                let d = t.data.read().unwrap_or_else(|p| p.into_inner()).clone();
                d.downcast::<T>().ok()
            }
            _ => None,
        }
    }

    /// Rebind this tracer to the data of `from`, a tracer of the same level,
    /// shape and dtype: after it, this handle (and every clone of it) is the
    /// value `from` is. Transforms use it to express in-place writes.
    ///
    /// # Errors
    ///
    /// When either is not a tracer, or they differ in level, shape or dtype.
    pub fn rebind_tracer(&self, from: &Tensor<B>) -> Result<()> {
        match (&self.inner.repr, &from.inner.repr) {
            (Repr::Tracer(a), Repr::Tracer(b))
                if a.level == b.level && self.shape() == from.shape() && self.dtype() == from.dtype() =>
            {
                if self.same_handle(from) {
                    return Ok(());
                }
                let d = b.data.read().unwrap_or_else(|p| p.into_inner()).clone();
                *a.data.write().unwrap_or_else(|p| p.into_inner()) = d;
                Ok(())
            }
            _ => Err(Error::invalid(
                "rebind_tracer",
                format!(
                    "internal: cannot rebind a {} {} ({:?}) to a {} {} ({:?}); both must be tracers of one level \
                     with the same shape and dtype",
                    self.dtype(),
                    self.shape(),
                    self.level(),
                    from.dtype(),
                    from.shape(),
                    from.level()
                ),
            )),
        }
    }

    /// The layout of this tensor: the real one of concrete data, or a
    /// tracer's virtual layout into its alias root (contiguous for a root;
    /// NOTE: [traced views]). View-or-copy decisions use it, so they are the
    /// same with and without transforms.
    pub fn layout(&self) -> Layout {
        match &self.inner.repr {
            Repr::Concrete { layout, .. } => layout.clone(),
            Repr::Tracer(t) => match t.alias.get() {
                Some(a) => a.layout.clone(),
                None => Layout::contiguous(self.shape().clone()),
            },
        }
    }

    /// For a tracer that is a view of another tracer of its level: that
    /// root tracer (NOTE: [traced views]). `None` for roots and concrete data.
    pub fn view_root(&self) -> Option<&Tensor<B>> {
        self.alias().map(|a| &a.root)
    }

    pub(crate) fn alias(&self) -> Option<&Alias<B>> {
        match &self.inner.repr {
            Repr::Tracer(t) => t.alias.get(),
            Repr::Concrete { .. } => None,
        }
    }

    /// Record that `self` (a fresh tracer) is a view of a root, and register
    /// it with the root. Does nothing if `self` already has alias info.
    pub(crate) fn set_alias(&self, alias: Alias<B>) {
        let root = alias.root.clone();
        if let Repr::Tracer(t) = &self.inner.repr {
            if t.alias.set(alias).is_ok() {
                if let Repr::Tracer(r) = &root.inner.repr {
                    let mut v = r.views.lock().unwrap_or_else(|p| p.into_inner());
                    v.retain(|w| w.strong_count() > 0);
                    v.push(Arc::downgrade(&self.inner));
                }
            }
        }
    }

    /// The live views of this root tracer.
    pub(crate) fn live_views(&self) -> Vec<Tensor<B>> {
        match &self.inner.repr {
            Repr::Tracer(t) => {
                let mut v = t.views.lock().unwrap_or_else(|p| p.into_inner());
                v.retain(|w| w.strong_count() > 0);
                v.iter().filter_map(|w| w.upgrade()).map(|inner| Tensor { inner }).collect()
            }
            Repr::Concrete { .. } => Vec::new(),
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

    /// The backend instance holding a concrete tensor's data (`None` for a
    /// tracer, whose value lives one level down): operations on it run
    /// there (NOTE: [backend instances]).
    pub fn backend(&self) -> Option<&B> {
        self.concrete().map(|(s, _)| s.backend())
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
        let be = crate::default_backend::<B>()?;
        let storage = be.from_host(data)?;
        Tensor::from_backend_storage(be, storage, Layout::try_contiguous(shape)?)
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
        let guard = storage.read(op)?;
        storage.backend().to_host(&guard, layout)
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
// lock guards the storage (see "Threads" in the docs of `Tensor`).
#[allow(dead_code)]
fn _assert_send_sync<B: Backend>() {
    fn is<T: Send + Sync>() {}
    is::<Tensor<B>>();
}
