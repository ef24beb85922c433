//! The transform laws, for every catalogue op, in f64:
//!
//! - **vmap**: `vmap(f)(X)` equals stacking `f` over the slices of `X`, for
//!   every in_dim choice in {0, -1, None} per data argument; two nested
//!   levels; chunked equals unchunked.
//! - **jvp** equals central finite differences (samples where two step sizes
//!   disagree sit on a kink and are skipped);
//! - **vjp** satisfies `<u, J v> = <J^T u, v>` against jvp;
//! - **jacfwd** equals **jacrev**; **Hessians** are symmetric;
//! - **second order**: the inner-product law for jvp of vjp.
//!
//! Integer parameters of an op (dims, sizes, seeds) are read on the host by
//! the op and stay unbatched and undifferentiated; integer data (gather
//! indices) is batched but not differentiated.

use crate::catalogue::{Law, Op, OpInfo, catalogue};
use crate::strategies::{ArgSpec, Sample};
use func_autodiff::{hessian, jacfwd, jacrev, jvp, vjp};
use func_batch::{Dims, VmapOptions, try_vmap};
use func_core::{Backend, DType, Tensor};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Which arguments of `op` are parameters the op reads on the host (dims,
/// sizes, seeds, shapes of factories), given `n` arguments.
pub fn host_params(op: &Op, n: usize) -> Vec<bool> {
    let mut p = vec![false; n];
    let mut set = |i: usize| {
        if i < n {
            p[i] = true;
        }
    };
    match op {
        Op::Unary(_)
        | Op::Binary(_)
        | Op::BinaryScalar(..)
        | Op::ScalarBinary(..)
        | Op::Compare(_)
        | Op::CompareScalar(..)
        | Op::Where
        | Op::Cast(_)
        | Op::DeepCopy
        | Op::Contiguous
        | Op::Clamp { .. }
        | Op::ReduceAll(_)
        | Op::MeanAll
        | Op::Norm
        | Op::Matmul
        | Op::Dot
        | Op::Outer
        | Op::Linear { .. }
        | Op::T
        | Op::Squeeze
        | Op::Relu
        | Op::Gelu
        | Op::CrossEntropy
        | Op::NllLoss
        | Op::MseLoss
        | Op::AddInplace
        | Op::SubInplace
        | Op::MulInplace
        | Op::DivInplace
        | Op::AddScalarInplace(_)
        | Op::MulScalarInplace(_)
        | Op::FillInplace(_)
        | Op::ZeroInplace
        | Op::AddIntoTransposed
        | Op::CopyOverlapping
        | Op::StopGradient
        | Op::Log1pExp
        | Op::RoundSte
        | Op::ClipGradient { .. } => {}
        Op::Reduce { .. }
        | Op::ArgReduce { .. }
        | Op::Cumsum
        | Op::Mean { .. }
        | Op::Var { .. }
        | Op::NormDims { .. }
        | Op::Logsumexp { .. }
        | Op::Reshape
        | Op::Permute
        | Op::Transpose
        | Op::Movedim
        | Op::BroadcastTo
        | Op::Expand
        | Op::Slice
        | Op::Select
        | Op::Narrow
        | Op::SqueezeDim
        | Op::Unsqueeze
        | Op::Flatten
        | Op::Diagonal
        | Op::Split
        | Op::Chunk
        | Op::Pad { .. }
        | Op::Flip
        | Op::OneHot { .. }
        | Op::Unfold
        | Op::Fold
        | Op::MaxPool2d
        | Op::AvgPool2d
        | Op::Softmax
        | Op::LogSoftmax
        | Op::FillDiagonal(_) => set(1),
        Op::Cat | Op::Stack => set(n.saturating_sub(1)),
        Op::Gather | Op::IndexSelect => set(2),
        Op::ScatterAdd => set(3),
        Op::Conv2d { bias } => set(if *bias { 3 } else { 2 }),
        Op::CopyIntoSlice | Op::SliceAssign | Op::MulIntoSelect => set(2),
        Op::Arange
        | Op::ArangeRange
        | Op::Full { .. }
        | Op::Eye
        | Op::Linspace
        | Op::Rand
        | Op::Randn
        | Op::Random(_) => p.iter_mut().for_each(|x| *x = true),
    }
    p
}

/// Whether `op` writes into its first argument's copy (so under vmap the
/// first argument must be batched whenever another one is).
fn writes_first(op: &Op) -> bool {
    matches!(
        op,
        Op::AddInplace
            | Op::SubInplace
            | Op::MulInplace
            | Op::DivInplace
            | Op::CopyIntoSlice
            | Op::SliceAssign
            | Op::AddIntoTransposed
            | Op::MulIntoSelect
    )
}

/// In-place writes through views: the autodiff transforms refuse them (see
/// func-autodiff's NOTE: [autodiff in-place rebinds]), so the derivative
/// laws skip them.
fn writes_through_view(op: &Op) -> bool {
    matches!(
        op,
        Op::CopyIntoSlice
            | Op::SliceAssign
            | Op::AddIntoTransposed
            | Op::MulIntoSelect
            | Op::FillDiagonal(_)
            | Op::CopyOverlapping
    )
}

fn to_f64(a: &ArgSpec) -> ArgSpec {
    let mut a = a.clone();
    if a.dtype == DType::F32 {
        a.dtype = DType::F64;
    }
    a
}

/// The same argument with its elements rotated by `k` (same domain, same
/// index ranges, different values).
fn rotated(a: &ArgSpec, k: usize) -> ArgSpec {
    let mut a = a.clone();
    if !a.data.is_empty() {
        let r = k % a.data.len();
        a.data.rotate_left(r);
    }
    a
}

fn close(what: &str, a: &Tensor<impl Backend>, b: &Tensor<impl Backend>, tol: f64) -> Result<(), String> {
    if a.dims() != b.dims() {
        return Err(format!("{what}: shape {} vs {}", a.shape(), b.shape()));
    }
    let (x, y) = (a.to_vec::<f64>(), b.to_vec::<f64>());
    let scale = 1.0 + y.iter().filter(|v| v.is_finite()).fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (p, q)) in x.iter().zip(&y).enumerate() {
        let same = p == q || (p.is_nan() && q.is_nan());
        let within = (p - q).abs() <= tol * scale;
        if !same && !within {
            return Err(format!("{what}: element {i} is {p}, expected {q} (shape {})", a.shape()));
        }
    }
    Ok(())
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(Config { cases, ..Config::default() }, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

fn samples(info: &OpInfo, cases: u32) -> Vec<Sample> {
    let mut r = runner(cases);
    let strat = info.sample();
    (0..cases).filter_map(|_| strat.new_tree(&mut r).ok().map(|t| t.current())).collect()
}

fn describe(s: &Sample) -> String {
    s.args.iter().map(|a| format!("{}{:?} {:?}", a.dtype, a.shape, a.view)).collect::<Vec<_>>().join(", ")
}

/// Run `f`, turning a panic into an error message.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

// ----- vmap --------------------------------------------------------------------------------------

const NB: usize = 3;

/// The vmap law for one op on one sample (converted to f64).
///
/// # Errors
///
/// A description of the first disagreement.
pub fn check_vmap_sample<B: Backend>(info: &OpInfo, sample: &Sample, choice: usize) -> Result<(), String> {
    let args: Vec<ArgSpec> = sample.args.iter().map(to_f64).collect();
    let host = host_params(&info.op, args.len());
    let data: Vec<usize> = (0..args.len()).filter(|&i| !host[i]).collect();
    if data.is_empty() {
        return Ok(());
    }
    // in_dim per data argument from {0, -1, None}, at least one batched.
    let options = [Some(0isize), Some(-1), None];
    let mut dims: Vec<Option<isize>> =
        (0..args.len()).map(|i| if host[i] { None } else { options[(choice + i) % 3] }).collect();
    if data.iter().all(|&i| dims[i].is_none()) {
        dims[data[0]] = Some(0);
    }
    if writes_first(&info.op) && dims[0].is_none() && data.iter().any(|&i| dims[i].is_some()) {
        dims[0] = Some(0);
    }
    let slice_args = |k: usize| -> Vec<Tensor<B>> {
        args.iter()
            .enumerate()
            .map(|(i, a)| if dims[i].is_some() { rotated(a, k).build() } else { a.build() })
            .collect()
    };
    let expected: Vec<Tensor<B>> = (0..NB).map(|k| info.op.apply(&slice_args(k))).collect();
    let expected = Tensor::stack(&expected, 0);
    let batched: Vec<Tensor<B>> = args
        .iter()
        .enumerate()
        .map(|(i, a)| match dims[i] {
            None => a.build(),
            Some(d) => {
                let parts: Vec<Tensor<B>> = (0..NB).map(|k| rotated(a, k).build()).collect();
                let d = if d < 0 { d + a.shape.len() as isize + 1 } else { d };
                Tensor::stack(&parts, d)
            }
        })
        .collect();
    let op = info.op.clone();
    let in_dims = Dims::Seq(dims.iter().map(|d| Dims::All(*d)).collect());
    let f = move |xs: &Vec<Tensor<B>>| op.apply(xs);
    let got = try_vmap(f.clone(), VmapOptions::new().in_dims(in_dims.clone()))(&batched)
        .map_err(|e| format!("vmap with in_dims {in_dims}: {e}"))?;
    close(&format!("vmap in_dims {in_dims}"), &got, &expected, 1e-10)?;
    if choice == 0 {
        let chunked = try_vmap(f, VmapOptions::new().in_dims(in_dims.clone()).chunk_size(2))(&batched)
            .map_err(|e| format!("chunked vmap: {e}"))?;
        close("chunked vmap", &chunked, &got, 0.0)?;
    }
    Ok(())
}

/// Two nested vmap levels over dims 0 and 0 of every data argument.
///
/// # Errors
///
/// A description of the first disagreement.
pub fn check_nested_vmap_sample<B: Backend>(info: &OpInfo, sample: &Sample) -> Result<(), String> {
    let args: Vec<ArgSpec> = sample.args.iter().map(to_f64).collect();
    let host = host_params(&info.op, args.len());
    if host.iter().all(|h| *h) {
        return Ok(());
    }
    let at = |k: usize| -> Vec<Tensor<B>> {
        args.iter().enumerate().map(|(i, a)| if host[i] { a.build() } else { rotated(a, k).build() }).collect()
    };
    let (n1, n2) = (2usize, 2usize);
    let rows: Vec<Tensor<B>> = (0..n1)
        .map(|i| Tensor::stack(&(0..n2).map(|j| info.op.apply(&at(i * n2 + j))).collect::<Vec<_>>(), 0))
        .collect();
    let expected = Tensor::stack(&rows, 0);
    let batched: Vec<Tensor<B>> = args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if host[i] {
                return a.build();
            }
            let rows: Vec<Tensor<B>> = (0..n1)
                .map(|r| Tensor::stack(&(0..n2).map(|c| rotated(a, r * n2 + c).build()).collect::<Vec<_>>(), 0))
                .collect();
            Tensor::stack(&rows, 0)
        })
        .collect();
    let in_dims = Dims::Seq(host.iter().map(|h| Dims::All(if *h { None } else { Some(0) })).collect());
    let op = info.op.clone();
    let inner_dims = in_dims.clone();
    let inner = move |xs: &Vec<Tensor<B>>| {
        try_vmap(|ys: &Vec<Tensor<B>>| op.apply(ys), VmapOptions::new().in_dims(inner_dims.clone()))(xs)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let got = guarded(|| try_vmap(inner, VmapOptions::new().in_dims(in_dims))(&batched))?
        .map_err(|e| format!("nested vmap: {e}"))?;
    close("nested vmap", &got, &expected, 1e-10)
}

// ----- autodiff ----------------------------------------------------------------------------------

fn dot<B: Backend>(a: &[Tensor<B>], b: &[Tensor<B>]) -> (f64, f64) {
    let mut s = 0.0;
    let mut m = 0.0;
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x.to_vec::<f64>(), y.to_vec::<f64>());
        for (p, q) in x.iter().zip(&y) {
            s += p * q;
            m += (p * q).abs();
        }
    }
    (s, m)
}

/// Deterministic, varied values for tangents and cotangents.
fn probe<B: Backend>(like: &Tensor<B>, salt: f64) -> Tensor<B> {
    let n = like.numel();
    let v: Vec<f64> = (0..n).map(|i| ((i as f64 + 1.0) * 0.7548776662 + salt).sin()).collect();
    Tensor::from_vec(v, like.shape().clone())
}

/// The derivative laws for one differentiable op on one sample (in f64).
///
/// # Errors
///
/// A description of the first law that fails.
pub fn check_autodiff_sample<B: Backend>(info: &OpInfo, sample: &Sample) -> Result<(), String> {
    if !info.differentiable || writes_through_view(&info.op) {
        return Ok(());
    }
    let args: Vec<ArgSpec> = sample.args.iter().map(to_f64).collect();
    let host = host_params(&info.op, args.len());
    let diff: Vec<usize> = (0..args.len()).filter(|&i| !host[i] && args[i].dtype == DType::F64).collect();
    if diff.is_empty() {
        return Ok(());
    }
    let built: Vec<Tensor<B>> = args.iter().map(|a| a.build()).collect();
    let op = info.op.clone();
    let (d2, b2) = (diff.clone(), built.clone());
    let f = move |xs: &Vec<Tensor<B>>| {
        let mut all = b2.clone();
        for (k, &i) in d2.iter().enumerate() {
            all[i] = xs[k].clone();
        }
        op.apply(&all)
    };
    let x: Vec<Tensor<B>> = diff.iter().map(|&i| built[i].clone()).collect();
    if x.iter().any(|t| t.to_vec::<f64>().iter().any(|v| !v.is_finite() || v.abs() > 1e6)) {
        return Ok(());
    }
    let y = f(&x);
    // Derivatives are checked where the function is finite.
    if !y.dtype().is_float() || y.to_vec::<f64>().iter().any(|v| !v.is_finite()) {
        return Ok(());
    }
    let v: Vec<Tensor<B>> = x.iter().enumerate().map(|(k, t)| probe(t, k as f64)).collect();
    let u = probe(&y, 0.5);

    // jvp against central differences, at two step sizes to detect kinks.
    let (_, jv) = guarded(|| jvp(f.clone(), &x, &v))?;
    let shifted = |h: f64| -> Vec<Tensor<B>> { x.iter().zip(&v).map(|(a, b)| a + &(b * h)).collect() };
    // A kink (relu at 0, ties of max) shows as one-sided differences that
    // disagree, or central differences that change with the step.
    let fd = |h: f64| (f(&shifted(h)) - f(&shifted(-h))) / (2.0 * h);
    let h = 1e-5;
    let forward = (f(&shifted(h)) - &y) / h;
    let backward = (&y - &f(&shifted(-h))) / h;
    let (fd1, fd2) = (fd(1e-6), fd(1e-4));
    let smooth = close("fd", &fd1, &fd2, 1e-5).is_ok() && close("one-sided", &forward, &backward, 1e-3).is_ok();
    if smooth && !info.is_exempt(Law::FiniteDifferences) {
        close("jvp vs finite differences", &jv, &fd2, 1e-5)?;
    }
    let consistent = !info.is_exempt(Law::VjpJvpConsistency);
    // <u, J v> = <J^T u, v>.
    let (_, back) = guarded(|| vjp(f.clone(), &x))?;
    let jtu = guarded(|| back(&u))?;
    let (lhs, m1) = dot(std::slice::from_ref(&u), std::slice::from_ref(&jv));
    let (rhs, m2) = dot(&jtu, &v);
    // An op that computes in f32 (a cast) is exact only to f32 precision.
    let tol = if y.dtype() == DType::F32 { 1e-6 } else { 1e-10 };
    if consistent && (lhs - rhs).abs() > tol * (1.0 + m1 + m2) {
        return Err(format!("<u, J v> = {lhs} but <J^T u, v> = {rhs}"));
    }
    // jacfwd = jacrev (small problems).
    let n_in: usize = x.iter().map(|t| t.numel()).sum();
    if consistent && n_in * y.numel().max(1) <= 400 && y.numel() > 0 && n_in > 0 {
        let jr = guarded(|| jacrev(f.clone())(&x))?;
        let jf = guarded(|| jacfwd(f.clone())(&x))?;
        for (a, b) in jr.iter().zip(&jf) {
            close("jacfwd vs jacrev", b, a, tol)?;
        }
    }
    // Hessian symmetry of a scalar function of the first differentiated input.
    let x0 = x[0].clone();
    if x0.numel() <= 24 && x0.numel() > 0 {
        let (f3, rest, u3) = (f.clone(), x.clone(), u.clone());
        let g = move |x0: &Tensor<B>| {
            let mut xs = rest.clone();
            xs[0] = x0.clone();
            (f3(&xs) * &u3).sum()
        };
        let h = guarded(|| hessian(g)(&x0))?;
        let n = x0.numel();
        let h = h.reshape_to([n, n]);
        close("hessian symmetry", &h, &h.t(), tol * 100.0)?;
    }
    // Second order: the inner-product law for g(x) = J(x)^T u.
    let (f4, u4) = (f.clone(), u.clone());
    let g = move |xs: &Vec<Tensor<B>>| vjp(f4.clone(), xs).1(&u4);
    let w: Vec<Tensor<B>> = x.iter().enumerate().map(|(k, t)| probe(t, 2.0 + k as f64)).collect();
    let (_, gv) = guarded(|| jvp(g.clone(), &x, &v))?;
    let (_, gback) = guarded(|| vjp(g, &x))?;
    let gtw = guarded(|| gback(&w))?;
    let (lhs, m1) = dot(&w, &gv);
    let (rhs, m2) = dot(&gtw, &v);
    if consistent && (lhs - rhs).abs() > tol * 10.0 * (1.0 + m1 + m2) {
        return Err(format!("second order: <w, H v> = {lhs} but <H^T w, v> = {rhs}"));
    }
    Ok(())
}

/// Default number of samples per op for the transform laws.
pub const TRANSFORM_CASES: u32 = 32;

/// Run the vmap and derivative laws for every catalogue op on backend `B`.
///
/// # Panics
///
/// On the first op whose law fails, naming the op, the sample and the law.
pub fn check_transforms<B: Backend>() {
    check_transforms_with::<B>(TRANSFORM_CASES)
}

/// [`check_transforms`] with `cases` samples per op.
///
/// # Panics
///
/// On the first op whose law fails.
pub fn check_transforms_with<B: Backend>(cases: u32) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for info in catalogue() {
        // Random ops are covered by vmap's randomness tests; the "_large"
        // entries exist to reach the backends' parallel kernels.
        if matches!(info.op, Op::Rand | Op::Randn | Op::Random(_)) || info.name.ends_with("_large") {
            continue;
        }
        checked += 1;
        let samples = samples(&info, cases);
        assert!(samples.len() as u32 == cases, "{}: the sample strategy failed", info.name);
        for (k, s) in samples.iter().enumerate() {
            let r = guarded(|| {
                check_vmap_sample::<B>(&info, s, k)?;
                if k < 2 {
                    check_nested_vmap_sample::<B>(&info, s)?;
                }
                check_autodiff_sample::<B>(&info, s)
            });
            if let Err(e) | Ok(Err(e)) = r {
                failures.push(format!("{}: {e}\n  sample: {}", info.name, describe(s)));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{} ops fail the transform laws:\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 100, "only {checked} ops were checked");
}
