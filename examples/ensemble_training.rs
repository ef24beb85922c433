//! Training an ensemble in parallel (functorch's examples/ensembling):
//! `cargo run --release --example ensemble_training`.
//!
//! Two MLPs 2-32-2 learn a generated two-spiral dataset at once: their
//! parameters are stacked on a new dim 0, and one `vmap` over the whole
//! train step (`grad_and_value` of the loss through `functional_call`, then
//! a functional SGD step with lr 0.2) updates both. The accuracy of each
//! model is reported as training goes.

use func::backend::Cpu;
use func::nn::loss::{Reduction, nll_loss};
use func::nn::optim::{Sgd, SgdState};
use func::nn::{Linear, ReLU, Sequential};
use func::prelude::*;
use std::f64::consts::PI;

/// `n` points on two interleaved spirals with Gaussian noise, labelled by
/// spiral (functorch's `make_spirals`).
fn make_spirals(n: usize, noise_std: f64, g: &mut Generator) -> (Tensor, Tensor) {
    let ts = Tensor::linspace(0.0, 1.0, n, DType::F32);
    let rs = ts.sqrt();
    let thetas = &rs * (2.0 * PI);
    let positive = Tensor::rand([n], DType::F32, g).ge_scalar(0.5);
    let signs = positive.to_dtype(DType::F32) * 2.0 - 1.0;
    let labels = positive.to_dtype(DType::I64);
    let xs = &rs * &signs * thetas.cos() + Tensor::randn([n], DType::F32, g) * noise_std;
    let ys = &rs * &signs * thetas.sin() + Tensor::randn([n], DType::F32, g) * noise_std;
    (Tensor::stack(&[xs, ys], 1), labels)
}

fn classifier(g: &mut Generator) -> Sequential<Cpu> {
    Sequential::new()
        .add_module("fc1", Linear::new(2, 32, g))
        .add_module("relu", ReLU::new())
        .add_module("fc2", Linear::new(32, 2, g))
}

fn main() {
    let mut g = Generator::new(0);
    let (points, labels) = make_spirals(100, 0.05, &mut g);
    let models = [classifier(&mut g), classifier(&mut g)];
    let (mut params, _) = stack_module_state(&models).expect("same layers");
    let base = models[0].clone();
    let opt = Sgd::new(0.2);
    let mut state = vmap(|p: &StateDict<Cpu>| opt.init(p))(&params);

    // One train step of one model; vmap runs it for every model at once.
    let step = |(p, s): &(StateDict<Cpu>, SgdState<StateDict<Cpu>>)| {
        let loss = |p: &StateDict<Cpu>| {
            nll_loss(&functional_call(&base, p, &points).log_softmax(-1), &labels, Reduction::Mean)
        };
        let (grads, value) = grad_and_value(loss)(p);
        let (p, s) = opt.step(p, &grads, s);
        (value, p, s)
    };
    let parallel_step = vmap(step);
    let accuracy = |p: &StateDict<Cpu>| {
        let predicted =
            vmap_with(|p: &StateDict<Cpu>| functional_call(&base, p, &points).argmax(-1, false), VmapOptions::new())(p);
        predicted.eq(&labels.unsqueeze(0).expand(&[2, -1])).to_dtype(DType::F32).mean_dims(&[1], false).to_vec::<f32>()
    };
    let steps = 2000;
    for i in 0..=steps {
        let (loss, p, s) = parallel_step(&(params.clone(), state.clone()));
        if i % 200 == 0 {
            let acc = accuracy(&params);
            println!(
                "step {i:4}: loss {:.4} / {:.4}, accuracy {:.0}% / {:.0}%",
                loss.to_vec::<f32>()[0],
                loss.to_vec::<f32>()[1],
                acc[0] * 100.0,
                acc[1] * 100.0
            );
        }
        (params, state) = (p, s);
    }
    let acc = accuracy(&params);
    assert!(acc.iter().all(|a| *a > 0.8), "the models did not learn the spirals: accuracy {acc:?}");
    println!("final accuracy: {:.0}% and {:.0}%", acc[0] * 100.0, acc[1] * 100.0);
}
