//! The integration tests of func-nn, one module per area, built as one
//! test binary: each test binary instantiates and links the whole stack
//! again, so one per file multiplied the test build's time.

mod functional;
mod golden;
mod optim;
mod safetensors;
mod torch_layers;
