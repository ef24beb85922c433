//! func-testkit: tools for testing func-rs backends and transforms.
//!
//! The crate is meant to hold the reference backend, the op catalogue,
//! property-test strategies with transform laws, and the golden conformance
//! loader. So far it contains the reference backend only:
//!
//! - [`RefBackend`], a naive implementation of [`func_core::Backend`] that
//!   computes every element in `f64` with plain multi-index loops, the oracle
//!   the optimized backends are checked against;
//! - [`RefStorage`], its storage: a dtype tag and the elements as `f64`;
//! - [`golden`], the torch.func golden conformance cases and comparisons.
#![deny(missing_docs)]

pub mod golden;
mod reference;

pub use reference::{RefBackend, RefStorage};
