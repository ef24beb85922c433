//! The integration tests of func-testkit, one module per area, built as one
//! test binary: each test binary instantiates and links the whole stack
//! again, so one per file multiplied the test build's time.

mod alias_laws;
mod backend_agreement;
mod backend_instances;
mod functionalize_laws;
mod law_kit;
mod special_values;
mod transform_laws;
