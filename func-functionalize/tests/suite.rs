//! The integration tests of func-functionalize, one module per area, built as one
//! test binary: each test binary instantiates and links the whole stack
//! again, so one per file multiplied the test build's time.

mod functionalize;
mod graph;
