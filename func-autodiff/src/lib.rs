//! # func-autodiff
//!
//! Automatic differentiation transforms: jvp, vjp, grad, grad_and_value, linearize, jacrev, jacfwd and hessian.
//!
//! This crate is part of the func-rs workspace; its transforms are being
//! built on the interpreter machinery of `func-core` and are not available
//! yet. Use the `func` facade crate for what has landed.
#![deny(missing_docs)]
