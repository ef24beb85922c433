//! The aliasing law: a program gives the same values and the same mutations
//! of its inputs with and without any transform.
//!
//! For every view operation of the catalogue, on its samples (the viewed
//! argument made a contiguous f64 tensor):
//!
//! - **vmap**: `v = view(x); v *= 3; v += sin(v); return 2 v`, mapped over
//!   dimension 0 and over the last dimension of a batch of `x`, returns the
//!   stacked per-slice results and mutates the batch as the per-slice calls
//!   mutate their slices;
//! - **grad/jvp**: `y = x.deep_copy(); v = view(y); v *= 3; return sum(y w)
//!   + sum(v u)` has the eager value under grad and jvp, and the gradient
//!   read off the view's positions in `y` (taken from the eager view's
//!   strides): `w[p] (3 if p is viewed else 1) + 3 u[i]` for the view element
//!   `i` at position `p`; the jvp is that gradient dotted with the tangent.
//!
//! A view whose eager write is an error (a broadcast view) must be an error
//! under the transforms too.

use crate::catalogue::{Op, OpInfo, catalogue};
use crate::strategies::{ArgSpec, Sample, ViewKind};
use crate::transform_laws::{close_slices, guarded};
use func_autodiff::{grad_and_value, try_jvp};
use func_batch::{Dims, VmapOptions, try_vmap};
use func_core::{Backend, DType, Tensor};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

const NB: usize = 3;

/// The laws compare to this relative tolerance (values are f64).
const TOL: f64 = 1e-10;

fn close<B: Backend>(what: &str, a: &Tensor<B>, b: &Tensor<B>) -> Result<(), String> {
    crate::transform_laws::close(what, a, b, TOL)
}

fn close_vec(what: &str, x: &[f64], y: &[f64]) -> Result<(), String> {
    close_slices(what, x, y, TOL)
}

/// The viewed argument as a contiguous f64 tensor, its values rotated by `k`.
fn viewed(a: &ArgSpec, k: usize) -> ArgSpec {
    let mut a = a.clone();
    a.dtype = DType::F64;
    a.view = ViewKind::Contiguous;
    if !a.data.is_empty() {
        let r = k % a.data.len();
        a.data.rotate_left(r);
    }
    a
}

fn apply_view<B: Backend>(op: &Op, x: &Tensor<B>, params: &[Tensor<B>]) -> Tensor<B> {
    let mut args = vec![x.clone()];
    args.extend(params.iter().cloned());
    op.apply(&args)
}

/// `v = view(x); v *= 3; v += sin(v); 2 v`
fn mutate_through<B: Backend>(op: &Op, x: &Tensor<B>, params: &[Tensor<B>]) -> Tensor<B> {
    let v = apply_view(op, x, params);
    v.mul_scalar_(3.0);
    v.add_(&v.sin());
    &v * 2.0
}

/// The vmap half of the law for one sample.
///
/// # Errors
///
/// A description of the first disagreement.
pub fn check_alias_vmap_sample<B: Backend>(info: &OpInfo, sample: &Sample) -> Result<(), String> {
    let params: Vec<Tensor<B>> = sample.args[1..].iter().map(ArgSpec::build).collect();
    let slices: Vec<Tensor<B>> = (0..NB).map(|k| viewed(&sample.args[0], k).build()).collect();
    let eager: Vec<Result<Tensor<B>, String>> =
        slices.iter().map(|x| guarded(|| mutate_through(&info.op, x, &params))).collect();
    let nd = sample.args[0].shape.len() as isize;
    for in_dim in [0isize, -1] {
        let d = if in_dim < 0 { in_dim + nd + 1 } else { in_dim };
        let fresh: Vec<Tensor<B>> = (0..NB).map(|k| viewed(&sample.args[0], k).build()).collect();
        let batched = Tensor::stack(&fresh, d);
        let (op, p) = (info.op.clone(), params.clone());
        let f = move |x: &Tensor<B>| mutate_through(&op, x, &p);
        let got = guarded(|| {
            try_vmap(move |x: &Tensor<B>| Ok(f(x)), VmapOptions::new().in_dims(Dims::All(Some(in_dim))))(&batched)
        });
        let what = format!("vmap in_dim {in_dim}");
        match (eager.iter().all(Result::is_ok), got) {
            (true, Ok(Ok(got))) => {
                let want: Vec<Tensor<B>> = eager.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
                close(&what, &got, &Tensor::stack(&want, 0))?;
                close(&format!("{what}: the input after the call"), &batched, &Tensor::stack(&slices, d))?;
            }
            (false, Ok(Err(_)) | Err(_)) => {}
            (true, Ok(Err(e))) => return Err(format!("{what} fails where eager succeeds: {e}")),
            (true, Err(e)) => return Err(format!("{what} fails where eager succeeds: {e}")),
            (false, Ok(Ok(_))) => {
                let e = eager.iter().find_map(|r| r.as_ref().err()).cloned().unwrap_or_default();
                return Err(format!("{what} succeeds where eager fails with: {e}"));
            }
        }
    }
    Ok(())
}

/// Deterministic weights.
fn probe(n: usize, salt: f64) -> Vec<f64> {
    (0..n).map(|i| ((i as f64 + 1.0) * 0.7548776662 + salt).sin()).collect()
}

/// The grad and jvp half of the law for one sample.
///
/// # Errors
///
/// A description of the first disagreement.
pub fn check_alias_autodiff_sample<B: Backend>(info: &OpInfo, sample: &Sample) -> Result<(), String> {
    let params: Vec<Tensor<B>> = sample.args[1..].iter().map(ArgSpec::build).collect();
    let spec = viewed(&sample.args[0], 0);
    let x: Tensor<B> = spec.build();
    let n = x.numel();
    let w = Tensor::<B>::from_vec(probe(n, 0.3), x.shape().clone());
    // Eager: the view's positions in a fresh contiguous copy.
    let y = x.deep_copy();
    let view = match guarded(|| apply_view(&info.op, &y, &params)) {
        Ok(v) => v,
        Err(e) => return Err(format!("eager view: {e}")),
    };
    let u = Tensor::<B>::from_vec(probe(view.numel(), 1.1), view.shape().clone());
    let op = info.op.clone();
    let (pc, wc, uc) = (params.clone(), w.clone(), u.clone());
    let g = move |x: &Tensor<B>| {
        let y = x.deep_copy();
        let v = apply_view(&op, &y, &pc);
        v.mul_scalar_(3.0);
        &(&y * &wc).sum() + &(&v * &uc).sum()
    };
    let eager = guarded(|| g(&x));
    let traced = guarded(|| grad_and_value(g.clone())(&x));
    let tangent = Tensor::<B>::from_vec(probe(n, 2.7), x.shape().clone());
    let fwd = guarded(|| try_jvp(|x: &Tensor<B>| Ok(g(x)), &x, &tangent));
    let value = match eager {
        Ok(v) => v.item::<f64>(),
        Err(e) => {
            return match (traced, fwd) {
                (Ok(_), _) => Err(format!("grad succeeds where eager fails with: {e}")),
                (_, Ok(Ok(_))) => Err(format!("jvp succeeds where eager fails with: {e}")),
                _ => Ok(()),
            };
        }
    };
    let positions: Vec<usize> = match view.concrete() {
        Some((_, l)) if view.shares_storage(&y) => l.offsets().collect(),
        _ => return Err("the view of a contiguous tensor does not share its storage".to_string()),
    };
    let (wv, uv) = (w.to_vec::<f64>(), u.to_vec::<f64>());
    let mut grad = vec![0.0; n];
    let mut viewed_at = vec![false; n];
    for (i, &p) in positions.iter().enumerate() {
        grad[p] += 3.0 * uv[i];
        viewed_at[p] = true;
    }
    for p in 0..n {
        grad[p] += wv[p] * if viewed_at[p] { 3.0 } else { 1.0 };
    }
    let (got_g, got_v) = traced.map_err(|e| format!("grad fails: {e}"))?;
    close_vec("grad: value", &[got_v.item::<f64>()], &[value])?;
    close_vec("grad", &got_g.to_vec::<f64>(), &grad)?;
    let (fv, ft) = fwd.map_err(|e| format!("jvp panics: {e}"))?.map_err(|e| format!("jvp fails: {e}"))?;
    close_vec("jvp: value", &[fv.item::<f64>()], &[value])?;
    let dot: f64 = grad.iter().zip(tangent.to_vec::<f64>()).map(|(a, b)| a * b).sum();
    close_vec("jvp", &[ft.item::<f64>()], &[dot])
}

/// Run the aliasing law for every view operation of the catalogue, with
/// `cases` samples each, on backend `B`.
///
/// # Panics
///
/// Naming every view operation whose law fails, its sample and the law.
pub fn check_aliasing<B: Backend>(cases: u32) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for info in catalogue().into_iter().filter(|i| i.view) {
        checked += 1;
        let mut r = TestRunner::new_with_rng(
            Config { cases, ..Config::default() },
            TestRng::deterministic_rng(RngAlgorithm::ChaCha),
        );
        let strat = info.sample();
        for _ in 0..cases {
            let Ok(tree) = strat.new_tree(&mut r) else { continue };
            let s = tree.current();
            let res = guarded(|| {
                check_alias_vmap_sample::<B>(&info, &s)?;
                check_alias_autodiff_sample::<B>(&info, &s)
            });
            if let Err(e) | Ok(Err(e)) = res {
                let shapes: Vec<String> = s.args.iter().map(|a| format!("{:?}", a.shape)).collect();
                failures.push(format!("{}: {e}\n  sample shapes: {}", info.name, shapes.join(", ")));
                break;
            }
        }
    }
    assert!(checked >= 14, "only {checked} view ops found in the catalogue");
    assert!(failures.is_empty(), "{} view ops fail the aliasing law:\n{}", failures.len(), failures.join("\n"));
}
