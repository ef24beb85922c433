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
//! - **Results keep their operands' memory order**, as PyTorch's elementwise
//!   operations do: `relu(x.t())` and `&a.t() + &b.t()` are stored
//!   transposed, and a product of two transposed matrices is the transposed
//!   view of `b^T a^T` (NOTE: [output layout]). Values never depend on it;
//!   [`Tensor::contiguous`] gives a row-major copy when one is needed.
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
//!
//! ## Writing a backend
//!
//! A backend is a type implementing [`Backend`]: a storage type and the
//! kernels every [`Primitive`] lowers to. Everything above the kernels
//! (views, broadcasting, dtype promotion, autodiff, batching, custom ops)
//! is done by func-core and the transforms, so a backend is small.
//!
//! **What the core has checked before a kernel runs.**
//! - Every operand comes with a [`Layout`] (shape, strides in elements,
//!   offset) that was validated when it was made: its element count and its
//!   largest reachable position fit in `isize` (NOTE: [layout invariant]).
//!   Strides may be negative (flip) or 0 (broadcast).
//! - Shapes agree as the method's documentation says: binary, comparison
//!   and select operands have one shape and one dtype, matmul operands have
//!   broadcast batch dimensions, gather indices are in range, convolution
//!   geometries are consistent ([`ConvGeom::check`]).
//! - The storages are locked: several readers or one writer, in a global
//!   order, so a kernel never sees a storage change under it.
//!
//! **What a backend must check.**
//! - That each layout lies inside its storage (`layout.storage_span() <=
//!   storage_len`): the core cannot know how a storage was made.
//! - That every buffer sized from a layout or a count is allocated
//!   fallibly ([`alloc::try_vec`], [`alloc::check_alloc`]): too large is
//!   [`Error::OutOfMemory`], never an abort.
//! - Its own limits: a dtype it has no kernel for is [`Error::DType`]; a
//!   device failure is [`Error::Backend`]. Errors name the operation.
//!
//! **Thread safety.** A backend is `Send + Sync` and its instances are
//! shared by every tensor they made: kernels may run on several threads at
//! once, each with its own operands.
//!
//! **Methods.** There are about thirty methods in [`Backend`], each one
//! kernel (`unary`, `binary`, `reduce`, `matmul`, `im2col`, ...). All are
//! required but two fused ones, `addmm` and `conv2d`, whose provided
//! methods call the others (a GEMM then an add; `im2col` then `matmul`)
//! until the backend has the fused kernel. A new backend often starts by forwarding to another one
//! (the `Profiled` backend of func-testkit wraps any backend this way and
//! counts its calls) and replacing kernels one at a time.
//!
//! **Instances.** A backend may have state: a device index, a stream, a
//! pool. Storage remembers the instance that made it
//! ([`StorageCell::backend`], [`Tensor::backend`]) and operations run on
//! their first operand's instance; factories and scalar constants use
//! [`default_backend`]: the innermost [`with_backend`] scope, else
//! [`set_default_backend`], else [`Backend::default_instance`] (NOTE:
//! [backend instances]).
//!
//! **Checking it.** `func_testkit::check_backend::<YourBackend>()` runs every
//! op of func-testkit's catalogue on random samples (views, broadcasts,
//! negative strides, empty and special values included) against the
//! reference backend, with a tolerance per element. A device whose kernels
//! are less precise by design (TF32 matmul) or that draws random numbers
//! from its own generator passes `check_backend_with(instance, &options)`
//! with `CheckOptions { op_rtol, rng: RngPolicy::Own, .. }`: see
//! func-testkit's documentation for how to choose them.
#![deny(missing_docs)]

mod alias;
pub mod alloc;
mod backend;
pub mod custom;
mod display;
mod dtype;
mod error;
mod eval;
mod instance;
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
pub use instance::{default_backend, set_default_backend, with_backend};
pub use interp::{Interpreter, Level, Outputs, bind, bind_multi, reenter, with_interpreter};
pub use layout::*;
pub use ops::{Conv2dOptions, ConvTranspose2dOptions, Generator};
pub use primitive::*;
pub use shape::*;
pub use tensor::{StorageCell, Tensor};
pub use tree::{JacobianTree, TensorTree, TreeDef};
