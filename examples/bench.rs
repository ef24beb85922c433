//! The benchmark runner: one JSON line per workload on stdout.
//!
//! ```text
//! cargo run --release --example bench                 # every workload
//! cargo run --release --example bench -- matmul_f32_1024 add_op_overhead
//! ```
//!
//! Protocol: inputs are built once (seeded), then 3 warm-up calls, then the
//! median of at least 20 timed calls (5 for workloads over 50 ms), f32, with
//! every output element computed. Workloads that take well under a
//! microsecond (`add_op_overhead`, `grad_call_overhead`) time each sample as the mean of a loop of
//! calls, since one call is below the clock's resolution.
//!
//! Rows with `"system": "matrixmultiply-sgemm"` are the raw GEMM kernel on
//! the same buffers, measured in the same run for comparison. Rows with
//! `"system": "func-rs-nn"` run the same workload through func-nn modules
//! and `functional_call` (`stack_module_state` for the ensembles), to show
//! what the module layer costs over plain parameter dicts. Rows with
//! `"system": "func-rs-graph"` (the Hessian-vector product, MAML and
//! Lennard-Jones) run the same function captured once with `make_graph`,
//! simplified (`Graph::simplify`: the nodes whose results nothing reads
//! removed, repeated ones merged, products with ones replaced by their
//! other operand) and replayed with `Graph::eval`, the
//! analog of calling a `jax.jit`-compiled function: the transforms' rules
//! run once, at capture, and each call runs only the primitives it needs.
//!
//! `--peak` reports memory instead of time: each named workload runs once,
//! in a fresh process of its own, and the line gives its peak resident set
//! above the inputs (`peak_mib`: the peak RSS during the call minus the RSS
//! once the inputs are built), read from `/proc/self/status` after resetting
//! the peak with `/proc/self/clear_refs` (Linux), for the first call and
//! (`second_call_peak_mib`) for a second call in the same process.
//! `benches/peak_torch.py` measures torch.func the same way:
//!
//! ```text
//! cargo run --release --example bench -- --peak jacrev_32to2048 hessian_512to32 psg_cnn_b64
//! ```
//!
//! `--repeat=N` measures each workload N times, for profilers.

use func::backend::Cpu;
use func::nn;
use func::prelude::*;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

/// Median time in ms of `f`, by the protocol above; `inner` calls per sample.
fn measure(mut f: impl FnMut(), inner: usize) -> f64 {
    for _ in 0..3 {
        f();
    }
    let probe = Instant::now();
    f();
    let one = probe.elapsed().as_secs_f64() * 1e3;
    let samples = if one > 50.0 { 5 } else { 21 };
    let mut times: Vec<f64> = (0..samples)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..inner {
                f();
            }
            t.elapsed().as_secs_f64() * 1e3 / inner as f64
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak RSS in MiB of one call of `f` above the RSS before it.
fn peak_mib(f: &mut dyn FnMut()) -> Option<f64> {
    // Writing 5 resets the peak (VmHWM) to the current RSS.
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    let base = status_kib("VmRSS:")?;
    f();
    let peak = status_kib("VmHWM:")?;
    Some(peak.saturating_sub(base) as f64 / 1024.0)
}

fn report(work: &str, system: &str, ms: f64) {
    println!("{{\"work\": \"{work}\", \"system\": \"{system}\", \"median_ms\": {ms:.6}}}");
}

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape.to_vec(), DType::F32, &mut Generator::new(seed))
}

fn matmul(n: usize) -> (f64, f64) {
    let a = randn(&[n, n], 1);
    let b = randn(&[n, n], 2);
    let ours = measure(
        || {
            black_box(a.matmul(&b));
        },
        1,
    );
    let av = a.to_vec::<f32>();
    let bv = b.to_vec::<f32>();
    let mut cv = vec![0f32; n * n];
    let raw = measure(
        || {
            // SAFETY: the three buffers hold n*n elements in row-major order.
            unsafe {
                matrixmultiply::sgemm(
                    n,
                    n,
                    n,
                    1.0,
                    av.as_ptr(),
                    n as isize,
                    1,
                    bv.as_ptr(),
                    n as isize,
                    1,
                    0.0,
                    cv.as_mut_ptr(),
                    n as isize,
                    1,
                );
            }
            black_box(&cv);
        },
        1,
    );
    (ours, raw)
}

type Params = BTreeMap<String, Tensor>;

/// PyTorch-like init scale: uniform-ish normal with std 1/sqrt(fan_in).
fn layer(p: &mut Params, name: &str, out: usize, inp: usize, seed: u64) {
    let s = 1.0 / (inp as f64).sqrt();
    p.insert(format!("{name}.weight"), randn(&[out, inp], seed) * s);
    p.insert(format!("{name}.bias"), randn(&[out], seed + 1) * s);
}

fn mlp_params(seed: u64) -> Params {
    let mut p = Params::new();
    layer(&mut p, "fc1", 128, 784, seed);
    layer(&mut p, "fc2", 128, 128, seed + 10);
    layer(&mut p, "fc3", 10, 128, seed + 20);
    p
}

fn mlp(p: &Params, x: &Tensor) -> Tensor {
    let h = x.linear(&p["fc1.weight"], Some(&p["fc1.bias"])).relu();
    let h = h.linear(&p["fc2.weight"], Some(&p["fc2.bias"])).relu();
    h.linear(&p["fc3.weight"], Some(&p["fc3.bias"]))
}

fn cnn_params(seed: u64) -> Params {
    let mut p = Params::new();
    p.insert("conv1.weight".into(), randn(&[32, 1, 3, 3], seed) * (1.0 / 3.0));
    p.insert("conv1.bias".into(), randn(&[32], seed + 1) * 0.1);
    p.insert("conv2.weight".into(), randn(&[64, 32, 3, 3], seed + 2) * (1.0 / 288f64.sqrt()));
    p.insert("conv2.bias".into(), randn(&[64], seed + 3) * 0.05);
    layer(&mut p, "fc1", 128, 9216, seed + 4);
    layer(&mut p, "fc2", 10, 128, seed + 6);
    p
}

fn cnn(p: &Params, x: &Tensor) -> Tensor {
    let o = Conv2dOptions::default();
    let h = x.conv2d(&p["conv1.weight"], Some(&p["conv1.bias"]), o).relu();
    let h = h.conv2d(&p["conv2.weight"], Some(&p["conv2.bias"]), o).relu();
    let h = h.max_pool2d((2, 2), (2, 2), (0, 0)).flatten(1, -1);
    let h = h.linear(&p["fc1.weight"], Some(&p["fc1.bias"])).relu();
    h.linear(&p["fc2.weight"], Some(&p["fc2.bias"])).log_softmax(-1)
}

/// The MLP as an nn module holding the parameters `p` (fc1, fc2, fc3).
fn mlp_module(p: &Params) -> nn::Sequential<Cpu> {
    let fc =
        |n: &str| nn::Linear::from_tensors(p[&format!("{n}.weight")].clone(), Some(p[&format!("{n}.bias")].clone()));
    nn::Sequential::new()
        .add_module("fc1", fc("fc1"))
        .add_module("relu1", nn::ReLU::new())
        .add_module("fc2", fc("fc2"))
        .add_module("relu2", nn::ReLU::new())
        .add_module("fc3", fc("fc3"))
}

/// The CNN as an nn module holding the parameters `p` (same names as
/// `cnn_params`); log_softmax is applied by the caller.
fn cnn_module(p: &Params) -> nn::Sequential<Cpu> {
    let t = |n: &str| p[n].clone();
    let conv = |n: &str| {
        nn::Conv2d::from_tensors(t(&format!("{n}.weight")), Some(t(&format!("{n}.bias"))), Conv2dOptions::default())
    };
    let fc = |n: &str| nn::Linear::from_tensors(t(&format!("{n}.weight")), Some(t(&format!("{n}.bias"))));
    nn::Sequential::new()
        .add_module("conv1", conv("conv1"))
        .add_module("relu1", nn::ReLU::new())
        .add_module("conv2", conv("conv2"))
        .add_module("relu2", nn::ReLU::new())
        .add_module("pool", nn::MaxPool2d::new((2, 2)))
        .add_module("flatten", nn::Flatten::new())
        .add_module("fc1", fc("fc1"))
        .add_module("relu3", nn::ReLU::new())
        .add_module("fc2", fc("fc2"))
}

/// The NTK tutorial's CNN: conv(3->32) relu, conv(32->32) relu, conv(32->32),
/// flatten, linear 21632 -> 10; x [N, 3, 32, 32] -> [N, 10].
fn ntk_params(seed: u64) -> Params {
    let mut p = Params::new();
    for (i, cin) in [(1, 3usize), (2, 32), (3, 32)] {
        let s = 1.0 / ((cin * 9) as f64).sqrt();
        p.insert(format!("conv{i}.weight"), randn(&[32, cin, 3, 3], seed + 2 * i as u64) * s);
        p.insert(format!("conv{i}.bias"), randn(&[32], seed + 2 * i as u64 + 1) * s);
    }
    layer(&mut p, "fc", 10, 32 * 26 * 26, seed + 10);
    p
}

fn ntk_cnn(p: &Params, x: &Tensor) -> Tensor {
    let o = Conv2dOptions::default();
    let h = x.conv2d(&p["conv1.weight"], Some(&p["conv1.bias"]), o).relu();
    let h = h.conv2d(&p["conv2.weight"], Some(&p["conv2.bias"]), o).relu();
    let h = h.conv2d(&p["conv3.weight"], Some(&p["conv3.bias"]), o).flatten(1, -1);
    h.linear(&p["fc.weight"], Some(&p["fc.bias"]))
}

/// A captured graph with its dead nodes removed and its repeated ones
/// merged (`Graph::simplify`), as jax.jit's compiler does.
fn simplified<X, Y>(mut graph: Graph<X, Y>) -> Graph<X, Y> {
    graph.simplify();
    graph
}

fn labels(n: usize, seed: u64) -> Tensor {
    let u = Tensor::rand([n], DType::F32, &mut Generator::new(seed));
    (u * 10.0).floor().to_dtype(DType::I64)
}

fn predict(w: &Tensor, b: &Tensor, x: &Tensor) -> Tensor {
    x.linear(w, Some(b)).tanh()
}

/// w [out, inp], b [out], x [inp] (or [batch, inp]).
fn predict_inputs(out: usize, inp: usize, batch: Option<usize>) -> (Tensor, Tensor, Tensor) {
    let w = randn(&[out, inp], 11) * (1.0 / (inp as f64).sqrt());
    let b = randn(&[out], 12);
    let x = match batch {
        Some(n) => randn(&[n, inp], 13),
        None => randn(&[inp], 13),
    };
    (w, b, x)
}

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<String> = all.iter().filter(|a| !a.starts_with('-')).cloned().collect();
    // `--repeat=N`: measure each workload N times (one line each), for profilers.
    let repeat: usize = all.iter().find_map(|a| a.strip_prefix("--repeat=")?.parse().ok()).unwrap_or(1);
    let peak = all.iter().any(|a| a == "--peak");
    if peak && args.len() != 1 {
        // One fresh process per workload, so no workload sees another's memory.
        assert!(!args.is_empty(), "--peak: name the workloads to measure");
        let exe = std::env::current_exe().expect("the bench runner's own path");
        for w in &args {
            let out = std::process::Command::new(&exe).args(["--peak", w]).output().expect("run the bench runner");
            print!("{}", String::from_utf8_lossy(&out.stdout));
        }
        return;
    }
    let wanted = |w: &str| args.is_empty() || args.iter().any(|a| a == w);
    let run = |work: &str, f: &mut dyn FnMut()| {
        if !wanted(work) {
            return;
        }
        if peak {
            // The first call, then a second one in the same process.
            match (peak_mib(f), peak_mib(f)) {
                (Some(first), Some(second)) => println!(
                    "{{\"work\": \"{work}\", \"system\": \"func-rs\", \"peak_mib\": {first:.1}, \
                     \"second_call_peak_mib\": {second:.1}}}"
                ),
                _ => eprintln!("{work}: --peak needs /proc/self/status and /proc/self/clear_refs (Linux)"),
            }
            return;
        }
        for _ in 0..repeat {
            report(work, "func-rs", measure(&mut *f, 1));
        }
    };
    let run_nn = |work: &str, f: &mut dyn FnMut()| {
        if wanted(work) && !peak {
            report(work, "func-rs-nn", measure(f, 1));
        }
    };
    let run_graph = |work: &str, f: &mut dyn FnMut()| {
        if wanted(work) && !peak {
            report(work, "func-rs-graph", measure(f, 1));
        }
    };

    // Per-sample gradients.
    {
        let p = mlp_params(1);
        let x = randn(&[64, 784], 2);
        let y = labels(64, 3);
        // grad w.r.t. the parameters only (argnums=0): capture x and y.
        let per_example = |(p, x, y): &(Params, Tensor, Tensor)| {
            grad(|p: &Params| mlp(p, &x.unsqueeze(0)).cross_entropy(&y.unsqueeze(0)))(p)
        };
        let psg = vmap_with(per_example, VmapOptions::new().in_dims((None, Some(0), Some(0))));
        let inputs = (p, x, y);
        run("psg_mlp_b64", &mut || {
            black_box(psg(&inputs));
        });
    }
    if wanted("psg_cnn_b64") {
        let p = cnn_params(4);
        let x = randn(&[64, 1, 28, 28], 5);
        let y = labels(64, 6);
        let per_example = |(p, x, y): &(Params, Tensor, Tensor)| {
            grad(|p: &Params| cnn(p, &x.unsqueeze(0)).nll_loss(&y.unsqueeze(0)))(p)
        };
        let psg = vmap_with(per_example, VmapOptions::new().in_dims((None, Some(0), Some(0))));
        let inputs = (p, x, y);
        run("psg_cnn_b64", &mut || {
            black_box(psg(&inputs));
        });
        // The same through nn modules and functional_call.
        let model = cnn_module(&inputs.0);
        let per_example = |(p, x, y): &(Params, Tensor, Tensor)| {
            grad(|p: &Params| {
                let logits = functional_call(&model, p, &x.unsqueeze(0)).log_softmax(-1);
                nn::loss::nll_loss(&logits, &y.unsqueeze(0), nn::Reduction::Mean)
            })(p)
        };
        let psg = vmap_with(per_example, VmapOptions::new().in_dims((None, Some(0), Some(0))));
        run_nn("psg_cnn_b64", &mut || {
            black_box(psg(&inputs));
        });
    }

    // Jacobians and Hessians of predict w.r.t. x.
    {
        let (w, b, x) = predict_inputs(16, 16, None);
        let f = |x: &Tensor| predict(&w, &b, x);
        run("jacrev_D16", &mut || {
            black_box(jacrev(f)(&x));
        });
        run("jacfwd_D16", &mut || {
            black_box(jacfwd(f)(&x));
        });
        run("hessian_D16", &mut || {
            black_box(hessian(f)(&x));
        });
        let (_, _, xs) = predict_inputs(16, 16, Some(64));
        run("batched_jacrev_B64_D16", &mut || {
            black_box(vmap(jacrev(f))(&xs));
        });
        run("batched_hessian_B64_D16", &mut || {
            black_box(vmap(hessian(f))(&xs));
        });
    }
    for (out, inp, name) in [(2048usize, 32usize, "32to2048"), (32, 2048, "2048to32")] {
        let (w, b, x) = predict_inputs(out, inp, None);
        let f = |x: &Tensor| predict(&w, &b, x);
        run(&format!("jacrev_{name}"), &mut || {
            black_box(jacrev(f)(&x));
        });
        run(&format!("jacfwd_{name}"), &mut || {
            black_box(jacfwd(f)(&x));
        });
    }
    if wanted("hessian_512to32") {
        let (w, b, x) = predict_inputs(32, 512, None);
        let f = |x: &Tensor| predict(&w, &b, x);
        run("hessian_512to32", &mut || {
            black_box(hessian(f)(&x));
        });
    }
    {
        let (w, b, xs) = predict_inputs(33, 31, Some(64));
        let f = |x: &Tensor| predict(&w, &b, x);
        run("batch_jacrev_B64_31to33", &mut || {
            black_box(vmap(jacrev(f))(&xs));
        });
        run("batch_hessian_B64_31to33", &mut || {
            black_box(vmap(hessian(f))(&xs));
        });
    }
    {
        let x = randn(&[2048], 21);
        let v = randn(&[2048], 22);
        let f = |x: &Tensor| x.sin().sum();
        run("hvp_fwdrev_2048", &mut || {
            black_box(jvp(grad(f), &x, &v));
        });
        let inputs = (x.clone(), v.clone());
        let graph = simplified(make_graph(|(x, v): &(Tensor, Tensor)| jvp(grad(f), x, v), &inputs));
        run_graph("hvp_fwdrev_2048", &mut || {
            black_box(graph.eval(&inputs));
        });
    }

    // Ensembles.
    {
        let models: Vec<Params> = (0..10).map(|i| mlp_params(100 + 30 * i)).collect();
        let stacked: Params = models[0]
            .keys()
            .map(|k| (k.clone(), Tensor::stack(&models.iter().map(|m| m[k].clone()).collect::<Vec<_>>(), 0)))
            .collect();
        let x = randn(&[64, 784], 7);
        let same = vmap_with(|(p, x): &(Params, Tensor)| mlp(p, x), VmapOptions::new().in_dims((Some(0), None)));
        let inputs = (stacked.clone(), x);
        run("ensemble10_mlp_b64", &mut || {
            black_box(same(&inputs));
        });
        let xs = randn(&[10, 64, 1, 28, 28], 8);
        let distinct = vmap(|(p, x): &(Params, Tensor)| mlp(p, &x.flatten(1, -1)));
        let inputs = (stacked, xs);
        run("ensemble10_mlp_distinct_b64", &mut || {
            black_box(distinct(&inputs));
        });
        // The same through nn modules: stack_module_state + functional_call.
        if wanted("ensemble10_mlp_b64") || wanted("ensemble10_mlp_distinct_b64") {
            let modules: Vec<nn::Sequential<Cpu>> = models.iter().map(mlp_module).collect();
            let (stacked, _) = stack_module_state(&modules).expect("same layers");
            let base = modules[0].clone();
            let fmodel = move |(p, x): &(Params, Tensor)| functional_call(&base, p, x);
            let same = vmap_with(fmodel.clone(), VmapOptions::new().in_dims((Some(0), None)));
            let inputs = (stacked.clone(), randn(&[64, 784], 7));
            run_nn("ensemble10_mlp_b64", &mut || {
                black_box(same(&inputs));
            });
            let distinct = vmap(move |(p, x): &(Params, Tensor)| fmodel(&(p.clone(), x.flatten(1, -1))));
            let inputs = (stacked, randn(&[10, 64, 1, 28, 28], 8));
            run_nn("ensemble10_mlp_distinct_b64", &mut || {
                black_box(distinct(&inputs));
            });
        }
    }

    // Tutorial workloads: the empirical NTK, MAML and Lennard-Jones.
    if wanted("ntk_jac_contraction_20x5") || wanted("ntk_vps_20x5") {
        let p = ntk_params(30);
        let x1 = randn(&[20, 3, 32, 32], 31);
        let x2 = randn(&[5, 3, 32, 32], 32);
        // The model on one sample: [3, 32, 32] -> [10].
        let f = |p: &Params, x: &Tensor| ntk_cnn(p, &x.unsqueeze(0)).squeeze_dim(0);
        let jac = |x: &Tensor| vmap(|x: &Tensor| jacrev(|p: &Params| f(p, x))(&p))(x);
        run("ntk_jac_contraction_20x5", &mut || {
            let (j1, j2) = (jac(&x1), jac(&x2));
            // einsum('Naf,Mbf->NMab') per parameter, summed over the parameters.
            let mut ntk: Option<Tensor> = None;
            for (k, a) in &j1 {
                let a = a.reshape(&[20 * 10, -1]);
                let b = j2[k].reshape(&[5 * 10, -1]);
                let part = a.matmul(&b.t()).reshape(&[20, 10, 5, 10]).permute(&[0, 2, 1, 3]);
                ntk = Some(match ntk {
                    Some(acc) => acc + part,
                    None => part,
                });
            }
            black_box(ntk.map(|t| t.contiguous()));
        });
        let basis = Tensor::eye(10, DType::F32);
        let get_ntk = |(x1, x2): &(Tensor, Tensor)| {
            let (_, vjp_fn) = vjp(|p: &Params| f(p, x1), &p);
            vmap(|e: &Tensor| jvp(|p: &Params| f(p, x2), &p, &vjp_fn(e)).1)(&basis)
        };
        let inner = vmap_with(get_ntk, VmapOptions::new().in_dims((None, Some(0))));
        let all_pairs = vmap_with(inner, VmapOptions::new().in_dims((Some(0), None)));
        let inputs = (x1.clone(), x2.clone());
        run("ntk_vps_20x5", &mut || {
            black_box(all_pairs(&inputs));
        });
    }
    if wanted("maml_sine_outer_grad_t4") {
        let mut p = Params::new();
        layer(&mut p, "fc1", 40, 1, 40);
        layer(&mut p, "fc2", 40, 40, 42);
        layer(&mut p, "fc3", 1, 40, 44);
        let mut g = Generator::new(46);
        let amp = Tensor::rand([4, 1, 1], DType::F32, &mut g) * 0.4 + 0.1;
        let phase = Tensor::rand([4, 1, 1], DType::F32, &mut g) * std::f64::consts::PI;
        let xs = Tensor::rand([4, 20, 1], DType::F32, &mut g) * 10.0 - 5.0;
        let xq = Tensor::rand([4, 20, 1], DType::F32, &mut g) * 10.0 - 5.0;
        let ys = &amp * (&xs + &phase).sin();
        let yq = &amp * (&xq + &phase).sin();
        let net = |p: &Params, x: &Tensor| {
            let h = x.linear(&p["fc1.weight"], Some(&p["fc1.bias"])).relu();
            let h = h.linear(&p["fc2.weight"], Some(&p["fc2.bias"])).relu();
            h.linear(&p["fc3.weight"], Some(&p["fc3.bias"]))
        };
        let mse = |a: &Tensor, b: &Tensor| (a - b).square().mean();
        let task_loss = |(p, x1, y1, x2, y2): &(Params, Tensor, Tensor, Tensor, Tensor)| {
            let g = grad(|p: &Params| mse(&net(p, x1), y1))(p);
            let adapted: Params = p.iter().map(|(k, v)| (k.clone(), v - &(&g[k] * 0.1))).collect();
            mse(&net(&adapted, x2), y2)
        };
        let per_task =
            vmap_with(grad(task_loss), VmapOptions::new().in_dims((None, Some(0), Some(0), Some(0), Some(0))));
        let inputs = (p, xs, ys, xq, yq);
        let outer = |inputs: &(Params, Tensor, Tensor, Tensor, Tensor)| {
            let (grads, ..) = per_task(inputs);
            let mean: Params = grads.iter().map(|(k, v)| (k.clone(), v.mean_dims(&[0], false))).collect();
            mean
        };
        run("maml_sine_outer_grad_t4", &mut || {
            black_box(outer(&inputs));
        });
        let graph = simplified(make_graph(outer, &inputs));
        run_graph("maml_sine_outer_grad_t4", &mut || {
            black_box(graph.eval(&inputs));
        });
    }
    if wanted("lj_forces_1000") || wanted("lj_train_step_1000") {
        let mut p = Params::new();
        for (i, (o, inp)) in [(16, 1), (16, 16), (16, 16), (16, 16), (1, 16)].into_iter().enumerate() {
            layer(&mut p, &format!("{}", 2 * i), o, inp, 50 + 2 * i as u64);
        }
        let model = |p: &Params, x: &Tensor| {
            let mut h = x.clone();
            for i in [0, 2, 4, 6] {
                h = h.linear(&p[&format!("{i}.weight")], Some(&p[&format!("{i}.bias")])).tanh();
            }
            h.linear(&p["8.weight"], Some(&p["8.bias"]))
        };
        let r = Tensor::linspace(0.95, 3.0, 1000, DType::F32).reshape(&[1000, 1]);
        let s = r.recip() * 0.5;
        let e_t = (s.powf(12.0) - s.powf(6.0)) * 4.0;
        let f_t = ((r.powf(-13.0) * (-12.0 * 0.5f64.powi(12))) + r.powf(-7.0) * (6.0 * 0.5f64.powi(6))) * -4.0;
        let forces = |p: &Params, r: &Tensor| -vmap(jacrev(|x: &Tensor| model(p, x)))(r).reshape(&[-1, 1]);
        run("lj_forces_1000", &mut || {
            black_box(forces(&p, &r));
        });
        let inputs = (p.clone(), r.clone());
        let graph = simplified(make_graph(|(p, r): &(Params, Tensor)| forces(p, r), &inputs));
        run_graph("lj_forces_1000", &mut || {
            black_box(graph.eval(&inputs));
        });
        let mse = |a: &Tensor, b: &Tensor| (a - b).square().mean();
        let step = grad(|p: &Params| mse(&model(p, &r), &e_t) + mse(&forces(p, &r), &f_t));
        run("lj_train_step_1000", &mut || {
            black_box(step(&p));
        });
        let graph = simplified(make_graph(step, &p));
        run_graph("lj_train_step_1000", &mut || {
            black_box(graph.eval(&p));
        });
    }

    for n in [256usize, 1024] {
        let work = format!("matmul_f32_{n}");
        if wanted(&work) {
            let (ours, raw) = matmul(n);
            report(&work, "func-rs", ours);
            report(&work, "matrixmultiply-sgemm", raw);
        }
    }
    if wanted("grad_call_overhead") {
        let x = Tensor::from_vec(vec![1.5f32], [1]);
        let g = grad(|x: &Tensor| (x * x).sum());
        for _ in 0..repeat {
            let ms = measure(
                || {
                    black_box(g(&x));
                },
                1000,
            );
            report("grad_call_overhead", "func-rs", ms);
        }
    }
    if wanted("add_op_overhead") {
        let a = Tensor::from_vec(vec![1.0f32], [1]);
        let b = Tensor::from_vec(vec![2.0f32], [1]);
        for _ in 0..repeat {
            let ms = measure(
                || {
                    black_box(&a + &b);
                },
                10_000,
            );
            report("add_op_overhead", "func-rs", ms);
        }
    }
}
