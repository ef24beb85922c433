//! In-place writes through views under grad, vjp and jvp. Every expected
//! value comes from torch.func (torch 2.x, float64) running the Python
//! translation quoted above each function, at the point `X5`/`X6`, with
//! cotangent 1.5 for vjp and tangent `0.5 * arange(1, n + 1)` for jvp.

use func_autodiff::{grad, jvp, vjp};
use func_core::{DType, Tensor};
use func_testkit::RefBackend;

type T = Tensor<RefBackend>;

const X5: [f64; 5] = [0.5, -1.0, 2.0, 3.0, -0.25];
const X6: [f64; 6] = [0.5, -1.0, 2.0, 3.0, -0.25, 1.25];

fn v(x: &[f64]) -> T {
    T::from_vec(x.to_vec(), [x.len()])
}

fn close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (x, y) in got.iter().zip(want) {
        assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{what}: {got:?} vs torch {want:?}");
    }
}

/// Check grad, vjp (cotangent 1.5) and jvp (tangent 0.5 * (1..=n)) of `f`
/// at `x` against torch.func's `grad` and `jvp` numbers.
fn check(f: fn(&T) -> T, x: &[f64], value: f64, grad_want: &[f64], jvp_want: f64) {
    let xt = v(x);
    close("value", &[f(&xt).item::<f64>()], &[value]);
    close("grad", &grad(f)(&xt).to_vec::<f64>(), grad_want);
    let (y, pull) = vjp(f, &xt);
    close("vjp value", &[y.item::<f64>()], &[value]);
    let scaled: Vec<f64> = grad_want.iter().map(|g| 1.5 * g).collect();
    close("vjp", &pull(&T::scalar(1.5f64)).to_vec::<f64>(), &scaled);
    let t: Vec<f64> = (1..=x.len()).map(|i| 0.5 * i as f64).collect();
    let (y, dy) = jvp(f, &xt, &v(&t));
    close("jvp value", &[y.item::<f64>()], &[value]);
    close("jvp", &[dy.item::<f64>()], &[jvp_want]);
    // The input is not mutated by any of these functions.
    assert_eq!(xt.to_vec::<f64>(), x.to_vec());
}

/// `y = x.clone(); y[1:3].mul_(2.0); return y.sum()`
fn scale_a_slice(x: &T) -> T {
    let y = x.deep_copy();
    y.slice(0, 1, 3, 1).mul_scalar_(2.0);
    y.sum()
}

#[test]
fn mul_through_a_slice_of_a_copy() {
    check(scale_a_slice, &[1.0; 5], 7.0, &[1.0, 2.0, 2.0, 1.0, 1.0], 10.0);
    check(scale_a_slice, &X5, 5.25, &[1.0, 2.0, 2.0, 1.0, 1.0], 10.0);
}

/// `y = x.clone(); v = y[1:3]; v.mul_(2.0); return (y * y).sum() + v.sin().sum()`
fn scale_a_slice_and_read_it(x: &T) -> T {
    let y = x.deep_copy();
    let view = y.slice(0, 1, 3, 1);
    view.mul_scalar_(2.0);
    &(&y * &y).sum() + &view.sin().sum()
}

#[test]
fn the_written_view_and_its_base_both_see_the_write() {
    check(
        scale_a_slice_and_read_it,
        &X5,
        27.64640007786639,
        &[1.0, -8.832293673094284, 14.692712758272776, 6.0, -0.5],
        24.45677546431488,
    );
}

/// `y = x.clone(); y[0:2] = x[3:5] * 2; return (y * y * x).sum()`
fn slice_assign_from_the_input(x: &T) -> T {
    let y = x.deep_copy();
    y.slice_assign_(0, 0, 2, 1, &(&x.slice(0, 3, 5, 1) * 2.0));
    (&(&y * &y) * x).sum()
}

#[test]
fn slice_assign_as_in_the_readme() {
    check(slice_assign_from_the_input, &X5, 52.734375, &[36.0, 0.25, 12.0, 39.0, 2.1875], 119.71875);
}

/// `y = x.clone(); r = y.reshape(2, 3); r[1].mul_(x[0:3]); return (y.sin() * x).sum()`
fn write_through_a_reshape(x: &T) -> T {
    let y = x.deep_copy();
    let r = y.reshape(&[2, 3]);
    r.select(0, 1).mul_(&x.slice(0, 0, 3, 1));
    (&y.sin() * x).sum()
}

#[test]
fn mul_through_a_reshape_view() {
    check(
        write_through_a_reshape,
        &X6,
        6.57850275788984,
        &[
            1.5548516345587156,
            -1.321216264319121,
            -1.1747831455606872,
            1.1036007891056088,
            0.4896320646821841,
            -1.4043868947633777,
        ],
        -3.0878441097542484,
    );
}

/// `y = (x * 1.5).reshape(2, 3); v = y.t()[1:3]; v.add_(v.exp()); return (y * y).sum() + v.sum()`
fn write_through_two_views(x: &T) -> T {
    let y = (x * 1.5).reshape(&[2, 3]);
    let view = y.t().slice(0, 1, 3, 1);
    view.add_(&view.exp());
    &(&y * &y).sum() + &view.sum()
}

#[test]
fn add_through_a_slice_of_a_transpose() {
    check(
        write_through_two_views,
        &X6,
        656.4889903971895,
        &[2.25, -2.850638794896408, 1491.941128941239, 13.5, 4.111700974142575, 200.71153959353077],
        2875.5999258329107,
    );
}

/// `buf = torch.zeros(5); buf[1:4] = x[0:3].sin(); return (buf * x).sum()`
fn fill_a_buffer_made_inside(x: &T) -> T {
    let buf = T::zeros([5], DType::F64);
    buf.slice(0, 1, 4, 1).copy_(&x.slice(0, 0, 3, 1).sin());
    (&buf * x).sum()
}

#[test]
fn a_buffer_created_inside_the_function_can_be_written_with_traced_values() {
    check(
        fill_a_buffer_made_inside,
        &X5,
        0.5655247722570489,
        &[-0.8775825618903728, 1.5600301503404825, -2.089911494449324, 0.9092974268256817, 0.0],
        -0.19503351862732599,
    );
}

/// `y = x.clone(); z = y.contiguous(); z.mul_(x); return y.sum()`
fn mul_into_a_contiguous_alias(x: &T) -> T {
    let y = x.deep_copy();
    let z = y.contiguous();
    z.mul_(x);
    y.sum()
}

#[test]
fn contiguous_of_a_contiguous_tracer_is_an_alias() {
    check(mul_into_a_contiguous_alias, &X5, 14.3125, &[1.0, -2.0, 4.0, 6.0, -0.5], 15.25);
}

#[test]
fn writing_a_traced_value_into_a_captured_view_stays_an_error() {
    let captured = T::zeros([4], DType::F64);
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        grad(|x: &T| {
            captured.slice(0, 0, 2, 1).copy_(x);
            x.sum()
        })(&v(&[1.0, 2.0]))
    }))
    .unwrap_err();
    let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("copy_") && msg.contains("captured Tensor"), "{msg}");
    assert_eq!(captured.to_vec::<f64>(), vec![0.0; 4]);
}

/// Rows of `X5` and a rotation of it.
fn two_rows() -> T {
    let mut r2 = X5;
    r2.rotate_left(2);
    T::stack(&[v(&X5), v(&r2)], 0)
}

#[test]
fn writes_through_views_compose_with_vmap() {
    // Per-sample gradients (vmap of grad) and the gradient of a vmapped sum
    // (grad of vmap) both equal the gradients of each row taken alone, which
    // match torch.func above.
    let xs = two_rows();
    let rows: Vec<T> = (0..2).map(|k| grad(scale_a_slice_and_read_it)(&xs.select(0, k))).collect();
    let want = T::stack(&rows, 0).to_vec::<f64>();
    let per_sample = func_batch::vmap(grad(scale_a_slice_and_read_it))(&xs);
    close("vmap(grad)", &per_sample.to_vec::<f64>(), &want);
    let of_sum = grad(|xs: &T| func_batch::vmap(scale_a_slice_and_read_it)(xs).sum())(&xs);
    close("grad(vmap)", &of_sum.to_vec::<f64>(), &want);
    let scale = |x: &T| {
        let y = x.deep_copy();
        y.slice(0, 1, 3, 1).mul_scalar_(2.0);
        y
    };
    let jac = func_testkit::jacobians::jacrev_ref(scale, &v(&X5));
    // d y / d x is diagonal with [1, 2, 2, 1, 1].
    let mut eye = vec![0.0; 25];
    for (i, d) in [1.0, 2.0, 2.0, 1.0, 1.0].iter().enumerate() {
        eye[i * 5 + i] = *d;
    }
    close("jacrev", &jac.to_vec::<f64>(), &eye);
}

/// ```python
/// y = x.clone(); d = y.detach(); y.mul_(2.0); return (d * x).sum()
/// ```
/// `d` shares `y`'s storage, so it sees the write: the value is `2 sum x^2`
/// and, `d` being constant, the gradient is `d = 2 x`.
fn write_seen_by_a_detached_view(x: &T) -> T {
    let y = x.deep_copy();
    let d = y.detach();
    y.mul_scalar_(2.0);
    (&d * x).sum()
}

#[test]
fn a_detached_view_sees_a_later_write_into_its_base_and_has_no_derivative() {
    // sum x^2 = 14.3125 at X5; jvp = sum 2 x_i * 0.5 i = sum i x_i = 15.25.
    check(write_seen_by_a_detached_view, &X5, 28.625, &[1.0, -2.0, 4.0, 6.0, -0.5], 15.25);
}

// ----- writes into the inputs reach the caller (NOTE: [inputs written back]) -----

/// `x.mul_(2); (x * x).sum()`.
fn double_then_square(x: &T) -> T {
    x.mul_scalar_(2.0);
    (x * x).sum()
}

/// `x[1:3].add_(1); x.sin().sum()`.
fn bump_a_slice_then_sin(x: &T) -> T {
    x.slice(0, 1, 3, 1).add_scalar_(1.0);
    x.sin().sum()
}

#[test]
fn jvp_writes_input_mutations_back_to_the_caller_as_torch_does() {
    // torch.func.jvp at X5 with tangent 0.5 * arange(1, 6): values and the
    // caller's tensor afterwards, from torch 2.x.
    let t = v(&[0.5, 1.0, 1.5, 2.0, 2.5]);
    let x = v(&X5);
    let (y, dy) = jvp(double_then_square, &x, &t);
    close("value", &[y.item::<f64>()], &[57.25]);
    close("tangent", &[dy.item::<f64>()], &[61.0]);
    close("x after", &x.to_vec::<f64>(), &[1.0, -2.0, 4.0, 6.0, -0.5]);
    let x = v(&X5);
    let (y, dy) = jvp(bump_a_slice_then_sin, &x, &t);
    close("value", &[y.item::<f64>()], &[0.5142615954694145]);
    close("tangent", &[dy.item::<f64>()], &[0.3960985971202393]);
    close("x after", &x.to_vec::<f64>(), &[0.5, 0.0, 3.0, 3.0, -0.25]);
}

#[test]
fn grad_gives_the_gradient_at_the_input_and_then_writes_the_mutation_back() {
    // torch.func.grad refuses an in-place write into its input; func-rs
    // differentiates the function as written and then writes the mutation
    // back, as jvp and vmap do. d/dx sum((2x)^2) = 8x.
    let x = v(&X5);
    let g = grad(double_then_square)(&x);
    close("grad", &g.to_vec::<f64>(), &X5.map(|a| 8.0 * a));
    close("x after", &x.to_vec::<f64>(), &X5.map(|a| 2.0 * a));
    // d/dx sum(sin(x + [0, 1, 1, 0, 0])) = cos(x + [0, 1, 1, 0, 0]).
    let x = v(&X5);
    let g = grad(bump_a_slice_then_sin)(&x);
    let shifted = [0.5f64, 0.0, 3.0, 3.0, -0.25];
    close("grad", &g.to_vec::<f64>(), &shifted.map(f64::cos));
    close("x after", &x.to_vec::<f64>(), &shifted);
}

#[test]
fn vjp_writes_back_and_refuses_a_backward_pass_that_needs_the_overwritten_value() {
    // The write reaches the caller at once; the backward pass would read the
    // input's old value, which is gone: an error naming the input, where
    // torch.func.vjp refuses the write itself.
    let x = v(&X5);
    let (y, vjp_fn) = func_autodiff::try_vjp(|x: &T| Ok(double_then_square(x)), &x).unwrap();
    close("value", &[y.item::<f64>()], &[57.25]);
    close("x after", &x.to_vec::<f64>(), &X5.map(|a| 2.0 * a));
    let e = vjp_fn(&T::scalar(1.5f64)).unwrap_err();
    assert!(matches!(e, func_core::Error::Transform { .. }), "{e}");
    assert!(e.to_string().contains("input 0") && e.to_string().contains("deep_copy"), "{e}");
    // A write that replaces the input without reading it leaves nothing
    // stale: the backward pass runs.
    let x = v(&X5);
    let (_, vjp_fn) = vjp(
        |x: &T| {
            x.copy_(&T::ones([5], DType::F64));
            (x * x).sum()
        },
        &x,
    );
    close("x after", &x.to_vec::<f64>(), &[1.0; 5]);
    close("vjp", &vjp_fn(&T::scalar(1.5f64)).to_vec::<f64>(), &[0.0; 5]);
}
