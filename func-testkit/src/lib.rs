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
//! - [`golden`], the torch.func golden conformance cases and comparisons;
//! - the op catalogue ([`catalogue()`], [`OpInfo`], [`Op`]) with proptest
//!   [`strategies`] for every op's samples, and the backend-agreement law
//!   [`check_backend`], which checks a backend against [`RefBackend`] on
//!   every op;
//! - the transform laws [`check_transforms`]: vmap against a loop over
//!   slices, jvp against finite differences, vjp against jvp, jacfwd against
//!   jacrev, symmetric Hessians, and second order, for every catalogue op;
//! - [`record_primitives`], which shows the primitives a (transformed)
//!   function runs;
//! - [`custom_examples`]: custom ops with their own rules (`log1pexp` with a
//!   custom JVP, a straight-through `round`, `clip_gradient` with a custom
//!   VJP), checked against torch's `autograd.Function`.
#![deny(missing_docs)]

mod catalogue;
pub mod custom_examples;
pub mod golden;
mod laws;
mod reference;
pub mod strategies;
mod trace;
mod transform_laws;

pub use catalogue::{Law, Op, OpInfo, Scale, catalogue};
pub use laws::{DEFAULT_CASES, F32_RTOL, F64_RTOL, check_backend, check_backend_with, check_op, check_sample};
pub use reference::{RefBackend, RefStorage};
pub use strategies::{ArgSpec, Domain, Sample, ViewKind};
pub use trace::record_primitives;
pub use transform_laws::{
    TRANSFORM_CASES, check_autodiff_sample, check_nested_vmap_sample, check_transforms, check_transforms_with,
    check_vmap_sample, host_params,
};
