//! Model ensembling (torch.func tutorial "Model ensembling"):
//! `cargo run --release --example ensembling`.
//!
//! Ten MLPs 784-128-128-10 run as one batched model: their parameters are
//! stacked with `stack_module_state` and `vmap` runs `functional_call` over
//! them. Option 1: each model gets its own minibatch; option 2: all models
//! share one. Both are checked against running the models one by one.

use func::backend::Cpu;
use func::nn::{Linear, Module, ReLU, Sequential};
use func::prelude::*;
use std::time::Instant;

fn mlp(g: &mut Generator) -> Sequential<Cpu> {
    Sequential::new()
        .add_module("fc1", Linear::new(784, 128, g))
        .add_module("relu1", ReLU::new())
        .add_module("fc2", Linear::new(128, 128, g))
        .add_module("relu2", ReLU::new())
        .add_module("fc3", Linear::new(128, 10, g))
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).abs().max().item::<f32>()
}

fn main() {
    let mut g = Generator::new(0);
    let num_models = 10;
    let models: Vec<Sequential<Cpu>> = (0..num_models).map(|_| mlp(&mut g)).collect();
    let minibatches = Tensor::randn([num_models, 64, 784], DType::F32, &mut g);
    let minibatch = minibatches.select(0, 0);

    let (params, buffers) = stack_module_state(&models).expect("the models have the same layers");
    println!(
        "stacked parameters: {}",
        params.iter().map(|(k, v)| format!("{k} {}", v.shape())).collect::<Vec<_>>().join(", ")
    );
    assert!(buffers.is_empty());
    // A "base" copy of the model; its own tensors are never used.
    let base = models[0].clone();
    let fmodel = move |(p, x): &(StateDict<Cpu>, Tensor)| functional_call(&base, p, x);

    // Option 1: a different minibatch per model.
    let t = Instant::now();
    let distinct = vmap(fmodel.clone())(&(params.clone(), minibatches.clone()));
    let took = t.elapsed();
    let looped: Vec<Tensor> =
        models.iter().enumerate().map(|(i, m)| m.forward(&minibatches.select(0, i as isize))).collect();
    let d1 = max_diff(&distinct, &Tensor::stack(&looped, 0));
    println!(
        "option 1 (distinct minibatches): {} in {took:.2?}, largest difference to the loop {d1:.2e}",
        distinct.shape()
    );

    // Option 2: the same minibatch for every model.
    let t = Instant::now();
    let same = vmap_with(fmodel, VmapOptions::new().in_dims((Some(0), None)))(&(params, minibatch.clone()));
    let took = t.elapsed();
    let looped: Vec<Tensor> = models.iter().map(|m| m.forward(&minibatch)).collect();
    let d2 = max_diff(&same, &Tensor::stack(&looped, 0));
    println!("option 2 (same minibatch): {} in {took:.2?}, largest difference to the loop {d2:.2e}", same.shape());

    // The older API: combine_state_for_ensemble.
    let (f, p, b) = combine_state_for_ensemble(&models).expect("the models have the same layers");
    let old = vmap_with(
        move |(p, b, x): &(Vec<Tensor>, Vec<Tensor>, Tensor)| f.call(p, b, x),
        VmapOptions::new().in_dims((Some(0), Some(0), None)),
    )(&(p, b, minibatch));
    let d3 = max_diff(&old, &same);
    println!("combine_state_for_ensemble agrees: largest difference {d3:.2e}");
    assert!(d1 < 1e-5 && d2 < 1e-5 && d3 < 1e-5);
}
