//! Which backend instance a new tensor is made on.
//!
//! NOTE: [backend instances] A backend may have state: a device index, a
//! stream, a memory pool, a thread count. Every storage remembers the
//! instance that made it ([`StorageCell::backend`](crate::StorageCell::backend)),
//! and an operation runs on the instance of its first operand, so the state
//! follows the data through every transform. Operations with no operand
//! (the factories `zeros`, `full`, `arange`, `rand`, `from_vec`, and the
//! scalar constants of `x * 2.0`, which go through `bind` as factories) use
//! the *default instance*, torch's default device:
//! 1. the innermost [`with_backend`] scope of this thread, if any;
//! 2. else the instance set by [`set_default_backend`], if any;
//! 3. else [`Backend::default_instance`].
//!
//! A backend whose instances cannot share storages (two devices) reports an
//! operation mixing them as an error from its kernels, as torch does for
//! tensors on two devices; run a program inside `with_backend(instance, ..)`
//! so that its factories and constants land on the instance its inputs use.

use crate::{Backend, Result};
use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{OnceLock, RwLock};

thread_local! {
    /// This thread's scopes, innermost last, of any backend type.
    static SCOPES: RefCell<Vec<(TypeId, Box<dyn Any>)>> = const { RefCell::new(Vec::new()) };
}

/// Process-wide defaults by backend type.
static GLOBAL: OnceLock<RwLock<HashMap<TypeId, Box<dyn Any + Send + Sync>>>> = OnceLock::new();
/// Whether [`GLOBAL`] holds anything: the common case skips its lock.
static ANY_GLOBAL: AtomicBool = AtomicBool::new(false);

/// The instance that operations without operands use now (NOTE: [backend
/// instances]).
///
/// # Errors
///
/// When no scope or process default is set and
/// [`Backend::default_instance`] fails (a device that cannot start).
pub fn default_backend<B: Backend>() -> Result<B> {
    let scoped = SCOPES.with(|s| {
        s.borrow().iter().rev().find(|(t, _)| *t == TypeId::of::<B>()).and_then(|(_, b)| b.downcast_ref::<B>().cloned())
    });
    if let Some(b) = scoped {
        return Ok(b);
    }
    if ANY_GLOBAL.load(Ordering::Acquire)
        && let Some(map) = GLOBAL.get()
    {
        let map = map.read().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = map.get(&TypeId::of::<B>()).and_then(|b| b.downcast_ref::<B>()) {
            return Ok(b.clone());
        }
    }
    B::default_instance()
}

/// Run `f` with `backend` as this thread's default instance of `B`: the
/// factories and scalar constants in `f` are made on it, like Python's
/// `with torch.device(...)`. Scopes nest; the previous default returns when
/// `f` returns or panics. Other threads are not affected.
///
/// # Examples
///
/// ```
/// use func_core::{DType, Tensor, with_backend};
/// use func_testkit::RefBackend;
///
/// let x = with_backend(RefBackend, || Tensor::<RefBackend>::zeros([2], DType::F64));
/// assert!(x.backend().is_some());
/// ```
pub fn with_backend<B: Backend, R>(backend: B, f: impl FnOnce() -> R) -> R {
    struct Pop(usize);
    impl Drop for Pop {
        fn drop(&mut self) {
            SCOPES.with(|s| s.borrow_mut().truncate(self.0));
        }
    }
    let depth = SCOPES.with(|s| {
        let mut s = s.borrow_mut();
        s.push((TypeId::of::<B>(), Box::new(backend)));
        s.len() - 1
    });
    let _pop = Pop(depth);
    f()
}

/// Set the process-wide default instance of `B`, used outside every
/// [`with_backend`] scope (torch's `set_default_device`). Returns the
/// previous one, if any.
pub fn set_default_backend<B: Backend>(backend: B) -> Option<B> {
    let map = GLOBAL.get_or_init(|| RwLock::new(HashMap::new()));
    let mut map = map.write().unwrap_or_else(|e| e.into_inner());
    let prev = map.insert(TypeId::of::<B>(), Box::new(backend));
    ANY_GLOBAL.store(true, Ordering::Release);
    prev.and_then(|b| (b as Box<dyn Any>).downcast::<B>().ok()).map(|b| *b)
}
