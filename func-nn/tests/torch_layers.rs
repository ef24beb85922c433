//! Layers and losses against torch.nn in float64 (tests/data/torch_nn.json,
//! written by tests/data/make_torch_fixture.py): outputs, gradients of
//! `sum(output * ct)` with respect to the input and the parameters, and the
//! buffers after the call (BatchNorm's running statistics).

use func_autodiff::grad;
use func_core::{Conv2dOptions, DType, Generator, Tensor};
use func_nn::loss::{Reduction, try_cross_entropy, try_mse_loss, try_nll_loss};
use func_nn::*;
use serde::Deserialize;
use std::collections::BTreeMap;

type B = func_cpu::Cpu;
type T = Tensor<B>;
const TOL: f64 = 1e-10;

#[derive(Deserialize)]
struct Tj {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Tj {
    fn f64(&self) -> T {
        T::from_vec(self.data.clone(), self.shape.clone())
    }
    fn i64(&self) -> T {
        T::from_vec(self.data.iter().map(|&v| v as i64).collect::<Vec<_>>(), self.shape.clone())
    }
}

#[derive(Deserialize)]
struct LayerCase {
    name: String,
    state: BTreeMap<String, Tj>,
    input: Tj,
    output: Tj,
    cotangent: Tj,
    grads: BTreeMap<String, Tj>,
    state_after: BTreeMap<String, Tj>,
}

#[derive(Deserialize)]
struct LossCase {
    name: String,
    reduction: String,
    input: Tj,
    target: Tj,
    output: Tj,
    grad: Tj,
}

#[derive(Deserialize)]
struct Fixture {
    layers: Vec<LayerCase>,
    losses: Vec<LossCase>,
}

fn fixture() -> Fixture {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/torch_nn.json");
    serde_json::from_str(&std::fs::read_to_string(p).expect("read torch_nn.json")).expect("parse torch_nn.json")
}

fn close(what: &str, got: &T, want: &Tj) {
    assert_eq!(got.dims(), &want.shape[..], "{what}: shape");
    let g = got.to_dtype(DType::F64).to_vec::<f64>();
    for (i, (a, e)) in g.iter().zip(&want.data).enumerate() {
        assert!((a - e).abs() <= TOL * (1.0 + e.abs()), "{what}: element {i} is {a}, torch gives {e}");
    }
}

fn f64_bn(momentum: Option<f64>, affine: bool) -> BatchNormConfig {
    BatchNormConfig { dtype: DType::F64, momentum, affine, ..Default::default() }
}

fn build(name: &str) -> (Box<dyn Module<B>>, bool) {
    let g = &mut Generator::new(1);
    let f64c = |opts: Conv2dOptions, bias: bool| Conv2dConfig { opts, bias, dtype: DType::F64 };
    let m: Box<dyn Module<B>> = match name {
        "linear" => Box::new(Linear::new_with(5, 3, true, DType::F64, g)),
        "linear_nobias" => Box::new(Linear::new_with(5, 3, false, DType::F64, g)),
        "conv_basic" => Box::new(Conv2d::with_config(3, 4, (3, 3), f64c(Conv2dOptions::default(), true), g)),
        "conv_full" => {
            let opts = Conv2dOptions { stride: (2, 1), padding: (1, 2), dilation: (2, 1), groups: 2 };
            Box::new(Conv2d::with_config(4, 6, (3, 2), f64c(opts, true), g))
        }
        "conv_nobias" => Box::new(Conv2d::with_config(2, 2, (2, 2), f64c(Conv2dOptions::default(), false), g)),
        "bn1d_train" | "bn1d_eval" => Box::new(BatchNorm::new_1d(3, f64_bn(Some(0.1), true))),
        "bn1d_train_3d" => Box::new(BatchNorm::new_1d(3, f64_bn(Some(0.3), true))),
        "bn2d_train" | "bn2d_eval" => Box::new(BatchNorm::new_2d(2, f64_bn(Some(0.1), true))),
        "bn2d_cumulative" => Box::new(BatchNorm::new_2d(2, f64_bn(None, true))),
        "bn1d_noaffine" => Box::new(BatchNorm::new_1d(3, f64_bn(Some(0.1), false))),
        "layernorm" => Box::new(LayerNorm::new(vec![4, 3], 1e-5, true, DType::F64)),
        "groupnorm" => Box::new(GroupNorm::new(2, 6, 1e-5, true, DType::F64)),
        "embedding" => Box::new(Embedding::new_with(7, 3, DType::F64, g)),
        "maxpool" => Box::new(MaxPool2d::new((2, 2))),
        "maxpool_pad" => Box::new(MaxPool2d::with((3, 3), (2, 2), (1, 1))),
        "avgpool_pad" => Box::new(AvgPool2d::with((3, 3), (2, 2), (1, 1))),
        "flatten" => Box::new(Flatten::new()),
        "relu" => Box::new(ReLU::new()),
        "tanh" => Box::new(Tanh::new()),
        "gelu" => Box::new(GELU::new()),
        "sigmoid" => Box::new(Sigmoid::new()),
        "dropout_eval" => Box::new(Dropout::new(0.5, 0)),
        "sequential" => Box::new(
            Sequential::new()
                .append(Conv2d::with_config(
                    1,
                    2,
                    (3, 3),
                    f64c(Conv2dOptions { padding: (1, 1), ..Default::default() }, true),
                    g,
                ))
                .append(BatchNorm::new_2d(2, f64_bn(Some(0.1), true)))
                .append(ReLU::new())
                .append(MaxPool2d::new((2, 2)))
                .append(Flatten::new())
                .append(Linear::new_with(8, 3, true, DType::F64, g)),
        ),
        other => panic!("no Rust layer for fixture case {other}"),
    };
    let train = !name.ends_with("_eval");
    (m, train)
}

#[test]
fn layers_match_torch_outputs_gradients_and_buffers() {
    let fx = fixture();
    assert!(fx.layers.len() >= 25);
    for c in &fx.layers {
        let (mut m, train) = build(&c.name);
        m.train(train);
        let state: StateDict<B> = c
            .state
            .iter()
            .map(|(k, v)| (k.clone(), if k.ends_with("num_batches_tracked") { v.i64() } else { v.f64() }))
            .collect();
        m.load_state_dict(&state, true).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let x = if c.name == "embedding" { c.input.i64() } else { c.input.f64() };
        let y = m.forward(&x);
        close(&format!("{} output", c.name), &y, &c.output);
        for (k, v) in &c.state_after {
            close(&format!("{} {k} after the call", c.name), &m.state_dict()[k], v);
        }
        // Gradients, in eval mode for layers whose buffers train mode would
        // update again (the forward above already checked the update).
        let ct = c.cotangent.f64();
        let fresh_state: StateDict<B> = c
            .state
            .iter()
            .map(|(k, v)| (k.clone(), if k.ends_with("num_batches_tracked") { v.i64() } else { v.f64() }))
            .collect();
        let params: StateDict<B> = m.parameter_dict().keys().map(|k| (k.clone(), fresh_state[k].clone())).collect();
        let buffers: StateDict<B> = m.buffer_dict().keys().map(|k| (k.clone(), fresh_state[k].deep_copy())).collect();
        let m2 = m.box_clone();
        let out_ct = |p: &StateDict<B>, x: &T| {
            let mut s = p.clone();
            s.extend(buffers.iter().map(|(k, v)| (k.clone(), v.deep_copy())));
            (functional_call(&m2, &s, x) * &ct).sum()
        };
        if c.name == "embedding" {
            let g = grad(|p: &StateDict<B>| out_ct(p, &x))(&params);
            close("embedding grad weight", &g["weight"], &c.grads["weight"]);
        } else {
            let (gp, gx) = grad(|(p, x): &(StateDict<B>, T)| out_ct(p, x))(&(params, x.clone()));
            close(&format!("{} grad input", c.name), &gx, &c.grads["input"]);
            for (k, g) in &gp {
                close(&format!("{} grad {k}", c.name), g, &c.grads[k]);
            }
            assert_eq!(gp.len(), c.grads.len() - 1, "{}: parameter count", c.name);
        }
    }
}

#[test]
fn losses_match_torch_values_and_gradients() {
    let fx = fixture();
    assert_eq!(fx.losses.len(), 18);
    for c in &fx.losses {
        let r = match c.reduction.as_str() {
            "mean" => Reduction::Mean,
            "sum" => Reduction::Sum,
            _ => Reduction::None,
        };
        let x = c.input.f64();
        let target =
            if c.name == "cross_entropy_probs" || c.name == "mse_loss" { c.target.f64() } else { c.target.i64() };
        let f = |x: &T| -> T {
            match c.name.as_str() {
                "nll_loss" => try_nll_loss(x, &target, r),
                "mse_loss" => try_mse_loss(x, &target, r),
                _ => try_cross_entropy(x, &target, r),
            }
            .unwrap_or_else(|e| panic!("{}: {e}", c.name))
        };
        let what = format!("{} {}", c.name, c.reduction);
        close(&what, &f(&x), &c.output);
        close(&format!("{what} grad"), &grad(|x: &T| f(x).sum())(&x), &c.grad);
    }
}
