//! func-core: tensors, the backend trait, primitives and interpreter machinery.
#![deny(missing_docs)]

mod backend;
mod dtype;
mod error;
mod layout;
mod primitive;
pub mod random;

pub use backend::*;
pub use dtype::*;
pub use error::*;
pub use layout::*;
pub use primitive::*;
