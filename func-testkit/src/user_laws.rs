//! The transform laws for anyone's code: [`check_laws`] for a function of a
//! tensor tree, [`check_laws_prop`] for the same as a property over
//! strategies, and [`check_custom_op`] for a custom op's own rules.
//!
//! JAX's `check_grads` and torch's `gradcheck` compare derivatives with
//! finite differences. These laws do that too, and also check batching
//! (vmap against a loop), the agreement of forward and reverse mode, and
//! second derivatives, so that a wrong rule anywhere shows up, with the law,
//! the input and the worst element in the report.
//!
//! # Examples
//!
//! ```
//! use func_core::{DType, Tensor};
//! use func_testkit::{LawOptions, RefBackend, check_laws};
//!
//! type T = Tensor<RefBackend>;
//! let w = T::from_vec(vec![0.5f64, -1.0, 2.0, 0.25, 1.5, -0.75], [3, 2]);
//! let x = T::from_vec(vec![0.3f64, -0.2, 0.9], [3]);
//! // A small model: its laws hold, and the report counts each check.
//! let report = check_laws(|(w, x): &(T, T)| x.matmul(w).tanh().sum(), &(w, x), &LawOptions::default())
//!     .unwrap_or_else(|e| panic!("{e}"));
//! assert!(report.total() > 0);
//! println!("{report}");
//! ```

use crate::derivatives::{
    hessian_matrix, jacobian_pairs, probe_like as probe, second_order_products, vjp_jvp_products,
};
use crate::transform_laws::guarded;
use func_autodiff::{jvp, vjp};
use func_batch::{Dims, VmapOptions, try_vmap};
use func_core::{Backend, CustomOp, CustomRule, DType, Tensor, TensorTree};
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// One law of [`check_laws`] and [`check_custom_op`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum UserLaw {
    /// `vmap(f)` equals stacking `f` over copies of the inputs, for in_dims
    /// 0, -1 and None per leaf.
    Vmap,
    /// The JVP equals central finite differences.
    JvpFiniteDifferences,
    /// `<u, J v> = <J^T u, v>`: reverse mode agrees with forward mode.
    VjpJvp,
    /// `jacfwd(f)` equals `jacrev(f)`.
    JacfwdJacrev,
    /// The Hessian of a scalar function is symmetric.
    HessianSymmetry,
    /// The inner-product law for `x -> J(x)^T u`: second derivatives agree.
    SecondOrder,
    /// A custom op's JVP rule equals differentiating its forward.
    CustomJvp,
    /// A custom op's VJP rule equals differentiating its forward.
    CustomVjp,
    /// A custom op's batching rule equals a loop over the batch.
    CustomBatch,
}

impl fmt::Display for UserLaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            UserLaw::Vmap => "vmap against a loop",
            UserLaw::JvpFiniteDifferences => "jvp against central differences",
            UserLaw::VjpJvp => "vjp/jvp inner product",
            UserLaw::JacfwdJacrev => "jacfwd against jacrev",
            UserLaw::HessianSymmetry => "Hessian symmetry",
            UserLaw::SecondOrder => "second-order inner product",
            UserLaw::CustomJvp => "custom JVP rule against the forward's derivative",
            UserLaw::CustomVjp => "custom VJP rule against the forward's derivative",
            UserLaw::CustomBatch => "custom batching rule against a loop",
        };
        f.write_str(name)
    }
}

/// Which laws run, and how close is close enough.
#[derive(Clone, Debug)]
pub struct LawOptions {
    /// Run the vmap law.
    pub vmap: bool,
    /// Run the first-order laws (finite differences, vjp/jvp, jacfwd/jacrev).
    pub first_order: bool,
    /// Run the second-order laws (Hessian symmetry, second order).
    pub second_order: bool,
    /// Laws to skip, for a rule that differs from the forward's derivative
    /// by design (a clipped or straight-through gradient).
    pub skip: Vec<UserLaw>,
    /// Relative tolerance of exact laws for f64 results, per element:
    /// `|got - expected| <= rtol * (1 + |expected|)`.
    pub rtol_f64: f64,
    /// The same for f32 results.
    pub rtol_f32: f64,
    /// Relative tolerance of the finite-difference law (f64; f32 uses
    /// `1e4` times it, capped at `1e-2`).
    pub fd_rtol: f64,
    /// The finite-difference step (default: `1e-6` for f64, `1e-2` for f32).
    /// The law runs only where two steps agree, away from kinks.
    pub eps: Option<f64>,
    /// Batch size of the vmap law.
    pub batch: usize,
}

impl Default for LawOptions {
    fn default() -> Self {
        LawOptions {
            vmap: true,
            first_order: true,
            second_order: true,
            skip: vec![],
            rtol_f64: 1e-10,
            rtol_f32: 1e-4,
            fd_rtol: 1e-5,
            eps: None,
            batch: 3,
        }
    }
}

impl LawOptions {
    fn runs(&self, law: UserLaw) -> bool {
        !self.skip.contains(&law)
    }
    fn rtol(&self, dtype: DType) -> f64 {
        if dtype == DType::F64 { self.rtol_f64 } else { self.rtol_f32 }
    }
}

/// What the laws checked: the number of compared values per law.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LawReport {
    /// Compared elements (or inner products) per law.
    pub checked: BTreeMap<UserLaw, usize>,
}

impl LawReport {
    /// All comparisons.
    pub fn total(&self) -> usize {
        self.checked.values().sum()
    }
    /// Comparisons of one law.
    pub fn count(&self, law: UserLaw) -> usize {
        self.checked.get(&law).copied().unwrap_or(0)
    }
    fn add(&mut self, law: UserLaw, n: usize) {
        *self.checked.entry(law).or_default() += n;
    }
}

impl fmt::Display for LawReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (law, n)) in self.checked.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{law}: {n}")?;
        }
        Ok(())
    }
}

/// A law that failed: which, on what input, and the worst element.
#[derive(Clone, Debug, PartialEq)]
pub struct LawFailure {
    /// The law.
    pub law: UserLaw,
    /// What was compared (`"output 0, in_dims [0, None]"`).
    pub what: String,
    /// The inputs, shown.
    pub input: String,
    /// Index of the worst element in the compared tensor (empty for a
    /// scalar comparison).
    pub index: Vec<usize>,
    /// The expected value there.
    pub expected: f64,
    /// The value got there.
    pub got: f64,
    /// The tolerance there.
    pub tolerance: f64,
    /// A panic or error raised while checking, if that is what failed.
    pub error: Option<String>,
}

impl fmt::Display for LawFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "law failed: {} ({})", self.law, self.what)?;
        match &self.error {
            Some(e) => write!(f, ": {e}")?,
            None => write!(
                f,
                "\n  worst element {:?}: got {:e}, expected {:e}, |difference| {:e} > tolerance {:e}",
                self.index,
                self.got,
                self.expected,
                (self.got - self.expected).abs(),
                self.tolerance
            )?,
        }
        write!(f, "\n  on input:\n{}", self.input)
    }
}

impl std::error::Error for LawFailure {}

/// The leaves, shown briefly.
fn show<B: Backend>(leaves: &[Tensor<B>]) -> String {
    leaves
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let v: Vec<f64> = if t.dtype() == DType::Bool {
                t.to_vec::<bool>().into_iter().map(f64::from).collect()
            } else {
                t.to_dtype(DType::F64).to_vec::<f64>()
            };
            let shown: Vec<String> = v.iter().take(8).map(|x| format!("{x:.6}")).collect();
            let more = if v.len() > 8 { format!(", ... ({} more)", v.len() - 8) } else { String::new() };
            format!("    leaf {i}: {} {:?} [{}{more}]", t.dtype(), t.dims(), shown.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Context of one run of the laws.
struct Ctx<'a> {
    opts: &'a LawOptions,
    input: String,
}

impl Ctx<'_> {
    fn fail(&self, law: UserLaw, what: &str, error: String) -> LawFailure {
        LawFailure {
            law,
            what: what.to_string(),
            input: self.input.clone(),
            index: vec![],
            expected: f64::NAN,
            got: f64::NAN,
            tolerance: f64::NAN,
            error: Some(error),
        }
    }

    /// Compare `got` with `want` element by element with `rtol * (1 +
    /// |want|)`; NaN matches NaN, infinities match exactly. Returns the
    /// number of elements compared.
    fn close<B: Backend>(
        &self,
        law: UserLaw,
        what: &str,
        got: &Tensor<B>,
        want: &Tensor<B>,
        rtol: f64,
    ) -> Result<usize, LawFailure> {
        if got.dims() != want.dims() {
            return Err(self.fail(law, what, format!("shape {:?}, expected {:?}", got.dims(), want.dims())));
        }
        let (a, b) = (got.to_dtype(DType::F64).to_vec::<f64>(), want.to_dtype(DType::F64).to_vec::<f64>());
        let mut worst: Option<(usize, f64)> = None;
        for (i, (&x, &y)) in a.iter().zip(&b).enumerate() {
            let tol = rtol * (1.0 + y.abs());
            let ok = if y.is_nan() {
                x.is_nan()
            } else if x.is_nan() || x.is_infinite() || y.is_infinite() {
                x == y
            } else {
                (x - y).abs() <= tol
            };
            if !ok {
                let excess = if (x - y).is_finite() { (x - y).abs() / tol } else { f64::INFINITY };
                if worst.is_none_or(|(_, e)| excess > e) {
                    worst = Some((i, excess));
                }
            }
        }
        match worst {
            None => Ok(a.len()),
            Some((i, _)) => Err(LawFailure {
                law,
                what: what.to_string(),
                input: self.input.clone(),
                index: crate::laws::multi_index(i, want.dims()),
                expected: b[i],
                got: a[i],
                tolerance: rtol * (1.0 + b[i].abs()),
                error: None,
            }),
        }
    }

    fn close_scalar(&self, law: UserLaw, what: &str, got: f64, want: f64, tol: f64) -> Result<usize, LawFailure> {
        if (got - want).abs() <= tol {
            Ok(1)
        } else {
            Err(LawFailure {
                law,
                what: what.to_string(),
                input: self.input.clone(),
                index: vec![],
                expected: want,
                got,
                tolerance: tol,
                error: None,
            })
        }
    }
}

/// All outputs flattened and joined into one vector (one Jacobian).
fn joined<B: Backend>(ys: &[Tensor<B>], dtype: DType) -> Tensor<B> {
    if ys.is_empty() {
        return Tensor::zeros([0], dtype);
    }
    let flat: Vec<Tensor<B>> = ys.iter().map(|y| y.reshape(&[-1])).collect();
    Tensor::cat(&flat, 0)
}

type LeafFn<B> = Arc<dyn Fn(&Vec<Tensor<B>>) -> Vec<Tensor<B>> + Send + Sync>;

/// Check the transform laws of `f` at `inputs` (see the [module
/// docs](self)): vmap against a loop for in_dims 0, -1 and None per leaf,
/// jvp against central differences, the vjp/jvp inner product, jacfwd
/// against jacrev, Hessian symmetry when the output is one scalar, and the
/// second-order inner product. Float leaves are differentiated and
/// batched; other leaves (indices, masks) are held fixed.
///
/// # Errors
///
/// The first law that fails, with the input and the worst element
/// ([`LawFailure`]), or an error or panic raised by a transform of `f`.
pub fn check_laws<B, X, Y, F>(f: F, inputs: &X, opts: &LawOptions) -> Result<LawReport, LawFailure>
where
    B: Backend,
    X: TensorTree<B> + Clone + Send + Sync + 'static,
    Y: TensorTree<B>,
    F: Fn(&X) -> Y + Send + Sync + 'static,
{
    let template = inputs.clone();
    let g: LeafFn<B> =
        Arc::new(move |leaves: &Vec<Tensor<B>>| f(&template.rebuild(&mut leaves.clone().into_iter())).leaves());
    check_leaf_laws(g, &inputs.leaves(), opts)
}

fn check_leaf_laws<B: Backend>(g: LeafFn<B>, x: &[Tensor<B>], opts: &LawOptions) -> Result<LawReport, LawFailure> {
    let ctx = Ctx { opts, input: show(x) };
    let mut report = LawReport::default();
    if opts.vmap && opts.runs(UserLaw::Vmap) {
        vmap_law(&ctx, &g, x, UserLaw::Vmap, &mut report)?;
    }
    if opts.first_order || opts.second_order {
        derivative_laws(&ctx, &g, x, &mut report)?;
    }
    Ok(report)
}

/// `k`-th copy of a leaf for the vmap law: a multiplicative perturbation
/// (keeps signs and zeros, so domains such as `x > 0` are kept).
fn copy_k<B: Backend>(t: &Tensor<B>, k: usize) -> Tensor<B> {
    if k == 0 || !t.dtype().is_float() {
        return t.deep_copy();
    }
    t * &(probe(t, k as f64 * 1.3) * (0.05 * k as f64) + 1.0)
}

fn vmap_law<B: Backend>(
    ctx: &Ctx<'_>,
    g: &LeafFn<B>,
    x: &[Tensor<B>],
    law: UserLaw,
    report: &mut LawReport,
) -> Result<(), LawFailure> {
    let floats: Vec<usize> = (0..x.len()).filter(|&i| x[i].dtype().is_float()).collect();
    if floats.is_empty() {
        return Ok(());
    }
    let nb = ctx.opts.batch.max(1);
    let copies: Vec<Vec<Tensor<B>>> = (0..nb).map(|k| x.iter().map(|t| copy_k(t, k)).collect()).collect();
    let options = [Some(0isize), Some(-1), None];
    for choice in 0..3 {
        let mut dims: Vec<Option<isize>> =
            (0..x.len()).map(|i| if x[i].dtype().is_float() { options[(choice + i) % 3] } else { None }).collect();
        if floats.iter().all(|&i| dims[i].is_none()) {
            dims[floats[0]] = Some(0);
        }
        let batched: Vec<Tensor<B>> = (0..x.len())
            .map(|i| match dims[i] {
                None => x[i].deep_copy(),
                Some(d) => {
                    let at = if d < 0 { x[i].ndim() as isize + 1 + d } else { d };
                    Tensor::stack(&copies.iter().map(|c| c[i].clone()).collect::<Vec<_>>(), at)
                }
            })
            .collect();
        // The loop: batched leaves take their k-th copy, the others stay.
        let expected: Vec<Vec<Tensor<B>>> = copies
            .iter()
            .map(|c| {
                let xs: Vec<Tensor<B>> =
                    (0..x.len()).map(|i| if dims[i].is_some() { c[i].clone() } else { x[i].deep_copy() }).collect();
                guarded(|| g(&xs)).map_err(|e| ctx.fail(law, "f on one batch element", e))
            })
            .collect::<Result<_, _>>()?;
        let shown: Vec<String> =
            dims.iter().map(|d| d.map_or("None".to_string(), |d| d.to_string())).collect::<Vec<_>>();
        let what = format!("in_dims [{}]", shown.join(", "));
        let in_dims = Dims::Seq(dims.iter().map(|d| Dims::All(*d)).collect());
        let g2 = g.clone();
        let got =
            guarded(|| try_vmap(move |xs: &Vec<Tensor<B>>| Ok(g2(xs)), VmapOptions::new().in_dims(in_dims))(&batched))
                .map_err(|e| ctx.fail(law, &what, e))?
                .map_err(|e| ctx.fail(law, &what, e.to_string()))?;
        if got.len() != expected[0].len() {
            return Err(ctx.fail(law, &what, format!("{} outputs, the loop gives {}", got.len(), expected[0].len())));
        }
        for (o, y) in got.iter().enumerate() {
            let want = Tensor::stack(&expected.iter().map(|e| e[o].clone()).collect::<Vec<_>>(), 0);
            let n = ctx.close(law, &format!("output {o}, {what}"), y, &want, ctx.opts.rtol(want.dtype()))?;
            report.add(law, n);
        }
    }
    Ok(())
}

/// Largest Jacobian (elements) built whole.
const JACOBIAN_LIMIT: usize = 4096;

fn derivative_laws<B: Backend>(
    ctx: &Ctx<'_>,
    g: &LeafFn<B>,
    x_all: &[Tensor<B>],
    report: &mut LawReport,
) -> Result<(), LawFailure> {
    let opts = ctx.opts;
    let diff: Vec<usize> = (0..x_all.len()).filter(|&i| x_all[i].dtype().is_float()).collect();
    if diff.is_empty() {
        return Ok(());
    }
    let dtype = x_all[diff[0]].dtype();
    let rtol = opts.rtol(dtype);
    // h: the float leaves to all outputs joined in one vector.
    let (fixed, d2, g2) = (x_all.to_vec(), diff.clone(), g.clone());
    let h = move |xs: &Vec<Tensor<B>>| {
        let mut all = fixed.clone();
        for (k, &i) in d2.iter().enumerate() {
            all[i] = xs[k].clone();
        }
        joined(&g2(&all), dtype)
    };
    let x: Vec<Tensor<B>> = diff.iter().map(|&i| x_all[i].clone()).collect();
    let y = guarded(|| h(&x)).map_err(|e| ctx.fail(UserLaw::JvpFiniteDifferences, "f", e))?;
    if !y.dtype().is_float() {
        return Ok(());
    }
    let v: Vec<Tensor<B>> = x.iter().enumerate().map(|(k, t)| probe(t, k as f64)).collect();
    let u = probe(&y, 0.5);
    if opts.first_order {
        let law = UserLaw::JvpFiniteDifferences;
        let (_, jv) = guarded(|| jvp(h.clone(), &x, &v)).map_err(|e| ctx.fail(law, "jvp", e))?;
        if opts.runs(law) {
            let eps = opts.eps.unwrap_or(if dtype == DType::F64 { 1e-6 } else { 1e-2 });
            let fd_rtol = if dtype == DType::F64 { opts.fd_rtol } else { (opts.fd_rtol * 1e4).min(1e-2) };
            let shifted = |s: f64| -> Vec<Tensor<B>> { x.iter().zip(&v).map(|(a, b)| a + &(b * s)).collect() };
            let fd = |s: f64| (h(&shifted(s)) - h(&shifted(-s))) / (2.0 * s);
            let (fd1, fd2) = guarded(|| (fd(eps), fd(eps * 10.0))).map_err(|e| ctx.fail(law, "f near x", e))?;
            // Only where two steps agree: a kink (relu at 0) is not a bug.
            if ctx.close(law, "steps", &fd1, &fd2, fd_rtol).is_ok() {
                report.add(
                    law,
                    ctx.close(law, "jvp(f, x, v) against (f(x + h v) - f(x - h v)) / 2h", &jv, &fd1, fd_rtol)?,
                );
            }
        }
        let law = UserLaw::VjpJvp;
        if opts.runs(law) {
            let [(lhs, m1), (rhs, m2)] =
                vjp_jvp_products(h.clone(), &x, &u, &v, &jv).map_err(|e| ctx.fail(law, e.stage, e.message))?;
            report.add(law, ctx.close_scalar(law, "<J^T u, v> against <u, J v>", rhs, lhs, rtol * (1.0 + m1 + m2))?);
        }
        let law = UserLaw::JacfwdJacrev;
        if opts.runs(law) {
            let n_in: usize = x.iter().map(|t| t.numel()).sum();
            let whole = n_in * y.numel().max(1) <= JACOBIAN_LIMIT;
            let pairs = jacobian_pairs(h.clone(), &x, &y, whole, dtype, probe)
                .map_err(|e| ctx.fail(law, e.stage, e.message))?;
            for (k, (jf, jr)) in pairs.iter().enumerate() {
                let what = if whole { format!("block of input leaf {}", diff[k]) } else { "on a subspace".to_string() };
                report.add(law, ctx.close(law, &what, jf, jr, rtol)?);
            }
        }
    }
    if !opts.second_order {
        return Ok(());
    }
    let law = UserLaw::HessianSymmetry;
    if opts.runs(law) && y.numel() == 1 {
        let h3 = h.clone();
        let hm = hessian_matrix(move |xs: &Vec<Tensor<B>>| h3(xs).sum(), &x, dtype, probe)
            .map_err(|e| ctx.fail(law, e.stage, e.message))?;
        report.add(law, ctx.close(law, "H^T against H", &hm.t(), &hm, rtol * 100.0)?);
    }
    let law = UserLaw::SecondOrder;
    if opts.runs(law) {
        let [(lhs, m1), (rhs, m2)] =
            second_order_products(h, &x, &u, &v, probe).map_err(|e| ctx.fail(law, e.stage, e.message))?;
        report.add(law, ctx.close_scalar(law, "<H^T w, v> against <w, H v>", rhs, lhs, rtol * 10.0 * (1.0 + m1 + m2))?);
    }
    Ok(())
}

/// [`check_laws`] as a property: inputs drawn from `strategy` (for example
/// func-testkit's [`strategies`](crate::strategies)) and built by `build`,
/// `cases` of them; a failure is shrunk to a smallest failing input before
/// it is reported.
///
/// # Errors
///
/// The report of the smallest failing input (as [`LawFailure`]'s
/// `Display`).
pub fn check_laws_prop<B, S, X, Y, F>(
    strategy: S,
    build: impl Fn(&S::Value) -> X,
    f: F,
    cases: u32,
    opts: &LawOptions,
) -> Result<usize, String>
where
    B: Backend,
    S: Strategy,
    X: TensorTree<B> + Clone + Send + Sync + 'static,
    Y: TensorTree<B>,
    F: Fn(&X) -> Y + Clone + Send + Sync + 'static,
{
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 256, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let total = std::cell::Cell::new(0usize);
    let result = runner.run(&strategy, |value| {
        let x = build(&value);
        match check_laws(f.clone(), &x, opts) {
            Ok(r) => {
                total.set(total.get() + r.total());
                Ok(())
            }
            Err(e) => Err(TestCaseError::fail(e.to_string())),
        }
    });
    match result {
        Ok(()) => Ok(total.get()),
        Err(TestError::Fail(reason, _)) => Err(format!("after shrinking: {reason}")),
        Err(TestError::Abort(reason)) => Err(format!("aborted: {reason}")),
    }
}

/// Check a custom op's own rules: each rule it has is compared with
/// differentiating or looping its forward (when the forward is written in
/// Tensor operations), and the op, called through its rules, satisfies the
/// laws of [`check_laws`].
///
/// Skip a law in `opts.skip` for a rule that differs from the forward's
/// derivative by design (a straight-through or clipped gradient).
///
/// # Errors
///
/// The first rule or law that fails ([`LawFailure`]).
pub fn check_custom_op<B: Backend>(
    op: Arc<dyn CustomOp<B>>,
    inputs: &[Tensor<B>],
    opts: &LawOptions,
) -> Result<LawReport, LawFailure> {
    let x: Vec<Tensor<B>> = inputs.to_vec();
    let ctx = Ctx { opts, input: show(&x) };
    let op2 = op.clone();
    let call: LeafFn<B> = Arc::new(move |xs: &Vec<Tensor<B>>| {
        let refs: Vec<&Tensor<B>> = xs.iter().collect();
        func_core::call_custom(op2.clone(), &refs).unwrap_or_else(|e| panic!("{e}"))
    });
    let mut report = LawReport::default();
    let traceable = op.forward_is_traceable();
    let op3 = op.clone();
    let forward: LeafFn<B> = Arc::new(move |xs: &Vec<Tensor<B>>| op3.forward(xs).unwrap_or_else(|e| panic!("{e}")));
    let diff: Vec<usize> = (0..x.len()).filter(|&i| x[i].dtype().is_float()).collect();
    let dtype = diff.first().map_or(DType::F64, |&i| x[i].dtype());
    let restrict = |g: LeafFn<B>| {
        let (fixed, d2) = (x.clone(), diff.clone());
        move |xs: &Vec<Tensor<B>>| {
            let mut all = fixed.clone();
            for (k, &i) in d2.iter().enumerate() {
                all[i] = xs[k].clone();
            }
            joined(&g(&all), dtype)
        }
    };
    let xf: Vec<Tensor<B>> = diff.iter().map(|&i| x[i].clone()).collect();
    let rtol = opts.rtol(dtype);
    if traceable && !xf.is_empty() {
        let law = UserLaw::CustomJvp;
        if op.has_rule(CustomRule::Jvp) && opts.runs(law) {
            let v: Vec<Tensor<B>> = xf.iter().enumerate().map(|(k, t)| probe(t, k as f64)).collect();
            let (_, want) = guarded(|| jvp(restrict(forward.clone()), &xf, &v))
                .map_err(|e| ctx.fail(law, "jvp of the forward", e))?;
            let (_, got) =
                guarded(|| jvp(restrict(call.clone()), &xf, &v)).map_err(|e| ctx.fail(law, "the JVP rule", e))?;
            report.add(law, ctx.close(law, "the JVP rule's tangents", &got, &want, rtol)?);
        }
        let law = UserLaw::CustomVjp;
        if op.has_rule(CustomRule::Vjp) && opts.runs(law) {
            let (y, want_fn) =
                guarded(|| vjp(restrict(forward.clone()), &xf)).map_err(|e| ctx.fail(law, "vjp of the forward", e))?;
            let u = probe(&y, 0.5);
            let want = guarded(|| want_fn(&u)).map_err(|e| ctx.fail(law, "vjp of the forward", e))?;
            let (_, got_fn) =
                guarded(|| vjp(restrict(call.clone()), &xf)).map_err(|e| ctx.fail(law, "the VJP rule", e))?;
            let got = guarded(|| got_fn(&u)).map_err(|e| ctx.fail(law, "the VJP rule", e))?;
            for (k, (a, b)) in got.iter().zip(&want).enumerate() {
                report.add(law, ctx.close(law, &format!("the VJP rule's cotangent of input {}", diff[k]), a, b, rtol)?);
            }
        }
    }
    let law = UserLaw::CustomBatch;
    if op.has_rule(CustomRule::Batch) && opts.runs(law) && opts.vmap {
        vmap_law(&ctx, &call, &x, law, &mut report)?;
    }
    // The op through its rules obeys the function laws (its batching rule
    // was checked above).
    let mut rest = opts.clone();
    // With a batching rule, vmap was checked above; with none and an opaque
    // forward, vmap cannot run the op at all.
    rest.vmap = rest.vmap && !op.has_rule(CustomRule::Batch) && traceable;
    let more = check_leaf_laws(call, &x, &rest)?;
    for (law, n) in more.checked {
        report.add(law, n);
    }
    Ok(report)
}
