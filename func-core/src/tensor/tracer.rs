//! Tracers: the [`Tensor`]s a running transform owns, and the alias
//! information of traced views (NOTE: [traced views]).

use super::{Inner, Repr, Tensor, new_arc};
use crate::interp::Level;
use crate::{Backend, DType, Error, Layout, Primitive, Result, Shape};
use smallvec::SmallVec;
use std::any::Any;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

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
    pub(crate) shape: Shape,
    level: Level,
    data: RwLock<Arc<dyn Any + Send + Sync>>,
    /// Set once, on a fresh view tracer.
    alias: OnceLock<Arc<Alias<B>>>,
    /// On a root: the views taken of it (pruned when they die; most roots
    /// have one or two, held inline).
    views: Mutex<SmallVec<[Weak<Inner<B>>; 2]>>,
}

/// How a view tracer derives from its root: the root, the view primitive
/// that made it, and the alias record of the view it was taken of (`None`
/// for a view of the root itself). The records of views taken of each other
/// form a list, so a view of a view adds one record (one allocation) and
/// copies nothing.
pub(crate) struct Alias<B: Backend> {
    pub(crate) root: Tensor<B>,
    prim: Primitive,
    prev: Option<Arc<Alias<B>>>,
    /// The view's virtual layout into the root.
    pub(crate) layout: Layout,
}

// Unlinked one record at a time: dropping a chain of a million views (a
// loop of reshapes under a transform) must not recurse once per record.
impl<B: Backend> Drop for Alias<B> {
    fn drop(&mut self) {
        let mut prev = self.prev.take();
        while let Some(a) = prev {
            match Arc::try_unwrap(a) {
                Ok(mut a) => prev = a.prev.take(),
                Err(_) => break,
            }
        }
    }
}

impl<B: Backend> Alias<B> {
    /// The record of a view made by `prim` of `root`, or of the view whose
    /// record is `prev`, with virtual layout `layout`.
    pub(crate) fn new(root: Tensor<B>, prev: Option<Arc<Alias<B>>>, prim: Primitive, layout: Layout) -> Self {
        Alias { root, prim, prev, layout }
    }

    /// The view primitives from the root to this view, in order.
    pub(crate) fn chain(&self) -> Vec<&Primitive> {
        let mut out = vec![&self.prim];
        let mut at = self.prev.as_deref();
        while let Some(a) = at {
            out.push(&a.prim);
            at = a.prev.as_deref();
        }
        out.reverse();
        out
    }
}

impl<B: Backend> Tensor<B> {
    /// Make a tracer of `level` with logical `shape` and `dtype`, carrying a
    /// transform's own `data`. Used by transform crates.
    pub fn new_tracer<T: Any + Send + Sync>(level: &Level, shape: Shape, dtype: DType, data: T) -> Tensor<B> {
        let data: Arc<dyn Any + Send + Sync> = Arc::new(data);
        Tensor {
            inner: new_arc(|| Inner {
                dtype,
                repr: Repr::Tracer(Tracer {
                    shape,
                    level: level.clone(),
                    data: RwLock::new(data),
                    alias: OnceLock::new(),
                    views: Mutex::new(SmallVec::new()),
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

    /// `f` of the data of this tensor if it is a tracer of `level` with data
    /// type `T`, read in place: [`tracer_data`](Self::tracer_data) without
    /// the reference count's increment and decrement (two atomic operations
    /// on every operand of every traced operation).
    ///
    /// The tracer's data stays locked for reading while `f` runs: `f` must
    /// not rebind this tracer ([`rebind_tracer`](Self::rebind_tracer)),
    /// whose write lock would then deadlock or panic. Copy out what is needed (the
    /// transforms clone a handle or two) and work on it after.
    pub fn with_tracer_data<T: Any + Send + Sync, R>(&self, level: &Level, f: impl FnOnce(&T) -> R) -> Option<R> {
        match &self.inner.repr {
            Repr::Tracer(t) if t.level == *level => {
                let d = t.data.read().unwrap_or_else(|p| p.into_inner());
                d.downcast_ref::<T>().map(f)
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

    /// Whether `reshape` to `shape` is a view of this tensor's layout
    /// ([`layout`](Self::layout)`.reshapes_to(shape)`, without building
    /// the layout of a root tracer, which is contiguous).
    pub(crate) fn reshapes_to(&self, shape: &Shape) -> bool {
        match &self.inner.repr {
            Repr::Concrete { layout, .. } => layout.reshapes_to(shape),
            Repr::Tracer(t) => match t.alias.get() {
                Some(a) => a.layout.reshapes_to(shape),
                None => shape.try_numel().ok() == Some(t.shape.numel()),
            },
        }
    }

    /// For a tracer that is a view of another tracer of its level: that
    /// root tracer (NOTE: [traced views]). `None` for roots and concrete data.
    pub fn view_root(&self) -> Option<&Tensor<B>> {
        self.alias().map(|a| &a.root)
    }

    pub(crate) fn alias(&self) -> Option<&Arc<Alias<B>>> {
        match &self.inner.repr {
            Repr::Tracer(t) => t.alias.get(),
            Repr::Concrete { .. } => None,
        }
    }

    /// Record that `self` (a fresh tracer) is a view of a root, and register
    /// it with the root. Does nothing if `self` already has alias info.
    pub(crate) fn set_alias(&self, alias: Alias<B>) {
        let root = alias.root.clone();
        if let Repr::Tracer(t) = &self.inner.repr
            && t.alias.set(Arc::new(alias)).is_ok()
            && let Repr::Tracer(r) = &root.inner.repr
        {
            let mut v = r.views.lock().unwrap_or_else(|p| p.into_inner());
            v.retain(|w| w.strong_count() > 0);
            v.push(Arc::downgrade(&self.inner));
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
}
