//! The integration tests of func, one module per area, built as one
//! test binary: each test binary instantiates and links the whole stack
//! again, so one per file multiplied the test build's time.

mod conformance;
mod custom_ops;
mod custom_ops_conformance;
mod fallible;
mod transforms;
mod tree_jacobians;
