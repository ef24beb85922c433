//! The error type of func-nn.

/// Result alias of func-nn.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in a module utility, a state dict or a state-dict file.
/// Every variant names the operation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor operation failed (a layer's forward, a stack).
    #[error(transparent)]
    Tensor(#[from] func_core::Error),
    /// A state dict does not fit a module: missing or unexpected keys, a
    /// wrong shape or dtype.
    #[error("{op}: {why}")]
    StateDict {
        /// The operation (`load_state_dict`, `functional_call`, ...).
        op: String,
        /// What is wrong and how to fix it.
        why: String,
    },
    /// A module utility was called with modules it does not support.
    #[error("{op}: {why}")]
    Module {
        /// The utility (`make_functional`, `stack_module_state`, ...).
        op: String,
        /// What is wrong and how to fix it.
        why: String,
    },
    /// A state-dict file could not be read, written or parsed.
    #[error("{op}: {path}: {why}")]
    File {
        /// The operation (`load_safetensors`, `save_safetensors`).
        op: String,
        /// The file.
        path: String,
        /// What went wrong.
        why: String,
    },
}

impl Error {
    pub(crate) fn state_dict(op: &str, why: impl Into<String>) -> Error {
        Error::StateDict { op: op.into(), why: why.into() }
    }

    pub(crate) fn module(op: &str, why: impl Into<String>) -> Error {
        Error::Module { op: op.into(), why: why.into() }
    }
}
