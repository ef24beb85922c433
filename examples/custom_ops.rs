//! Custom operations with their own rules, and stop_gradient:
//! `cargo run --example custom_ops`.
//!
//! The three ops are the classic examples of torch's `autograd.Function` and
//! JAX's `custom_jvp` / `custom_vjp`.

use func::prelude::*;

/// `log(1 + e^x)` with a custom JVP: the naive derivative
/// `e^x / (1 + e^x)` overflows to `inf / inf`; `sigmoid(x)` does not.
fn log1pexp() -> CustomFn {
    CustomFn::new("log1pexp", |x| vec![x[0].exp().log1p()])
        .with_jvp(|x, _y, t| vec![t[0].as_ref().map(|t| t * &x[0].sigmoid())])
}

/// A straight-through estimator: `round` forward, identity derivative.
fn round_ste() -> CustomFn {
    CustomFn::new("round_ste", |x| vec![x[0].round()])
        .with_jvp(|_x, _y, t| vec![t[0].clone()])
        .with_vjp(|_x, _y, g| vec![g[0].clone()])
}

/// The identity, with its cotangent clipped to `[lo, hi]` (a custom VJP).
fn clip_gradient(lo: f64, hi: f64) -> CustomFn {
    CustomFn::new("clip_gradient", |x| vec![x[0].deep_copy()])
        .with_vjp(move |_x, _y, g| vec![g[0].as_ref().map(|g| g.clamp(Some(lo), Some(hi)))])
}

/// `(sin x, cos x)`: two outputs, and a batching rule of its own.
fn sincos() -> CustomFn {
    CustomFn::new("sincos", |x| vec![x[0].sin(), x[0].cos()])
        .with_jvp(|x, _y, t| vec![t[0].as_ref().map(|t| t * &x[0].cos()), t[0].as_ref().map(|t| -(t * &x[0].sin()))])
        .with_batch(|x, batched, _size| (vec![x[0].sin(), x[0].cos()], vec![batched[0], batched[0]]))
}

fn main() {
    println!("== log1pexp: a custom JVP ==");
    let x = Tensor::from_vec(vec![-2.0f32, 0.0, 100.0], [3]);
    let naive = grad(|x: &Tensor| x.exp().log1p().sum())(&x);
    let op = log1pexp();
    let g = grad(move |x: &Tensor| op.call(&[x]).remove(0).sum())(&x);
    println!("x = {x}");
    println!("naive grad  = {naive}   (NaN at 100: inf / inf in f32)");
    println!("custom grad = {g}   (sigmoid(x))");
    let op = log1pexp();
    let h = hessian(move |x: &Tensor| op.call(&[x]).remove(0).sum())(&x);
    println!("hessian diagonal = {}", h.diagonal(0, 0, 1));
    let op = log1pexp();
    let xs = Tensor::from_vec(vec![0.0f32, 1.0, 2.0, 3.0], [2, 2]);
    println!("vmap(log1pexp) over rows = {}", vmap(move |x: &Tensor| op.call(&[x]).remove(0))(&xs));

    println!("\n== round_ste: a straight-through estimator ==");
    let x = Tensor::from_vec(vec![0.4f64, 1.6, -2.7], [3]);
    let op = round_ste();
    let o = op.clone();
    println!("round_ste(x) = {}", o.call(&[&x]).remove(0));
    let o = op.clone();
    println!(
        "grad sum(round_ste(x) * x) = {}   (round(x) + x)",
        grad(move |x: &Tensor| (o.call(&[x]).remove(0) * x).sum())(&x)
    );
    println!("jacfwd(round_ste) =\n{}", jacfwd(move |x: &Tensor| op.call(&[x]).remove(0))(&x));

    println!("\n== clip_gradient: a custom VJP ==");
    let op = clip_gradient(-1.0, 1.0);
    let w = Tensor::from_vec(vec![5.0f64, -0.5, -3.0], [3]);
    let o = op.clone();
    let g = grad(move |x: &Tensor| (o.call(&[x]).remove(0) * &w).sum())(&x);
    println!("grad sum(clip_gradient(x) * w) with w = [5, -0.5, -3]: {g}   (w clipped to [-1, 1])");
    let o = op.clone();
    println!("jacrev(clip_gradient) =\n{}", jacrev(move |x: &Tensor| o.call(&[x]).remove(0))(&x));
    let xs = Tensor::from_vec(vec![0.5f64, 3.0, -4.0, 0.25], [2, 2]);
    let g = vmap(grad(move |x: &Tensor| (op.call(&[x]).remove(0) * x * 2.0).sum()))(&xs);
    println!("per-sample grads of sum(clip_gradient(x) * 2x) = {g}");

    println!("\n== several outputs ==");
    let op = sincos();
    let f = move |x: &Tensor| {
        let o = op.call(&[x]);
        (&o[0] * &o[1]).sum()
    };
    let x = Tensor::from_vec(vec![0.3f64, -1.2], [2]);
    println!("grad sum(sin x * cos x) = {}   (cos 2x = {})", grad(f)(&x), (&x * 2.0).cos());

    println!("\n== stop_gradient (detach) ==");
    let g = grad(|x: &Tensor| (x * &x.detach()).sum())(&x);
    println!("grad sum(x * x.detach()) = {g}   (x, not 2x)");
    let xs = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]);
    println!("vmap(x.stop_gradient() * 2) = {}", vmap(|x: &Tensor| x.stop_gradient() * 2.0)(&xs));
}
