//! functionalize: values, input mutations, views, composition with vmap,
//! grad and jacrev, and its errors.

use func_autodiff::{grad, jvp};
// The Jacobians as vmap over vjp and jvp (the facade's jacrev and hessian
// are the same composition, one layer up).
use func_batch::vmap;
use func_core::{Backend, DType, Error, HostData, Layout, Shape, Tensor};
use func_functionalize::{Remove, functionalize, functionalize_with, try_functionalize};
use func_testkit::RefBackend;
use func_testkit::jacobians::{hessian_ref, jacrev_ref};

type T = Tensor<RefBackend>;

const MODES: [Remove; 2] = [Remove::Mutations, Remove::MutationsAndViews];

fn t(v: &[f64], shape: &[usize]) -> T {
    T::from_vec(v.to_vec(), shape.to_vec())
}

fn panic_message(f: impl FnOnce()) -> String {
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

/// torch.func's documentation example: `y = zeros(3); y.copy_(x)`.
fn doc_case(x: &T) -> T {
    let y = T::zeros([3], DType::F64);
    y.copy_(x);
    y
}

#[test]
fn the_documentation_case_fails_under_vmap_and_works_under_vmap_of_functionalize() {
    let xs = t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let msg = panic_message(|| {
        vmap(doc_case)(&xs);
    });
    assert!(msg.contains("copy_") && msg.contains("in-place operation is impossible"), "{msg}");
    assert!(msg.contains("out-of-place") && msg.contains("functionalize"), "{msg}");
    for mode in MODES {
        let ys = vmap(functionalize_with(doc_case, mode))(&xs);
        assert_eq!(ys.dims(), &[2, 3]);
        assert_eq!(ys.to_vec::<f64>(), xs.to_vec::<f64>());
    }
}

#[test]
fn an_input_mutated_inside_is_written_back_at_exit() {
    // torch.func: functionalize(f)(x) leaves x as f(x) would.
    let f = |x: &T| {
        x.add_scalar_(1.0);
        x * 2.0
    };
    for mode in MODES {
        let x = t(&[1.0, 2.0, 3.0], &[3]);
        let y = functionalize_with(f, mode)(&x);
        assert_eq!(y.to_vec::<f64>(), vec![4.0, 6.0, 8.0]);
        assert_eq!(x.to_vec::<f64>(), vec![2.0, 3.0, 4.0]);
    }
}

#[test]
fn an_unmutated_input_is_left_alone_and_a_tensor_passed_twice_is_one_tensor() {
    let f = |(a, b): &(T, T)| {
        a.mul_scalar_(3.0);
        b.sum()
    };
    let x = t(&[1.0, 2.0], &[2]);
    let other = t(&[5.0, 6.0], &[2]);
    // b sees the write through a: they are the same tensor, as eagerly.
    let s = functionalize(f)(&(x.clone(), x.clone()));
    assert_eq!(s.item::<f64>(), 9.0);
    assert_eq!(x.to_vec::<f64>(), vec![3.0, 6.0]);
    let s = functionalize(f)(&(x.clone(), other.clone()));
    assert_eq!(s.item::<f64>(), 11.0);
    assert_eq!(other.to_vec::<f64>(), vec![5.0, 6.0]);
}

#[test]
fn a_write_through_a_view_reaches_the_base_and_sibling_views() {
    // x = [1, 2, 3]; a = x[0:2]; b = x[1:3]; a.fill_(5) -> x = [5, 5, 3], b = [5, 3].
    let f = |x: &T| {
        let a = x.slice(0, 0, 2, 1);
        let b = x.slice(0, 1, 3, 1);
        a.fill_(5.0);
        let bt = b.t(); // a view of a view
        b.mul_scalar_(2.0); // x = [5, 10, 6]
        (b.sum(), bt.sum(), a.sum())
    };
    for mode in MODES {
        let x = t(&[1.0, 2.0, 3.0], &[3]);
        let (b, bt, a) = functionalize_with(f, mode)(&x);
        assert_eq!((b.item::<f64>(), bt.item::<f64>(), a.item::<f64>()), (16.0, 16.0, 15.0));
        assert_eq!(x.to_vec::<f64>(), vec![5.0, 10.0, 6.0]);
    }
}

#[test]
fn an_output_view_of_a_mutated_input_has_the_new_values() {
    let f = |x: &T| {
        let v = x.t();
        x.add_scalar_(1.0);
        v
    };
    for mode in MODES {
        let x = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
        let v = functionalize_with(f, mode)(&x);
        assert_eq!(v.to_vec::<f64>(), vec![2.0, 4.0, 3.0, 5.0]);
        assert_eq!(x.to_vec::<f64>(), vec![2.0, 3.0, 4.0, 5.0]);
    }
}

#[test]
fn a_captured_tensor_written_inside_is_written_as_without_functionalize() {
    let buf = T::zeros([2], DType::F64);
    let b = buf.clone();
    let f = move |x: &T| {
        b.copy_(&x.slice(0, 0, 2, 1));
        x.sum()
    };
    let s = functionalize(f)(&t(&[7.0, 8.0, 9.0], &[3]));
    assert_eq!(s.item::<f64>(), 24.0);
    assert_eq!(buf.to_vec::<f64>(), vec![7.0, 8.0]);
}

/// `y = copy of x; y[0:2] *= 3; sum(y * y)`: y = [3 x0, 3 x1, x2], so the
/// gradient is [18 x0, 18 x1, 2 x2].
fn scaled_square(x: &T) -> T {
    let y = x.deep_copy();
    y.slice(0, 0, 2, 1).mul_scalar_(3.0);
    (&y * &y).sum()
}

#[test]
fn grad_of_functionalize_and_functionalize_of_grad_give_torch_gradients() {
    let x = t(&[1.0, -2.0, 0.5], &[3]);
    let want = vec![18.0, -36.0, 1.0];
    for mode in MODES {
        assert_eq!(grad(functionalize_with(scaled_square, mode))(&x).to_vec::<f64>(), want);
        assert_eq!(functionalize_with(grad(scaled_square), mode)(&x).to_vec::<f64>(), want);
    }
    assert_eq!(x.to_vec::<f64>(), vec![1.0, -2.0, 0.5]);
}

#[test]
fn jvp_and_hessian_of_functionalize_see_through_view_copies() {
    // scaled_square = 9 x0^2 + 9 x1^2 + x2^2: gradient [18 x0, 18 x1, 2 x2],
    // Hessian diag(18, 18, 2). With views removed, the slice is a slice_copy,
    // whose JVP, VJP and batching rules are those of the slice.
    let x = t(&[1.0, -2.0, 0.5], &[3]);
    let tan = t(&[0.5, 1.0, -2.0], &[3]);
    for mode in MODES {
        let (y, dy) = jvp(functionalize_with(scaled_square, mode), &x, &tan);
        assert_eq!(y.item::<f64>(), 9.0 + 36.0 + 0.25);
        assert_eq!(dy.item::<f64>(), 18.0 * 0.5 - 36.0 - 2.0);
        let h = hessian_ref(functionalize_with(scaled_square, mode), &x);
        assert_eq!(h.to_vec::<f64>(), vec![18.0, 0.0, 0.0, 0.0, 18.0, 0.0, 0.0, 0.0, 2.0]);
    }
}

#[test]
fn jacrev_of_functionalize_with_a_buffer_written_through_views() {
    // y = [2 x0 + x1, 2 x1 + x2, 2 x2]: the Jacobian is [[2, 1, 0], [0, 2, 1], [0, 0, 2]].
    let g = |x: &T| {
        let y = T::zeros([3], DType::F64);
        y.copy_(x);
        y.mul_scalar_(2.0);
        y.slice(0, 0, 2, 1).add_(&x.slice(0, 1, 3, 1));
        y
    };
    let x = t(&[0.3, -1.0, 2.0], &[3]);
    let want = vec![2.0, 1.0, 0.0, 0.0, 2.0, 1.0, 0.0, 0.0, 2.0];
    for mode in MODES {
        assert_eq!(jacrev_ref(functionalize_with(g, mode), &x).to_vec::<f64>(), want);
        assert_eq!(functionalize_with(move |x: &T| jacrev_ref(g, x), mode)(&x).to_vec::<f64>(), want);
    }
}

#[test]
fn vmap_of_functionalize_writes_batched_mutations_back_to_the_batch() {
    let f = |x: &T| {
        x.slice(0, 1, 2, 1).mul_scalar_(10.0);
        x.sum()
    };
    for mode in MODES {
        let xs = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
        let s = vmap(functionalize_with(f, mode))(&xs);
        assert_eq!(s.to_vec::<f64>(), vec![21.0, 43.0]);
        assert_eq!(xs.to_vec::<f64>(), vec![1.0, 20.0, 3.0, 40.0]);
        // And functionalize of vmap.
        let xs = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
        let s = functionalize_with(vmap(f), mode)(&xs);
        assert_eq!(s.to_vec::<f64>(), vec![21.0, 43.0]);
        assert_eq!(xs.to_vec::<f64>(), vec![1.0, 20.0, 3.0, 40.0]);
    }
}

#[test]
fn functionalize_nests_in_itself() {
    let f = |x: &T| {
        x.mul_scalar_(2.0);
        x.exp().sum()
    };
    let x = t(&[0.0, 1.0], &[2]);
    let s = functionalize(functionalize_with(f, Remove::MutationsAndViews))(&x);
    assert!((s.item::<f64>() - (1.0 + 2f64.exp())).abs() < 1e-12);
    assert_eq!(x.to_vec::<f64>(), vec![0.0, 2.0]);
}

#[test]
fn writing_back_into_a_broadcast_input_is_an_error_naming_functionalize() {
    let f = try_functionalize(|x: &T| x.add_scalar_(1.0), Remove::Mutations);
    let x = t(&[1.0], &[1]).broadcast_to(Shape::from([3]));
    match f(&x) {
        Err(Error::Transform { transform, why }) => {
            assert_eq!(transform, "functionalize");
            assert!(why.contains("mutated its input 0 (shape [3])"), "{why}");
            assert!(why.contains("broadcast view") && why.contains(".contiguous()"), "{why}");
        }
        other => panic!("expected a functionalize error, got {other:?}"),
    }
}

#[test]
fn writing_through_a_broadcast_view_inside_is_an_error() {
    let f = |x: &T| {
        let v = x.broadcast_to(Shape::from([2, 3]));
        v.add_scalar_(1.0);
        x.sum()
    };
    let msg = panic_message(|| {
        functionalize(f)(&t(&[1.0, 2.0, 3.0], &[3]));
    });
    assert!(msg.contains("add_") && msg.contains("broadcast view") && msg.contains("[2, 3]"), "{msg}");
}

/// A tensor whose layout makes elements share memory: rows of length 3
/// starting one element apart (`[0 1 2]`, `[1 2 3]`), torch's `as_strided`.
fn overlapping<B: Backend>() -> Tensor<B> {
    let be = B::default_instance().unwrap();
    let storage = be.from_host(HostData::F64(vec![0.0, 1.0, 2.0, 3.0])).unwrap();
    Tensor::from_backend_storage(be, storage, Layout::new([2, 3], &[1, 1], 0)).unwrap()
}

#[test]
fn writing_through_an_overlapping_view_is_an_error_not_a_silent_loss() {
    for dst in [overlapping::<RefBackend>().to_vec::<f64>(), overlapping::<func_cpu::Cpu>().to_vec::<f64>()] {
        assert_eq!(dst, vec![0.0, 1.0, 2.0, 1.0, 2.0, 3.0]);
    }
    let x = overlapping::<RefBackend>();
    let err = x.try_copy_(&t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])).unwrap_err();
    match &err {
        Error::InvalidArgument { op, why } => {
            assert_eq!(op, "copy_");
            assert!(why.contains("overlapping view") && why.contains("strides [1, 1]"), "{why}");
            assert!(why.contains(".contiguous()"), "{why}");
        }
        other => panic!("expected an invalid-argument error, got {other:?}"),
    }
    // The in-place arithmetic path and the CPU backend refuse it too.
    let msg = panic_message(|| overlapping::<func_cpu::Cpu>().add_scalar_(1.0));
    assert!(msg.contains("add_") && msg.contains("overlapping view"), "{msg}");
    // Under functionalize, the write-back into the caller's tensor fails.
    let f = try_functionalize(|x: &T| x.mul_scalar_(2.0), Remove::Mutations);
    let err = f(&overlapping::<RefBackend>()).unwrap_err();
    assert!(err.to_string().contains("functionalize") && err.to_string().contains("overlapping view"), "{err}");
    // Reading it and writing a contiguous copy are fine.
    let c = overlapping::<RefBackend>().contiguous();
    c.add_scalar_(1.0);
    assert_eq!(c.to_vec::<f64>(), vec![1.0, 2.0, 3.0, 2.0, 3.0, 4.0]);
}

#[test]
fn a_view_copy_of_a_primitive_that_is_no_view_is_an_error() {
    let bad = func_core::Primitive::ViewCopy(Box::new(func_core::Primitive::Matmul));
    let a = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    match func_core::bind(bad, &[&a, &a]) {
        Err(Error::InvalidArgument { op, why }) => {
            assert_eq!(op, "view_copy");
            assert!(why.contains("`matmul` is not a view primitive") && why.contains("Primitive::view_copy"), "{why}");
        }
        other => panic!("expected an invalid-argument error, got {other:?}"),
    }
    // The copying form of a view materialises it: no storage is shared.
    let slice = func_core::Primitive::view_copy(func_core::Primitive::Slice { axis: 1, start: 1, stop: 2, step: 1 });
    let c = func_core::bind(slice.expect("slice is a view"), &[&a]).unwrap();
    assert_eq!(c.to_vec::<f64>(), vec![2.0, 4.0]);
    assert!(!c.shares_storage(&a) && c.layout().is_contiguous());
}

#[test]
fn writing_a_batched_value_back_into_an_unbatched_input_is_an_error_at_exit() {
    // Inside functionalize the write is a rebinding; at exit it has to reach
    // the caller's tensor, which vmap does not batch: torch.func fails the
    // same way.
    let f = |(a, x): &(T, T)| {
        a.add_(x);
        a.sum()
    };
    let opts = func_batch::VmapOptions::new().in_dims((None, Some(0)));
    let a = t(&[1.0, 2.0], &[2]);
    let xs = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
    let msg = panic_message(|| {
        func_batch::vmap_with(functionalize(f), opts)(&(a.clone(), xs.clone()));
    });
    assert!(msg.starts_with("functionalize: the function mutated its input 0 (shape [2])"), "{msg}");
    assert!(msg.contains("vmap: copy_(self, other): the in-place operation is impossible"), "{msg}");
    assert_eq!(a.to_vec::<f64>(), vec![1.0, 2.0]);
}
