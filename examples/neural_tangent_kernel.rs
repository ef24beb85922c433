//! The empirical neural tangent kernel (torch.func tutorial "Neural Tangent
//! Kernels"): `cargo run --release --example neural_tangent_kernel`.
//!
//! The tutorial's CNN (three 3x3 convolutions 3->32->32->32, then fc
//! 21632->10) and the NTK between x_train [20, 3, 32, 32] and x_test
//! [5, 3, 32, 32], `[20, 5, 10, 10]`, computed both ways: by contracting the
//! per-sample Jacobians `vmap(jacrev(f))`, and by NTK-vector products
//! (`vjp` then `vmap` over `jvp`). The two are checked equal and timed.

use func::backend::Cpu;
use func::nn::{Conv2d, Flatten, Linear, ReLU, Sequential};
use func::prelude::*;
use std::time::Instant;

type Params = StateDict<Cpu>;

fn main() {
    let mut g = Generator::new(0);
    let net = Sequential::<Cpu>::new()
        .append(Conv2d::new(3, 32, (3, 3), &mut g))
        .append(ReLU::new())
        .append(Conv2d::new(32, 32, (3, 3), &mut g))
        .append(ReLU::new())
        .append(Conv2d::new(32, 32, (3, 3), &mut g))
        .append(Flatten::new())
        .append(Linear::new(32 * 26 * 26, 10, &mut g));
    let params = net.parameter_dict();
    let x_train = Tensor::randn([20, 3, 32, 32], DType::F32, &mut g);
    let x_test = Tensor::randn([5, 3, 32, 32], DType::F32, &mut g);
    // The model on one sample: [3, 32, 32] -> [10].
    let f = |p: &Params, x: &Tensor| functional_call(&net, p, &x.unsqueeze(0)).squeeze_dim(0);

    // Method 1: Jacobian contraction.
    println!("computing the NTK by Jacobian contraction (per-sample Jacobians of 20 + 5 samples)...");
    let t = Instant::now();
    let jac = |x: &Tensor| {
        let per_sample = |x: &Tensor| jacrev(|p: &Params| f(p, x))(&params);
        vmap(per_sample)(x) // dict of [N, 10, *param shape]
    };
    let (j1, j2) = (jac(&x_train), jac(&x_test));
    let mut ntk1: Option<Tensor> = None;
    for (k, a) in &j1 {
        let (n, m) = (a.dims()[0] as isize, j2[k].dims()[0] as isize);
        let a = a.reshape(&[n * 10, -1]);
        let b = j2[k].reshape(&[m * 10, -1]);
        // einsum('Naf,Mbf->NMab')
        let part = a.matmul(&b.t()).reshape(&[n, 10, m, 10]).permute(&[0, 2, 1, 3]);
        ntk1 = Some(match ntk1 {
            Some(acc) => acc + part,
            None => part,
        });
    }
    let ntk1 = ntk1.expect("the model has parameters").contiguous();
    let took1 = t.elapsed();
    println!("Jacobian contraction: NTK {} in {took1:.2?}", ntk1.shape());

    // Method 2: NTK-vector products.
    println!("computing the NTK by NTK-vector products (100 pairs, 10 products each)...");
    let t = Instant::now();
    let basis = Tensor::eye(10, DType::F32);
    let get_ntk = |(x1, x2): &(Tensor, Tensor)| {
        let (_, vjp_fn) = vjp(|p: &Params| f(p, x1), &params);
        let slice = |e: &Tensor| jvp(|p: &Params| f(p, x2), &params, &vjp_fn(e)).1;
        vmap(slice)(&basis)
    };
    let inner = vmap_with(get_ntk, VmapOptions::new().in_dims((None, Some(0))));
    let ntk2 = vmap_with(inner, VmapOptions::new().in_dims((Some(0), None)))(&(x_train, x_test));
    let took2 = t.elapsed();
    println!("NTK-vector products: NTK {} in {took2:.2?}", ntk2.shape());

    let diff = (&ntk1 - &ntk2).abs().max().item::<f32>();
    let scale = ntk1.abs().max().item::<f32>();
    println!("largest difference {diff:.3e} (largest entry {scale:.3e})");
    assert!(diff <= 1e-4 * scale.max(1.0), "the two methods disagree");
}
