//! Tensor semantics on the reference backend: views and aliasing, error
//! messages, printing.

use func_core::{DType, Error, Tensor};
use func_testkit::RefBackend;

type T = Tensor<RefBackend>;

fn panic_message(f: impl FnOnce()) -> String {
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

#[test]
fn write_through_narrow_view_changes_the_base() {
    let base = T::from_vec((0..6).map(|v| v as f32).collect(), [2, 3]);
    let v = base.narrow(1, 1, 2);
    v.mul_(&T::scalar(10.0f32));
    assert_eq!(base.to_vec::<f32>(), vec![0.0, 10.0, 20.0, 3.0, 40.0, 50.0]);
}

#[test]
fn write_through_transpose_view_changes_the_base_and_sibling_views() {
    let base = T::zeros([2, 3], DType::F64);
    let t = base.t();
    let sibling = base.select(0, 0);
    t.select(0, 2).copy_(&T::from_vec(vec![7.0f64, 8.0], [2]));
    assert_eq!(base.to_vec::<f64>(), vec![0.0, 0.0, 7.0, 0.0, 0.0, 8.0]);
    assert_eq!(sibling.to_vec::<f64>(), vec![0.0, 0.0, 7.0]);
}

#[test]
fn a_view_is_not_a_copy_but_deep_copy_is() {
    let a = T::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
    let v = a.reshape(&[4]);
    let c = a.deep_copy();
    assert!(v.shares_storage(&a));
    assert!(!c.shares_storage(&a));
    a.fill_(0.0);
    assert_eq!(v.to_vec::<f32>(), vec![0.0; 4]);
    assert_eq!(c.to_vec::<f32>(), vec![1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn a_write_through_a_broadcast_view_is_an_error_not_lost() {
    let a = T::from_vec(vec![1.0f32, 2.0], [1, 2]);
    let e = a.broadcast_to([3, 2]);
    let err = e.try_copy_(&T::ones([3, 2], DType::F32)).unwrap_err();
    assert!(err.to_string().contains("broadcast view"), "{err}");
    assert!(err.to_string().contains(".contiguous()"), "{err}");
}

#[test]
fn shape_mismatch_in_binary_op_names_op_and_both_shapes() {
    let a = T::zeros([2, 3], DType::F32);
    let b = T::zeros([4], DType::F32);
    let msg = panic_message(|| {
        let _ = &a + &b;
    });
    assert!(msg.contains("add") && msg.contains("[2, 3]") && msg.contains("[4]"), "{msg}");
    let err = a.try_mul(&b).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }));
    assert!(err.to_string().contains("mul"), "{err}");
}

#[test]
fn shape_mismatch_in_matmul_names_both_shapes() {
    let a = T::zeros([2, 3], DType::F32);
    let b = T::zeros([4, 5], DType::F32);
    let msg = panic_message(|| {
        let _ = a.matmul(&b);
    });
    assert!(msg.contains("matmul") && msg.contains("[2, 3]") && msg.contains("[4, 5]"), "{msg}");
    assert!(a.try_matmul(&b).is_err());
    assert!(a.try_matmul(&T::zeros([3, 5], DType::F32)).is_ok());
}

#[test]
fn reshape_errors_name_the_shapes() {
    let a = T::zeros([2, 3], DType::F32);
    let err = a.try_reshape(&[4, 2]).unwrap_err();
    assert!(err.to_string().contains("reshape") && err.to_string().contains("[2, 3]"), "{err}");
    let msg = panic_message(|| {
        let _ = a.reshape(&[5]);
    });
    assert!(msg.contains("reshape") && msg.contains("size 6"), "{msg}");
    assert_eq!(a.reshape(&[3, -1]).dims(), &[3, 2]);
}

#[test]
fn reshape_of_non_contiguous_copies_and_of_contiguous_views() {
    let a = T::from_vec((0..6).map(|v| v as f64).collect(), [2, 3]);
    let t = a.t();
    let flat = t.reshape(&[6]);
    assert!(!flat.shares_storage(&a));
    assert_eq!(flat.to_vec::<f64>(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    assert!(a.reshape(&[3, 2]).shares_storage(&a));
}

#[test]
fn printing_looks_like_pytorch() {
    let a = T::from_vec(vec![1.0f32, 2.5, -3.0, 4.0], [2, 2]);
    assert_eq!(a.to_string(), "tensor([[1.0000, 2.5000],\n        [-3.0000, 4.0000]])");
    let i = T::from_vec(vec![1i64, 2, 3], [3]);
    assert_eq!(i.to_string(), "tensor([1, 2, 3], dtype=i64)");
    let big = T::zeros([2000], DType::F32);
    assert!(big.to_string().contains("..."));
}

#[test]
fn item_and_to_vec() {
    let a = T::from_vec(vec![1.0f64, 2.0, 3.0], [3]);
    assert_eq!(a.sum().item::<f64>(), 6.0);
    assert!(a.try_item::<f64>().is_err());
    assert_eq!(a.to_vec::<i64>(), vec![1, 2, 3]);
}

#[test]
fn broadcasting_and_promotion() {
    let a = T::from_vec(vec![1.0f32, 2.0, 3.0], [3, 1]);
    let b = T::from_vec(vec![10i64, 20], [2]);
    let c = &a + &b;
    assert_eq!(c.dims(), &[3, 2]);
    assert_eq!(c.dtype(), DType::F32);
    assert_eq!(c.to_vec::<f32>(), vec![11.0, 21.0, 12.0, 22.0, 13.0, 23.0]);
    let d = &b / 4.0;
    assert_eq!(d.dtype(), DType::F32);
}

#[test]
fn composites_compute_what_pytorch_does() {
    let x = T::from_vec(vec![1.0f64, 2.0, 3.0], [1, 3]);
    let sm = x.softmax(-1).to_vec::<f64>();
    let z: f64 = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).sum();
    for (s, v) in sm.iter().zip([1.0f64, 2.0, 3.0]) {
        assert!((s - v.exp() / z).abs() < 1e-15);
    }
    let ce = x.cross_entropy(&T::from_vec(vec![2i64], [1])).item::<f64>();
    assert!((ce - (z.ln() - 3.0)).abs() < 1e-14);
    let var = T::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [4]).var_dims(&[], 1, false).item::<f64>();
    assert!((var - 5.0 / 3.0).abs() < 1e-15);
}
