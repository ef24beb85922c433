//! Functional optimizers against torch.optim (tests/data/torch_optim.json,
//! from tests/data/make_torch_fixture.py), and under vmap.

use func_batch::{VmapOptions, vmap_with};
use func_core::{DType, Generator, Tensor};
use func_nn::optim::{Adam, AdamState, Sgd, SgdState};
use serde::Deserialize;

type B = func_cpu::Cpu;
type T = Tensor<B>;

#[derive(Deserialize)]
struct Tj {
    shape: Vec<usize>,
    data: Vec<f64>,
}

impl Tj {
    fn t(&self) -> T {
        T::from_vec(self.data.clone(), self.shape.clone())
    }
}

#[derive(Deserialize)]
struct Case {
    name: String,
    params: Vec<Tj>,
    grads: Vec<Vec<Tj>>,
    after: Vec<Vec<Tj>>,
}

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

enum Opt {
    Sgd(Sgd),
    Adam(Adam),
}

/// An optimizer with its state.
enum Run {
    Sgd(Sgd, SgdState<Vec<T>>),
    Adam(Adam, AdamState<Vec<T>>),
}

fn close(what: &str, got: &T, want: &Tj) {
    assert_eq!(got.dims(), &want.shape[..], "{what}");
    for (a, e) in got.to_vec::<f64>().iter().zip(&want.data) {
        assert!((a - e).abs() <= 1e-10 * (1.0 + e.abs()), "{what}: {a} vs torch {e}");
    }
}

#[test]
fn sgd_and_adam_follow_torch_optim() {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/torch_optim.json");
    let fx: Fixture = serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("parse");
    assert_eq!(fx.cases.len(), 7);
    for c in &fx.cases {
        let opt = match c.name.as_str() {
            "sgd" => Opt::Sgd(Sgd::new(0.1)),
            "sgd_momentum_wd" => Opt::Sgd(Sgd::new(0.1).momentum(0.9).weight_decay(0.01)),
            "sgd_nesterov_dampening" => Opt::Sgd(Sgd::new(0.05).momentum(0.8).nesterov(true)),
            "sgd_dampening" => Opt::Sgd(Sgd::new(0.05).momentum(0.8).dampening(0.3)),
            "adam" => Opt::Adam(Adam::new(0.01)),
            "adam_wd" => Opt::Adam(Adam::new(0.02).betas(0.8, 0.95).eps(1e-6).weight_decay(0.1)),
            "adamw" => Opt::Adam(Adam::adamw(0.02, 0.1)),
            other => panic!("unknown case {other}"),
        };
        let mut params: Vec<T> = c.params.iter().map(Tj::t).collect();
        let mut run = match opt {
            Opt::Sgd(o) => Run::Sgd(o, o.init(&params)),
            Opt::Adam(o) => Run::Adam(o, o.init(&params)),
        };
        for (i, (g, after)) in c.grads.iter().zip(&c.after).enumerate() {
            let g: Vec<T> = g.iter().map(Tj::t).collect();
            (params, run) = match run {
                Run::Sgd(o, s) => {
                    let (p, s) = o.step(&params, &g, &s);
                    (p, Run::Sgd(o, s))
                }
                Run::Adam(o, s) => {
                    let (p, s) = o.step(&params, &g, &s);
                    (p, Run::Adam(o, s))
                }
            };
            for (j, (p, w)) in params.iter().zip(after).enumerate() {
                close(&format!("{} step {i} param {j}", c.name), p, w);
            }
        }
    }
}

#[test]
fn optimizer_steps_run_under_vmap_over_an_ensemble() {
    let g = &mut Generator::new(4);
    let params = vec![T::randn([3, 4, 2], DType::F64, g), T::randn([3, 2], DType::F64, g)];
    let grads = vec![T::randn([3, 4, 2], DType::F64, g), T::randn([3, 2], DType::F64, g)];
    let adam = Adam::new(0.05).weight_decay(0.01);
    let sgd = Sgd::new(0.1).momentum(0.9);
    // States for the whole ensemble, made under vmap like the parameters.
    let init = vmap_with(|p: &Vec<T>| adam.init(p), VmapOptions::new());
    let mut s = init(&params);
    let step = vmap_with(|(p, g, s): &(Vec<T>, Vec<T>, AdamState<Vec<T>>)| adam.step(p, g, s), VmapOptions::new());
    let mut p = params.clone();
    let sgd_init = vmap_with(|p: &Vec<T>| sgd.init(p), VmapOptions::new());
    let sgd_step = vmap_with(|(p, g, s): &(Vec<T>, Vec<T>, SgdState<Vec<T>>)| sgd.step(p, g, s), VmapOptions::new());
    let (mut q, mut qs) = (params.clone(), sgd_init(&params));
    for _ in 0..3 {
        (p, s) = step(&(p, grads.clone(), s));
        (q, qs) = sgd_step(&(q, grads.clone(), qs));
    }
    assert_eq!(s.step, 3);
    // Each member equals its own, unbatched run.
    for m in 0..3 {
        let one = |t: &Vec<T>| t.iter().map(|x| x.select(0, m)).collect::<Vec<T>>();
        let (mut pm, mut sm) = (one(&params), adam.init(&one(&params)));
        let (mut qm, mut qsm) = (one(&params), sgd.init(&one(&params)));
        for _ in 0..3 {
            (pm, sm) = adam.step(&pm, &one(&grads), &sm);
            (qm, qsm) = sgd.step(&qm, &one(&grads), &qsm);
        }
        for (a, b) in one(&p).iter().zip(&pm).chain(one(&q).iter().zip(&qm)) {
            for (x, y) in a.to_vec::<f64>().iter().zip(b.to_vec::<f64>()) {
                assert!((x - y).abs() < 1e-12, "{x} vs {y}");
            }
        }
        let _ = (sm, qsm);
    }
}
