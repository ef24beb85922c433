//! Input that torch rejects is rejected here too, with a message naming the
//! operation, the offending value and the fix; and NaN propagates where
//! torch propagates it. Expected values are torch's.

use func_core::{DType, Tensor};
use func_testkit::RefBackend;

type T = Tensor<RefBackend>;

fn panic_message(f: impl FnOnce()) -> String {
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

fn idx(v: &[i64]) -> T {
    T::from_vec(v.to_vec(), [v.len()])
}

fn bools(v: &[bool]) -> T {
    T::from_vec(v.to_vec(), [v.len()])
}

// ----- one_hot -----------------------------------------------------------------------------------

#[test]
fn one_hot_in_range_matches_torch() {
    // torch.nn.functional.one_hot(torch.tensor([2, 0]), 3)
    let y = idx(&[2, 0]).one_hot(3, DType::F32);
    assert_eq!(y.dims(), &[2, 3]);
    assert_eq!(y.to_vec::<f32>(), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
}

#[test]
fn one_hot_class_not_smaller_than_num_classes_is_an_error() {
    // torch: "Class values must be smaller than num_classes."
    let err = idx(&[0, 3]).try_one_hot(3, DType::F32).unwrap_err().to_string();
    assert!(err.contains("one_hot") && err.contains("class value 3") && err.contains("num_classes (3)"), "{err}");
    let msg = panic_message(|| {
        idx(&[7]).one_hot(3, DType::I64);
    });
    assert!(msg.contains("one_hot") && msg.contains("class value 7"), "{msg}");
}

#[test]
fn one_hot_negative_class_is_an_error() {
    // torch: "Class values must be non-negative."
    let err = idx(&[0, -1]).try_one_hot(3, DType::F32).unwrap_err().to_string();
    assert!(err.contains("one_hot") && err.contains("class value -1") && err.contains("non-negative"), "{err}");
}

// ----- expand ------------------------------------------------------------------------------------

#[test]
fn expand_keeps_sizes_with_minus_one() {
    let x = T::from_vec(vec![1.0f64, 2.0], [2, 1]);
    let y = x.expand(&[-1, 3]);
    assert_eq!(y.dims(), &[2, 3]);
    assert_eq!(y.to_vec::<f64>(), vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    let z = T::from_vec(vec![1.0f64, 2.0, 3.0], [3]).expand(&[2, -1]);
    assert_eq!(z.dims(), &[2, 3]);
}

#[test]
fn expand_negative_leading_size_is_an_error() {
    // torch: "The expanded size of the tensor (-5) isn't allowed in a leading, non-existing dimension 0"
    let x = T::zeros([3], DType::F32);
    let err = x.try_expand(&[-5, 3]).unwrap_err().to_string();
    assert!(
        err.contains("expand") && err.contains("(-5)") && err.contains("leading, non-existing dimension 0"),
        "{err}"
    );
    // -1 too is only for existing dimensions.
    let err = x.try_expand(&[-1, 3]).unwrap_err().to_string();
    assert!(err.contains("(-1)") && err.contains("leading"), "{err}");
    let msg = panic_message(|| {
        x.expand(&[-5, 3]);
    });
    assert!(msg.contains("(-5)"), "{msg}");
}

#[test]
fn expand_negative_size_of_an_existing_dimension_is_an_error() {
    let x = T::zeros([2, 1], DType::F32);
    let err = x.try_expand(&[2, -5]).unwrap_err().to_string();
    assert!(
        err.contains("expand") && err.contains("(-5)") && err.contains(">= 0") && err.contains("dimension 1"),
        "{err}"
    );
}

#[test]
fn expand_with_fewer_sizes_than_dimensions_is_an_error() {
    let err = T::zeros([2, 3], DType::F32).try_expand(&[3]).unwrap_err().to_string();
    assert!(err.contains("expand") && err.contains("number of sizes provided (1)"), "{err}");
}

// ----- arange ------------------------------------------------------------------------------------

#[test]
fn arange_with_a_step_matches_torch() {
    // torch.arange(0, 1, 0.25) and torch.arange(3, 0, -1)
    assert_eq!(T::try_arange(0.0, 1.0, 0.25, DType::F64).unwrap().to_vec::<f64>(), vec![0.0, 0.25, 0.5, 0.75]);
    assert_eq!(T::try_arange(3.0, 0.0, -1.0, DType::F64).unwrap().to_vec::<f64>(), vec![3.0, 2.0, 1.0]);
}

#[test]
fn arange_non_finite_bounds_are_errors() {
    // torch: "unsupported range: 0 -> nan" / "unsupported range: 0 -> inf"
    for (start, end) in [(0.0, f64::NAN), (0.0, f64::INFINITY), (f64::NEG_INFINITY, 0.0), (f64::NAN, 1.0)] {
        let err = T::try_arange(start, end, 1.0, DType::F32).unwrap_err().to_string();
        assert!(err.contains("arange") && err.contains("unsupported range") && err.contains("finite"), "{err}");
    }
}

#[test]
fn arange_bad_steps_are_errors() {
    // torch: "step must be nonzero"; "step must be finite but got nan"
    let err = T::try_arange(0.0, 5.0, 0.0, DType::F32).unwrap_err().to_string();
    assert!(err.contains("arange") && err.contains("step must be nonzero"), "{err}");
    let err = T::try_arange(0.0, 5.0, f64::NAN, DType::F32).unwrap_err().to_string();
    assert!(err.contains("arange") && err.contains("step must be a finite number"), "{err}");
    let err = T::try_arange(0.0, 5.0, f64::INFINITY, DType::F32).unwrap_err().to_string();
    assert!(err.contains("step must be a finite number"), "{err}");
    // torch: "upper bound and lower bound inconsistent with step sign"
    let err = T::try_arange(0.0, 5.0, -1.0, DType::F32).unwrap_err().to_string();
    assert!(err.contains("arange") && err.contains("inconsistent with step sign") && err.contains("positive"), "{err}");
}

// ----- bool arithmetic ---------------------------------------------------------------------------

#[test]
fn bool_add_and_mul_are_logical_or_and_and() {
    // torch: a + b and a * b of bool tensors are bool (or / and); so are maximum / minimum.
    let a = bools(&[true, false, true, false]);
    let b = bools(&[true, true, false, false]);
    let sum = &a + &b;
    assert_eq!(sum.dtype(), DType::Bool);
    assert_eq!(sum.to_vec::<bool>(), vec![true, true, true, false]);
    let prod = &a * &b;
    assert_eq!(prod.dtype(), DType::Bool);
    assert_eq!(prod.to_vec::<bool>(), vec![true, false, false, false]);
    assert_eq!(a.maximum(&b).to_vec::<bool>(), vec![true, true, true, false]);
    assert_eq!(a.minimum(&b).to_vec::<bool>(), vec![true, false, false, false]);
    // Broadcasting still applies.
    let col = T::from_vec(vec![true, false], [2, 1]);
    let grid = &col + &bools(&[false, true]);
    assert_eq!(grid.dtype(), DType::Bool);
    assert_eq!(grid.to_vec::<bool>(), vec![true, true, false, true]);
}

#[test]
fn bool_div_is_true_division() {
    // torch: a / b of bool tensors is float: [1, 0, inf, nan].
    let q = bools(&[true, false, true, false]) / bools(&[true, true, false, false]);
    assert!(q.dtype().is_float());
    let v = q.to_vec::<f64>();
    assert_eq!(&v[..3], &[1.0, 0.0, f64::INFINITY]);
    assert!(v[3].is_nan());
}

#[test]
fn bool_sub_is_an_error() {
    // torch: "Subtraction, the `-` operator, with two bool tensors is not supported."
    let a = bools(&[true, false]);
    let err = a.try_sub(&bools(&[false, false])).unwrap_err().to_string();
    assert!(err.contains("sub") && err.contains("two bool tensors") && err.contains("logical_not"), "{err}");
    let msg = panic_message(|| {
        let _ = &a - &a;
    });
    assert!(msg.contains("two bool tensors"), "{msg}");
}

#[test]
fn bool_neg_and_pow_are_errors() {
    // torch: "Negation, the `-` operator, on a bool tensor is not supported."; pow not implemented for 'Bool'.
    let a = bools(&[true, false]);
    let err = a.try_unary(func_core::UnaryOp::Neg).unwrap_err().to_string();
    assert!(err.contains("neg") && err.contains("bool tensor") && err.contains("logical_not"), "{err}");
    let err = a.try_binary(func_core::BinaryOp::Pow, &a).unwrap_err().to_string();
    assert!(err.contains("pow") && err.contains("bool"), "{err}");
}

#[test]
fn logical_not_inverts_a_mask() {
    assert_eq!(bools(&[true, false]).logical_not().to_vec::<bool>(), vec![false, true]);
    assert_eq!(T::from_vec(vec![0.0f32, 2.0], [2]).logical_not().to_vec::<bool>(), vec![true, false]);
}

// ----- cross_entropy / nll_loss targets ---------------------------------------------------------

#[test]
fn cross_entropy_target_out_of_range_names_the_target_and_the_class_count() {
    // torch: "Target 12 is out of bounds."
    let logits = T::zeros([2, 5], DType::F32);
    let msg = panic_message(|| {
        logits.cross_entropy(&idx(&[1, 12]));
    });
    assert!(msg.contains("cross_entropy") && msg.contains("Target 12 is out of bounds"), "{msg}");
    assert!(msg.contains("5 classes") && !msg.contains("gather"), "{msg}");
    let msg = panic_message(|| {
        logits.cross_entropy(&idx(&[-1, 0]));
    });
    assert!(msg.contains("Target -1 is out of bounds"), "{msg}");
    let msg = panic_message(|| {
        logits.log_softmax(-1).nll_loss(&idx(&[5, 0]));
    });
    assert!(msg.contains("nll_loss") && msg.contains("Target 5 is out of bounds"), "{msg}");
}

#[test]
fn cross_entropy_in_range_matches_torch() {
    // torch: F.cross_entropy(torch.zeros(2, 5), torch.tensor([1, 4])) == ln 5
    let l = T::zeros([2, 5], DType::F64).cross_entropy(&idx(&[1, 4]));
    assert!((l.item::<f64>() - 5f64.ln()).abs() < 1e-12);
}

// ----- norm with NaN -----------------------------------------------------------------------------

#[test]
fn norm_of_a_tensor_with_nan_is_nan() {
    // torch.tensor([1., nan, 3.]).norm() is nan; so are vector_norm with p = 1, 3 and inf.
    let x = T::from_vec(vec![1.0f64, f64::NAN, 3.0], [3]);
    assert!(x.norm().item::<f64>().is_nan());
    for p in [1.0, 2.0, 3.0, f64::INFINITY] {
        assert!(x.norm_dims(p, &[], false).item::<f64>().is_nan(), "p = {p}");
    }
    // Rows without NaN are unaffected.
    let m = T::from_vec(vec![3.0f64, 4.0, f64::NAN, 0.0], [2, 2]);
    let n = m.norm_dims(2.0, &[1], false).to_vec::<f64>();
    assert_eq!(n[0], 5.0);
    assert!(n[1].is_nan());
}

#[test]
fn norm_of_zeros_is_zero() {
    assert_eq!(T::zeros([3], DType::F64).norm().item::<f64>(), 0.0);
    assert_eq!(T::zeros([3], DType::F64).norm_dims(3.0, &[], false).item::<f64>(), 0.0);
}

// ----- clamp with NaN ----------------------------------------------------------------------------

#[test]
fn clamp_keeps_nan_and_gives_max_when_min_exceeds_max() {
    // torch.clamp([nan, -1, .5, 0, 5, 1, 2], 0, 1) -> [nan, 0, .5, 0, 1, 1, 1]
    let x = T::from_vec(vec![f64::NAN, -1.0, 0.5, 0.0, 5.0, 1.0, 2.0], [7]);
    let y = x.clamp(Some(0.0), Some(1.0)).to_vec::<f64>();
    assert!(y[0].is_nan());
    assert_eq!(&y[1..], &[0.0, 0.5, 0.0, 1.0, 1.0, 1.0]);
    // torch.clamp(x, min=2, max=1) -> [nan, 1, 1, 1, 1, 1, 1]
    let y = x.clamp(Some(2.0), Some(1.0)).to_vec::<f64>();
    assert!(y[0].is_nan());
    assert_eq!(&y[1..], &[1.0; 6]);
    let y = x.clamp(None, Some(1.0)).to_vec::<f64>();
    assert_eq!(&y[1..], &[-1.0, 0.5, 0.0, 1.0, 1.0, 1.0]);
    let i = T::from_vec(vec![-3i64, 4, 9], [3]).clamp(Some(0.0), Some(5.0));
    assert_eq!(i.to_vec::<i64>(), vec![0, 4, 5]);
}
