//! func-testkit: tools for testing func-rs backends and transforms.
//!
//! The crate holds:
//!
//! - [`RefBackend`], a naive implementation of [`func_core::Backend`] that
//!   computes every element in `f64` with plain multi-index loops, the oracle
//!   the optimized backends are checked against;
//! - [`RefStorage`], its storage: a dtype tag and the elements as `f64`;
//! - [`golden`], the torch.func golden conformance cases and comparisons;
//! - the op catalogue ([`catalogue()`], [`OpInfo`], [`Op`]) with proptest
//!   [`strategies`] for every op's samples, and the backend-agreement law
//!   [`check_backend`], which checks a backend against [`RefBackend`] on
//!   every op with a tolerance per element or per reduced row ([`Scale`]);
//! - the aliasing law [`check_aliasing`]: for every view op, writes through
//!   the view give the same values and input mutations with and without
//!   vmap, grad and jvp;
//! - the transform laws [`check_transforms`]: vmap against a loop over
//!   slices, jvp against finite differences, vjp against jvp, jacfwd against
//!   jacrev, symmetric Hessians, and second order, for every catalogue op,
//!   each [`Law`] required to check at least half of an op's samples
//!   ([`minimum_checks`]), with reference Jacobians built the plain way
//!   from vmap, vjp and jvp ([`jacobians`]);
//! - `data/tree_jacobians_golden.json` (written by
//!   `data/tree_jacobians_golden.py` with torch.func): Jacobians of tuple
//!   and map outputs and Hessians of tuple and map inputs, for the `func`
//!   facade's tests;
//! - `data/special_values.json`, known values of every unary op from mpmath
//!   (written by `data/special_values.py`), which the tests check both
//!   backends against;
//! - [`record_primitives`], which shows the primitives a (transformed)
//!   function runs;
//! - [`custom_examples`]: custom ops with their own rules (`log1pexp` with a
//!   custom JVP, a straight-through `round`, `clip_gradient` with a custom
//!   VJP), checked against torch's `autograd.Function`.
#![deny(missing_docs)]

mod alias_laws;
mod catalogue;
pub mod custom_examples;
pub mod golden;
pub mod jacobians;
mod laws;
mod reference;
pub mod strategies;
mod trace;
mod transform_laws;

pub use alias_laws::{check_alias_autodiff_sample, check_alias_vmap_sample, check_aliasing, is_view_op};
pub use catalogue::{Law, Op, OpInfo, Scale, catalogue};
pub use laws::{DEFAULT_CASES, F32_RTOL, F64_RTOL, check_backend, check_backend_with, check_op, check_sample};
pub use reference::{RefBackend, RefStorage};
pub use strategies::{ArgSpec, Domain, Sample, ViewKind};
pub use trace::record_primitives;
pub use transform_laws::{
    Requirement, TRANSFORM_CASES, check_autodiff_sample, check_nested_vmap_sample, check_transforms,
    check_transforms_with, check_vmap_sample, host_params, minimum_checks,
};
