//! Every unary op on both backends, in f64 and f32, against known values
//! from an independent source: `data/special_values.json`, computed with
//! mpmath at 256-bit precision and correctly rounded by
//! `data/special_values.py` (the script is committed; the test needs no
//! Python). The points include signed zeros, subnormals, huge values,
//! infinities, NaN, domain boundaries, erf tails and rounding ties.
//!
//! A result matches when it is within 4 units in the last place of the
//! expected value (a relative error of at most 9e-16 in f64 and 5e-7 in f32),
//! NaN where NaN is expected, the same infinity where one is expected, and a
//! zero of the expected sign where a signed zero is expected (IEEE 754:
//! `sin(-0) = -0`, `ceil(-0.5) = -0`, ...; the sign of `sign(±0)` is not
//! checked).

use func_core::{Backend, DType, Tensor, UnaryOp};
use func_testkit::RefBackend;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    op: String,
    x: String,
    f64: String,
    x32: String,
    f32: String,
}

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

/// Units in the last place allowed.
const ULPS: f64 = 4.0;

fn parse(s: &str) -> f64 {
    s.parse().unwrap_or_else(|e| panic!("special_values.json: bad float {s:?}: {e}"))
}

fn cases() -> Vec<Case> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/special_values.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let file: File = serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {path}: {e}"));
    file.cases
}

/// The spacing of `dtype` floats at `b` (finite): the gap to the next float
/// away from zero, at least the smallest subnormal.
fn ulp(b: f64, dtype: DType) -> f64 {
    if dtype == DType::F32 {
        let b = (b as f32).abs();
        let next = f32::from_bits(b.to_bits() + 1);
        if next.is_finite() { f64::from(next - b) } else { f64::from(b - f32::from_bits(b.to_bits() - 1)) }
    } else {
        let b = b.abs();
        let next = f64::from_bits(b.to_bits() + 1);
        if next.is_finite() { next - b } else { b - f64::from_bits(b.to_bits() - 1) }
    }
}

/// Why `got` does not match `want`, if it does not.
fn mismatch(op: UnaryOp, got: f64, want: f64, dtype: DType) -> Option<String> {
    if want.is_nan() {
        return (!got.is_nan()).then(|| "expected NaN".to_string());
    }
    if want.is_infinite() || got.is_nan() || got.is_infinite() {
        return (got != want).then(|| "expected exactly".to_string());
    }
    if want == 0.0 && got == 0.0 && op != UnaryOp::Sign && got.is_sign_negative() != want.is_sign_negative() {
        return Some("zero of the wrong sign".to_string());
    }
    let tol = ULPS * ulp(want, dtype);
    ((got - want).abs() > tol).then(|| format!("off by {:e} > {ULPS} ulp = {tol:e}", (got - want).abs()))
}

fn check<B: Backend>(dtype: DType) -> Vec<String> {
    let all = cases();
    let mut failures = Vec::new();
    let mut checked = 0;
    for op in UnaryOp::ALL {
        let mine: Vec<&Case> = all.iter().filter(|c| c.op == op.name()).collect();
        assert!(mine.len() >= 20, "special_values.json has only {} cases for `{}`", mine.len(), op.name());
        let (xs, want): (Vec<f64>, Vec<f64>) = match dtype {
            DType::F32 => mine.iter().map(|c| (parse(&c.x32), parse(&c.f32))).unzip(),
            _ => mine.iter().map(|c| (parse(&c.x), parse(&c.f64))).unzip(),
        };
        let n = xs.len();
        let x: Tensor<B> = match dtype {
            DType::F32 => Tensor::from_vec(xs.iter().map(|&v| v as f32).collect::<Vec<f32>>(), [n]),
            _ => Tensor::from_vec(xs.clone(), [n]),
        };
        let y = x.try_unary(op).unwrap_or_else(|e| panic!("{}({dtype}): {e}", op.name()));
        assert_eq!(y.dtype(), dtype, "{}: result dtype", op.name());
        for (i, got) in y.to_vec::<f64>().into_iter().enumerate() {
            checked += 1;
            if let Some(why) = mismatch(op, got, want[i], dtype) {
                failures.push(format!(
                    "{}({:e}) in {dtype} on {}: got {got:e}, expected {:e} ({why})",
                    op.name(),
                    xs[i],
                    B::default_instance().map_or("?", |b| b.name()),
                    want[i]
                ));
            }
        }
    }
    assert!(checked >= 16 * 20, "only {checked} values checked");
    failures
}

fn assert_known_values<B: Backend>() {
    let mut failures = check::<B>(DType::F64);
    failures.extend(check::<B>(DType::F32));
    assert!(failures.is_empty(), "{} values differ from the known values:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_reference_backend_matches_known_values() {
    assert_known_values::<RefBackend>();
}

#[test]
fn the_cpu_backend_matches_known_values() {
    assert_known_values::<func_cpu::Cpu>();
}

#[test]
fn the_comparison_rejects_a_wrong_value() {
    // One ulp off passes, five ulps off and a wrong sign of zero fail.
    let one = 1.0f64;
    assert!(mismatch(UnaryOp::Exp, f64::from_bits(one.to_bits() + 1), one, DType::F64).is_none());
    assert!(mismatch(UnaryOp::Exp, one + 5.0 * f64::EPSILON, one, DType::F64).is_some());
    assert!(mismatch(UnaryOp::Exp, f64::from(1.0f32 + 5.0 * f32::EPSILON), one, DType::F32).is_some());
    assert!(mismatch(UnaryOp::Exp, f64::from(1.0f32 + f32::EPSILON), one, DType::F32).is_none());
    assert!(mismatch(UnaryOp::Sin, 0.0, -0.0, DType::F64).is_some());
    assert!(mismatch(UnaryOp::Sign, 0.0, -0.0, DType::F64).is_none());
    assert!(mismatch(UnaryOp::Log, 0.0, f64::NAN, DType::F64).is_some());
    assert!(mismatch(UnaryOp::Exp, f64::MAX, f64::INFINITY, DType::F64).is_some());
    assert!(mismatch(UnaryOp::Sigmoid, 0.0, 3.7e-44, DType::F32).is_some());
}
