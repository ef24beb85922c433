//! The law kit as a user of func-rs runs it on their own code: a small
//! model, and custom ops with their own rules. Correct rules pass with
//! every law counted; a deliberately wrong VJP, JVP or batching rule is
//! found and reported with the law and the worst element.

use func_core::{CustomFn, DType, Tensor};
use func_cpu::Cpu;
use func_testkit::strategies::{Domain, arg, nonempty_shape};
use func_testkit::{LawOptions, UserLaw, check_custom_op, check_laws, check_laws_prop};
use proptest::prelude::*;
use std::collections::BTreeMap;

type T = Tensor<Cpu>;

fn vec(v: &[f64], shape: &[usize]) -> T {
    T::from_vec(v.to_vec(), shape.to_vec())
}

/// A 3-4-2 MLP's loss, over a map of parameters and an input batch.
fn mlp_loss((p, x): &(BTreeMap<String, T>, T)) -> T {
    let h = x.linear(&p["w1"], Some(&p["b1"])).tanh();
    h.linear(&p["w2"], Some(&p["b2"])).log_softmax(-1).select(-1, 0).mean()
}

fn mlp_inputs() -> (BTreeMap<String, T>, T) {
    let ramp = |n: usize, s: f64| -> Vec<f64> { (0..n).map(|i| ((i as f64 + 1.0) * s).sin()).collect() };
    let mut p = BTreeMap::new();
    p.insert("w1".to_string(), vec(&ramp(12, 0.7), &[4, 3]));
    p.insert("b1".to_string(), vec(&ramp(4, 1.1), &[4]));
    p.insert("w2".to_string(), vec(&ramp(8, 0.3), &[2, 4]));
    p.insert("b2".to_string(), vec(&ramp(2, 2.3), &[2]));
    (p, vec(&ramp(6, 0.9), &[2, 3]))
}

#[test]
fn a_small_model_obeys_every_law() {
    let report = check_laws(mlp_loss, &mlp_inputs(), &LawOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    for law in [
        UserLaw::Vmap,
        UserLaw::JvpFiniteDifferences,
        UserLaw::VjpJvp,
        UserLaw::JacfwdJacrev,
        UserLaw::HessianSymmetry,
        UserLaw::SecondOrder,
    ] {
        assert!(report.count(law) > 0, "{law} checked nothing: {report}");
    }
    // vmap: one loss per batch element, 3 in_dims choices.
    assert_eq!(report.count(UserLaw::Vmap), 3 * 3);
    // jacfwd/jacrev: one Jacobian row of 4*3 + 4 + 2*4 + 2 + 2*3 entries.
    assert_eq!(report.count(UserLaw::JacfwdJacrev), 12 + 4 + 8 + 2 + 6);
}

/// `x -> (sin x, cos x)` with correct rules.
fn sincos() -> CustomFn<Cpu> {
    CustomFn::new("sincos", |x: &[T]| vec![x[0].sin(), x[0].cos()])
        .with_jvp(|x, _y, t| vec![t[0].as_ref().map(|t| t * &x[0].cos()), t[0].as_ref().map(|t| -(t * &x[0].sin()))])
        .with_vjp(|x, _y, g| {
            let mut total = x[0].zeros_like();
            if let Some(g) = &g[0] {
                total = total + g * &x[0].cos();
            }
            if let Some(g) = &g[1] {
                total = total - g * &x[0].sin();
            }
            vec![Some(total)]
        })
        .with_batch(|x, batched, _n| (vec![x[0].sin(), x[0].cos()], vec![batched[0], batched[0]]))
}

fn point() -> Vec<T> {
    vec![vec(&[0.3, -1.2, 2.0, 0.7], &[2, 2])]
}

#[test]
fn correct_custom_rules_pass() {
    let report = check_custom_op(sincos().as_op(), &point(), &LawOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    // Two outputs of four elements each, for each rule.
    assert_eq!(report.count(UserLaw::CustomJvp), 8);
    assert_eq!(report.count(UserLaw::CustomVjp), 4);
    assert_eq!(report.count(UserLaw::CustomBatch), 3 * 2 * 3 * 4);
    assert!(report.count(UserLaw::JvpFiniteDifferences) > 0 && report.count(UserLaw::SecondOrder) > 0, "{report}");
}

#[test]
fn a_wrong_custom_vjp_is_found() {
    // The cotangent of cos is added instead of subtracted.
    let wrong = CustomFn::new("sincos", |x: &[T]| vec![x[0].sin(), x[0].cos()]).with_vjp(|x, _y, g| {
        let mut total = x[0].zeros_like();
        for (gi, d) in g.iter().zip([x[0].cos(), x[0].sin()]) {
            if let Some(gi) = gi {
                total = total + gi * &d;
            }
        }
        vec![Some(total)]
    });
    let e = check_custom_op(wrong.as_op(), &point(), &LawOptions::default()).unwrap_err();
    assert_eq!(e.law, UserLaw::CustomVjp, "{e}");
    assert!(e.error.is_none() && e.index.len() == 2 && (e.got - e.expected).abs() > e.tolerance, "{e}");
    let shown = e.to_string();
    assert!(
        shown.contains("custom VJP rule") && shown.contains("worst element") && shown.contains("leaf 0"),
        "{shown}"
    );
}

#[test]
fn a_wrong_batching_rule_is_found() {
    // The rule forgets that its outputs are batched along dim 0 and
    // reduces over the batch.
    let wrong = CustomFn::new("sincos", |x: &[T]| vec![x[0].sin(), x[0].cos()]).with_batch(|x, batched, _n| {
        let s = x[0].sin();
        (vec![s.sum_dims(&[0], true).broadcast_to(s.shape().clone()), x[0].cos()], vec![batched[0], batched[0]])
    });
    let e = check_custom_op(wrong.as_op(), &point(), &LawOptions::default()).unwrap_err();
    assert_eq!(e.law, UserLaw::CustomBatch, "{e}");
    assert!(e.what.contains("output 0"), "{e}");
}

#[test]
fn a_wrong_jvp_of_an_opaque_op_is_found_by_finite_differences() {
    // The forward is opaque (no derivative to compare with), and its JVP
    // rule is off by a factor of 2: finite differences find it.
    let wrong = CustomFn::opaque("double_sin", |x: &[T]| vec![x[0].sin()])
        .with_jvp(|x, _y, t| vec![t[0].as_ref().map(|t| t * &x[0].cos() * 2.0)])
        .with_vjp(|x, _y, g| vec![g[0].as_ref().map(|g| g * &x[0].cos() * 2.0)]);
    let e = check_custom_op(wrong.as_op(), &point(), &LawOptions::default()).unwrap_err();
    assert_eq!(e.law, UserLaw::JvpFiniteDifferences, "{e}");
}

#[test]
fn a_rule_that_differs_by_design_is_skipped_by_name() {
    // A straight-through estimator: round forward, identity derivative.
    let ste = CustomFn::new("round_ste", |x: &[T]| vec![x[0].round()])
        .with_jvp(|_x, _y, t| vec![t[0].clone()])
        .with_vjp(|_x, _y, g| vec![g[0].clone()]);
    let x = vec![vec(&[0.3, -1.2, 2.4, 0.7], &[4])];
    assert_eq!(check_custom_op(ste.as_op(), &x, &LawOptions::default()).unwrap_err().law, UserLaw::CustomJvp);
    let opts = LawOptions {
        skip: vec![UserLaw::CustomJvp, UserLaw::CustomVjp, UserLaw::JvpFiniteDifferences],
        ..LawOptions::default()
    };
    let report = check_custom_op(ste.as_op(), &x, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.count(UserLaw::VjpJvp) == 1 && report.count(UserLaw::JacfwdJacrev) == 16, "{report}");
}

#[test]
fn laws_hold_as_a_property_over_shapes_and_values() {
    {
        // Inputs from func-testkit's own strategies: any non-empty shape of
        // rank 1 to 2, values on the positive domain.
        let strategy = nonempty_shape(1, 2).prop_flat_map(|s| arg(s, DType::F64, Domain::Positive));
        let checked = check_laws_prop(
            strategy,
            |a| vec![a.build::<Cpu>()],
            |x: &Vec<T>| (x[0].log() * x[0].sqrt()).sum(),
            6,
            &LawOptions::default(),
        );
        assert!(checked.as_ref().is_ok_and(|n| *n > 0), "{checked:?}");
        // A wrong derivative rule is found, and the report names the law.
        let wrong = CustomFn::opaque("bad_exp", |x: &[T]| vec![x[0].exp()])
            .with_jvp(|x, _y, t| vec![t[0].as_ref().map(|t| t * &x[0].exp() * 1.01)]);
        let op = wrong.clone();
        let failed = check_laws_prop(
            nonempty_shape(1, 2).prop_flat_map(|s| arg(s, DType::F64, Domain::Finite)),
            |a| vec![a.build::<Cpu>()],
            move |x: &Vec<T>| op.call(&[&x[0]]).remove(0),
            6,
            &LawOptions { vmap: false, second_order: false, ..LawOptions::default() },
        );
        assert!(failed.as_ref().is_err_and(|e| e.contains("jvp against central differences")), "{failed:?}");
    }
}
