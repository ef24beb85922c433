//! # func-nn
//!
//! Neural-network modules, losses, initialisation, functional optimizers and the torch.func module utilities (functional_call, make_functional, stack_module_state, ...).
//!
//! This crate is part of the func-rs workspace; its transforms are being
//! built on the interpreter machinery of `func-core` and are not available
//! yet. Use the `func` facade crate for what has landed.
#![deny(missing_docs)]
