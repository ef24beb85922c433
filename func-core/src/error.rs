//! The error type of tensor operations and transforms in func-core.

use crate::{DType, Shape};

/// Result alias used across func-core and by backends.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in a tensor operation, a backend kernel or a transform's
/// argument checks. Every variant names the operation.
///
/// The panicking forms of operations (`&a + &b`, `a.matmul(&b)`) panic with
/// this error's message; the `try_` forms return it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two shapes that must agree (or broadcast) do not.
    #[error("{op}: shapes {lhs} and {rhs} {why}")]
    ShapeMismatch {
        /// The operation.
        op: String,
        /// The first shape.
        lhs: Shape,
        /// The second shape.
        rhs: Shape,
        /// Why they must agree, and what to do.
        why: String,
    },
    /// A shape is not valid for this operation.
    #[error("{op}: invalid shape {shape}: {why}")]
    InvalidShape {
        /// The operation.
        op: String,
        /// The offending shape.
        shape: Shape,
        /// What is wrong and how to fix it.
        why: String,
    },
    /// A dimension index is out of range.
    #[error("{op}: dimension out of range (expected to be in range of [{min}, {max}], but got {dim})")]
    DimOutOfRange {
        /// The operation.
        op: String,
        /// The dimension given.
        dim: isize,
        /// Smallest valid value.
        min: isize,
        /// Largest valid value.
        max: isize,
    },
    /// An operand has a dtype the operation does not support.
    #[error("{op}: {why} (got {got})")]
    DType {
        /// The operation.
        op: String,
        /// The dtype given.
        got: DType,
        /// What was expected.
        why: String,
    },
    /// Any other invalid argument.
    #[error("{op}: {why}")]
    InvalidArgument {
        /// The operation.
        op: String,
        /// What is wrong and how to fix it.
        why: String,
    },
    /// A thread panicked while writing a tensor's storage; its contents may
    /// be half-written, so it can no longer be read or written.
    #[error(
        "{op}: a thread panicked while writing this tensor's storage, so its contents may be half-written. \
         The tensor and every view of it can no longer be used: recreate it from data you trust"
    )]
    Poisoned {
        /// The operation that tried to access the storage.
        op: String,
    },
    /// A transform was used in a way it does not support.
    #[error("{transform}: {why}")]
    Transform {
        /// The transform (`vmap`, `grad`, ...).
        transform: String,
        /// What is wrong and how to fix it.
        why: String,
    },
    /// Memory for a tensor could not be allocated: the size overflows what
    /// a buffer can hold, or the allocator refused it.
    #[error(
        "{op}: out of memory: cannot allocate {bytes} bytes for a tensor of shape {shape}; \
         use smaller sizes (or a device with more memory)"
    )]
    OutOfMemory {
        /// The operation.
        op: String,
        /// The shape of the tensor being allocated.
        shape: Shape,
        /// The number of bytes requested (may exceed `usize::MAX`).
        bytes: u128,
    },
    /// A backend kernel failed.
    #[error("{backend} backend, {op}: {why}")]
    Backend {
        /// The backend's name.
        backend: String,
        /// The kernel.
        op: String,
        /// The backend's explanation.
        why: String,
    },
}

impl Error {
    /// A [`Error::ShapeMismatch`].
    pub fn shape_mismatch(op: impl Into<String>, lhs: &Shape, rhs: &Shape, why: impl Into<String>) -> Error {
        Error::ShapeMismatch { op: op.into(), lhs: lhs.clone(), rhs: rhs.clone(), why: why.into() }
    }

    /// An [`Error::InvalidArgument`].
    pub fn invalid(op: impl Into<String>, why: impl Into<String>) -> Error {
        Error::InvalidArgument { op: op.into(), why: why.into() }
    }

    /// An [`Error::InvalidShape`].
    pub fn invalid_shape(op: impl Into<String>, shape: &Shape, why: impl Into<String>) -> Error {
        Error::InvalidShape { op: op.into(), shape: shape.clone(), why: why.into() }
    }

    /// An [`Error::DType`].
    pub fn dtype(op: impl Into<String>, got: DType, why: impl Into<String>) -> Error {
        Error::DType { op: op.into(), got, why: why.into() }
    }

    /// An [`Error::Poisoned`].
    pub fn poisoned(op: impl Into<String>) -> Error {
        Error::Poisoned { op: op.into() }
    }

    /// An [`Error::Transform`].
    pub fn transform(transform: impl Into<String>, why: impl Into<String>) -> Error {
        Error::Transform { transform: transform.into(), why: why.into() }
    }

    /// An [`Error::OutOfMemory`] for `numel` elements of `elem_size` bytes.
    pub fn out_of_memory(op: impl Into<String>, shape: &Shape, numel: usize, elem_size: usize) -> Error {
        Error::OutOfMemory { op: op.into(), shape: shape.clone(), bytes: numel as u128 * elem_size as u128 }
    }

    /// An [`Error::Backend`].
    pub fn backend(backend: impl Into<String>, op: impl Into<String>, why: impl Into<String>) -> Error {
        Error::Backend { backend: backend.into(), op: op.into(), why: why.into() }
    }
}
