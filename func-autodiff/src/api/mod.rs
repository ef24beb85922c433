//! The transforms, one module per family: [`forward`] (jvp), [`reverse`]
//! (vjp), [`gradient`] (grad, grad_and_value) and [`linear`] (linearize).
//!
//! Every transform has a panicking form and a `try_` form, by one scheme:
//! the `try_` form's `f` returns [`Result`](func_core::Result), so an error
//! raised inside `f` (a `try_` tensor operation's `?`) comes back as `Err`,
//! as do the transform's own checks (argument structure, dtypes, a
//! non-scalar output for grad, a wrong-shape cotangent given to a `vjp_fn`).
//! A `try_` form returns what the panicking form returns, in a `Result`;
//! functions it returns (a `vjp_fn`, a linearized `jvp_fn`) return `Result`
//! too. The `_aux` forms (torch.func's `has_aux=True`) take an `f` that
//! returns `(output, aux)`.

mod common;
pub mod forward;
pub mod gradient;
pub mod linear;
pub mod reverse;
