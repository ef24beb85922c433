//! # func-autodiff
//!
//! Automatic differentiation as composable transforms, torch.func's
//! `jvp`, `vjp`, `grad`, `grad_and_value` and `linearize` in Rust. They
//! compose with each other and with `vmap` to any depth: `grad(grad(f))`,
//! `vmap(grad(f))` (per-sample gradients), `jvp(grad(f))` (Hessian-vector
//! products). The crate depends on func-core only: it meets func-batch's
//! vmap through func-core's interpreter stack, never by name. `jacrev`,
//! `jacfwd` and `hessian`, which are vmap over vjp and jvp, live in the
//! `func` facade, where the two layers meet.
//!
//! Most users reach this through the `func` facade.
//!
//! ```
//! use func_autodiff::{grad, jvp};
//! use func_core::Tensor;
//! use func_testkit::RefBackend;
//! type T = Tensor<RefBackend>;
//!
//! let f = |x: &T| (x.sin() * x).sum();
//! let x = T::from_vec(vec![0.5f64, 1.0], [2]);
//! let g = grad(f)(&x); // sin x + x cos x
//! assert!((g.to_vec::<f64>()[0] - (0.5f64.sin() + 0.5 * 0.5f64.cos())).abs() < 1e-15);
//! let gg = grad(|x: &T| grad(f)(x).sum())(&x); // 2 cos x - x sin x
//! assert!((gg.to_vec::<f64>()[1] - (2.0 * 1.0f64.cos() - 1.0f64.sin())).abs() < 1e-15);
//! let (_, hvp) = jvp(grad(f), &x, &T::ones([2], func_core::DType::F64));
//! assert_eq!(hvp.dims(), &[2]);
//! ```
//!
//! ## Themes
//!
//! - **Arguments are trees.** Inputs and outputs are [`TensorTree`](func_core::TensorTree)s: `grad`
//!   of a function of a parameter dict returns a dict of gradients.
//!   torch.func's `argnums` becomes the tree shape of the differentiated
//!   argument (differentiate a tuple `(a, b)`), or capturing the other
//!   arguments in the closure.
//! - **`has_aux`** is a separate function (`grad_aux`, `vjp_aux`, ...) whose
//!   `f` returns `(output, aux)`: Rust's types make a malformed pair
//!   impossible, where torch.func checks it at run time. Aux values come back
//!   as plain (untracked) values.
//! - **Rules** (one JVP and one VJP rule per [`Primitive`](func_core::Primitive),
//!   exhaustive matches) are written in Tensor operations, so they are
//!   themselves differentiated and batched by enclosing transforms. NOTE:
//!   [rules are tensor programs]. Zero tangents and cotangents are symbolic;
//!   an input the output does not use gets a zero gradient.
//! - **Fused activation derivatives.** The tangent or cotangent through
//!   `tanh`, `sigmoid` and `relu` is one elementwise op of the output,
//!   `BinaryOp::TanhBackward` (`v (1 - y^2)`), `BinaryOp::SigmoidBackward`
//!   (`v y (1 - y)`) and `BinaryOp::ReluBackward` (`y <= 0 ? 0 : v`), as
//!   torch's `tanh_backward`, `sigmoid_backward` and `threshold_backward`:
//!   one kernel and one dispatch through the enclosing transforms where the
//!   formula would run three (two for relu, whose forward is one primitive
//!   too, `UnaryOp::Relu`, where it was a comparison and a select). They
//!   are primitives with partials of their own, so higher orders (`hessian`, the Lennard-Jones training step's
//!   gradient of forces) differentiate them again; func-batch keeps a
//!   one-hot basis through them, as through a product, so Jacobians of
//!   `tanh` layers stay row copies. In the benchmark runner's loop this
//!   took 12% of the instructions off the Lennard-Jones training step, 9%
//!   off its forces and 5% off `jacrev` of a 16-wide tanh layer
//!   (callgrind); the training step ran in 0.65-0.75 ms against 0.78-0.92
//!   before, in the same benchmark's runs.
//! - **Custom ops** ([`CustomFn`](func_core::CustomFn)) use their own JVP
//!   and VJP rules. Without a JVP rule, forward mode differentiates the op's
//!   forward; without a VJP rule, reverse mode transposes the JVP rule (as
//!   JAX's `custom_jvp` does) or differentiates the forward. `detach()` /
//!   `stop_gradient()` has a zero derivative in both modes.
//! - **One fallible scheme.** Every transform has a `try_` form whose `f`
//!   returns [`Result`](func_core::Result): an error raised inside `f` (a
//!   `try_` operation's `?`), the transform's argument checks, `grad` of a
//!   non-scalar and a wrong-shape cotangent given to a `vjp_fn` come back as
//!   `Err`; functions a `try_` form returns (`vjp_fn`, `jvp_fn`) return
//!   `Result` too. The plain forms panic with the same messages.
//! - **No `strict` jvp.** torch.func's `jvp(..., strict=True)` raises "not
//!   implemented" in torch itself. An output that does not depend on the
//!   inputs gets a zero tangent, as with `strict=False`; [`grad`] and the
//!   facade's `jacrev` give zeros for unused inputs the same way.
//! - **In-place operations** on traced tensors rebind the traced value (NOTE:
//!   [autodiff in-place rebinds]): derivatives are right and values recorded
//!   earlier are not disturbed. Writes through views (slices, reshapes,
//!   transposes, diagonals, at any depth) differentiate as in torch.func, and
//!   a buffer made by a factory inside the function can be written with
//!   traced values (NOTE: [factories belong to the transform]). An in-place
//!   write of a traced value into a tensor captured from outside is an error,
//!   as in torch.func.
//! - **Writes into the inputs reach the caller** (NOTE: [inputs written
//!   back]). An in-place operation on an input of `f` (or on a view of one)
//!   is seen inside `f` and written to the caller's tensor: by `jvp` when
//!   `f` returns, as torch.func's `jvp` does; by `grad` and
//!   `grad_and_value` after the backward pass, so the gradient is that of
//!   `f` as written (torch.func's `grad` refuses the write); by `vjp` and
//!   `linearize` when `f` returns, after which a backward pass that would
//!   read the input's overwritten value is an error naming the input
//!   (torch.func's `vjp` refuses the write itself).
#![deny(missing_docs)]

mod alias;
mod api;
mod derivs;
mod jvp;
mod vjp;

pub use api::forward::{jvp, jvp_aux, try_jvp, try_jvp_aux};
pub use api::gradient::{
    grad, grad_and_value, grad_and_value_aux, grad_aux, try_grad, try_grad_and_value, try_grad_and_value_aux,
    try_grad_aux,
};
pub use api::linear::{linearize, try_linearize};
pub use api::reverse::{try_vjp, try_vjp_aux, vjp, vjp_aux};
