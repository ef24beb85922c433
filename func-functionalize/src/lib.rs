//! # func-functionalize
//!
//! functionalize (removing mutation and views from a function) and graph capture with make_graph.
//!
//! This crate is part of the func-rs workspace; its transforms are being
//! built on the interpreter machinery of `func-core` and are not available
//! yet. Use the `func` facade crate for what has landed.
#![deny(missing_docs)]
