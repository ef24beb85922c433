//! # func-core
//!
//! The foundation of func-rs: [`Tensor`], [`DType`], [`Shape`]/[`Layout`],
//! the open [`Backend`] trait, the closed set of [`Primitive`] operations,
//! the interpreter machinery that transforms plug into ([`Interpreter`],
//! [`bind`], [`with_interpreter`], [`Level`]), the pytree trait
//! [`TensorTree`], and the [`Error`] type.
//!
//! Most users want the `func` facade crate, which fixes the backend to the
//! optimized CPU backend (`func::Tensor`) and re-exports the transforms. Use
//! func-core directly to write a backend or a transform.
//!
//! ## Themes
//!
//! - **Tensors are handles.** `clone()` aliases; views share storage; in-place
//!   operations write through views with PyTorch semantics (NOTE: [in-place
//!   through views]).
//! - **Views are metadata.** reshape (when possible), permute, broadcast,
//!   slice, select, squeeze/unsqueeze, diagonal cost no copy (NOTE: [views are
//!   metadata]).
//! - **Everything goes through [`bind`].** Each operation is a [`Primitive`]
//!   handed to the current interpreter, so transforms nest in any order
//!   (NOTE: [stackless interpreters]). func-core never names a transform or a
//!   backend.
//! - **Errors name the operation, the shapes and the fix.** Operations have a
//!   panicking form and, where a caller can recover, a `try_` form returning
//!   [`Result`].
//!
//! ## Example
//!
//! A backend is a type parameter; here, a backend is written generically:
//!
//! ```
//! use func_core::{Backend, DType, Tensor};
//!
//! fn softmax_rows<B: Backend>(x: &Tensor<B>) -> Tensor<B> {
//!     x.softmax(-1)
//! }
//!
//! fn total<B: Backend>(x: &Tensor<B>) -> f64 {
//!     x.to_dtype(DType::F64).sum().item::<f64>()
//! }
//! ```
#![deny(missing_docs)]

pub mod alloc;
mod backend;
mod display;
mod dtype;
mod error;
mod eval;
mod interp;
mod layout;
mod ops;
mod primitive;
pub mod random;
mod tensor;
mod tree;

pub use backend::*;
pub use dtype::*;
pub use error::*;
pub use interp::{Frame, FrameGuard, Interpreter, Level, bind, current_frame, set_frame, with_interpreter};
pub use layout::*;
pub use ops::{Conv2dOptions, Generator};
pub use primitive::*;
pub use tensor::{StorageCell, Tensor};
pub use tree::{TensorTree, TreeDef};
