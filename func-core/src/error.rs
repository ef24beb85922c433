//! The error type of tensor operations and transforms in func-core.

use crate::{DType, Shape};
use std::fmt;
use std::sync::Arc;

/// Result alias used across func-core and by backends.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in a tensor operation, a backend kernel or a transform's
/// argument checks. Every variant names the operation.
///
/// The panicking forms of operations (`&a + &b`, `a.matmul(&b)`) panic with
/// this error's message; the `try_` forms return it. Match on the variants
/// (new ones may be added, so keep a `_` arm):
///
/// ```
/// use func_core::{DType, Error, Tensor};
/// type T = Tensor<func_testkit::RefBackend>;
/// let e = T::zeros([2], DType::F64).try_add(&T::zeros([3], DType::F64)).unwrap_err();
/// assert!(matches!(e, Error::ShapeMismatch { ref op, .. } if op == "add"));
/// ```
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
        /// The backend's own error, if it has one (a driver's, an
        /// allocator's): [`std::error::Error::source`] returns it.
        #[source]
        source: Option<BackendSource>,
    },
}

/// The error a backend's failure came from, shared so that [`Error`] stays
/// `Clone`. Two are equal when they are the same error value.
#[derive(Clone, Debug)]
pub struct BackendSource(pub Arc<dyn std::error::Error + Send + Sync>);

impl PartialEq for BackendSource {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Display for BackendSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BackendSource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
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

    /// An [`Error::Backend`] without a source error.
    pub fn backend(backend: impl Into<String>, op: impl Into<String>, why: impl Into<String>) -> Error {
        Error::Backend { backend: backend.into(), op: op.into(), why: why.into(), source: None }
    }

    /// An [`Error::Backend`] caused by the backend's own error `source`.
    ///
    /// # Examples
    ///
    /// ```
    /// use func_core::Error;
    /// use std::error::Error as _;
    /// let io = std::io::Error::other("device lost");
    /// let e = Error::backend_caused_by("gpu", "matmul", "the kernel launch failed", io);
    /// assert_eq!(e.source().map(|s| s.to_string()).as_deref(), Some("device lost"));
    /// ```
    pub fn backend_caused_by(
        backend: impl Into<String>,
        op: impl Into<String>,
        why: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Backend {
            backend: backend.into(),
            op: op.into(),
            why: why.into(),
            source: Some(BackendSource(Arc::new(source))),
        }
    }
}
