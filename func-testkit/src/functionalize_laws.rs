//! The functionalize law: `functionalize(f)` equals `f`, in its outputs and
//! in the mutations it makes to its inputs.
//!
//! Every catalogue op is run through a harness ([`Harness`]) that makes a
//! program writing into one of its inputs (the first data argument, made
//! contiguous, so views are decided alike with and without transforms):
//!
//! - **in place**: `y = op(args); x.copy_(fit(y))`, `y` returned after the
//!   write (so an output that is a view of `x` shows it);
//! - **through a view**: `v = x.permute(r).permute(r)` (a view of `x` with its
//!   shape), `y = op(v, ..)`, then `v[0::2].copy_(fit(y))`: a write through a
//!   strided view of a view;
//! - **on a copy**: `c = x.deep_copy(); y = op(c, ..); c.copy_(fit(y))`,
//!   returning `y` and `c`; `x` is untouched.
//!
//! `fit(y)` is `y` cast to `x`'s dtype, flattened, repeated and cut to `x`'s
//! number of elements. For each sample the program runs eagerly and under
//! `functionalize` with [`Remove::Mutations`] and
//! [`Remove::MutationsAndViews`]; outputs and every input after the call
//! must agree (or both fail). Then its graph,
//! `make_graph(functionalize(program, MutationsAndViews))`, must hold no
//! view and no in-place write except the write-back of an input at the end,
//! and evaluating it on fresh inputs must again give the eager outputs and
//! mutations. A sample whose op reads a data value on the host (which a graph
//! cannot record) skips the graph half.

use crate::catalogue::{Op, OpInfo, catalogue};
use crate::laws::{F32_RTOL, F64_RTOL};
use crate::strategies::{ArgSpec, Sample, ViewKind};
use crate::transform_laws::{close, guarded};
use func_core::{Backend, DType, Tensor};
use func_functionalize::{Graph, Remove, make_graph, try_functionalize};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// How the functionalize law writes an op's result into its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Harness {
    /// The op on the inputs, then its result written into the input.
    InPlace,
    /// The op on a view of the input, then its result written through a
    /// strided view of that view.
    ThroughView,
    /// The op on a copy of the input, then its result written into the copy.
    OnCopy,
}

impl Harness {
    /// Every harness.
    pub const ALL: [Harness; 3] = [Harness::InPlace, Harness::ThroughView, Harness::OnCopy];
}

/// `y` cast to `like`'s dtype, flattened, repeated and cut to `like`'s
/// shape.
fn fit<B: Backend>(y: &Tensor<B>, like: &Tensor<B>) -> Tensor<B> {
    let n = like.numel();
    let flat = y.to_dtype(like.dtype()).reshape(&[-1]);
    if n == 0 || flat.numel() == 0 {
        return Tensor::full(like.shape().clone(), 1.0, like.dtype());
    }
    let reps = n.div_ceil(flat.numel());
    let tiled = if reps > 1 { Tensor::cat(&vec![flat; reps], 0) } else { flat };
    let dims: Vec<isize> = like.dims().iter().map(|&d| d as isize).collect();
    tiled.slice(0, 0, n as isize, 1).reshape(&dims)
}

/// The program of `harness` for `op`, writing into argument `m`.
fn program<B: Backend>(harness: Harness, op: &Op, m: usize, args: &[Tensor<B>]) -> Vec<Tensor<B>> {
    let x = &args[m];
    let with = |t: &Tensor<B>| {
        let mut a = args.to_vec();
        a[m] = t.clone();
        a
    };
    match harness {
        Harness::InPlace => {
            let y = op.apply(args);
            x.copy_(&fit(&y, x));
            vec![y]
        }
        Harness::ThroughView => {
            let rev: Vec<isize> = (0..x.ndim() as isize).rev().collect();
            let v = x.permute(&rev).permute(&rev);
            let y = op.apply(&with(&v));
            let w = if v.ndim() >= 1 { v.slice(0, 0, v.dims()[0] as isize, 2) } else { v };
            w.copy_(&fit(&y, &w));
            vec![y]
        }
        Harness::OnCopy => {
            let c = x.deep_copy();
            let y = op.apply(&with(&c));
            c.copy_(&fit(&y, &c));
            vec![y, c]
        }
    }
}

fn tol<B: Backend>(t: &Tensor<B>) -> f64 {
    if t.dtype() == DType::F32 { F32_RTOL } else { F64_RTOL }
}

/// Outputs and inputs after the call agree.
fn agree<B: Backend>(
    what: &str,
    got: (&[Tensor<B>], &[Tensor<B>]),
    want: (&[Tensor<B>], &[Tensor<B>]),
) -> Result<(), String> {
    if got.0.len() != want.0.len() {
        return Err(format!("{what}: {} outputs, expected {}", got.0.len(), want.0.len()));
    }
    for (i, (a, b)) in got.0.iter().zip(want.0).enumerate() {
        if a.dtype() != b.dtype() {
            return Err(format!("{what}: output {i} has dtype {}, expected {}", a.dtype(), b.dtype()));
        }
        close(&format!("{what}: output {i}"), a, b, tol(b))?;
    }
    for (i, (a, b)) in got.1.iter().zip(want.1).enumerate() {
        close(&format!("{what}: input {i} after the call"), a, b, tol(b))?;
    }
    Ok(())
}

/// Every in-place node of `g` is the write-back of an input, after all the
/// computation, and no node is a view.
fn functional<B: Backend, X, Y>(g: &Graph<B, X, Y>) -> Result<(), String> {
    if let Some(n) = g.nodes().iter().find(|n| n.is_view()) {
        return Err(format!("the graph of functionalize(views removed) has a view node `{n}`:\n{g}"));
    }
    let inputs: Vec<_> = g.inputs().iter().map(|v| v.id).collect();
    let first = g.nodes().iter().position(|n| n.is_write()).unwrap_or(g.nodes().len());
    match g.nodes()[first..].iter().find(|n| !n.is_write() || !inputs.contains(&n.inputs[0])) {
        Some(n) => Err(format!("the graph of functionalize has an in-place write or a node after one: `{n}`:\n{g}")),
        None => Ok(()),
    }
}

/// The law for one op, one sample and one harness. Returns whether the graph
/// half ran (it is skipped when the op reads a data value on the host).
///
/// # Errors
///
/// A description of the first disagreement.
pub fn check_functionalize_sample<B: Backend>(
    info: &OpInfo,
    sample: &Sample,
    harness: Harness,
) -> Result<bool, String> {
    let mut specs: Vec<ArgSpec> = sample.args.clone();
    let host = info.host_params(specs.len());
    let m = (0..specs.len()).find(|&i| !host[i]).unwrap_or(0);
    if specs.is_empty() {
        return Ok(false);
    }
    specs[m].view = ViewKind::Contiguous;
    let build = || -> Vec<Tensor<B>> { specs.iter().map(ArgSpec::build).collect() };
    let op = info.op.clone();
    let f = move |xs: &Vec<Tensor<B>>| program(harness, &op, m, xs);
    let eager_args = build();
    let eager = guarded(|| f(&eager_args));
    for mode in [Remove::Mutations, Remove::MutationsAndViews] {
        let what = format!("{harness:?}, functionalize {mode:?}");
        let args = build();
        let got = guarded(|| try_functionalize(f.clone(), mode)(&args));
        match (&eager, got) {
            (Ok(want), Ok(Ok(got))) => agree(&what, (&got, &args), (want, &eager_args))?,
            (Err(_), Err(_) | Ok(Err(_))) => {}
            (Ok(_), Err(e)) => return Err(format!("{what} panics where eager succeeds: {e}")),
            (Ok(_), Ok(Err(e))) => return Err(format!("{what} fails where eager succeeds: {e}")),
            (Err(e), Ok(Ok(_))) => return Err(format!("{what} succeeds where eager fails with: {e}")),
        }
    }
    let Ok(want) = eager else { return Ok(false) };
    if host[m] {
        // A factory: the written argument is a parameter the op reads on
        // the host, which a graph cannot take as an input.
        return Ok(false);
    }
    // The graph: inputs are the data arguments and the written one; host
    // parameters are captured.
    let inputs: Vec<usize> = (0..specs.len()).filter(|&i| !host[i] || i == m).collect();
    let all = build();
    let captured = all.clone();
    let idx = inputs.clone();
    let g = move |xs: &Vec<Tensor<B>>| {
        let mut a = captured.clone();
        for (k, &i) in idx.iter().enumerate() {
            a[i] = xs[k].clone();
        }
        f(&a)
    };
    let example: Vec<Tensor<B>> = inputs.iter().map(|&i| all[i].clone()).collect();
    let func = func_functionalize::functionalize_with(g, Remove::MutationsAndViews);
    let graph = match guarded(|| make_graph(func, &example)) {
        Ok(graph) => graph,
        Err(e) if e.starts_with("make_graph: ") && e.contains("traced value") => return Ok(false),
        Err(e) => return Err(format!("{harness:?}: make_graph(functionalize(..)) panics: {e}")),
    };
    functional(&graph).map_err(|e| format!("{harness:?}: {e}"))?;
    let fresh = build();
    let fresh_inputs: Vec<Tensor<B>> = inputs.iter().map(|&i| fresh[i].clone()).collect();
    let got = graph.try_eval(&fresh_inputs).map_err(|e| format!("{harness:?}: evaluating the graph fails: {e}"))?;
    agree(&format!("{harness:?}, the graph of functionalize"), (&got, &fresh), (&want, &eager_args))?;
    Ok(true)
}

/// Run the functionalize law for every catalogue op (random ops included:
/// a seed gives the same values), `cases` samples each, every [`Harness`],
/// on backend `B`.
///
/// # Panics
///
/// Naming every op whose law fails, with its sample, or when the graph half
/// ran on fewer than nine in ten samples.
pub fn check_functionalize<B: Backend>(cases: u32) {
    let mut failures = Vec::new();
    let (mut ops, mut tried, mut graphs) = (0usize, 0usize, 0usize);
    for info in catalogue().into_iter().filter(|i| !i.name.ends_with("_large")) {
        ops += 1;
        let mut r = TestRunner::new_with_rng(
            Config { cases, ..Config::default() },
            TestRng::deterministic_rng(RngAlgorithm::ChaCha),
        );
        let strat = info.sample();
        'samples: for _ in 0..cases {
            let Ok(tree) = strat.new_tree(&mut r) else { continue };
            let s = tree.current();
            for h in Harness::ALL {
                tried += 1;
                match guarded(|| check_functionalize_sample::<B>(&info, &s, h)) {
                    Ok(Ok(g)) => graphs += usize::from(g),
                    Err(e) | Ok(Err(e)) => {
                        let shapes: Vec<String> =
                            s.args.iter().map(|a| format!("{}{:?} {}", a.dtype, a.shape, a.view)).collect();
                        failures.push(format!("{}: {e}\n  sample: {}", info.name, shapes.join(", ")));
                        break 'samples;
                    }
                }
            }
        }
    }
    assert!(ops > 100, "only {ops} ops in the catalogue");
    assert!(failures.is_empty(), "{} ops fail the functionalize law:\n{}", failures.len(), failures.join("\n"));
    eprintln!("functionalize law: {ops} ops, {tried} programs, {graphs} graphs checked");
    assert!(graphs * 10 >= tried * 9, "the graph half ran on only {graphs} of {tried} programs");
}
