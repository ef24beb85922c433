//! The integration tests of func-autodiff, one module per area, built as one
//! test binary: each test binary instantiates and links the whole stack
//! again, so one per file multiplied the test build's time.

mod bad_input;
mod common;
mod conventions;
mod fused_backward;
mod inplace_views;
mod layout;
mod repeat_vjp;
