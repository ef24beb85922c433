//! The integration tests of func-core, one module per area, built as one
//! test binary: each test binary instantiates and links the whole stack
//! again, so one per file multiplied the test build's time.

mod bad_input;
mod interpreters;
mod output_layout;
mod tensor_ops;
mod threads;
