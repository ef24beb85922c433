//! The torch.func module utilities, one test per utility and per error
//! case, and the Module trait's naming, modes and state-dict loading.

use func_autodiff::grad;
use func_batch::{VmapOptions, vmap, vmap_with};
use func_core::{DType, Generator, Tensor};
use func_nn::*;
use std::collections::BTreeMap;

type B = func_cpu::Cpu;
type T = Tensor<B>;

fn t(v: &[f64], shape: &[usize]) -> T {
    T::from_vec(v.to_vec(), shape.to_vec())
}

fn mlp(seed: u64) -> Sequential<B> {
    let g = &mut Generator::new(seed);
    Sequential::new()
        .add_module("fc1", Linear::new_with(3, 4, true, DType::F64, g))
        .add_module("act", Tanh::new())
        .add_module("fc2", Linear::new_with(4, 2, true, DType::F64, g))
}

fn bn_net(seed: u64) -> Sequential<B> {
    let g = &mut Generator::new(seed);
    Sequential::new()
        .add_module("fc", Linear::new_with(3, 4, true, DType::F64, g))
        .add_module("bn", BatchNorm::new_1d(4, BatchNormConfig { dtype: DType::F64, ..Default::default() }))
}

fn x() -> T {
    t(&[0.5, -1.0, 2.0, 1.5, 0.0, -0.5, 1.0, 1.0, -2.0, 0.3, 0.7, -0.1], &[4, 3])
}

fn assert_close(a: &T, b: &T, tol: f64) {
    assert_eq!(a.dims(), b.dims());
    for (x, y) in a.to_vec::<f64>().iter().zip(b.to_vec::<f64>()) {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{x} vs {y}");
    }
}

/// The forward written by hand from a parameter dict.
fn mlp_by_hand(p: &StateDict<B>, x: &T) -> T {
    x.linear(&p["fc1.weight"], Some(&p["fc1.bias"])).tanh().linear(&p["fc2.weight"], Some(&p["fc2.bias"]))
}

#[test]
fn names_follow_state_dict_conventions() {
    let m = bn_net(0);
    let p: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(p, ["fc.weight", "fc.bias", "bn.weight", "bn.bias"]);
    let b: Vec<String> = m.named_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(b, ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]);
    assert_eq!(m.state_dict().len(), 7);
    assert_eq!(m.state_dict()["bn.num_batches_tracked"].dtype(), DType::I64);
}

#[test]
fn train_and_eval_reach_every_child() {
    let mut m = bn_net(0);
    assert!(m.is_training());
    m.eval();
    let mut modes = Vec::new();
    m.children(&mut |_, c| modes.push(c.is_training()));
    assert_eq!(modes, [false, false]);
    m.train(true);
    m.children(&mut |_, c| assert!(c.is_training()));
}

#[test]
fn visit_mut_replaces_tensors_by_name() {
    let mut m = mlp(0);
    m.visit_mut(&mut |n, _, t| {
        if n == "fc2.bias" {
            *t = T::from_vec(vec![7.0f64, 8.0], [2]);
        }
    });
    assert_eq!(m.state_dict()["fc2.bias"].to_vec::<f64>(), vec![7.0, 8.0]);
}

#[test]
fn default_init_is_seeded_and_within_torch_bounds() {
    let a = Linear::<B>::new_with(50, 20, true, DType::F64, &mut Generator::new(3));
    let b = Linear::<B>::new_with(50, 20, true, DType::F64, &mut Generator::new(3));
    assert_eq!(a.weight.to_vec::<f64>(), b.weight.to_vec::<f64>());
    let bound = 1.0 / 50f64.sqrt();
    let w = a.weight.to_vec::<f64>();
    assert!(w.iter().all(|v| v.abs() <= bound));
    // Uniform on [-k, k]: variance k^2 / 3.
    let var = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
    assert!((var - bound * bound / 3.0).abs() < 0.15 * bound * bound / 3.0, "variance {var}");
    let c = Conv2d::<B>::with_config(
        4,
        6,
        (3, 3),
        Conv2dConfig {
            opts: func_core::Conv2dOptions { groups: 2, ..Default::default() },
            bias: true,
            dtype: DType::F64,
        },
        &mut Generator::new(1),
    );
    let cb = 1.0 / ((4 / 2 * 9) as f64).sqrt();
    assert_eq!(c.weight.dims(), &[6, 2, 3, 3]);
    assert!(
        c.weight.to_vec::<f64>().iter().chain(c.bias.as_ref().unwrap().to_vec::<f64>().iter()).all(|v| v.abs() <= cb)
    );
}

#[test]
fn dropout_scales_kept_elements_and_is_the_identity_in_eval() {
    let mut d = Dropout::new(0.25, 7);
    let x = T::ones([4000], DType::F64);
    let y = Module::<B>::forward(&d, &x).to_vec::<f64>();
    let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / 4000.0;
    assert!((kept - 0.75).abs() < 0.03, "kept {kept}");
    assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-12));
    Module::<B>::eval(&mut d);
    assert_eq!(Module::<B>::forward(&d, &x).to_vec::<f64>(), vec![1.0; 4000]);
}

#[test]
fn load_state_dict_strict_reports_missing_and_unexpected_keys() {
    let mut m = mlp(0);
    let mut s = mlp(1).state_dict();
    s.remove("fc1.bias");
    s.insert("fc3.weight".into(), T::zeros([1], DType::F64));
    let e = m.load_state_dict(&s, true).unwrap_err().to_string();
    assert!(e.contains("Unexpected key(s): \"fc3.weight\"") && e.contains("Missing key(s): \"fc1.bias\""), "{e}");
}

#[test]
fn load_state_dict_reports_shape_mismatch_and_writes_nothing() {
    let mut m = mlp(0);
    let before = m.state_dict()["fc1.bias"].to_vec::<f64>();
    let mut s = mlp(1).state_dict();
    s.insert("fc2.weight".into(), T::zeros([3, 3], DType::F64));
    let e = m.load_state_dict(&s, false).unwrap_err().to_string();
    assert!(e.contains("size mismatch for fc2.weight") && e.contains("[3, 3]") && e.contains("[2, 4]"), "{e}");
    assert_eq!(m.state_dict()["fc1.bias"].to_vec::<f64>(), before);
}

#[test]
fn functional_call_uses_the_given_tensors_and_leaves_the_module_alone() {
    let m = mlp(0);
    let other = mlp(5).state_dict();
    let before = m.state_dict()["fc1.weight"].to_vec::<f64>();
    let y = functional_call(&m, &other, &x());
    assert_close(&y, &mlp_by_hand(&other, &x()), 1e-12);
    assert_eq!(m.state_dict()["fc1.weight"].to_vec::<f64>(), before);
    // Not strict: a partial dict keeps the module's other tensors.
    let partial: StateDict<B> = [("fc2.bias".to_string(), other["fc2.bias"].clone())].into();
    let mut expected = m.state_dict();
    expected.insert("fc2.bias".into(), other["fc2.bias"].clone());
    assert_close(&functional_call(&m, &partial, &x()), &mlp_by_hand(&expected, &x()), 1e-12);
}

#[test]
fn functional_call_strict_errors_name_the_keys() {
    let m = mlp(0);
    let mut s = m.state_dict();
    s.remove("fc2.weight");
    s.insert("extra".into(), T::zeros([1], DType::F64));
    let opts = CallOptions { strict: true, ..Default::default() };
    let e = functional_call_with(&m, &s, &x(), opts).unwrap_err().to_string();
    assert!(
        e.contains("Error(s) in reparametrizing for Sequential") && e.contains("Unexpected key(s): \"extra\""),
        "{e}"
    );
    assert!(e.contains("Missing key(s): \"fc2.weight\""), "{e}");
}

fn tied() -> Sequential<B> {
    // Two layers sharing one weight handle (weight tying).
    let w = t(&[1.0, 0.5, -0.5, 2.0], &[2, 2]);
    Sequential::new()
        .add_module("a", Linear::from_tensors(w.clone(), None))
        .add_module("b", Linear::from_tensors(w, None))
}

#[test]
fn functional_call_ties_weights() {
    let m = tied();
    assert_eq!(m.named_parameters().len(), 1); // tied parameters once
    assert_eq!(m.state_dict().len(), 2);
    let w2 = t(&[2.0, 0.0, 0.0, 2.0], &[2, 2]);
    let s: StateDict<B> = [("a.weight".to_string(), w2.clone())].into();
    let x = t(&[1.0, 1.0], &[1, 2]);
    // tie_weights: both layers take the new weight: 4x.
    assert_eq!(functional_call(&m, &s, &x).to_vec::<f64>(), vec![4.0, 4.0]);
    // Without: only layer a does.
    let untied = functional_call_with(&m, &s, &x, CallOptions { tie_weights: false, ..Default::default() }).unwrap();
    assert_close(&untied, &x.linear(&w2, None).linear(&m.state_dict()["b.weight"], None), 1e-12);
}

#[test]
fn functional_call_rejects_different_values_for_tied_names() {
    let m = tied();
    let s: StateDict<B> =
        [("a.weight".to_string(), T::zeros([2, 2], DType::F64)), ("b.weight".to_string(), T::ones([2, 2], DType::F64))]
            .into();
    let e = functional_call_with(&m, &s, &t(&[1.0, 1.0], &[1, 2]), CallOptions::default()).unwrap_err().to_string();
    assert!(
        e.contains("multiple values for keys [\"a.weight\", \"b.weight\"]") && e.contains("tie_weights=False"),
        "{e}"
    );
}

#[test]
fn functional_call_differentiates_with_respect_to_the_dict() {
    let m = mlp(0);
    let p = m.parameter_dict();
    let g = grad(|p: &StateDict<B>| functional_call(&m, p, &x()).sum())(&p);
    let by_hand = grad(|p: &StateDict<B>| mlp_by_hand(p, &x()).sum())(&p);
    for k in p.keys() {
        assert_close(&g[k], &by_hand[k], 1e-12);
    }
}

#[test]
fn make_functional_calls_the_forward_with_given_parameters() {
    let m = mlp(0);
    let (f, params) = make_functional(&m).unwrap();
    assert_eq!(params.len(), 4);
    assert_close(&f.call(&params, &x()), &m.forward(&x()), 0.0);
    let other = make_functional(&mlp(9)).unwrap().1;
    assert_close(&f.call(&other, &x()), &mlp(9).forward(&x()), 0.0);
    // Gradients with respect to the parameter list.
    let g = grad(|p: &Vec<T>| f.call(p, &x()).sum())(&params);
    assert_eq!(g[0].dims(), &[4, 3]);
}

#[test]
fn make_functional_refuses_modules_with_buffers() {
    let e = make_functional(&bn_net(0)).err().unwrap().to_string();
    assert!(e.contains("has buffers") && e.contains("make_functional_with_buffers"), "{e}");
}

#[test]
fn functional_module_checks_the_parameter_count() {
    let (f, params) = make_functional(&mlp(0)).unwrap();
    let e = f.try_call(&params[..3], &x()).unwrap_err().to_string();
    assert!(e.contains("expected 4 parameter tensors") && e.contains("got 3"), "{e}");
}

#[test]
fn make_functional_with_buffers_writes_running_stats_into_the_given_buffers() {
    let m = bn_net(0);
    let (f, params, buffers) = make_functional_with_buffers(&m);
    assert_eq!((params.len(), buffers.len()), (4, 3));
    let mine: Vec<T> = buffers.iter().map(|b| b.deep_copy()).collect();
    let y = f.call(&params, &mine, &x());
    assert_close(&y, &m.box_clone().forward(&x()), 1e-12);
    // The module's own buffers were updated by the direct forward above, the
    // copies by the functional call: the same values.
    assert_close(&mine[0], &m.state_dict()["bn.running_mean"], 1e-12);
    assert_eq!(mine[2].to_vec::<i64>(), vec![1]);
    let e = f.try_call(&params, &mine[..2], &x()).unwrap_err().to_string();
    assert!(e.contains("expected 3 buffer tensors"), "{e}");
}

#[test]
fn stack_module_state_stacks_along_a_new_dim_0() {
    let models = [bn_net(0), bn_net(1), bn_net(2)];
    let (p, b) = stack_module_state(&models).unwrap();
    assert_eq!(p["fc.weight"].dims(), &[3, 4, 3]);
    assert_eq!(b["bn.running_var"].dims(), &[3, 4]);
    assert_eq!(b["bn.num_batches_tracked"].dims(), &[3]);
    assert_eq!(p["fc.bias"].select(0, 2).to_vec::<f64>(), models[2].state_dict()["fc.bias"].to_vec::<f64>());
}

#[test]
fn stack_module_state_errors_for_an_empty_list() {
    let e = stack_module_state::<B, Sequential<B>>(&[]).unwrap_err().to_string();
    assert!(e.contains("stack_module_state: Expected at least one model, got 0."), "{e}");
}

#[test]
fn stack_module_state_errors_for_mixed_train_and_eval() {
    let mut b = mlp(1);
    b.eval();
    let e = stack_module_state(&[mlp(0), b]).unwrap_err().to_string();
    assert!(e.contains("Expected all models to have the same training/eval mode."), "{e}");
}

#[test]
fn stack_module_state_errors_for_different_classes() {
    let models: Vec<Box<dyn Module<B>>> = vec![Box::new(mlp(0)), Box::new(bn_net(0))];
    let e = stack_module_state(&models).unwrap_err().to_string();
    assert!(e.contains("Expected all models to be of the same class"), "{e}");
}

#[test]
fn combine_state_for_ensemble_runs_each_model_under_vmap() {
    let models = [mlp(0), mlp(1), mlp(2)];
    let (f, params, buffers) = combine_state_for_ensemble(&models).unwrap();
    assert_eq!(params[0].dims(), &[3, 4, 3]);
    let ens = vmap_with(
        move |(p, b, x): &(Vec<T>, Vec<T>, T)| f.call(p, b, x),
        VmapOptions::new().in_dims((Some(0), Some(0), None)),
    );
    let y = ens(&(params, buffers, x()));
    for (i, m) in models.iter().enumerate() {
        assert_close(&y.select(0, i as isize), &m.forward(&x()), 1e-12);
    }
}

#[test]
fn combine_state_for_ensemble_errors() {
    let e = combine_state_for_ensemble::<B, Sequential<B>>(&[]).err().unwrap().to_string();
    assert!(e.contains("combine_state_for_ensemble: Expected at least one model, got 0."), "{e}");
    let mut b = mlp(1);
    b.eval();
    let e = combine_state_for_ensemble(&[mlp(0), b]).err().unwrap().to_string();
    assert!(e.contains("combine_state_for_ensemble: Expected all models to have the same training/eval mode."), "{e}");
}

#[test]
fn batch_norm_in_train_mode_under_vmap_names_replace_all_batch_norm_modules() {
    let m = bn_net(0);
    let xs = T::from_vec((0..24).map(|i| (i as f64 * 0.37).sin()).collect::<Vec<_>>(), [2, 4, 3]);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| vmap(|x: &T| m.forward(x))(&xs)));
    let msg = r.err().and_then(|p| p.downcast_ref::<String>().cloned()).expect("a panic with a message");
    assert!(msg.contains("replace_all_batch_norm_modules_") && msg.contains("BatchNorm1d"), "{msg}");
    // The running statistics were not touched.
    assert_eq!(m.state_dict()["bn.running_mean"].to_vec::<f64>(), vec![0.0; 4]);
}

#[test]
fn batch_norm_under_vmap_works_after_replace_all_batch_norm_modules() {
    let mut m = bn_net(0);
    replace_all_batch_norm_modules_(&mut m);
    assert!(m.named_buffers().is_empty());
    let xs = T::from_vec((0..24).map(|i| (i as f64 * 0.37).sin()).collect::<Vec<_>>(), [2, 4, 3]);
    let y = vmap(|x: &T| m.forward(x))(&xs);
    for i in 0..2 {
        assert_close(&y.select(0, i), &m.forward(&xs.select(0, i)), 1e-12);
    }
    // Batch statistics in eval mode too, as torch after the replacement.
    m.eval();
    assert_close(&m.forward(&xs.select(0, 0)), &y.select(0, 0), 1e-12);
}

#[test]
fn batch_norm_under_vmap_works_in_eval_mode() {
    let mut m = bn_net(0);
    m.eval();
    let xs = T::from_vec((0..24).map(|i| (i as f64 * 0.37).sin()).collect::<Vec<_>>(), [2, 4, 3]);
    let y = vmap(|x: &T| m.forward(x))(&xs);
    assert_close(&y.select(0, 1), &m.forward(&xs.select(0, 1)), 1e-12);
}

#[test]
fn batch_norm_under_vmap_updates_stacked_running_stats() {
    // An ensemble in train mode with its own (batched) running statistics.
    let models = [bn_net(0), bn_net(1)];
    let (p, b) = stack_module_state(&models).unwrap();
    let base = models[0].clone();
    let state: StateDict<B> = p.into_iter().chain(b.clone()).collect();
    let f = vmap_with(
        move |(s, x): &(StateDict<B>, T)| functional_call(&base, s, x),
        VmapOptions::new().in_dims((Some(0), None)),
    );
    let _ = f(&(state.clone(), x()));
    for (i, m) in models.iter().enumerate() {
        let _ = m.forward(&x());
        assert_close(&state["bn.running_mean"].select(0, i as isize), &m.state_dict()["bn.running_mean"], 1e-12);
    }
}

#[test]
fn batch_norm_under_grad_updates_running_stats_without_derivative() {
    let m = bn_net(0);
    let p = m.parameter_dict();
    let g = grad(|p: &StateDict<B>| functional_call(&m, p, &x()).square().sum())(&p);
    assert_eq!(g["bn.weight"].dims(), &[4]);
    assert_eq!(m.state_dict()["bn.num_batches_tracked"].to_vec::<i64>(), vec![1]);
    let rm = m.state_dict()["bn.running_mean"].to_vec::<f64>();
    assert!(rm.iter().any(|v| *v != 0.0));
}

#[test]
fn replace_all_batch_norm_modules_reaches_nested_modules() {
    let mut outer = Sequential::<B>::new().append(bn_net(0)).append(Sequential::new().append(bn_net(1)));
    assert_eq!(outer.named_buffers().len(), 6);
    replace_all_batch_norm_modules_(&mut outer);
    assert!(outer.named_buffers().is_empty());
    let names: BTreeMap<String, T> = outer.state_dict();
    assert!(names.contains_key("1.0.bn.weight"));
}
