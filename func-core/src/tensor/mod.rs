//! [`Tensor`]: a cheap, shareable handle to concrete data or a tracer.

mod host;
mod storage;
mod tracer;

pub use storage::StorageCell;
pub(crate) use tracer::Alias;
use tracer::Tracer;

use crate::interp;
use crate::{Backend, DType, Error, Layout, Primitive, Result, Shape};
use std::sync::Arc;

pub(crate) enum Repr<B: Backend> {
    Concrete { storage: Arc<StorageCell<B>>, layout: Layout },
    Tracer(Tracer<B>),
}

/// A tensor's contents. The shape is stored once: in a concrete tensor's
/// layout, or in the tracer (construction copies this struct into its `Arc`,
/// so it is kept small).
pub(crate) struct Inner<B: Backend> {
    pub(crate) dtype: DType,
    pub(crate) repr: Repr<B>,
}

/// `Arc::new(make())`, with the value written into the new allocation
/// (NOTE: [tensors built in place]).
#[inline(always)]
pub(crate) fn new_arc<T>(make: impl FnOnce() -> T) -> Arc<T> {
    let arc = Arc::<T>::new_uninit();
    // Written through the allocation's pointer rather than `Arc::get_mut`,
    // whose uniqueness check is an atomic compare-exchange on the weak
    // count (two per new tensor, of the dozen atomic operations of an eager
    // one-element add).
    let slot = Arc::as_ptr(&arc).cast_mut();
    // SAFETY: `arc` was created on the line above and has not been cloned
    // or shared, so no other pointer to its value exists and nothing reads
    // it while it is written; `slot` points into the live allocation
    // (derived from the `Arc`'s own pointer) and is aligned for
    // `MaybeUninit<T>`.
    unsafe { (*slot).write(make()) };
    // SAFETY: `write` initialized the value just above.
    unsafe { arc.assume_init() }
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

    #[inline]
    pub(crate) fn from_storage(storage: Arc<StorageCell<B>>, layout: Layout, dtype: DType) -> Tensor<B> {
        Tensor { inner: new_arc(|| Inner { dtype, repr: Repr::Concrete { storage, layout } }) }
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
    #[inline]
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

    /// [`from_backend_storage`](Self::from_backend_storage) with the
    /// row-major layout of `shape` at offset 0, for the fresh output of a
    /// kernel (`Layout::try_contiguous(shape)` then the span check: a
    /// contiguous layout spans its number of elements).
    ///
    /// NOTE: [tensors built in place] A new tensor's contents (its layout
    /// alone is 120 bytes) are written into the new `Arc`'s allocation
    /// (`new_arc`). Built on the stack and moved through the constructors
    /// (`Layout::try_contiguous`, `from_backend_storage`, `Arc::new`), they
    /// took three 136-byte `memcpy` calls per result: 17% of the cycles of
    /// an eager one-element add in `perf`, most likely stalls of the copies'
    /// wide loads on data just written in narrower stores. Without them the
    /// add went from 0.210 to 0.173 us and `grad` of `sum(x * x)` from 2.79
    /// to 2.55 us (best of six alternating runs); the storage cell, written
    /// in place the same way (`StorageCell::new`), took the add to 0.167.
    pub(crate) fn from_contiguous_storage(be: B, storage: B::Storage, shape: Shape) -> Result<Tensor<B>> {
        let numel = shape.check("Layout::contiguous")?;
        let (len, dtype) = (be.storage_len(&storage), be.storage_dtype(&storage));
        if numel > len {
            return Tensor::from_backend_storage(be, storage, Layout::try_contiguous(shape)?);
        }
        let storage = StorageCell::new(be, storage);
        Ok(Tensor {
            inner: new_arc(|| Inner {
                dtype,
                repr: Repr::Concrete { storage, layout: Layout::contiguous_of_checked(shape) },
            }),
        })
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
    #[inline]
    pub fn shape(&self) -> &Shape {
        match &self.inner.repr {
            Repr::Concrete { layout, .. } => layout.shape(),
            Repr::Tracer(t) => &t.shape,
        }
    }

    /// The sizes as a slice (`t.dims()[0]` is the leading size).
    pub fn dims(&self) -> &[usize] {
        &self.shape().0
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.inner.dtype
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape().ndim()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape().numel()
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
