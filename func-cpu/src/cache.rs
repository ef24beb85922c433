//! The buffer cache: freed tensor buffers kept for reuse.
//!
//! A steady loop of transform calls allocates and frees the same buffer
//! sizes over and over. Large buffers come from the operating system
//! (`mmap`) and go back to it on free, so every call pays page faults and
//! the kernel's zeroing of fresh pages. Like PyTorch's caching allocators and
//! XLA's buffer assignment, the CPU backend keeps freed buffers instead:
//!
//! - **What is cached.** Buffers of [`CpuStorage`](crate::CpuStorage) of at
//!   least [`MIN_BYTES`] in the shared pools described below. Smaller ones
//!   are kept per thread, up to [`SMALL_BYTES`] of each element type, in
//!   lists without locks (NOTE: [small buffers]).
//! - **Size classes.** A request is rounded up to a size class (four
//!   classes per power of two, so at most 25% is over-allocated) and served
//!   by a freed buffer of that class when there is one. A freed buffer is
//!   filed under the largest class its capacity covers.
//! - **Bounded.** The cache holds at most [`limit`] bytes: by default
//!   ([`default_limit`]) a quarter of the machine's physical memory, at
//!   most [`MAX_DEFAULT_LIMIT`] (4 GiB), or [`FALLBACK_LIMIT`] (1 GiB)
//!   where physical memory cannot be read; [`set_limit`] changes it. A
//!   buffer freed into a full cache goes back to the system. (A 1 GiB
//!   bound was too small for the NTK-vector-product workload, whose 1.9 GB
//!   working set then came back from the system on every call, page-faulted
//!   and zeroed: 0.94-2.2 s a call after other workloads, 0.72-0.74 s with
//!   a 3 GiB bound.) Only buffers the program freed are kept, so the
//!   cache grows with the program's own allocations; call [`empty`] after
//!   a large phase to give the memory back. [`empty`] releases everything (as
//!   `torch.cuda.empty_cache()` does), and [`cached_bytes`] reports the
//!   current size.
//! - **Thread-safe.** Each element type has its own pool behind a mutex;
//!   the byte count is shared. Buffers freed on one thread serve
//!   allocations on any other.
//! - **Fallible.** A request the cache cannot serve is allocated with
//!   `try_reserve_exact`: running out of memory is an
//!   [`Error::OutOfMemory`](func_core::Error::OutOfMemory), never an abort.
//!   A request that fails while buffers are cached empties the cache and
//!   tries once more, unless it is larger than any address space
//!   (`isize::MAX` bytes), which no emptying can serve.
//!
//! A buffer taken from the cache has length 0: kernels write every element
//! before the buffer becomes a tensor, so reused memory is never read.

use func_core::{Result, Shape};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Buffers below this many bytes are not cached.
pub const MIN_BYTES: usize = 16 * 1024;

/// The largest default bound in bytes (4 GiB), on machines with 16 GiB of
/// memory or more.
pub const MAX_DEFAULT_LIMIT: usize = 4 << 30;

/// The default bound in bytes where physical memory cannot be read (1 GiB).
pub const FALLBACK_LIMIT: usize = 1 << 30;

/// [`LIMIT`] before the default is computed or a limit is set.
const UNSET: usize = usize::MAX;

static LIMIT: AtomicUsize = AtomicUsize::new(UNSET);
static BYTES: AtomicUsize = AtomicUsize::new(0);

/// The cache's default bound in bytes: a quarter of physical memory, at
/// most [`MAX_DEFAULT_LIMIT`]; [`FALLBACK_LIMIT`] where physical memory
/// cannot be read (outside Unix).
pub fn default_limit() -> usize {
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    *DEFAULT.get_or_init(|| physical_memory().map_or(FALLBACK_LIMIT, |m| (m / 4).min(MAX_DEFAULT_LIMIT)))
}

/// The machine's physical memory in bytes, if the system reports it.
fn physical_memory() -> Option<usize> {
    #[cfg(unix)]
    {
        // SAFETY: `sysconf` has no preconditions: it reads a system
        // configuration value, returning -1 for one it does not know.
        let (pages, page) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
        let (pages, page) = (usize::try_from(pages).ok()?, usize::try_from(page).ok()?);
        pages.checked_mul(page).filter(|&m| m > 0)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The most bytes the cache holds ([`default_limit`] unless set with
/// [`set_limit`]).
pub fn limit() -> usize {
    match LIMIT.load(Ordering::Relaxed) {
        UNSET => default_limit(),
        l => l,
    }
}

/// Bound the cache to `bytes` (0 disables it, and frees the calling
/// thread's small buffers). When it holds more, it is emptied.
pub fn set_limit(bytes: usize) {
    // `usize::MAX` (no bound in practice) is stored one below, apart from
    // the "not set" marker.
    let bytes = bytes.min(UNSET - 1);
    LIMIT.store(bytes, Ordering::Relaxed);
    if bytes == 0 || cached_bytes() > bytes {
        empty();
    }
}

/// Bytes currently held by the cache.
pub fn cached_bytes() -> usize {
    BYTES.load(Ordering::Relaxed)
}

/// Release every cached buffer to the system allocator, and the calling
/// thread's small buffers (NOTE: [small buffers]; other threads' are freed
/// when they exit).
pub fn empty() {
    f32::pool().clear();
    f64::pool().clear();
    i64::pool().clear();
    bool::pool().clear();
    empty_small();
}

/// Free the calling thread's small buffers (NOTE: [small buffers]).
pub(crate) fn empty_small() {
    f32::small(|s| *s = Small::new());
    f64::small(|s| *s = Small::new());
    i64::small(|s| *s = Small::new());
    bool::small(|s| *s = Small::new());
}

/// Freed buffers of one element type, by size class (in elements).
pub(crate) struct Pool<T> {
    free: Mutex<HashMap<usize, Vec<Vec<T>>>>,
}

impl<T> Pool<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Vec<Vec<T>>>> {
        // The map is consistent whenever the lock is free: a panic while
        // holding it (an allocation failure in `push`) leaves it usable.
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn clear(&self) {
        let drained: Vec<Vec<Vec<T>>> = self.lock().drain().map(|(_, v)| v).collect();
        let bytes: usize = drained.iter().flatten().map(|v| v.capacity() * size_of::<T>()).sum();
        BYTES.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Element types whose buffers are cached.
pub(crate) trait Pooled: Copy + Send + 'static {
    fn pool() -> &'static Pool<Self>;
    /// Run `f` on this thread's list of small freed buffers of this type.
    /// `None` while the thread is being torn down.
    fn small<R>(f: impl FnOnce(&mut Small<Self>) -> R) -> Option<R>;
}

macro_rules! pooled {
    ($($t:ty),*) => {$(
        impl Pooled for $t {
            fn pool() -> &'static Pool<Self> {
                static POOL: std::sync::OnceLock<Pool<$t>> = std::sync::OnceLock::new();
                POOL.get_or_init(|| Pool { free: Mutex::new(HashMap::new()) })
            }
            #[inline]
            fn small<R>(f: impl FnOnce(&mut Small<Self>) -> R) -> Option<R> {
                thread_local! {
                    static SMALL: RefCell<Small<$t>> = const { RefCell::new(Small::new()) };
                }
                SMALL.try_with(|s| s.try_borrow_mut().ok().map(|mut s| f(&mut s))).ok().flatten()
            }
        }
    )*};
}
pooled!(f32, f64, i64, bool);

/// NOTE: [small buffers] Buffers below [`MIN_BYTES`] are kept per thread,
/// up to [`SMALL_BYTES`] of each element type, in lists by size class that
/// no other thread sees: no lock, no atomic operation. Eager programs on small tensors
/// (MAML's `[4, 20, 40]` activations, scalar losses and constants) make and
/// free a buffer per operation, and the system allocator's `malloc` and
/// `free` were some 180 of the 2,260 instructions of a one-element add
/// (callgrind). The bound is in bytes, not a count per class: a backward
/// pass frees a burst of same-sized buffers (MAML's eager outer gradient
/// has some eighty 12.8 KB activations and cotangents alive at its peak),
/// and with eight kept per class the rest went back to `free`: MAML 2.7%
/// slower. The buffers are freed when the thread exits, and [`empty`]
/// frees the calling thread's. A cache limit of 0 ([`set_limit`]) keeps
/// none.
pub(crate) struct Small<T> {
    free: [Vec<Vec<T>>; SMALL_CLASSES],
    /// Bytes held in `free`.
    bytes: usize,
}

/// Size classes of buffers below [`MIN_BYTES`] (of one-byte elements, the
/// most classes): see [`small_index`].
const SMALL_CLASSES: usize = 56;

/// The most bytes of small freed buffers of one element type a thread keeps
/// (1 MiB; 4 MiB for the four types).
pub const SMALL_BYTES: usize = 1 << 20;

impl<T> Small<T> {
    const fn new() -> Self {
        Small { free: [const { Vec::new() }; SMALL_CLASSES], bytes: 0 }
    }
}

/// How many small buffers of element type `T` this thread keeps, and
/// their bytes (counted two ways: the running count and the sum).
#[cfg(test)]
pub(crate) fn small_kept<T: Pooled>() -> (usize, usize) {
    T::small(|s| {
        let sum: usize = s.free.iter().flatten().map(|v| v.capacity() * size_of::<T>().max(1)).sum();
        assert_eq!(sum, s.bytes, "the running count of kept bytes");
        (s.free.iter().map(Vec::len).sum(), sum)
    })
    .unwrap_or((0, 0))
}

/// The index of size class `class` (a value of [`class_up`] or
/// [`class_down`]) among the small classes, if it is one: classes below 8
/// are themselves; above, four per power of two.
fn small_index(class: usize) -> Option<usize> {
    let i = if class < 8 {
        class
    } else {
        let shift = (usize::BITS - 1 - class.leading_zeros() - 2) as usize;
        // `class >> shift` is in 4..8 for a class (its top three bits).
        8 + (shift - 1) * 4 + ((class >> shift) - 4)
    };
    (i < SMALL_CLASSES).then_some(i)
}

/// The smallest size class holding `n` elements (four classes per power of two).
fn class_up(n: usize) -> usize {
    if n < 8 {
        return n;
    }
    let shift = usize::BITS - 1 - n.leading_zeros() - 2;
    let q = 1usize << shift;
    n.div_ceil(q).saturating_mul(q)
}

/// The largest size class not above `n`.
fn class_down(n: usize) -> usize {
    if n < 8 {
        return n;
    }
    let shift = usize::BITS - 1 - n.leading_zeros() - 2;
    let q = 1usize << shift;
    n / q * q
}

/// An empty vector with room for at least `n` elements: a cached buffer when
/// one fits, else a fresh allocation of `n`'s size class.
///
/// # Errors
///
/// [`Error::OutOfMemory`](func_core::Error::OutOfMemory) when the memory
/// cannot be allocated (after emptying the cache once).
pub(crate) fn take<T: Pooled>(n: usize) -> Result<Vec<T>> {
    let size = size_of::<T>().max(1);
    if n.saturating_mul(size) < MIN_BYTES {
        let class = class_up(n);
        // NOTE: [small buffers]
        if let Some(i) = small_index(class).filter(|_| n > 0)
            && let Some(Some(v)) = T::small(|s| {
                let v = s.free[i].pop()?;
                s.bytes -= v.capacity() * size;
                Some(v)
            })
        {
            return Ok(v);
        }
        return func_core::alloc::try_vec("cpu", &Shape::from([n]), class);
    }
    if limit() == 0 {
        return func_core::alloc::try_vec("cpu", &Shape::from([n]), n);
    }
    let class = class_up(n);
    if let Some(v) = T::pool().lock().get_mut(&class).and_then(Vec::pop) {
        BYTES.fetch_sub(v.capacity() * size, Ordering::Relaxed);
        return Ok(v);
    }
    // Allocate the whole class, so the buffer serves any request of it later;
    // the error names the size actually requested.
    // A request past the address space (`isize::MAX` bytes) fails whatever
    // the cache holds: the cache is emptied only for one that could fit.
    let fits = n.checked_mul(size).is_some_and(|b| b <= isize::MAX as usize);
    match func_core::alloc::try_vec("cpu", &Shape::from([n]), class) {
        Ok(v) => Ok(huge_pages(v)),
        Err(_) if fits && cached_bytes() > 0 => {
            empty();
            func_core::alloc::try_vec("cpu", &Shape::from([n]), class)
                .or_else(|_| func_core::alloc::try_vec("cpu", &Shape::from([n]), n))
        }
        Err(_) => func_core::alloc::try_vec("cpu", &Shape::from([n]), n),
    }
}

/// Fresh buffers of at least this many bytes are backed by transparent huge
/// pages where the system offers them (Linux, `madvise` mode).
pub const HUGE_BYTES: usize = 4 << 20;

/// The huge-page size the advice is aligned to.
const HUGE_PAGE: usize = 2 << 20;

/// Ask the kernel to back the 2 MiB-aligned interior of a fresh buffer of at
/// least [`HUGE_BYTES`] with transparent huge pages, before its first touch:
/// a first write then takes one page fault per 2 MiB instead of one per
/// 4 KiB (the fault handling, not the zeroing, was most of the cost of
/// filling fresh buffers of hundreds of MB). Advice only: where huge pages
/// are unavailable the call fails and changes nothing.
#[cfg(target_os = "linux")]
fn huge_pages<T>(mut v: Vec<T>) -> Vec<T> {
    let bytes = v.capacity().saturating_mul(size_of::<T>());
    if bytes >= HUGE_BYTES {
        let start = v.as_mut_ptr() as usize;
        let (lo, hi) = (start.next_multiple_of(HUGE_PAGE), (start + bytes) / HUGE_PAGE * HUGE_PAGE);
        if hi > lo {
            // SAFETY: `lo..hi` lies inside `v`'s allocation (its pointer and
            // capacity in bytes, rounded inwards to 2 MiB boundaries), which
            // this function owns. `MADV_HUGEPAGE` only changes how the kernel
            // backs those pages: their contents and their validity as memory
            // are unchanged, so no reference is affected. The result is
            // ignored (advice).
            unsafe {
                libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
            }
        }
    }
    v
}

/// Huge-page advice is Linux's; elsewhere buffers are used as allocated.
#[cfg(not(target_os = "linux"))]
fn huge_pages<T>(v: Vec<T>) -> Vec<T> {
    v
}

/// Return a buffer that is no longer used: kept when it is large enough and
/// the cache has room, else freed.
pub(crate) fn give<T: Pooled>(mut v: Vec<T>) {
    let size = size_of::<T>().max(1);
    let cap = v.capacity();
    let bytes = cap.saturating_mul(size);
    if bytes < MIN_BYTES {
        // NOTE: [small buffers]; a full class frees `v` on return.
        if let Some(i) = small_index(class_down(cap)).filter(|_| cap > 0 && limit() > 0) {
            v.clear();
            T::small(|s| {
                if s.bytes + bytes <= SMALL_BYTES {
                    s.bytes += bytes;
                    s.free[i].push(std::mem::take(&mut v));
                }
            });
        }
        return;
    }
    // Reserve room in the byte count first, so concurrent frees never push
    // the cache over its limit.
    let before = BYTES.fetch_add(bytes, Ordering::Relaxed);
    if before.saturating_add(bytes) > limit() {
        BYTES.fetch_sub(bytes, Ordering::Relaxed);
        return;
    }
    v.clear();
    let mut pool = T::pool().lock();
    pool.entry(class_down(cap)).or_default().push(v);
}

/// A buffer taken from the cache for scratch use, given back when dropped.
pub(crate) struct Lent<T: Pooled>(pub(crate) Vec<T>);

impl<T: Pooled> Drop for Lent<T> {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_bound_the_waste_and_cover_the_request() {
        for n in [1usize, 7, 8, 9, 100, 1000, 4096, 4097, 123_457, 1 << 30] {
            let up = class_up(n);
            assert!(up >= n && (up - n) * 4 <= n, "class_up({n}) = {up}");
            assert_eq!(class_up(up), up, "a class is its own class");
            let down = class_down(n);
            assert!(down <= n && (n - down) * 4 <= n, "class_down({n}) = {down}");
            assert_eq!(class_down(up), up);
        }
    }

    #[test]
    fn small_size_classes_have_distinct_indices_in_order() {
        // Every class of a buffer below MIN_BYTES, for each element size.
        let mut checked = 0;
        for size in [1usize, 4, 8] {
            let mut last: Option<(usize, usize)> = None;
            for n in 1..MIN_BYTES / size {
                let c = class_up(n);
                if c * size >= MIN_BYTES {
                    break;
                }
                let i = small_index(c).unwrap_or_else(|| panic!("class {c} of {n} has no small index"));
                match last {
                    Some((lc, li)) if lc == c => assert_eq!(li, i),
                    Some((lc, li)) => {
                        assert!(c > lc && i == li + 1, "classes {lc} -> {c} have indices {li} -> {i}");
                        checked += 1;
                    }
                    None => assert_eq!(i, 1),
                }
                assert_eq!(small_index(class_down(c)), Some(i), "a class is its own class");
                last = Some((c, i));
            }
        }
        assert_eq!(checked, 50 + 42 + 38, "consecutive classes compared");
    }
}
