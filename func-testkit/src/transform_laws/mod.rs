//! The transform laws, for every catalogue op, in f64:
//!
//! - **vmap**: `vmap(f)(X)` equals stacking `f` over the slices of `X`, for
//!   every in_dim choice in {0, -1, None} per data argument, and the batched
//!   inputs are mutated as the slices are by the per-slice calls; two nested
//!   levels (values and mutations); chunked equals unchunked.
//! - **jvp** equals central finite differences (samples where two step sizes
//!   disagree sit on a kink and are skipped);
//! - **vjp** satisfies `<u, J v> = <J^T u, v>` against jvp;
//! - **jacfwd** equals **jacrev**; **Hessians** are symmetric;
//! - **second order**: the inner-product law for jvp of vjp.
//!
//! Integer parameters of an op (dims, sizes, seeds) are read on the host by
//! the op and stay unbatched and undifferentiated; integer data (gather
//! indices) is batched but not differentiated. The derivative laws take other
//! integer and bool data as f64 values and replace NaNs and infinities by
//! finite values; Jacobians and Hessians too big to build whole are checked
//! on a subspace of a few input directions and output projections.
//!
//! Each law counts the samples it really checked per op (a law skips a
//! sample on a kink, a non-finite output or an empty input); an op must be
//! checked by every law that applies to it on at least half the samples
//! tried ([`minimum_checks`], with the exemptions it lists).

use crate::catalogue::{Law, OpInfo, catalogue};
use crate::derivatives::{hessian_matrix, jacobian_pairs, probe, second_order_products, vjp_jvp_products};
use crate::strategies::{ArgSpec, Sample};
use func_autodiff::jvp;
use func_batch::{Dims, VmapOptions, try_vmap};
use func_core::{Backend, DType, Tensor};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::collections::BTreeMap;

mod autodiff;
mod vmap;

pub use autodiff::check_autodiff_sample;
use vmap::{CHUNKED_EVERY, NESTED_SAMPLES};
pub use vmap::{check_nested_vmap_sample, check_vmap_sample};

/// An argument for the derivative laws: in f64 (integer and bool data as
/// its values), its NaNs and infinities replaced by finite values (the vmap
/// laws keep them), since derivatives are checked where the function is
/// finite.
fn differentiable(a: &ArgSpec) -> ArgSpec {
    let mut a = a.clone();
    a.dtype = DType::F64;
    for v in &mut a.data {
        if v.is_nan() {
            *v = 0.25;
        } else if v.is_infinite() {
            *v = 3.0f64.copysign(*v);
        }
    }
    a
}

fn to_f64(a: &ArgSpec) -> ArgSpec {
    let mut a = a.clone();
    if a.dtype == DType::F32 {
        a.dtype = DType::F64;
    }
    a
}

/// The same argument with its elements rotated by `k` (same domain, same
/// index ranges, different values).
fn rotated(a: &ArgSpec, k: usize) -> ArgSpec {
    let mut a = a.clone();
    if !a.data.is_empty() {
        let r = k % a.data.len();
        a.data.rotate_left(r);
    }
    a
}

pub(crate) fn close(what: &str, a: &Tensor<impl Backend>, b: &Tensor<impl Backend>, tol: f64) -> Result<(), String> {
    if a.dims() != b.dims() {
        return Err(format!("{what}: shape {} vs {}", a.shape(), b.shape()));
    }
    close_slices(what, &a.to_vec::<f64>(), &b.to_vec::<f64>(), tol).map_err(|e| format!("{e} (shape {})", a.shape()))
}

/// `x` matches the expected `y` element by element, to `tol` times the
/// largest finite magnitude of `y` (plus one); NaN matches NaN.
pub(crate) fn close_slices(what: &str, x: &[f64], y: &[f64], tol: f64) -> Result<(), String> {
    if x.len() != y.len() {
        return Err(format!("{what}: {} elements vs {}", x.len(), y.len()));
    }
    let scale = 1.0 + y.iter().filter(|v| v.is_finite()).fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (p, q)) in x.iter().zip(y).enumerate() {
        let same = p == q || (p.is_nan() && q.is_nan());
        let within = (p - q).abs() <= tol * scale;
        if !same && !within {
            return Err(format!("{what}: element {i} is {p}, expected {q}"));
        }
    }
    Ok(())
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(Config { cases, ..Config::default() }, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

fn samples(info: &OpInfo, cases: u32) -> Vec<Sample> {
    let mut r = runner(cases);
    let strat = info.sample();
    (0..cases).filter_map(|_| strat.new_tree(&mut r).ok().map(|t| t.current())).collect()
}

fn describe(s: &Sample) -> String {
    s.args.iter().map(|a| format!("{}{:?} {:?}", a.dtype, a.shape, a.view)).collect::<Vec<_>>().join(", ")
}

/// Run `f`, turning a panic into an error message.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// Default number of samples per op for the transform laws.
pub const TRANSFORM_CASES: u32 = 32;

/// Run the vmap and derivative laws for every catalogue op on backend `B`.
///
/// # Panics
///
/// On the first op whose law fails, naming the op, the sample and the law.
pub fn check_transforms<B: Backend>() {
    check_transforms_with::<B>(TRANSFORM_CASES)
}

/// [`check_transforms`] with `cases` samples per op.
///
/// Every law must be checked on at least half of the samples it is tried on
/// ([`minimum_checks`]) for every op it applies to; samples a law skips (a
/// kink for finite differences, a non-finite input or output, a Jacobian
/// too big to build) count against that minimum.
///
/// # Panics
///
/// On the first op whose law fails, or on an op a law checked fewer times
/// than its minimum (with the counts).
pub fn check_transforms_with<B: Backend>(cases: u32) {
    let checked = run_laws::<B>(&catalogue(), cases).unwrap_or_else(|e| panic!("{e}"));
    assert!(checked > 100, "only {checked} ops were checked");
}

/// Run the laws on `infos`, `cases` samples each, returning the number of
/// ops checked, or a report of the failures and of the laws checked too
/// rarely. With the environment variable `FUNC_TRANSFORM_COUNTS` set, print
/// how many samples each law checked per op (in [`Law::ALL`] order).
fn run_laws<B: Backend>(infos: &[OpInfo], cases: u32) -> Result<usize, String> {
    let mut failures = Vec::new();
    let mut too_few = Vec::new();
    let mut checked = 0;
    let report = std::env::var_os("FUNC_TRANSFORM_COUNTS").is_some();
    for info in infos {
        // Random ops are covered by vmap's randomness tests; the "_large"
        // entries exist to reach the backends' parallel kernels.
        if info.random || info.name.ends_with("_large") {
            continue;
        }
        checked += 1;
        let samples = samples(info, cases);
        assert!(samples.len() as u32 == cases, "{}: the sample strategy failed", info.name);
        let mut counts: BTreeMap<Law, u32> = BTreeMap::new();
        let mut failed = false;
        for (k, s) in samples.iter().enumerate() {
            let r = guarded(|| {
                let mut laws = check_vmap_sample::<B>(info, s, k)?;
                if k < NESTED_SAMPLES {
                    laws.extend(check_nested_vmap_sample::<B>(info, s)?);
                }
                laws.extend(check_autodiff_sample::<B>(info, s)?);
                Ok::<_, String>(laws)
            });
            match r {
                Ok(Ok(laws)) => laws.into_iter().for_each(|l| *counts.entry(l).or_default() += 1),
                Err(e) | Ok(Err(e)) => {
                    failures.push(format!("{}: {e}\n  sample: {}", info.name, describe(s)));
                    failed = true;
                    break;
                }
            }
        }
        if report {
            let row: Vec<String> = Law::ALL.iter().map(|l| counts.get(l).copied().unwrap_or(0).to_string()).collect();
            eprintln!("{:24} {}", info.name, row.join(" "));
        }
        if failed {
            continue;
        }
        for law in Law::ALL {
            let got = counts.get(&law).copied().unwrap_or(0);
            match minimum_checks(info, law, cases) {
                Requirement::AtLeast(min) if got < min => too_few.push(format!(
                    "{}: law `{}` checked on {got} samples, fewer than the minimum {min} (of {} tried)",
                    info.name,
                    law.name(),
                    tried(law, cases)
                )),
                Requirement::AtLeast(_) => {}
                Requirement::Exempt(_) => {}
            }
        }
    }
    if !failures.is_empty() {
        return Err(format!("{} ops fail the transform laws:\n{}", failures.len(), failures.join("\n")));
    }
    if !too_few.is_empty() {
        return Err(format!(
            "{} (op, law) pairs were checked too rarely: samples were skipped (see `minimum_checks`):\n{}",
            too_few.len(),
            too_few.join("\n")
        ));
    }
    Ok(checked)
}

/// The number of samples `law` is tried on, of `cases`.
fn tried(law: Law, cases: u32) -> u32 {
    match law {
        Law::NestedVmap => cases.min(NESTED_SAMPLES as u32),
        Law::ChunkedVmap => cases.div_ceil(CHUNKED_EVERY as u32),
        _ => cases,
    }
}

/// How often [`check_transforms_with`] requires a law to be checked for an
/// op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// On at least this many samples.
    AtLeast(u32),
    /// Never (the law does not apply), for the reason given.
    Exempt(&'static str),
}

/// How many of `cases` samples `law` must check for `info`: half of the
/// samples it is tried on (rounded up), except for these exemptions:
/// - ops without a data argument (factories) have nothing to batch or
///   differentiate;
/// - non-differentiable ops (piecewise constant, integer or bool results,
///   fills) have no derivative laws;
/// - an op's own [`exemptions`](OpInfo::exemptions), each with its reason
///   (such a law is not run for that op at all).
pub fn minimum_checks(info: &OpInfo, law: Law, cases: u32) -> Requirement {
    if info.is_factory() {
        return Requirement::Exempt("a factory: no data argument to batch or differentiate");
    }
    if law.is_derivative() && !info.differentiable {
        return Requirement::Exempt("not differentiable (piecewise constant, integer or bool result, or a fill)");
    }
    if let Some((_, why)) = info.exemptions.iter().find(|(l, _)| *l == law) {
        return Requirement::Exempt(why);
    }
    Requirement::AtLeast(tried(law, cases).div_ceil(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{Op, Scale};
    use crate::strategies::ViewKind;
    use func_core::UnaryOp;
    use proptest::strategy::Just;

    fn fixed(name: &'static str, op: Op, data: Vec<f64>) -> OpInfo {
        let n = data.len();
        let arg = ArgSpec::new(vec![n], data, DType::F64, ViewKind::Contiguous);
        OpInfo::new(name, op, true, Scale::Elementwise, move || Just(Sample::new(vec![arg.clone()])).boxed())
    }

    #[test]
    fn a_law_that_skips_every_sample_fails_with_the_counts() {
        // log of negative numbers is NaN: every derivative law skips.
        let info = fixed("log_of_negatives", Op::Unary(UnaryOp::Log), vec![-1.0, -2.0, -3.0]);
        let err = run_laws::<crate::RefBackend>(&[info], 8).unwrap_err();
        for law in [Law::JvpFiniteDifferences, Law::VjpJvp, Law::JacfwdJacrev, Law::HessianSymmetry, Law::SecondOrder] {
            let line = format!(
                "log_of_negatives: law `{}` checked on 0 samples, fewer than the minimum 4 (of 8 tried)",
                law.name()
            );
            assert!(err.contains(&line), "{err}");
        }
        assert!(!err.contains("`vmap vs a loop`"), "{err}");
        // relu at a kink: finite differences skip every sample.
        let info = fixed("relu_at_zero", Op::Unary(UnaryOp::Relu), vec![0.0, 0.0]);
        let err = run_laws::<crate::RefBackend>(&[info], 8).unwrap_err();
        assert!(err.contains("relu_at_zero: law `jvp vs finite differences` checked on 0 samples"), "{err}");
        assert!(!err.contains("<u, J v>"), "{err}");
        // A smooth op on ordinary values passes every law.
        let info = fixed("sin", Op::Unary(UnaryOp::Sin), vec![0.5, -1.25, 2.0]);
        assert_eq!(run_laws::<crate::RefBackend>(&[info], 8), Ok(1));
    }

    #[test]
    fn minimums_are_half_the_samples_tried_except_exemptions() {
        let all = catalogue();
        let get = |name: &str| all.iter().find(|i| i.name == name).unwrap();
        assert_eq!(minimum_checks(get("matmul"), Law::JacfwdJacrev, 32), Requirement::AtLeast(16));
        assert_eq!(minimum_checks(get("matmul"), Law::NestedVmap, 32), Requirement::AtLeast(1));
        assert_eq!(minimum_checks(get("matmul"), Law::ChunkedVmap, 32), Requirement::AtLeast(4));
        assert_eq!(minimum_checks(get("floor"), Law::Vmap, 32), Requirement::AtLeast(16));
        assert!(matches!(minimum_checks(get("floor"), Law::VjpJvp, 32), Requirement::Exempt(_)));
        assert!(matches!(minimum_checks(get("eye"), Law::Vmap, 32), Requirement::Exempt(_)));
        // In-place writes through views are differentiated like any op.
        assert_eq!(minimum_checks(get("fill_diagonal"), Law::SecondOrder, 32), Requirement::AtLeast(16));
        assert!(matches!(minimum_checks(get("cast_f32"), Law::JvpFiniteDifferences, 32), Requirement::Exempt(_)));
        assert_eq!(minimum_checks(get("cast_f32"), Law::VjpJvp, 32), Requirement::AtLeast(16));
    }
}
