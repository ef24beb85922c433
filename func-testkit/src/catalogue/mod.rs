//! The op catalogue (PyTorch's `OpInfo`): every primitive and composite
//! operation of the `Tensor` API, with a proptest strategy for its sample
//! inputs.
//!
//! An [`Op`] is evaluated with [`Op::apply`] on tensors of any backend; an
//! [`OpInfo`] names it and generates [`Sample`](crate::Sample)s that
//! respect its domain. [`catalogue`] lists every entry. The backend-agreement law
//! ([`check_backend`](crate::check_backend)) runs each entry on a backend and
//! on [`RefBackend`](crate::RefBackend) and compares; transform laws can use
//! the same entries (those marked [`differentiable`](OpInfo::differentiable)
//! for gradient checks).
//!
//! Parameters that depend on the sampled shapes (dims, sizes, indices) are
//! passed as extra i64 (or f64) tensor arguments, built with
//! [`ArgSpec::ints`](crate::ArgSpec::ints); each variant of [`Op`]
//! documents its arguments.
//!
//! ## Layout
//!
//! - `op.rs`: the [`Op`] enum; `eval.rs`: [`Op::apply`];
//! - `info.rs`: [`OpInfo`] (an entry and its properties), [`HostParams`],
//!   [`Scale`], [`Law`];
//! - `samples/`: the sample strategies, by op family;
//! - `table.rs`: [`catalogue`], the table of every entry;
//! - `coverage.rs`: [`entries_for`], the entries of each
//!   [`Primitive`](func_core::Primitive).
//!
//! ## Adding an op
//!
//! 1. A variant of [`Op`] (documenting its arguments) and its arm in
//!    [`Op::apply`].
//! 2. Its entry in [`catalogue`]: name, op, whether it is differentiable,
//!    its [`Scale`], its sample strategy (a new `s_*` in `samples/` when no
//!    existing one fits), and its properties with the [`OpInfo`] builder
//!    methods: [`host`](OpInfo::host) for parameters read on the host,
//!    [`index_arg`](OpInfo::index_arg), [`writes_first`](OpInfo::writes_first)
//!    for in-place ops, [`view`](OpInfo::view), [`random`](OpInfo::random),
//!    and [`exempt`](OpInfo::exempt) for a law that does not hold by design.
//!    The laws read these fields instead of listing ops.
//! 3. A new [`Primitive`](func_core::Primitive) also names its entries in
//!    [`entries_for`] (the build fails until it does; a test checks the
//!    names exist).
//!
//! The only per-op code left in the laws is computed from the op's own
//! parameters: an op with [`Scale::Rows`] needs its row-magnitude rule in
//! the backend-agreement law (which fails with "no magnitude rule"
//! otherwise), and a random op with a bounded support (uniform) names it in
//! that law's check of a backend's own generator.

mod coverage;
mod eval;
mod info;
mod op;
mod samples;
mod table;

pub use coverage::entries_for;
pub use info::{HostParams, Law, OpInfo, Scale};
pub use op::Op;
pub use table::catalogue;

use std::sync::OnceLock;

/// The catalogue entry of `op`: the entry whose op equals it, else the first
/// entry of the same variant (an op with other fixed parameters, such as
/// `Op::BinaryScalar(BinaryOp::Add, 3.0)`, has the properties of its
/// variant's entries).
pub fn entry_of(op: &Op) -> Option<&'static OpInfo> {
    static TABLE: OnceLock<Vec<OpInfo>> = OnceLock::new();
    let table = TABLE.get_or_init(catalogue);
    table
        .iter()
        .find(|i| i.op == *op)
        .or_else(|| table.iter().find(|i| std::mem::discriminant(&i.op) == std::mem::discriminant(op)))
}

fn entry(op: &Op) -> &'static OpInfo {
    entry_of(op).unwrap_or_else(|| panic!("the catalogue has no entry for {op:?}: add one (see the catalogue docs)"))
}

/// Which of `n` arguments of `op` are parameters the op reads on the host
/// (dims, sizes, seeds, shapes of factories): its entry's
/// [`host_params`](OpInfo::host_params).
///
/// # Panics
///
/// When the catalogue has no entry of `op`'s variant.
pub fn host_params(op: &Op, n: usize) -> Vec<bool> {
    entry(op).host_params(n)
}

/// Whether `op` returns a view of its first argument (sharing its storage
/// when the layout allows): its entry's [`view`](OpInfo::view).
///
/// # Panics
///
/// When the catalogue has no entry of `op`'s variant.
pub fn is_view_op(op: &Op) -> bool {
    entry(op).view
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RefBackend;
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    use std::collections::HashSet;

    #[test]
    fn entries_of_one_op_have_the_same_properties() {
        let all = catalogue();
        for a in &all {
            for b in all.iter().filter(|b| b.op == a.op) {
                let props = |i: &OpInfo| (i.host, i.index_arg, i.writes_first, i.view, i.random);
                assert_eq!(
                    props(a),
                    props(b),
                    "entries {} and {} of one op differ in their properties",
                    a.name,
                    b.name
                );
            }
        }
    }

    #[test]
    fn names_are_unique() {
        let mut seen = HashSet::new();
        for info in catalogue() {
            assert!(seen.insert(info.name), "duplicate catalogue name {}", info.name);
        }
    }

    #[test]
    fn samples_evaluate_on_the_reference_backend() {
        let mut runner = TestRunner::deterministic();
        let mut failures = Vec::new();
        for info in catalogue() {
            let strat = info.sample();
            for _ in 0..32 {
                let s = strat.new_tree(&mut runner).unwrap().current();
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    info.op.apply(&s.build::<RefBackend>()).to_vec::<f64>()
                }));
                if let Err(p) = r {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failures.push(format!(
                        "{}: {msg}
{s}",
                        info.name
                    ));
                    break;
                }
            }
        }
        assert!(failures.is_empty(), "{} ops panic on the reference backend:\n{}", failures.len(), failures.join("\n"));
    }
}
