//! A neural Lennard-Jones potential (functorch's examples/lennard_jones):
//! `cargo run --release --example lennard_jones`.
//!
//! An MLP 1-16-16-16-16-1 with tanh models the energy E(r) of two atoms at
//! distance r; the forces are its negative derivative,
//! `-vmap(jacrev(model))(r)`. The model trains on energies and forces
//! (loss = mse(E) + mse(F), so the parameter gradient goes through
//! `jacrev`: a second derivative), with Adam.

use func::backend::Cpu;
use func::nn::loss::{Reduction, mse_loss};
use func::nn::optim::Adam;
use func::nn::{Linear, Sequential, Tanh};
use func::prelude::*;

const SIGMA: f64 = 0.5;
const EPSILON: f64 = 4.0;

fn energy(r: &Tensor) -> Tensor {
    let s = r.recip() * SIGMA;
    (s.powf(12.0) - s.powf(6.0)) * EPSILON
}

fn force(r: &Tensor) -> Tensor {
    // -dE/dr
    ((r.powf(-13.0) * (-12.0 * SIGMA.powi(12))) + r.powf(-7.0) * (6.0 * SIGMA.powi(6))) * -EPSILON
}

fn main() {
    let mut g = Generator::new(0);
    let mut model = Sequential::<Cpu>::new();
    for (i, o) in [(1, 16), (16, 16), (16, 16), (16, 16)] {
        model = model.append(Linear::new(i, o, &mut g)).append(Tanh::new());
    }
    let model = model.append(Linear::new(16, 1, &mut g));

    let n = 1000;
    let r = Tensor::linspace(0.95, 3.0, n, DType::F32).reshape(&[n as isize, 1]);
    let (e_true, f_true) = (energy(&r), force(&r));

    // Forces: minus the derivative of the energy with respect to r, per sample.
    let forces = |p: &StateDict<Cpu>, r: &Tensor| -> Tensor {
        let de_dr = vmap(jacrev(|x: &Tensor| functional_call(&model, p, x)))(r); // [n, 1, 1]
        -de_dr.reshape(&[-1, 1])
    };
    let loss = |p: &StateDict<Cpu>| {
        mse_loss(&functional_call(&model, p, &r), &e_true, Reduction::Mean)
            + mse_loss(&forces(p, &r), &f_true, Reduction::Mean)
    };
    let mut params = model.parameter_dict();
    let opt = Adam::new(1e-2);
    let mut state = opt.init(&params);
    let epochs = 400;
    let mut first = 0.0;
    for epoch in 0..=epochs {
        let (grads, value) = grad_and_value(loss)(&params);
        let v = value.item::<f32>();
        if epoch == 0 {
            first = v;
        }
        if epoch % 40 == 0 {
            println!("epoch {epoch:4}: loss {v:.6}");
        }
        (params, state) = opt.step(&params, &grads, &state);
    }
    let e = functional_call(&model, &params, &r);
    let f = forces(&params, &r);
    let err_e = (&e - &e_true).abs().max().item::<f32>();
    let err_f = (&f - &f_true).abs().max().item::<f32>();
    println!("largest error over r in [0.95, 3]: energy {err_e:.4}, force {err_f:.4}");
    let last = loss(&params).item::<f32>();
    assert!(last < first / 10.0, "the loss did not fall: {first} -> {last}");
}
