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
//! - **Views behave the same traced and eager.** Every tensor has a
//!   [`Layout`] ([`Tensor::layout`]): a tracer's is virtual, into its alias
//!   root. View-or-copy is decided from it (NOTE: [view or copy]), and a
//!   write through a view of a tracer updates the root and every view of it
//!   at every level (NOTE: [traced views], NOTE: [writes through traced
//!   views]), so a program gives the same values and the same mutations of
//!   its inputs with and without any transform.
//! - **Everything goes through [`bind`].** Each operation is a [`Primitive`]
//!   handed to the current interpreter, so transforms nest in any order
//!   (NOTE: [stackless interpreters]). func-core never names a transform or a
//!   backend.
//! - **Custom operations** ([`CustomFn`], or [`CustomOp`] implemented
//!   directly) enter as one [`Primitive::Custom`] with their own JVP, VJP and
//!   batching rules, each written in Tensor operations; missing rules are
//!   derived from a Tensor-op forward (NOTE: [custom op rules]). Interpreters
//!   therefore return several outputs ([`Outputs`], [`bind_multi`]).
//!   [`Tensor::detach`] (alias `stop_gradient`) is the one primitive with a
//!   zero derivative.
//! - **Errors name the operation, the shapes and the fix.** Operations have a
//!   panicking form and, where a caller can recover, a `try_` form returning
//!   [`Result`].
//!
//! ## Example
//!
//! Code is written once for any backend (`B: Backend`); here it runs on
//! func-testkit's reference backend. Every operation goes through [`bind`],
//! so the same function also runs under any transform.
//!
//! ```
//! use func_core::{Backend, DType, Tensor, TensorTree};
//! use func_testkit::RefBackend;
//!
//! /// Softmax of each row, then the largest probability per row.
//! fn confidence<B: Backend>(logits: &Tensor<B>) -> Tensor<B> {
//!     logits.softmax(-1).max_dims(&[1], false)
//! }
//!
//! let logits = Tensor::<RefBackend>::from_vec(vec![0.0f64, 0.0, 10.0, 0.0], [2, 2]);
//! let c = confidence(&logits).to_vec::<f64>();
//! assert!((c[0] - 0.5).abs() < 1e-15 && c[1] > 0.9999);
//!
//! // Views share storage: a write through a slice is seen by its base.
//! let x = Tensor::<RefBackend>::zeros([2, 3], DType::F64);
//! x.select(0, 1).fill_(7.0);
//! assert_eq!(x.to_vec::<f64>(), vec![0.0, 0.0, 0.0, 7.0, 7.0, 7.0]);
//!
//! // Trees: a tuple of tensors flattens to its leaves and back.
//! let pair = (x.clone(), logits.clone());
//! assert_eq!(pair.leaves().len(), 2);
//! assert_eq!(pair.tree_def().to_string(), "(Tensor[2, 3], Tensor[2, 2])");
//! ```
#![deny(missing_docs)]

mod alias;
pub mod alloc;
mod backend;
pub mod custom;
mod display;
mod dtype;
mod error;
mod eval;
mod interp;
mod layout;
mod ops;
mod primitive;
pub mod random;
mod shape;
mod tensor;
mod tree;

pub use backend::*;
pub use custom::{CustomFn, CustomOp, CustomOpRef, CustomRule, MaybeTensors, call_custom, check_count, missing_rule};
pub use dtype::*;
pub use error::*;
pub use interp::{Interpreter, Level, Outputs, bind, bind_multi, reenter, with_interpreter};
pub use layout::*;
pub use ops::{Conv2dOptions, Generator};
pub use primitive::*;
pub use shape::*;
pub use tensor::{StorageCell, Tensor};
pub use tree::{JacobianTree, TensorTree, TreeDef};
