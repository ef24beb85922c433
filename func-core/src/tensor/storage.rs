//! [`StorageCell`]: the locked backend storage a tensor and its views share.

use crate::{Backend, Error, Result};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Source of [`StorageCell::id`]s: every storage ever created gets a new
/// one. Threads take them in blocks of [`ID_BLOCK`] (NOTE: [storage ids]).
static NEXT_STORAGE_ID: AtomicU64 = AtomicU64::new(0);

/// NOTE: [storage ids] Each thread takes ids from the global counter
/// [`ID_BLOCK`] at a time and hands them out from a thread-local range, so
/// a new storage costs no atomic operation (a locked add is some 20 cycles,
/// of an eager one-element add's few hundred). Ids stay unique across
/// threads; they are no longer in creation order across threads, which the
/// lock order does not need (any one total order of the live cells will
/// do). 2^64 ids in blocks of 2^16 last 2^48 blocks.
const ID_BLOCK: u64 = 1 << 16;

thread_local! {
    /// The next id this thread hands out and the end of its block.
    static IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A storage id no other storage of this process has or had.
#[inline]
fn next_id() -> u64 {
    // A storage made while this thread's locals are being destroyed (a
    // thread-local's destructor computing with tensors) takes one id from
    // the global counter.
    IDS.try_with(|ids| {
        let (mut next, mut end) = ids.get();
        if next >= end {
            next = NEXT_STORAGE_ID.fetch_add(ID_BLOCK, Ordering::Relaxed);
            end = next.saturating_add(ID_BLOCK);
        }
        ids.set((next + 1, end));
        next
    })
    .unwrap_or_else(|_| NEXT_STORAGE_ID.fetch_add(1, Ordering::Relaxed))
}

/// Backend storage shared by a tensor and all its views, behind a
/// reader-writer lock.
///
/// Each cell has a unique [`id`](Self::id). Operations that lock several
/// storages at once lock them in increasing id order, so two threads can
/// never each hold a lock the other waits for (see the threading contract on
/// [`Tensor`](crate::Tensor)).
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
    /// A new cell holding `s`, written into its `Arc`'s allocation (NOTE:
    /// [tensors built in place]).
    #[inline]
    pub(crate) fn new(backend: B, s: B::Storage) -> Arc<Self> {
        let id = next_id();
        super::new_arc(|| StorageCell { id, backend, lock: RwLock::new(s) })
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
