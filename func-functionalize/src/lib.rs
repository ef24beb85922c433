//! # func-functionalize
//!
//! torch.func's `functionalize`, which removes mutation (and optionally
//! views) from a function, and graph capture with [`make_graph`] (JAX's
//! `make_jaxpr`, torch's `make_fx`), which shows the primitives a function
//! runs.
//!
//! Most users reach this through the `func` facade.
//!
//! ## When you want functionalize
//!
//! A program written with in-place operations (`add_`, `copy_`, writes
//! through slices) means the same under every transform of func-rs: grad
//! differentiates it, vmap batches it. You want `functionalize` when:
//!
//! - **vmap refuses an in-place write.** Writing a batched value into a
//!   tensor that is not batched, typically a buffer made inside the
//!   function with `zeros`, is an error under vmap (the buffer has no batch
//!   dimension to hold the result). Under `vmap(functionalize(f))` the write
//!   becomes a rebinding of the buffer to a new, batched value, and works.
//! - **you want to see or export the program without mutation.**
//!   `make_graph(functionalize(f), x)` holds only out-of-place primitives
//!   (and, with [`Remove::MutationsAndViews`], no view either: each view
//!   becomes a copy, torch's `view_copy`), plus one `copy_` per mutated
//!   input at the end, which writes the result back into the caller's
//!   tensor, as torch.func does.
//! - **a lower layer cannot alias.** A backend or a consumer of graphs that
//!   has no notion of views or of writes into shared storage can take the
//!   functionalized program as it is.
//!
//! What `f` computes does not change: outputs, and the mutations `f` makes
//! to its inputs, are the same with and without functionalize, under any
//! transform (func-testkit checks it for every catalogue op).
//!
//! ## Examples
//!
//! ```
//! use func_batch::vmap;
//! use func_core::{DType, Tensor};
//! use func_functionalize::{Remove, functionalize, functionalize_with, make_graph};
//! use func_testkit::RefBackend;
//! type T = Tensor<RefBackend>;
//!
//! // torch.func's documentation example: a buffer made inside, written in place.
//! let f = |x: &T| {
//!     let y = T::zeros([3], DType::F64);
//!     y.copy_(x);
//!     y
//! };
//! let xs = T::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]);
//! // vmap(f)(&xs) panics: copy_ would write a batched value into `y`.
//! let ys = vmap(functionalize(f))(&xs);
//! assert_eq!(ys.to_vec::<f64>(), xs.to_vec::<f64>());
//!
//! // The graph of a function that writes through a view of its input.
//! let g = |x: &T| {
//!     x.slice(0, 0, 2, 1).mul_scalar_(10.0);
//!     x.sum()
//! };
//! let x = T::from_vec(vec![1.0f64, 2.0, 3.0], [3]);
//! let graph = make_graph(functionalize_with(g, Remove::MutationsAndViews), &x);
//! assert!(graph.nodes().iter().all(|n| !n.is_view()));
//! // The one write left is the write-back into the input, last.
//! assert_eq!(graph.nodes().iter().filter(|n| n.is_write()).count(), 1);
//! println!("{graph}");
//! ```
//!
//! ## Themes
//!
//! - [`functionalize`] / [`functionalize_with`] ([`Remove`]) /
//!   [`try_functionalize`]: an interpreter whose tracers wrap the value one
//!   level down; in-place writes rebind them, views are re-derived by
//!   func-core's alias machinery (NOTE: [functionalize rebinds]). It nests
//!   with vmap, grad, jacrev and itself in any order.
//! - [`make_graph`] → [`Graph`]: an SSA list of [`Node`]s (primitive,
//!   input variables, output shapes and dtypes), printed like a jaxpr, and
//!   evaluated again with [`Graph::eval`] on new inputs of the same shapes.
//!   Custom ops are one node with their name; constants are `full` nodes.
//!   Evaluation is ordinary tensor code, so grad, vmap and functionalize
//!   apply to a graph (NOTE: [graph capture]).
//! - [`Graph::simplify`] removes the nodes whose results nothing reads,
//!   merges the nodes that repeat an earlier one and replaces products
//!   with ones by their other operand, as jax.jit's compiler does, keeping
//!   every in-place write and never merging storage a write or the caller
//!   could tell apart (NOTE: [graph simplification]).
//! - A mutation through a broadcast (stride-0) or otherwise overlapping view
//!   is an error naming the operation and the fix, traced or not, where
//!   torch silently keeps one of the values written to each location.
//!
//! ## Limitations
//!
//! - Inputs that alias each other (a tensor and a view of it passed as two
//!   arguments) are independent inside `functionalize`: a write through one
//!   is not seen through the other until the function returns. The same
//!   tensor passed twice is one tensor.
//! - A view is decided from the traced tensor's virtual layout, in which an
//!   input is contiguous: `reshape` of an input that is a non-contiguous
//!   view of the caller's data is a view inside `functionalize` (and in a
//!   graph) where eagerly it would be a copy. Writes through such a reshape
//!   then reach the input inside, and not eagerly.
//! - `make_graph` runs the function once on the example inputs and records
//!   what ran: data-dependent control flow is refused (reading a traced
//!   value is an error), not captured.
#![deny(missing_docs)]

mod functionalize;
mod graph;

pub use functionalize::{Remove, functionalize, functionalize_with, try_functionalize};
pub use graph::{Graph, Node, NodeOp, Simplified, Var, VarId, make_graph};
