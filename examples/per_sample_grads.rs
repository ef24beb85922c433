//! Per-sample gradients (torch.func tutorial "Per-sample-gradients"):
//! `cargo run --release --example per_sample_grads`.
//!
//! The tutorial's CNN and an MLP, as nn modules; the per-sample gradients
//! are `vmap(grad(loss of functional_call), in_dims (None, 0, 0))`, checked
//! against gradients computed one sample at a time.

use func::nn::loss::{Reduction, nll_loss};
use func::nn::{Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential};
use func::prelude::*;
use std::time::Instant;

/// The tutorial's SimpleCNN: conv 1->32, conv 32->64, max_pool2d(2),
/// fc 9216->128, fc 128->10, log_softmax.
fn cnn(g: &mut Generator) -> Sequential<Cpu> {
    Sequential::new()
        .add_module("conv1", Conv2d::new(1, 32, (3, 3), g))
        .add_module("relu1", ReLU::new())
        .add_module("conv2", Conv2d::new(32, 64, (3, 3), g))
        .add_module("relu2", ReLU::new())
        .add_module("pool", MaxPool2d::new((2, 2)))
        .add_module("flatten", Flatten::new())
        .add_module("fc1", Linear::new(9216, 128, g))
        .add_module("relu3", ReLU::new())
        .add_module("fc2", Linear::new(128, 10, g))
}

fn mlp(g: &mut Generator) -> Sequential<Cpu> {
    Sequential::new()
        .add_module("fc1", Linear::new(784, 128, g))
        .add_module("relu1", ReLU::new())
        .add_module("fc2", Linear::new(128, 128, g))
        .add_module("relu2", ReLU::new())
        .add_module("fc3", Linear::new(128, 10, g))
}

use func::backend::Cpu;

fn per_sample(name: &str, model: &Sequential<Cpu>, data: &Tensor, targets: &Tensor) {
    // The loss of one sample: the model sees a batch of one.
    let loss = |p: &StateDict<Cpu>, x: &Tensor, y: &Tensor| {
        let logits = functional_call(model, p, &x.unsqueeze(0));
        nll_loss(&logits.log_softmax(-1), &y.unsqueeze(0), Reduction::Mean)
    };
    // grad with respect to the parameters only (torch's argnums=0): the
    // sample and its integer label are captured.
    let grad_of_sample = |(p, x, y): &(StateDict<Cpu>, Tensor, Tensor)| grad(|p: &StateDict<Cpu>| loss(p, x, y))(p);
    let params = model.parameter_dict();
    let psg = vmap_with(grad_of_sample, VmapOptions::new().in_dims((None, Some(0), Some(0))));
    let t = Instant::now();
    let grads = psg(&(params.clone(), data.clone(), targets.clone()));
    let fast = t.elapsed();
    println!(
        "{name}: per-sample gradients of {} parameters for {} samples in {fast:.2?}",
        params.len(),
        data.dims()[0]
    );
    for (k, g) in &grads {
        println!("  {k:12} {}", g.shape());
    }
    // The same, one sample at a time.
    let t = Instant::now();
    let mut worst = 0.0f32;
    for i in 0..data.dims()[0] {
        let gi = grad_of_sample(&(params.clone(), data.select(0, i as isize), targets.select(0, i as isize)));
        for (k, g) in &gi {
            let d = (g - &grads[k].select(0, i as isize)).abs().max().item::<f32>();
            worst = worst.max(d);
        }
    }
    println!("  one sample at a time: {:.2?}; largest difference {worst:.2e}", t.elapsed());
    assert!(worst < 1e-4, "per-sample gradients differ from the loop");
}

fn main() {
    let mut g = Generator::new(0);
    let batch = 64;
    let data = Tensor::randn([batch, 1, 28, 28], DType::F32, &mut g);
    let targets = (Tensor::rand([batch], DType::F32, &mut g) * 10.0).floor().to_dtype(DType::I64);
    per_sample("CNN", &cnn(&mut g), &data, &targets);
    let flat = data.reshape(&[batch as isize, 784]);
    per_sample("MLP", &mlp(&mut g), &flat, &targets);
}
