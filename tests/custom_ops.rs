//! Custom ops with their own rules, and stop_gradient, under every
//! transform: the rules given, the rules derived from a Tensor-op forward,
//! and the errors for rules that can be neither given nor derived.
//! Expected values are closed forms (sigmoid(x) for d/dx log(1 + e^x), ...).

use func::{hessian, jacfwd, jacrev};
use func_autodiff::{grad, jvp, try_jvp, vjp};
use func_batch::{VmapOptions, try_vmap, vmap};
use func_core::{CustomFn, Primitive, Tensor, bind};
use func_testkit::custom_examples::{clip_gradient, log1pexp, round_ste};
use func_testkit::{RefBackend, record_primitives};

type B = RefBackend;
type T = Tensor<B>;

fn v(x: &[f64]) -> T {
    T::from_vec(x.to_vec(), [x.len()])
}

fn close(a: &T, b: &[f64]) {
    let got = a.to_vec::<f64>();
    assert_eq!(got.len(), b.len(), "{got:?} vs {b:?}");
    for (x, y) in got.iter().zip(b) {
        assert!((x - y).abs() < 1e-12 * (1.0 + y.abs()), "{got:?} vs {b:?}");
    }
}

fn panic_message(f: impl FnOnce()) -> String {
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn one(op: &CustomFn<B>, x: &T) -> T {
    op.call(&[x]).remove(0)
}

// ----- log1pexp: a custom JVP -------------------------------------------------------------------

#[test]
fn log1pexp_gradient_is_finite_where_the_naive_one_is_nan() {
    // In f32, e^100 overflows: the naive derivative is 0 * inf = NaN.
    let x = T::from_vec(vec![-3.0f32, 0.0, 2.0, 100.0], [4]);
    let naive = grad(|x: &T| x.exp().log1p().sum())(&x);
    assert!(naive.to_vec::<f32>()[3].is_nan(), "the naive derivative at 100 is NaN in f32");
    let op = log1pexp::<B>();
    let g = grad(move |x: &T| one(&op, x).sum())(&x).to_vec::<f32>();
    let expected = [sigmoid(-3.0), 0.5, sigmoid(2.0), 1.0];
    for (a, e) in g.iter().zip(expected) {
        assert!((f64::from(*a) - e).abs() < 1e-6, "{g:?} vs {expected:?}");
    }
    // In f64 the custom rule is also exact at 100 and beyond.
    let op = log1pexp::<B>();
    close(&grad(move |x: &T| one(&op, x).sum())(&v(&[100.0, 800.0])), &[1.0, 1.0]);
}

#[test]
fn log1pexp_forward_mode_uses_the_rule_and_reverse_mode_transposes_it() {
    let op = log1pexp::<B>();
    let x = v(&[0.5, 100.0]);
    let t = v(&[2.0, -1.0]);
    let o = op.clone();
    let (y, dy) = jvp(move |x: &T| one(&o, x), &x, &t);
    close(&y, &[(1.0 + 0.5f64.exp()).ln(), 100.0]);
    close(&dy, &[2.0 * sigmoid(0.5), -1.0]);
    let o = op.clone();
    let (_, back) = vjp(move |x: &T| one(&o, x), &x);
    close(&back(&t), &[2.0 * sigmoid(0.5), -1.0]);
    let o = op.clone();
    close(&jacrev(move |x: &T| one(&o, x))(&x).reshape(&[-1]), &[sigmoid(0.5), 0.0, 0.0, 1.0]);
    let o = op.clone();
    close(&jacfwd(move |x: &T| one(&o, x))(&x).reshape(&[-1]), &[sigmoid(0.5), 0.0, 0.0, 1.0]);
}

#[test]
fn log1pexp_hessian_and_vmap() {
    let op = log1pexp::<B>();
    let x = v(&[0.5, -1.0]);
    let o = op.clone();
    let h = hessian(move |x: &T| one(&o, x).sum())(&x);
    let d = |x: f64| sigmoid(x) * (1.0 - sigmoid(x));
    close(&h.reshape(&[-1]), &[d(0.5), 0.0, 0.0, d(-1.0)]);
    let xs = T::from_vec(vec![0.5f64, -1.0, 2.0, 100.0], [2, 2]);
    let o = op.clone();
    let g = vmap(grad(move |x: &T| one(&o, x).sum()))(&xs);
    close(&g, &[sigmoid(0.5), sigmoid(-1.0), sigmoid(2.0), 1.0]);
    // The forward is batched by its own rules (no batching rule given),
    // and the op is seen as one primitive by an enclosing transform.
    let o = op.clone();
    let (y, names) = record_primitives(move |x: &T| one(&o, x), &xs);
    assert_eq!(names, vec!["log1pexp"]);
    close(&vmap(move |x: &T| one(&op, x))(&xs), &y.to_vec::<f64>());
}

// ----- straight-through estimator and clip_gradient ---------------------------------------------

#[test]
fn straight_through_round_has_identity_derivatives() {
    let op = round_ste::<B>();
    let x = v(&[0.4, 1.6, -2.5]);
    let o = op.clone();
    close(&one(&o, &x), &[0.0, 2.0, -2.0]);
    // d/dx sum(round(x) * x) with d round = 1: round(x) + x.
    let o = op.clone();
    let g = grad(move |x: &T| (one(&o, x) * x).sum())(&x);
    close(&g, &[0.4, 3.6, -4.5]);
    let o = op.clone();
    let (_, t) = jvp(move |x: &T| one(&o, x), &x, &v(&[1.0, 2.0, 3.0]));
    close(&t, &[1.0, 2.0, 3.0]);
    // Hessian of sum(round(x) * x): 2 I.
    let o = op.clone();
    let h = hessian(move |x: &T| (one(&o, x) * x).sum())(&x);
    close(&h.reshape(&[-1]), &[2.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 2.0]);
    let xs = T::from_vec(vec![0.4f64, 1.6, 2.5, -0.6], [2, 2]);
    close(&vmap(move |x: &T| one(&op, x))(&xs), &[0.0, 2.0, 2.0, -1.0]);
}

#[test]
fn clip_gradient_clips_the_cotangent_only() {
    let op = clip_gradient::<B>(-0.5, 0.5);
    let x = v(&[1.0, -2.0, 0.25]);
    let o = op.clone();
    close(&one(&o, &x), &[1.0, -2.0, 0.25]);
    // grad of sum(clip(x) * c) is clip(c).
    let c = v(&[3.0, -4.0, 0.1]);
    let (o, cc) = (op.clone(), c.clone());
    close(&grad(move |x: &T| (one(&o, x) * &cc).sum())(&x), &[0.5, -0.5, 0.1]);
    // Forward mode is the forward's own derivative: the identity.
    let o = op.clone();
    let (_, t) = jvp(move |x: &T| one(&o, x), &x, &c);
    close(&t, &[3.0, -4.0, 0.1]);
    // jacrev clips the basis cotangents; jacfwd does not.
    let o = op.clone();
    close(&jacrev(move |x: &T| one(&o, x))(&x).reshape(&[-1]), &[0.5, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.5]);
    let o = op.clone();
    close(&jacfwd(move |x: &T| one(&o, x))(&x).reshape(&[-1]), &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    // Per-sample gradients: the clip applies per sample.
    let xs = T::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]);
    let o = op.clone();
    let g = vmap(grad(move |x: &T| (one(&o, x) * x).sum()))(&xs);
    // d/dx sum(clip(x) * x) = clip_cot(x) + x.
    close(&g, &[1.5, 2.5, 3.5, 4.5]);
}

// ----- several outputs, given and derived rules --------------------------------------------------

fn sincos(with_rules: bool) -> CustomFn<B> {
    let op = CustomFn::new("sincos", |x| vec![x[0].sin(), x[0].cos()]);
    if !with_rules {
        return op;
    }
    op.with_vjp(|x, _y, g| {
        let a = g[0].as_ref().map(|g| g * &x[0].cos());
        let b = g[1].as_ref().map(|g| -(g * &x[0].sin()));
        vec![match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, None) => a,
            (None, b) => b,
        }]
    })
    .with_jvp(|x, _y, t| vec![t[0].as_ref().map(|t| t * &x[0].cos()), t[0].as_ref().map(|t| -(t * &x[0].sin()))])
    .with_batch(|x, batched, _size| (vec![x[0].sin(), x[0].cos()], vec![batched[0], batched[0]]))
}

#[test]
fn several_outputs_with_given_and_derived_rules() {
    let x = v(&[0.3, -1.2]);
    // d/dx sum(sin x * cos x) = cos 2x.
    let expected: Vec<f64> = [0.3f64, -1.2].iter().map(|x| (2.0 * x).cos()).collect();
    for with_rules in [true, false] {
        let op = sincos(with_rules);
        let f = move |x: &T| {
            let o = op.call(&[x]);
            (&o[0] * &o[1]).sum()
        };
        close(&grad(f.clone())(&x), &expected);
        let (_, t) = jvp(f.clone(), &x, &v(&[1.0, 1.0]));
        close(&t, &[expected.iter().sum::<f64>()]);
        // Only one output used: the other's cotangent is a symbolic zero.
        let op = sincos(with_rules);
        close(&grad(move |x: &T| op.call(&[x])[1].sum())(&x), &[-(0.3f64.sin()), 1.2f64.sin()]);
        let op = sincos(with_rules);
        let xs = T::from_vec(vec![0.3f64, -1.2, 2.0, 0.1], [2, 2]);
        let outs = vmap(move |x: &T| {
            let o = op.call(&[x]);
            (o[0].clone(), o[1].clone())
        })(&xs);
        close(&outs.0, &xs.sin().to_vec::<f64>());
        close(&outs.1, &xs.cos().to_vec::<f64>());
    }
    // A single-output bind of a two-output op points to bind_multi.
    let e = bind(Primitive::Custom(sincos(true).op_ref()), &[&x]).unwrap_err();
    assert!(e.to_string().contains("bind_multi"), "{e}");
}

// ----- opaque forwards: rules are required -------------------------------------------------------

/// `x^2` computed on the host: not Tensor ops, so nothing can be derived.
fn host_square(with_rules: bool) -> CustomFn<B> {
    let op = CustomFn::opaque("host_square", |x| {
        let v: Vec<f64> = x[0].to_vec::<f64>().iter().map(|a| a * a).collect();
        vec![T::from_vec(v, x[0].shape().clone())]
    });
    if !with_rules {
        return op;
    }
    op.with_jvp(|x, _y, t| vec![t[0].as_ref().map(|t| t * &x[0] * 2.0)])
        .with_vjp(|x, _y, g| vec![g[0].as_ref().map(|g| g * &x[0] * 2.0)])
        .with_batch(|x, b, _n| (vec![&x[0] * &x[0]], vec![b[0]]))
}

#[test]
fn opaque_op_without_rules_names_the_op_and_the_transform() {
    let x = v(&[1.0, 2.0]);
    let op = host_square(false);
    close(&one(&op, &x), &[1.0, 4.0]);
    let o = op.clone();
    let msg = panic_message(|| {
        drop(try_vmap(move |x: &T| Ok(one(&o, x)), VmapOptions::new())(&T::ones([2, 2], func_core::DType::F64)))
    });
    assert!(
        msg.contains("vmap: custom op `host_square` has no batching rule")
            && msg.contains("not written in Tensor ops")
            && msg.contains("CustomOp::batch"),
        "{msg}"
    );
    let o = op.clone();
    let msg = panic_message(|| drop(grad(move |x: &T| one(&o, x).sum())(&x)));
    assert!(msg.contains("vjp: custom op `host_square` has no VJP rule") && msg.contains("CustomOp::vjp"), "{msg}");
    let o = op.clone();
    let msg = panic_message(|| drop(try_jvp(move |x: &T| Ok(one(&o, x)), &x, &x)));
    assert!(msg.contains("jvp: custom op `host_square` has no JVP rule") && msg.contains("CustomOp::jvp"), "{msg}");
}

#[test]
fn opaque_op_with_rules_runs_under_every_transform() {
    let op = host_square(true);
    let x = v(&[1.5, -2.0]);
    let o = op.clone();
    close(&grad(move |x: &T| one(&o, x).sum())(&x), &[3.0, -4.0]);
    let o = op.clone();
    close(&jacfwd(move |x: &T| one(&o, x))(&x).reshape(&[-1]), &[3.0, 0.0, 0.0, -4.0]);
    let o = op.clone();
    close(&hessian(move |x: &T| one(&o, x).sum())(&x).reshape(&[-1]), &[2.0, 0.0, 0.0, 2.0]);
    let xs = T::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]);
    let o = op.clone();
    close(&vmap(move |x: &T| one(&o, x))(&xs), &[1.0, 4.0, 9.0, 16.0]);
    close(&vmap(grad(move |x: &T| one(&op, x).sum()))(&xs), &[2.0, 4.0, 6.0, 8.0]);
}

#[test]
fn custom_op_identity_is_by_object() {
    let a = log1pexp::<B>();
    let b = log1pexp::<B>();
    assert_eq!(Primitive::Custom(a.op_ref()), Primitive::Custom(a.clone().op_ref()));
    assert_ne!(Primitive::Custom(a.op_ref()), Primitive::Custom(b.op_ref()));
    assert_eq!(Primitive::Custom(a.op_ref()).name(), "log1pexp");
    assert_eq!(format!("{:?}", Primitive::Custom(a.op_ref())), "Custom(CustomOp(log1pexp))");
}

// ----- stop_gradient -----------------------------------------------------------------------------

#[test]
fn stop_gradient_has_zero_derivatives_and_identity_batching() {
    let x = v(&[3.0, -2.0]);
    // d/dx sum(x * detach(x)) = detach(x) = x.
    close(&grad(|x: &T| (x * &x.detach()).sum())(&x), &[3.0, -2.0]);
    close(&grad(|x: &T| x.stop_gradient().sum())(&x), &[0.0, 0.0]);
    let (y, t) = jvp(|x: &T| x.detach() * x, &x, &v(&[1.0, 1.0]));
    close(&y, &[9.0, 4.0]);
    close(&t, &[3.0, -2.0]);
    // hessian of sum(x^2 * detach(x)) / 2 = diag(detach(x)).
    let h = hessian(|x: &T| (x * x * &x.detach()).sum() / 2.0)(&x);
    close(&h.reshape(&[-1]), &[3.0, 0.0, 0.0, -2.0]);
    let xs = T::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]);
    close(&vmap(|x: &T| x.detach() * 2.0)(&xs), &[2.0, 4.0, 6.0, 8.0]);
    close(&vmap(grad(|x: &T| (x * &x.detach()).sum()))(&xs), &[1.0, 2.0, 3.0, 4.0]);
    close(&jacrev(|x: &T| x.detach() + x)(&x).reshape(&[-1]), &[1.0, 0.0, 0.0, 1.0]);
    close(&jacfwd(|x: &T| x.detach() + x)(&x).reshape(&[-1]), &[1.0, 0.0, 0.0, 1.0]);
}

#[test]
fn detach_shares_storage_on_concrete_tensors() {
    let x = v(&[1.0, 2.0]);
    let d = x.detach();
    assert_eq!(d.dims(), x.dims());
    d.add_scalar_(1.0);
    close(&x, &[2.0, 3.0]);
    let (_, names) = record_primitives(|x: &T| x.detach(), &x);
    assert_eq!(names, vec!["stop_gradient"]);
}

#[test]
fn a_rule_returning_the_wrong_number_or_shape_of_values_is_an_error() {
    let x = v(&[1.0, 2.0]);
    let bad_count =
        CustomFn::<B>::new("bad_count", |x| vec![x[0].exp()]).with_vjp(|_x, _y, g| vec![g[0].clone(), g[0].clone()]);
    let msg = panic_message(|| drop(grad(move |x: &T| one(&bad_count, x).sum())(&x)));
    assert!(msg.contains("custom op `bad_count`: its VJP rule returned 2 values, but 1 were expected"), "{msg}");
    let bad_shape = CustomFn::<B>::new("bad_shape", |x| vec![x[0].exp()])
        .with_jvp(|_x, _y, t| vec![t[0].as_ref().map(|t| t.sum())]);
    let msg = panic_message(|| drop(jvp(move |x: &T| one(&bad_shape, x), &x, &x)));
    assert!(
        msg.contains(
            "custom op `bad_shape`: its JVP rule's tangent 0 has shape [], but the value it belongs to has shape [2]"
        ),
        "{msg}"
    );
}
