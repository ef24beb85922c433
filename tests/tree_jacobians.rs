//! Jacobians of functions with tuple and map outputs, and Hessians of tuple
//! and map inputs, against torch.func (func-testkit/data/TREE_JACOBIANS.md),
//! to 1e-10 in f64; every case is also run in chunks.

use func::prelude::*;
use func::{JacOptions, hessian_aux, jacfwd_aux, jacrev_aux, try_hessian, try_jacfwd, try_jacrev};
use func_testkit::golden::{Case, Value, assert_close, load_from, tree_jacobians_path};
use std::collections::BTreeMap;

const TOL: f64 = 1e-10;
type Map<V> = BTreeMap<String, V>;

fn case(function: &str, transform: &str) -> Case {
    load_from(&tree_jacobians_path())
        .into_iter()
        .find(|c| c.function == function && c.transform == transform)
        .unwrap_or_else(|| panic!("no golden case {function} / {transform}"))
}

fn at(v: &Value, i: usize) -> &Value {
    &v.list()[i]
}

fn key<'a>(v: &'a Value, k: &str) -> &'a Value {
    match v {
        Value::Dict(m) => &m[k],
        other => panic!("expected a dict, got {other:?}"),
    }
}

fn sin_and_sum(x: &Tensor) -> (Tensor, Tensor) {
    (x.sin(), (x * x).sum())
}

fn to_map(x: &Tensor) -> Map<Tensor> {
    Map::from([
        ("exp".to_string(), x.exp()),
        ("head".to_string(), x.narrow(0, 0, 2) * 3.0),
        ("norm".to_string(), (x * x).sum()),
    ])
}

fn pair_to_pair((a, b): &(Tensor, Tensor)) -> (Tensor, Tensor) {
    (a * &b.sum(), (&a.unsqueeze(1) * b).tanh())
}

fn pair_scalar((a, b): &(Tensor, Tensor)) -> Tensor {
    (a.sin() * b.sum()).sum() + (a * a).sum() * b.powf(3.0).sum()
}

/// Every chunk size from 1 to `n`, and none.
fn all_options(n: usize) -> Vec<JacOptions> {
    std::iter::once(JacOptions::new()).chain((1..=n).map(|c| JacOptions::new().chunk_size(c))).collect()
}

#[test]
fn jacobians_of_a_tuple_output_match_torch() {
    for (name, fwd) in [("jacrev", false), ("jacfwd", true)] {
        let c = case("sin_and_sum", name);
        let x = c.inputs[0].tensor::<func::backend::Cpu>();
        for opts in all_options(3) {
            let (js, jn) = if fwd { jacfwd_with(sin_and_sum, opts)(&x) } else { jacrev_with(sin_and_sum, opts)(&x) };
            assert_close(&format!("{name} {opts:?} d sin"), &js, at(&c.expected, 0), TOL);
            assert_close(&format!("{name} {opts:?} d sum"), &jn, at(&c.expected, 1), TOL);
        }
    }
}

#[test]
fn jacobians_of_a_map_output_match_torch() {
    for (name, fwd) in [("jacrev", false), ("jacfwd", true)] {
        let c = case("to_map", name);
        let x = c.inputs[0].tensor::<func::backend::Cpu>();
        for opts in all_options(6) {
            let j: Map<Tensor> = if fwd {
                try_jacfwd(|x: &Tensor| Ok(to_map(x)), opts)(&x)
            } else {
                try_jacrev(|x: &Tensor| Ok(to_map(x)), opts)(&x)
            }
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(j.keys().collect::<Vec<_>>(), ["exp", "head", "norm"]);
            for (k, v) in &j {
                assert_close(&format!("{name} {opts:?} [{k}]"), v, key(&c.expected, k), TOL);
            }
        }
    }
}

#[test]
fn jacobians_of_tuple_to_tuple_are_nested_output_then_input() {
    for (name, fwd) in [("jacrev", false), ("jacfwd", true)] {
        let c = case("pair_to_pair", name);
        let ab = (c.inputs[0].tensor::<func::backend::Cpu>(), c.inputs[1].tensor::<func::backend::Cpu>());
        for opts in all_options(5) {
            let ((j00, j01), (j10, j11)) =
                if fwd { jacfwd_with(pair_to_pair, opts)(&ab) } else { jacrev_with(pair_to_pair, opts)(&ab) };
            for (i, j, got) in [(0, 0, &j00), (0, 1, &j01), (1, 0, &j10), (1, 1, &j11)] {
                assert_close(&format!("{name} {opts:?} J[{i}][{j}]"), got, at(at(&c.expected, i), j), TOL);
            }
        }
    }
}

#[test]
fn hessian_of_a_tuple_input_gives_the_four_blocks() {
    let c = case("pair_scalar", "hessian");
    let ab = (c.inputs[0].tensor::<func::backend::Cpu>(), c.inputs[1].tensor::<func::backend::Cpu>());
    for opts in all_options(5) {
        let ((haa, hab), (hba, hbb)) = hessian_with(pair_scalar, opts)(&ab);
        for (i, j, got) in [(0, 0, &haa), (0, 1, &hab), (1, 0, &hba), (1, 1, &hbb)] {
            assert_close(&format!("hessian {opts:?} H[{i}][{j}]"), got, at(at(&c.expected, i), j), TOL);
        }
    }
}

#[test]
fn hessian_of_a_parameter_map_is_a_map_of_maps() {
    let c = case("model_loss", "hessian");
    let params: Map<Tensor> = c.inputs[0].dict::<func::backend::Cpu>();
    let x = c.inputs[1].tensor::<func::backend::Cpu>();
    let loss = |p: &Map<Tensor>| (p["w"].matmul(&x) + &p["b"]).tanh().square().sum();
    for opts in all_options(8) {
        let h: Map<Map<Tensor>> =
            try_hessian(|p: &Map<Tensor>| Ok(loss(p)), opts)(&params).unwrap_or_else(|e| panic!("{e}"));
        for (r, row) in &h {
            for (col, block) in row {
                assert_close(&format!("hessian {opts:?} [{r}][{col}]"), block, key(key(&c.expected, r), col), TOL);
            }
        }
        assert_eq!(h.len(), 2);
    }
    // With aux: the value comes back alongside.
    let (h, value) = hessian_aux(|p: &Map<Tensor>| (loss(p), loss(p)))(&params);
    assert_close("hessian_aux [w][b]", &h["w"]["b"], key(key(&c.expected, "w"), "b"), TOL);
    assert!((value.item::<f64>() - loss(&params).item::<f64>()).abs() < 1e-15);
}

#[test]
fn aux_forms_of_tree_jacobians() {
    let c = case("sin_and_sum", "jacrev");
    let x = c.inputs[0].tensor::<func::backend::Cpu>();
    let f = |x: &Tensor| (sin_and_sum(x), x.cos());
    let ((js, jn), aux) = jacrev_aux(f)(&x);
    assert_close("jacrev_aux d sin", &js, at(&c.expected, 0), TOL);
    assert_close("jacrev_aux d sum", &jn, at(&c.expected, 1), TOL);
    assert_eq!(aux.to_vec::<f64>(), x.cos().to_vec::<f64>());
    let ((js, _), aux) = jacfwd_aux(f)(&x);
    assert_close("jacfwd_aux d sin", &js, at(&c.expected, 0), TOL);
    assert_eq!(aux.to_vec::<f64>(), x.cos().to_vec::<f64>());
}

#[test]
fn the_empty_tree_gives_the_empty_tree() {
    // torch: jacrev(lambda x: ())(x) == ().
    let x = Tensor::ones([3], DType::F64);
    let () = jacrev(|_x: &Tensor| ())(&x);
    let () = jacfwd(|_x: &Tensor| ())(&x);
    // No inputs: the Jacobian is shaped like the (empty) input.
    let () = jacrev(|_: &()| Tensor::ones([2], DType::F64))(&());
    let () = jacfwd(|_: &()| Tensor::ones([2], DType::F64))(&());
    // Empty tensors give empty blocks.
    let e = Tensor::zeros([0], DType::F64);
    assert_eq!(jacrev(|x: &Tensor| x * 2.0)(&e).dims(), &[0, 0]);
    assert_eq!(jacfwd(|x: &Tensor| (x * 2.0, x.sum()))(&e).1.dims(), &[0]);
}

#[test]
fn single_output_signatures_are_unchanged() {
    // Tensor -> Tensor gives a Tensor, a tuple input a tuple: as before.
    let x = Tensor::from_vec(vec![1.0f64, 2.0], [2]);
    let j: Tensor = jacrev(|x: &Tensor| x * 3.0)(&x);
    assert_eq!(j.to_vec::<f64>(), vec![3.0, 0.0, 0.0, 3.0]);
    let h: Tensor = hessian(|x: &Tensor| (x * x * x).sum())(&x);
    assert_eq!(h.to_vec::<f64>(), vec![6.0, 0.0, 0.0, 12.0]);
    let batched: Tensor = vmap(hessian(|x: &Tensor| (x * x * x).sum()))(&Tensor::stack(&[x.clone(), x.clone()], 0));
    assert_eq!(batched.dims(), &[2, 2, 2]);
}
