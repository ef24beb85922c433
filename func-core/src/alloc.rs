//! Fallible allocation of tensor buffers.
//!
//! Buffers whose size comes from user input (a shape) are allocated through
//! [`try_vec`] and [`try_filled`], so that a size too large for memory is an
//! [`Error::OutOfMemory`] rather than an abort of the process. A request
//! over `isize::MAX` bytes is refused before it reaches the allocator.

use crate::{Error, Result, Shape};

/// An empty vector with capacity for exactly `n` elements.
///
/// # Errors
///
/// [`Error::OutOfMemory`] naming `op` and `shape` when `n` elements of `T`
/// exceed `isize::MAX` bytes or the allocator refuses them.
pub fn try_vec<T>(op: &str, shape: &Shape, n: usize) -> Result<Vec<T>> {
    let size = std::mem::size_of::<T>();
    let oom = || Error::out_of_memory(op, shape, n, size);
    // `try_reserve_exact` also checks this; checking first keeps the error
    // independent of the allocator.
    if n.checked_mul(size).is_none_or(|b| b > isize::MAX as usize) {
        return Err(oom());
    }
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| oom())?;
    Ok(v)
}

/// A vector of `n` copies of `value`.
///
/// # Errors
///
/// As [`try_vec`].
pub fn try_filled<T: Clone>(op: &str, shape: &Shape, n: usize, value: T) -> Result<Vec<T>> {
    let mut v = try_vec(op, shape, n)?;
    v.resize(n, value);
    Ok(v)
}

/// Check that a tensor of `shape` and `dtype` can be described and
/// allocated in principle: its number of elements and its size in bytes
/// are computed with checked arithmetic, and the bytes fit in `isize::MAX`.
/// Returns the number of elements.
///
/// # Errors
///
/// [`Error::InvalidShape`] when the number of elements overflows,
/// [`Error::OutOfMemory`] when the bytes exceed `isize::MAX`.
pub fn check_alloc(op: &str, shape: &Shape, dtype: crate::DType) -> Result<usize> {
    let numel = shape.check(op)?;
    let size = dtype.size_in_bytes();
    if numel.checked_mul(size).is_none_or(|b| b > isize::MAX as usize) {
        return Err(Error::out_of_memory(op, shape, numel, size));
    }
    Ok(numel)
}
