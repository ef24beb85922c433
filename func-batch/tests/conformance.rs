//! torch.func golden cases for vmap (see func-testkit/data/CASES.md).

use func_batch::{VmapOptions, vmap, vmap_with};
use func_core::Tensor;
use func_testkit::RefBackend;
use func_testkit::golden::{assert_close, cases};
use std::collections::BTreeMap;

type T = Tensor<RefBackend>;
const TOL: f64 = 1e-10;

fn predict(w: &T, b: &T, x: &T) -> T {
    x.linear(w, Some(b)).tanh()
}

fn mlp(p: &BTreeMap<String, T>, x: &T) -> T {
    x.linear(&p["w1"], Some(&p["b1"])).relu().linear(&p["w2"], Some(&p["b2"]))
}

#[test]
fn vmap_in1_out1() {
    let cs = cases("predict", "vmap_in1_out1");
    assert!(!cs.is_empty());
    for c in cs {
        let (w, b, x) = (c.inputs[0].tensor::<RefBackend>(), c.inputs[1].tensor(), c.inputs[2].tensor());
        let f = vmap_with(
            |(w, b, x): &(T, T, T)| predict(w, b, x),
            VmapOptions::new().in_dims((None, None, Some(1))).out_dims(1),
        );
        assert_close("vmap_in1_out1", &f(&(w, b, x)), &c.expected, TOL);
    }
}

#[test]
fn vmap_vmap() {
    let cs = cases("predict", "vmap_vmap");
    assert!(!cs.is_empty());
    for c in cs {
        let (w, b, x) = (c.inputs[0].tensor::<RefBackend>(), c.inputs[1].tensor(), c.inputs[2].tensor());
        let inner = vmap(|x: &T| predict(&w, &b, x));
        let outer = vmap(inner);
        assert_close("vmap_vmap", &outer(&x), &c.expected, TOL);
    }
}

#[test]
fn ensemble_vmap() {
    let cs = cases("mlp", "ensemble_vmap");
    assert!(!cs.is_empty());
    for c in cs {
        let p = c.inputs[0].dict::<RefBackend>();
        let xs = c.inputs[1].tensor::<RefBackend>();
        let f = vmap_with(|(p, x): &(BTreeMap<String, T>, T)| mlp(p, x), VmapOptions::new().in_dims((Some(0), None)));
        assert_close("ensemble_vmap", &f(&(p, xs)), &c.expected, TOL);
    }
}
