//! Tests only: regression tests for size arithmetic that must not wrap and
//! allocations that must fail with an error rather than abort.
//!
//! A wrapping size computation panics ("attempt to multiply with overflow")
//! in a build with overflow checks but silently wraps in a release build, so
//! these tests run in both profiles:
//!
//! ```text
//! cargo test -p func-soundness-tests
//! cargo test -p func-soundness-tests --release
//! ```
