//! torch.func golden cases for vmap (see func-testkit/data/CASES.md), on the
//! reference backend and on the CPU backend.

use func_batch::{VmapOptions, vmap, vmap_with};
use func_core::{Backend, Tensor};
use func_cpu::Cpu;
use func_testkit::RefBackend;
use func_testkit::golden::{assert_close, cases};
use std::collections::BTreeMap;

const TOL: f64 = 1e-10;

fn predict<B: Backend>(w: &Tensor<B>, b: &Tensor<B>, x: &Tensor<B>) -> Tensor<B> {
    x.linear(w, Some(b)).tanh()
}

fn mlp<B: Backend>(p: &BTreeMap<String, Tensor<B>>, x: &Tensor<B>) -> Tensor<B> {
    x.linear(&p["w1"], Some(&p["b1"])).relu().linear(&p["w2"], Some(&p["b2"]))
}

/// CASES.md's `mutating(x)`: `y = deep copy of x; y[0:2] *= 2; y += 1;
/// z = y viewed flat; z[1] = -3; return y * x`, every write in place and the
/// first and last through views.
fn mutating<B: Backend>(x: &Tensor<B>) -> Tensor<B> {
    let y = x.deep_copy();
    y.slice(0, 0, 2, 1).mul_scalar_(2.0);
    y.add_scalar_(1.0);
    let z = y.reshape(&[-1]);
    z.select(0, 1).fill_(-3.0);
    &y * x
}

fn what<B: Backend>(name: &str) -> String {
    format!("{name} on {}", B::default_instance().map_or("?", |b| b.name()))
}

fn in1_out1<B: Backend>() {
    let cs = cases("predict", "vmap_in1_out1");
    assert!(!cs.is_empty(), "the golden file has no `predict vmap_in1_out1` case");
    for c in cs {
        let (w, b, x) = (c.inputs[0].tensor::<B>(), c.inputs[1].tensor::<B>(), c.inputs[2].tensor::<B>());
        let f = vmap_with(
            |(w, b, x): &(Tensor<B>, Tensor<B>, Tensor<B>)| predict(w, b, x),
            VmapOptions::new().in_dims((None, None, Some(1))).out_dims(1),
        );
        assert_close(&what::<B>("vmap_in1_out1"), &f(&(w, b, x)), &c.expected, TOL);
    }
}

fn nested<B: Backend>() {
    let cs = cases("predict", "vmap_vmap");
    assert!(!cs.is_empty(), "the golden file has no `predict vmap_vmap` case");
    for c in cs {
        let (w, b, x) = (c.inputs[0].tensor::<B>(), c.inputs[1].tensor::<B>(), c.inputs[2].tensor::<B>());
        let inner = vmap(|x: &Tensor<B>| predict(&w, &b, x));
        let outer = vmap(inner);
        assert_close(&what::<B>("vmap_vmap"), &outer(&x), &c.expected, TOL);
    }
}

fn ensemble<B: Backend>() {
    let cs = cases("mlp", "ensemble_vmap");
    assert!(!cs.is_empty(), "the golden file has no `mlp ensemble_vmap` case");
    for c in cs {
        let p = c.inputs[0].dict::<B>();
        let xs = c.inputs[1].tensor::<B>();
        let f = vmap_with(
            |(p, x): &(BTreeMap<String, Tensor<B>>, Tensor<B>)| mlp(p, x),
            VmapOptions::new().in_dims((Some(0), None)),
        );
        assert_close(&what::<B>("ensemble_vmap"), &f(&(p, xs)), &c.expected, TOL);
    }
}

fn mutating_value_and_vmap<B: Backend>() {
    let value = cases("mutating", "value");
    let batched = cases("mutating", "vmap");
    assert!(!value.is_empty() && !batched.is_empty(), "the golden file lacks `mutating value` or `mutating vmap`");
    for c in value {
        assert_close(&what::<B>("mutating value"), &mutating(&c.inputs[0].tensor::<B>()), &c.expected, TOL);
    }
    for c in batched {
        let xs = c.inputs[0].tensor::<B>();
        assert_close(&what::<B>("vmap(mutating)"), &vmap(mutating::<B>)(&xs), &c.expected, TOL);
        // The input is not written to.
        assert_close(&what::<B>("vmap(mutating) input"), &xs, &c.inputs[0], 0.0);
    }
}

#[test]
fn vmap_in1_out1() {
    in1_out1::<RefBackend>();
    in1_out1::<Cpu>();
}

#[test]
fn vmap_vmap() {
    nested::<RefBackend>();
    nested::<Cpu>();
}

#[test]
fn ensemble_vmap() {
    ensemble::<RefBackend>();
    ensemble::<Cpu>();
}

#[test]
fn mutating_vmap() {
    mutating_value_and_vmap::<RefBackend>();
    mutating_value_and_vmap::<Cpu>();
}
