//! Every torch.func golden case that needs no functionalize (see
//! func-testkit/data/CASES.md), to 1e-10. Cases are found by function and
//! transform name; shapes come from the data (set FUNC_CONFORMANCE to run
//! another golden file of the same format).

use func_autodiff::{grad, grad_and_value, hessian, jacfwd, jacrev, jvp, linearize, vjp};
use func_batch::{VmapOptions, vmap, vmap_with};
use func_core::{Conv2dOptions, Tensor};
use func_testkit::RefBackend;
use func_testkit::golden::{Case, Value, assert_close, assert_dict_close, load};
use std::collections::BTreeMap;

type B = RefBackend;
type T = Tensor<B>;
type P = BTreeMap<String, T>;
const TOL: f64 = 1e-10;

fn sin_x(x: &T) -> T {
    (x.sin() * x).sum()
}

fn poly(x: &T) -> T {
    (x.powf(3.0) - x * x * 2.0 + x.exp()).sum()
}

fn norm_fn(x: &T) -> T {
    x.norm() + x.logsumexp(&[], false) + x.max()
}

fn predict(w: &T, b: &T, x: &T) -> T {
    x.linear(w, Some(b)).tanh()
}

fn softmax_ce(logits: &T, onehot: &T) -> T {
    (logits.log_softmax(-1) * onehot).sum_dims(&[-1], false).neg().mean()
}

fn mlp(p: &P, x: &T) -> T {
    x.linear(&p["w1"], Some(&p["b1"])).relu().linear(&p["w2"], Some(&p["b2"]))
}

fn mlp_loss(p: &P, x: &T, y: &T) -> T {
    softmax_ce(&mlp(p, &x.unsqueeze(0)), &y.unsqueeze(0))
}

fn conv_net(p: &P, x: &T) -> T {
    let opts = Conv2dOptions { padding: (1, 1), ..Default::default() };
    let h = x.unsqueeze(0).conv2d(&p["k"], Some(&p["kb"]), opts).relu();
    let h = h.max_pool2d((2, 2), (2, 2), (0, 0)).flatten(1, -1);
    h.linear(&p["w"], Some(&p["b"]))
}

fn conv_loss(p: &P, x: &T, y: &T) -> T {
    softmax_ce(&conv_net(p, x), &y.unsqueeze(0))
}

fn matfun(a: &T, b: &T) -> T {
    a.matmul(b).sigmoid().sum_dims(&[0], false)
}

fn scalar_fn(name: &str) -> Option<fn(&T) -> T> {
    match name {
        "sin_x" => Some(sin_x),
        "poly" => Some(poly),
        "norm_fn" => Some(norm_fn),
        _ => None,
    }
}

fn t(v: &Value) -> T {
    v.tensor::<B>()
}

fn run_scalar(c: &Case, f: fn(&T) -> T) -> bool {
    let x = t(&c.inputs[0]);
    let what = format!("{} {}", c.function, c.transform);
    let out = match c.transform.as_str() {
        "value" => f(&x),
        "grad" => grad(f)(&x),
        "hessian" => hessian(f)(&x),
        "grad_grad_sum" => grad(|x: &T| grad(f)(x).sum())(&x),
        "hvp" => jvp(grad(f), &x, &t(&c.inputs[1])).1,
        "jacfwd_of_grad" => jacfwd(grad(f))(&x),
        _ => return false,
    };
    assert_close(&what, &out, &c.expected, TOL);
    true
}

fn run_predict(c: &Case) -> bool {
    let (w, b, x) = (t(&c.inputs[0]), t(&c.inputs[1]), t(&c.inputs[2]));
    let what = format!("predict {}", c.transform);
    let of_x = |x: &T| predict(&w, &b, x);
    match c.transform.as_str() {
        "jacrev_x" => assert_close(&what, &jacrev(of_x)(&x), &c.expected, TOL),
        "jacfwd_x" => assert_close(&what, &jacfwd(of_x)(&x), &c.expected, TOL),
        "jacrev_w" => assert_close(&what, &jacrev(|w: &T| predict(w, &b, &x))(&w), &c.expected, TOL),
        "hessian_x" => assert_close(&what, &hessian(of_x)(&x), &c.expected, TOL),
        "vmap_jacrev_x" => assert_close(&what, &vmap(jacrev(of_x))(&x), &c.expected, TOL),
        "vmap_hessian_x" => assert_close(&what, &vmap(hessian(of_x))(&x), &c.expected, TOL),
        "vjp_x" => {
            let (y, vjp_fn) = vjp(of_x, &x);
            let e = c.expected.list();
            assert_close(&what, &y, &e[0], TOL);
            assert_close(&what, &vjp_fn(&t(&c.inputs[3])), &e[1], TOL);
        }
        "jvp_x" => {
            let (y, ty) = jvp(of_x, &x, &t(&c.inputs[3]));
            let e = c.expected.list();
            assert_close(&what, &y, &e[0], TOL);
            assert_close(&what, &ty, &e[1], TOL);
        }
        "vmap_in1_out1" => {
            let f = vmap_with(of_x, VmapOptions::new().in_dims(1).out_dims(1));
            assert_close(&what, &f(&x), &c.expected, TOL)
        }
        "vmap_vmap" => assert_close(&what, &vmap(vmap(of_x))(&x), &c.expected, TOL),
        _ => return false,
    }
    true
}

fn run_loss(c: &Case, loss: fn(&P, &T, &T) -> T) -> bool {
    let (p, xs, ys) = (c.inputs[0].dict::<B>(), t(&c.inputs[1]), t(&c.inputs[2]));
    let what = format!("{} {}", c.function, c.transform);
    match c.transform.as_str() {
        "per_sample_grad" => {
            let g = grad(|(p, x, y): &(P, T, T)| loss(p, x, y));
            let per_sample = vmap_with(g, VmapOptions::new().in_dims((None, Some(0), Some(0))));
            let (gp, _, _) = per_sample(&(p, xs, ys));
            assert_dict_close(&what, &gp, &c.expected, TOL);
        }
        "grad_and_value_mean" => {
            let batched =
                vmap_with(|(p, x, y): &(P, T, T)| loss(p, x, y), VmapOptions::new().in_dims((None, Some(0), Some(0))));
            let (g, v) = grad_and_value(|p: &P| batched(&(p.clone(), xs.clone(), ys.clone())).mean())(&p);
            let e = c.expected.list();
            assert_dict_close(&what, &g, &e[0], TOL);
            assert_close(&what, &v, &e[1], TOL);
        }
        _ => return false,
    }
    true
}

fn run_matfun(c: &Case) -> bool {
    let (a, b) = (t(&c.inputs[0]), t(&c.inputs[1]));
    let what = format!("matfun {}", c.transform);
    match c.transform.as_str() {
        "jacrev_both" => {
            let (ja, jb) = jacrev(|(a, b): &(T, T)| matfun(a, b))(&(a, b));
            let e = c.expected.list();
            assert_close(&what, &ja, &e[0], TOL);
            assert_close(&what, &jb, &e[1], TOL);
        }
        "linearize_b" => {
            let (_, jvp_fn) = linearize(|b: &T| matfun(&a, b), &b);
            assert_close(&what, &jvp_fn(&t(&c.inputs[2])), &c.expected, TOL);
        }
        _ => return false,
    }
    true
}

fn run_mlp(c: &Case) -> bool {
    if c.transform != "ensemble_vmap" {
        return false;
    }
    let (p, xs) = (c.inputs[0].dict::<B>(), t(&c.inputs[1]));
    let f = vmap_with(|(p, x): &(P, T)| mlp(p, x), VmapOptions::new().in_dims((Some(0), None)));
    assert_close("mlp ensemble_vmap", &f(&(p, xs)), &c.expected, TOL);
    true
}

#[test]
fn every_golden_case_without_mutation() {
    let mut ran = Vec::new();
    let mut skipped = Vec::new();
    for c in load() {
        let done = match c.function.as_str() {
            "predict" => run_predict(&c),
            "mlp_loss" => run_loss(&c, mlp_loss),
            "conv_loss" => run_loss(&c, conv_loss),
            "matfun" => run_matfun(&c),
            "mlp" => run_mlp(&c),
            name => scalar_fn(name).is_some_and(|f| run_scalar(&c, f)),
        };
        if done {
            ran.push(format!("{} {}", c.function, c.transform))
        } else {
            skipped.push(format!("{} {}", c.function, c.transform))
        }
    }
    // Only the cases that need functionalize are left for it.
    assert!(skipped.iter().all(|s| s.starts_with("mutating")), "cases with no runner: {skipped:?}");
    eprintln!("ran {} golden cases: {ran:?}", ran.len());
    assert!(ran.len() >= 25, "ran only {ran:?}");
}
