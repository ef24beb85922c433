//! The torch.func golden cases `per_sample_grad` and `grad_and_value_mean`
//! (mlp_loss, conv_loss) and `ensemble_vmap` (mlp), run through nn modules
//! and `functional_call`: the golden parameters are loaded into a
//! Sequential's state-dict names, to 1e-10, on the CPU and reference
//! backends.

use func_autodiff::{grad, grad_and_value};
use func_batch::{VmapOptions, vmap_with};
use func_core::{Backend, Conv2dOptions, DType, Generator, Tensor};
use func_nn::loss::{Reduction, cross_entropy};
use func_nn::*;
use func_testkit::RefBackend;
use func_testkit::golden::{Case, assert_close, assert_dict_close, cases};
use std::collections::BTreeMap;

const TOL: f64 = 1e-10;

/// The golden names and the model's state-dict names.
const MLP_NAMES: [(&str, &str); 4] = [("w1", "0.weight"), ("b1", "0.bias"), ("w2", "2.weight"), ("b2", "2.bias")];
const CONV_NAMES: [(&str, &str); 4] = [("k", "0.weight"), ("kb", "0.bias"), ("w", "4.weight"), ("b", "4.bias")];

fn mlp<B: Backend>(p: &BTreeMap<String, Tensor<B>>) -> Sequential<B> {
    let (h, i) = (p["w1"].dims()[0], p["w1"].dims()[1]);
    let o = p["w2"].dims()[0];
    let g = &mut Generator::new(0);
    Sequential::new().append(Linear::new_with(i, h, true, DType::F64, g)).append(ReLU::new()).append(Linear::new_with(
        h,
        o,
        true,
        DType::F64,
        g,
    ))
}

fn conv_net<B: Backend>(p: &BTreeMap<String, Tensor<B>>) -> Sequential<B> {
    let k = p["k"].dims();
    let (o, i) = (p["w"].dims()[0], p["w"].dims()[1]);
    let g = &mut Generator::new(0);
    let cfg =
        Conv2dConfig { opts: Conv2dOptions { padding: (1, 1), ..Default::default() }, bias: true, dtype: DType::F64 };
    Sequential::new()
        .append(Conv2d::with_config(k[1], k[0], (k[2], k[3]), cfg, g))
        .append(ReLU::new())
        .append(MaxPool2d::new((2, 2)))
        .append(Flatten::new())
        .append(Linear::new_with(i, o, true, DType::F64, g))
}

fn rename<B: Backend>(
    p: &BTreeMap<String, Tensor<B>>,
    names: &[(&str, &str)],
    to_model: bool,
) -> BTreeMap<String, Tensor<B>> {
    names
        .iter()
        .map(|(g, m)| if to_model { (m.to_string(), p[*g].clone()) } else { (g.to_string(), p[*m].clone()) })
        .collect()
}

type Sd<B> = StateDict<B>;

fn run_loss<B: Backend>(c: &Case, conv: bool) {
    let golden_p = c.inputs[0].dict::<B>();
    let (xs, ys) = (c.inputs[1].tensor::<B>(), c.inputs[2].tensor::<B>());
    let names: &[(&str, &str)] = if conv { &CONV_NAMES } else { &MLP_NAMES };
    let mut model = if conv { conv_net(&golden_p) } else { mlp(&golden_p) };
    // Parameters go in through load_state_dict (strict: every name given).
    model.load_state_dict(&rename(&golden_p, names, true), true).expect("golden parameters fit the model");
    let params = model.parameter_dict();
    let loss = |(p, x, y): &(Sd<B>, Tensor<B>, Tensor<B>)| {
        cross_entropy(&functional_call(&model, p, &x.unsqueeze(0)), &y.unsqueeze(0), Reduction::Mean)
    };
    let what = format!(
        "{} {} through nn modules on {}",
        c.function,
        c.transform,
        B::default_instance().map_or("?", |b| b.name())
    );
    match c.transform.as_str() {
        "per_sample_grad" => {
            let psg = vmap_with(grad(loss), VmapOptions::new().in_dims((None, Some(0), Some(0))));
            let (g, _, _) = psg(&(params, xs, ys));
            assert_dict_close(&what, &rename(&g, names, false), &c.expected, TOL);
        }
        "grad_and_value_mean" => {
            let batched = vmap_with(loss, VmapOptions::new().in_dims((None, Some(0), Some(0))));
            let (g, v) = grad_and_value(|p: &Sd<B>| batched(&(p.clone(), xs.clone(), ys.clone())).mean())(&params);
            let e = c.expected.list();
            assert_dict_close(&what, &rename(&g, names, false), &e[0], TOL);
            assert_close(&what, &v, &e[1], TOL);
        }
        other => panic!("unexpected transform {other}"),
    }
}

fn loss_cases<B: Backend>() {
    let mut ran = 0;
    // The cases CASES.md lists for these functions (conv_loss has no
    // grad_and_value_mean case).
    let wanted = [
        ("mlp_loss", false, "per_sample_grad"),
        ("mlp_loss", false, "grad_and_value_mean"),
        ("conv_loss", true, "per_sample_grad"),
    ];
    for (function, conv, transform) in wanted {
        {
            let cs = cases(function, transform);
            assert!(!cs.is_empty(), "the golden file has no `{function} {transform}` case");
            for c in cs {
                run_loss::<B>(&c, conv);
                ran += 1;
            }
        }
    }
    assert!(ran >= 3);
}

fn ensemble<B: Backend>() {
    let cs = cases("mlp", "ensemble_vmap");
    assert!(!cs.is_empty(), "the golden file has no `mlp ensemble_vmap` case");
    for c in cs {
        let stacked = c.inputs[0].dict::<B>();
        let xs = c.inputs[1].tensor::<B>();
        let n = stacked["w1"].dims()[0];
        // One model per ensemble member, loaded with its slice, then stacked
        // back with stack_module_state.
        let models: Vec<Sequential<B>> = (0..n)
            .map(|i| {
                let one: BTreeMap<String, Tensor<B>> =
                    stacked.iter().map(|(k, v)| (k.clone(), v.select(0, i as isize).deep_copy())).collect();
                let mut m = mlp(&one);
                m.load_state_dict(&rename(&one, &MLP_NAMES, true), true).expect("golden parameters fit");
                m
            })
            .collect();
        let (params, buffers) = stack_module_state(&models).expect("same models");
        assert!(buffers.is_empty());
        let base = models[0].clone();
        let f = vmap_with(
            move |(p, x): &(Sd<B>, Tensor<B>)| functional_call(&base, p, x),
            VmapOptions::new().in_dims((Some(0), None)),
        );
        let what = format!(
            "mlp ensemble_vmap through stack_module_state on {}",
            B::default_instance().map_or("?", |b| b.name())
        );
        assert_close(&what, &f(&(params, xs.clone())), &c.expected, TOL);
        // And through combine_state_for_ensemble.
        let (fmodel, p, b) = combine_state_for_ensemble(&models).expect("same models");
        let g = vmap_with(
            move |(p, b, x): &(Vec<Tensor<B>>, Vec<Tensor<B>>, Tensor<B>)| fmodel.call(p, b, x),
            VmapOptions::new().in_dims((Some(0), Some(0), None)),
        );
        assert_close(&format!("{what} (combine_state_for_ensemble)"), &g(&(p, b, xs)), &c.expected, TOL);
    }
}

#[test]
fn per_sample_grad_and_grad_and_value_mean_through_modules() {
    loss_cases::<func_cpu::Cpu>();
    loss_cases::<RefBackend>();
}

#[test]
fn ensemble_vmap_through_stacked_modules() {
    ensemble::<func_cpu::Cpu>();
    ensemble::<RefBackend>();
}
