//! func-testkit: tools for testing func-rs backends and transforms.
//!
//! The crate holds:
//!
//! - [`RefBackend`], a naive implementation of [`func_core::Backend`] that
//!   computes every element in `f64` with plain multi-index loops, the oracle
//!   the optimized backends are checked against;
//! - [`RefStorage`], its storage: a dtype tag and the elements as `f64`;
//! - [`golden`], the torch.func golden conformance cases and comparisons;
//! - the op catalogue ([`catalogue()`], [`OpInfo`], [`Op`]): every
//!   primitive and composite op of the `Tensor` API, each entry with its
//!   proptest [`strategies`] for samples, its tolerance [`Scale`] and its
//!   properties (which arguments are read on the host ([`HostParams`]),
//!   index arguments, in-place writes, views, randomness, law exemptions);
//!   [`entries_for`] names the entries of every [`func_core::Primitive`];
//! - the backend-agreement law [`check_backend`], which checks a backend
//!   against [`RefBackend`] on every op with a tolerance per element or per
//!   reduced row ([`Scale`]);
//! - the aliasing law [`check_aliasing`]: for every view op, writes through
//!   the view give the same values and input mutations with and without
//!   vmap, grad and jvp;
//! - the functionalize law [`check_functionalize`]: for every catalogue
//!   op, applied in place, through a view and on a copy ([`Harness`]),
//!   `functionalize` (views kept or removed) gives the same outputs and
//!   input mutations, and its graph holds no view and no in-place write but
//!   the write-back of inputs;
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
//! - the law kit for users' code ([`user_laws`]): [`check_laws`] for any
//!   function of a tensor tree, [`check_laws_prop`] as a property over
//!   strategies, [`check_custom_op`] for a custom op's own rules, with a
//!   report of the failing law, input and worst element;
//! - [`Profiled`], a backend wrapping any other that counts the calls and
//!   time of each kernel per instance and prints them as a table;
//! - [`record_primitives`], which shows the primitives a (transformed)
//!   function runs;
//! - [`custom_examples`]: custom ops with their own rules (`log1pexp` with a
//!   custom JVP, a straight-through `round`, `clip_gradient` with a custom
//!   VJP), checked against torch's `autograd.Function`.
//!
//! ## Adding an op
//!
//! An op is added in one place, its catalogue entry, plus the [`Op`]
//! variant that evaluates it; every law reads the entry:
//!
//! 1. a variant of [`Op`], documenting its arguments, and its arm in
//!    [`Op::apply`];
//! 2. its entry in [`catalogue()`]: a unique name, the op, whether it is
//!    differentiable, its [`Scale`], its sample strategy (a new one beside
//!    the others of its family when none fits), and its properties with
//!    [`OpInfo`]'s builder methods: [`host`](OpInfo::host) for parameters
//!    it reads on the host (dims, sizes, seeds), [`index_arg`](OpInfo::index_arg),
//!    [`writes_first`](OpInfo::writes_first) for an in-place op,
//!    [`view`](OpInfo::view), [`random`](OpInfo::random), and
//!    [`exempt`](OpInfo::exempt) (with the reason) for a law that does not
//!    hold by design;
//! 3. a new [`func_core::Primitive`] also names its entries in
//!    [`entries_for`]: its match has no catch-all arm, so the crate does
//!    not build until it does, and a test checks that the names exist;
//! 4. an entry with [`Scale::Rows`] also needs its row rule in the
//!    backend-agreement law's magnitudes, and a random op with a bounded
//!    support names it in that law's check of a backend's own generator.
//!
//! The laws then run the new entry: backend agreement, the transform laws,
//! the functionalize law, and the aliasing law for a view.
//!
//! ## Checking a backend of your own
//!
//! ```no_run
//! # use func_testkit::RefBackend as MyBackend;
//! // In a test of your backend crate:
//! func_testkit::check_backend::<MyBackend>();
//! ```
//!
//! runs every catalogue op on [`DEFAULT_CASES`] random samples on the
//! backend's default instance and on [`RefBackend`], and panics with the op,
//! the (shrunk) sample and the first differing element when they disagree.
//! [`check_backend_with`] takes the instance to check (a device index, a
//! stream: the samples are built on it) and [`CheckOptions`]:
//! - **Tolerances.** The defaults (`1e-12` relative for f64, `1e-5` for f32,
//!   scaled per element by the magnitude of the terms that produced it) hold
//!   for a backend that computes in the tensor's dtype in any summation
//!   order. Widen only the ops whose kernels are less precise by design,
//!   by name, in [`CheckOptions::op_rtol`]: TF32 matmul keeps about 10
//!   mantissa bits, so `("matmul", 1e-3)` and the matmul-based entries
//!   (`matmul_batched`, `linear`, `conv2d`). A tolerance widened everywhere
//!   hides real bugs.
//! - **Random numbers.** [`RngPolicy::Reference`] (the default) requires the
//!   stream of [`func_core::random::sample`], so that seeded programs agree
//!   across devices. A device with its own generator uses [`RngPolicy::Own`]:
//!   random ops are then checked for shape, dtype, the same values for the
//!   same seed, and values in the distribution's support.
#![deny(missing_docs)]

mod alias_laws;
mod catalogue;
pub mod custom_examples;
mod derivatives;
mod functionalize_laws;
pub mod golden;
pub mod jacobians;
mod laws;
mod profiled;
mod reference;
pub mod strategies;
mod trace;
mod transform_laws;
pub mod user_laws;

pub use alias_laws::{check_alias_autodiff_sample, check_alias_vmap_sample, check_aliasing};
pub use catalogue::{HostParams, Law, Op, OpInfo, Scale, catalogue, entries_for, entry_of, host_params, is_view_op};
pub use functionalize_laws::{Harness, check_functionalize, check_functionalize_sample};
pub use laws::{
    CheckOptions, DEFAULT_CASES, F32_RTOL, F64_RTOL, RngPolicy, check_backend, check_backend_with, check_op_with,
    check_sample_with,
};
pub use profiled::{OpStat, Profiled};
pub use reference::{RefBackend, RefStorage};
pub use strategies::{ArgSpec, Domain, Sample, ViewKind};
pub use trace::record_primitives;
pub use transform_laws::{
    Requirement, TRANSFORM_CASES, check_autodiff_sample, check_nested_vmap_sample, check_transforms,
    check_transforms_with, check_vmap_sample, minimum_checks,
};
pub use user_laws::{LawFailure, LawOptions, LawReport, UserLaw, check_custom_op, check_laws, check_laws_prop};
