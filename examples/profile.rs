//! Where does a transformed program spend its time? Run per-sample
//! gradients of an MLP, `vmap(grad(loss))`, on the `Profiled` backend, which
//! wraps the CPU backend and counts every kernel call:
//! `cargo run --release --example profile`.
//!
//! `Profiled<B>` (from func-testkit) wraps any backend, so the same table
//! can be made for a backend of your own.

use func::{DType, Generator, VmapOptions, grad, vmap_with};
use func_core::{Tensor, with_backend};
use func_cpu::Cpu;
use func_testkit::Profiled;
use std::collections::BTreeMap;
use std::time::Instant;

type P = Profiled<Cpu>;
type T = Tensor<P>;
type Params = BTreeMap<String, T>;

fn layer(p: &mut Params, name: &str, out: usize, inp: usize, g: &mut Generator) {
    let s = 1.0 / (inp as f64).sqrt();
    p.insert(format!("{name}.weight"), T::randn([out, inp], DType::F32, g) * s);
    p.insert(format!("{name}.bias"), T::randn([out], DType::F32, g) * s);
}

fn mlp(p: &Params, x: &T) -> T {
    let h = x.linear(&p["fc1.weight"], Some(&p["fc1.bias"])).relu();
    let h = h.linear(&p["fc2.weight"], Some(&p["fc2.bias"])).relu();
    h.linear(&p["fc3.weight"], Some(&p["fc3.bias"]))
}

fn main() {
    let prof = Profiled::new(Cpu);
    // Everything made inside the scope, and every operation on it, runs on
    // (and is counted by) this instance.
    with_backend(prof.clone(), || {
        let mut g = Generator::new(0);
        let mut p = Params::new();
        layer(&mut p, "fc1", 128, 784, &mut g);
        layer(&mut p, "fc2", 128, 128, &mut g);
        layer(&mut p, "fc3", 10, 128, &mut g);
        let x = T::randn([64, 784], DType::F32, &mut g);
        let y = (T::rand([64], DType::F32, &mut g) * 10.0).floor().to_dtype(DType::I64);

        let per_example =
            |(p, x, y): &(Params, T, T)| grad(|p: &Params| mlp(p, &x.unsqueeze(0)).cross_entropy(&y.unsqueeze(0)))(p);
        let psg = vmap_with(per_example, VmapOptions::new().in_dims((None, Some(0), Some(0))));
        let inputs = (p, x, y);
        // One warm-up call, then count ten.
        let _ = psg(&inputs);
        prof.reset();
        let start = Instant::now();
        let steps = 10;
        for _ in 0..steps {
            let grads = psg(&inputs);
            assert_eq!(grads["fc1.weight"].dims(), &[64, 128, 784]);
        }
        let wall = start.elapsed();
        println!("per-sample gradients of a 784-128-128-10 MLP, batch 64, {steps} calls");
        println!("wall time {:.1} ms per call\n", wall.as_secs_f64() * 1e3 / steps as f64);
        println!("{prof}");
    });
}
