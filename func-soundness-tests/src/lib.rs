//! Tests only: regression tests for size arithmetic that must not wrap and
//! allocations that must fail with an error rather than abort.
//!
//! A wrapping size computation panics ("attempt to multiply with overflow")
//! in a build with overflow checks but silently wraps in a release build, so
//! these tests are meant to run both ways (CI runs the workspace's tests
//! with overflow checks off):
//!
//! ```text
//! cargo test -p func-soundness-tests
//! CARGO_PROFILE_TEST_OVERFLOW_CHECKS=false cargo test -p func-soundness-tests
//! ```
