//! Every torch.func golden case (see func-testkit/data/CASES.md), to 1e-10, on the reference backend and on
//! the CPU backend. Cases are found by function and transform name; shapes
//! come from the data (set FUNC_CONFORMANCE to run another golden file of the
//! same format).

use func::{hessian, jacfwd, jacrev};
use func_autodiff::{grad, grad_and_value, jvp, linearize, vjp};
use func_batch::{VmapOptions, vmap, vmap_with};
use func_core::{Backend, Conv2dOptions, Tensor};
use func_functionalize::{Remove, functionalize, functionalize_with};
use func_testkit::RefBackend;
use func_testkit::golden::{Case, Value, assert_close, assert_dict_close, load};
use std::collections::BTreeMap;

type P<B> = BTreeMap<String, Tensor<B>>;
const TOL: f64 = 1e-10;

fn sin_x<B: Backend>(x: &Tensor<B>) -> Tensor<B> {
    (x.sin() * x).sum()
}

fn poly<B: Backend>(x: &Tensor<B>) -> Tensor<B> {
    (x.powf(3.0) - x * x * 2.0 + x.exp()).sum()
}

fn norm_fn<B: Backend>(x: &Tensor<B>) -> Tensor<B> {
    x.norm() + x.logsumexp(&[], false) + x.max()
}

fn predict<B: Backend>(w: &Tensor<B>, b: &Tensor<B>, x: &Tensor<B>) -> Tensor<B> {
    x.linear(w, Some(b)).tanh()
}

fn softmax_ce<B: Backend>(logits: &Tensor<B>, onehot: &Tensor<B>) -> Tensor<B> {
    (logits.log_softmax(-1) * onehot).sum_dims(&[-1], false).neg().mean()
}

fn mlp<B: Backend>(p: &P<B>, x: &Tensor<B>) -> Tensor<B> {
    x.linear(&p["w1"], Some(&p["b1"])).relu().linear(&p["w2"], Some(&p["b2"]))
}

fn mlp_loss<B: Backend>(p: &P<B>, x: &Tensor<B>, y: &Tensor<B>) -> Tensor<B> {
    softmax_ce(&mlp(p, &x.unsqueeze(0)), &y.unsqueeze(0))
}

fn conv_net<B: Backend>(p: &P<B>, x: &Tensor<B>) -> Tensor<B> {
    let opts = Conv2dOptions { padding: (1, 1), ..Default::default() };
    let h = x.unsqueeze(0).conv2d(&p["k"], Some(&p["kb"]), opts).relu();
    let h = h.max_pool2d((2, 2), (2, 2), (0, 0)).flatten(1, -1);
    h.linear(&p["w"], Some(&p["b"]))
}

fn conv_loss<B: Backend>(p: &P<B>, x: &Tensor<B>, y: &Tensor<B>) -> Tensor<B> {
    softmax_ce(&conv_net(p, x), &y.unsqueeze(0))
}

fn matfun<B: Backend>(a: &Tensor<B>, b: &Tensor<B>) -> Tensor<B> {
    a.matmul(b).sigmoid().sum_dims(&[0], false)
}

/// CASES.md's `mutating(x)`: in-place writes through views of a copy.
fn mutating<B: Backend>(x: &Tensor<B>) -> Tensor<B> {
    let y = x.deep_copy();
    y.slice(0, 0, 2, 1).mul_scalar_(2.0);
    y.add_scalar_(1.0);
    let z = y.reshape(&[-1]);
    z.select(0, 1).fill_(-3.0);
    &y * x
}

type ScalarFn<B> = fn(&Tensor<B>) -> Tensor<B>;

fn scalar_fn<B: Backend>(name: &str) -> Option<ScalarFn<B>> {
    match name {
        "sin_x" => Some(sin_x::<B>),
        "poly" => Some(poly::<B>),
        "norm_fn" => Some(norm_fn::<B>),
        _ => None,
    }
}

fn t<B: Backend>(v: &Value) -> Tensor<B> {
    v.tensor::<B>()
}

fn label<B: Backend>(c: &Case) -> String {
    format!("{} {} on {}", c.function, c.transform, B::default_instance().map_or("?", |b| b.name()))
}

fn run_scalar<B: Backend>(c: &Case, f: ScalarFn<B>) -> bool {
    let x = t::<B>(&c.inputs[0]);
    let out = match c.transform.as_str() {
        "value" => f(&x),
        "grad" => grad(f)(&x),
        "hessian" => hessian(f)(&x),
        "grad_grad_sum" => grad(|x: &Tensor<B>| grad(f)(x).sum())(&x),
        "hvp" => jvp(grad(f), &x, &t(&c.inputs[1])).1,
        "jacfwd_of_grad" => jacfwd(grad(f))(&x),
        _ => return false,
    };
    assert_close(&label::<B>(c), &out, &c.expected, TOL);
    true
}

fn run_predict<B: Backend>(c: &Case) -> bool {
    let (w, b, x) = (t::<B>(&c.inputs[0]), t::<B>(&c.inputs[1]), t::<B>(&c.inputs[2]));
    let what = label::<B>(c);
    let of_x = |x: &Tensor<B>| predict(&w, &b, x);
    match c.transform.as_str() {
        "jacrev_x" => assert_close(&what, &jacrev(of_x)(&x), &c.expected, TOL),
        "jacfwd_x" => assert_close(&what, &jacfwd(of_x)(&x), &c.expected, TOL),
        "jacrev_w" => assert_close(&what, &jacrev(|w: &Tensor<B>| predict(w, &b, &x))(&w), &c.expected, TOL),
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

type LossFn<B> = fn(&P<B>, &Tensor<B>, &Tensor<B>) -> Tensor<B>;

fn run_loss<B: Backend>(c: &Case, loss: LossFn<B>) -> bool {
    let (p, xs, ys) = (c.inputs[0].dict::<B>(), t::<B>(&c.inputs[1]), t::<B>(&c.inputs[2]));
    let what = label::<B>(c);
    match c.transform.as_str() {
        "per_sample_grad" => {
            let g = grad(|(p, x, y): &(P<B>, Tensor<B>, Tensor<B>)| loss(p, x, y));
            let per_sample = vmap_with(g, VmapOptions::new().in_dims((None, Some(0), Some(0))));
            let (gp, _, _) = per_sample(&(p, xs, ys));
            assert_dict_close(&what, &gp, &c.expected, TOL);
        }
        "grad_and_value_mean" => {
            let batched = vmap_with(
                |(p, x, y): &(P<B>, Tensor<B>, Tensor<B>)| loss(p, x, y),
                VmapOptions::new().in_dims((None, Some(0), Some(0))),
            );
            let (g, v) = grad_and_value(|p: &P<B>| batched(&(p.clone(), xs.clone(), ys.clone())).mean())(&p);
            let e = c.expected.list();
            assert_dict_close(&what, &g, &e[0], TOL);
            assert_close(&what, &v, &e[1], TOL);
        }
        _ => return false,
    }
    true
}

fn run_matfun<B: Backend>(c: &Case) -> bool {
    let (a, b) = (t::<B>(&c.inputs[0]), t::<B>(&c.inputs[1]));
    let what = label::<B>(c);
    match c.transform.as_str() {
        "jacrev_both" => {
            let (ja, jb) = jacrev(|(a, b): &(Tensor<B>, Tensor<B>)| matfun(a, b))(&(a, b));
            let e = c.expected.list();
            assert_close(&what, &ja, &e[0], TOL);
            assert_close(&what, &jb, &e[1], TOL);
        }
        "linearize_b" => {
            let (_, jvp_fn) = linearize(|b: &Tensor<B>| matfun(&a, b), &b);
            assert_close(&what, &jvp_fn(&t(&c.inputs[2])), &c.expected, TOL);
        }
        _ => return false,
    }
    true
}

fn run_mlp<B: Backend>(c: &Case) -> bool {
    if c.transform != "ensemble_vmap" {
        return false;
    }
    let (p, xs) = (c.inputs[0].dict::<B>(), t::<B>(&c.inputs[1]));
    let f = vmap_with(|(p, x): &(P<B>, Tensor<B>)| mlp(p, x), VmapOptions::new().in_dims((Some(0), None)));
    assert_close(&label::<B>(c), &f(&(p, xs)), &c.expected, TOL);
    true
}

/// `mutating` eagerly, under vmap (in-place writes through views of a
/// batched copy) and under grad of functionalize; value and vmap also under
/// functionalize, with views kept and removed. The input is never mutated.
fn run_mutating<B: Backend>(c: &Case) -> bool {
    let x = t::<B>(&c.inputs[0]);
    let what = label::<B>(c);
    let outs: Vec<(&str, Tensor<B>)> = match c.transform.as_str() {
        "value" => vec![
            ("", mutating(&x)),
            (" (functionalize)", functionalize(mutating::<B>)(&x)),
            (" (functionalize, views removed)", functionalize_with(mutating::<B>, Remove::MutationsAndViews)(&x)),
        ],
        "vmap" => vec![
            ("", vmap(mutating::<B>)(&x)),
            (" (vmap of functionalize)", vmap(functionalize(mutating::<B>))(&x)),
            (" (functionalize of vmap)", functionalize(vmap(mutating::<B>))(&x)),
            (
                " (vmap of functionalize, views removed)",
                vmap(functionalize_with(mutating::<B>, Remove::MutationsAndViews))(&x),
            ),
        ],
        "functionalize_grad" => vec![
            ("", grad(|x: &Tensor<B>| functionalize(mutating::<B>)(x).sum())(&x)),
            (
                " (views removed)",
                grad(|x: &Tensor<B>| functionalize_with(mutating::<B>, Remove::MutationsAndViews)(x).sum())(&x),
            ),
        ],
        _ => return false,
    };
    for (how, out) in outs {
        assert_close(&format!("{what}{how}"), &out, &c.expected, TOL);
    }
    assert_close(&format!("{what}: the input after the calls"), &x, &c.inputs[0], 0.0);
    true
}

fn every_case<B: Backend>() {
    let mut ran = Vec::new();
    let mut skipped = Vec::new();
    for c in load() {
        let done = match c.function.as_str() {
            "predict" => run_predict::<B>(&c),
            "mlp_loss" => run_loss::<B>(&c, mlp_loss::<B>),
            "conv_loss" => run_loss::<B>(&c, conv_loss::<B>),
            "matfun" => run_matfun::<B>(&c),
            "mlp" => run_mlp::<B>(&c),
            "mutating" => run_mutating::<B>(&c),
            name => scalar_fn::<B>(name).is_some_and(|f| run_scalar(&c, f)),
        };
        let name = format!("{} {}", c.function, c.transform);
        if done { ran.push(name) } else { skipped.push(name) }
    }
    assert!(skipped.is_empty(), "cases with no runner: {skipped:?}");
    for needed in ["mutating value", "mutating vmap", "mutating functionalize_grad"] {
        assert!(ran.iter().any(|r| r == needed), "the golden file has no `{needed}` case; ran {ran:?}");
    }
    eprintln!("ran {} golden cases on {}: {ran:?}", ran.len(), B::default_instance().map_or("?", |b| b.name()));
    assert!(ran.len() >= 28, "ran only {ran:?}");
}

#[test]
fn every_golden_case_on_the_reference_backend() {
    every_case::<RefBackend>();
}

#[test]
fn every_golden_case_on_the_cpu_backend() {
    every_case::<func_cpu::Cpu>();
}
