//! The integration tests of func-batch, one module per area, built as one
//! test binary: each test binary instantiates and links the whole stack
//! again, so one per file multiplied the test build's time.

mod addmm;
mod bad_input;
mod conformance;
mod one_hot;
mod views;
mod vmap;
