//! The backend-agreement law: every op of the [catalogue](crate::catalogue()),
//! evaluated on a backend under test and on [`RefBackend`] from the same
//! sample, gives the same shape, dtype and values.
//!
//! The comparison is documented on [`check_backend`].

use crate::RefBackend;
use crate::catalogue::{Op, OpInfo, Scale, catalogue};
use crate::strategies::Sample;
use func_core::{Backend, DType, Tensor};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Cases per op in [`check_backend`].
pub const DEFAULT_CASES: u32 = 256;

/// Relative tolerance for f64 results.
pub const F64_RTOL: f64 = 1e-12;

/// Relative tolerance for f32 results.
pub const F32_RTOL: f64 = 1e-5;

/// Check backend `B`, its [default instance](Backend::default_instance),
/// against [`RefBackend`] on every catalogue op with the default
/// [`CheckOptions`]: [`DEFAULT_CASES`] random samples per op, the tolerances
/// below, and random ops drawing the reference stream
/// ([`RngPolicy::Reference`]). [`check_backend_with`] takes an instance and
/// options.
///
/// # Comparison
///
/// Shapes and dtypes must be equal; i64 and bool elements must be equal
/// exactly. A float element `a` (under test) matches `b` (reference) when
/// - `b` is NaN and `a` is NaN (any NaN equals any NaN), or
/// - `b` or `a` is infinite and `a == b`, or
/// - both are finite and `|a - b| <= tol`, where
///   `tol = rtol * (1 + |b| + m)` if the element's magnitude `m` is finite
///   and `tol = 0` (exact agreement) if it is not,
///
/// with `rtol` = [`CheckOptions::f64_rtol`] (default `1e-12`) for f64 and
/// [`CheckOptions::f32_rtol`] (default `1e-5`) for f32, or the op's entry in
/// [`CheckOptions::op_rtol`] (`0.0` and `-0.0` are
/// equal). `m`, the magnitude of the terms that produced the element, is
/// computed for each element (or each reduced row) from the op's [`Scale`]:
/// - [`Scale::Elementwise`]: `m = 0` (absolute near zero, relative beyond);
/// - [`Scale::AbsOp`] (sums, matmul, conv, linear, mean, cumsum, losses that
///   average gathered values): `m` is the same element of the op evaluated on
///   the reference backend in f64 with every float argument replaced by its
///   absolute value, i.e. the sum of the absolute values of the terms summed
///   into the element, so accumulation in a different order or precision (an
///   f32 kernel accumulating in f32, blocked matmul) is accepted up to `rtol`
///   times that sum; an element with a non-finite `m` (an infinite or NaN
///   input among its terms) must agree exactly;
/// - [`Scale::Relative`] (norms, mse): `m = |b|`;
/// - [`Scale::Rows`]: with `|x|` the absolute values of the first argument
///   (non-finite ones counted as 0: they make whole rows NaN or exact zeros),
///   `M` the maximum of `|x|` over the element's reduced row and `n` the
///   row's length:
///   - softmax: `m = |b| * (1 + |x| + M)` (relative to the element: an
///     all-zero or shifted result fails);
///   - log-softmax: `m = 1 + |x| + 2 M + ln n`;
///   - logsumexp: `m = 1 + M + ln n`;
///   - var: `m = sum of x^2 over the row / max(n - correction, 1)`;
///   - cross entropy (one scalar): the batch mean of `1 + 2 M + ln C` per
///     row for class targets, of `sum over the row of |t| (1 + |x| + 2 M +
///     ln C)` for probability targets `t`.
///
/// # Panics
///
/// When an op disagrees, listing every failing op with its (shrunk) sample
/// and the first differing element.
pub fn check_backend<B: Backend>() {
    let backend = B::default_instance().unwrap_or_else(|e| panic!("check_backend: the backend cannot start: {e}"));
    check_backend_with(backend, &CheckOptions::default())
}

/// How [`check_backend_with`] checks the random-number ops (`rand`,
/// `randn`, `random`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RngPolicy {
    /// The backend draws the stream of [`func_core::random::sample`], as
    /// [`Backend::random`] recommends: random ops must agree with the
    /// reference backend like every other op.
    #[default]
    Reference,
    /// The backend has a generator of its own (a device RNG): a random op
    /// must give the reference's shape and dtype, the same values for the
    /// same seed, and values in the distribution's support (uniform in
    /// `[low, high)`, normal finite). Its values are not compared.
    Own,
}

/// Options of [`check_backend_with`]: how many samples, how close, and how
/// random ops are checked.
///
/// A device backend that computes f32 matmuls in TF32, for example, keeps the
/// default tolerances for every other op and widens only those:
///
/// ```
/// use func_testkit::{CheckOptions, RngPolicy};
///
/// let opts = CheckOptions {
///     op_rtol: vec![("matmul", 1e-3), ("matmul_batched", 1e-3)],
///     rng: RngPolicy::Own,
///     ..CheckOptions::default()
/// };
/// assert_eq!(opts.f32_rtol, 1e-5);
/// ```
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Random samples per op.
    pub cases: u32,
    /// Relative tolerance for f64 results (see [`check_backend`]).
    pub f64_rtol: f64,
    /// Relative tolerance for f32 results.
    pub f32_rtol: f64,
    /// Per-op relative tolerances, by catalogue name, replacing the dtype's
    /// for that op (in f32 and f64 alike): for kernels that are less precise
    /// by design, as TF32 matmul is.
    pub op_rtol: Vec<(&'static str, f64)>,
    /// How random ops are checked.
    pub rng: RngPolicy,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            cases: DEFAULT_CASES,
            f64_rtol: F64_RTOL,
            f32_rtol: F32_RTOL,
            op_rtol: vec![],
            rng: RngPolicy::Reference,
        }
    }
}

impl CheckOptions {
    /// The relative tolerance for `op`'s results of dtype `dtype`.
    pub fn rtol(&self, op: &str, dtype: DType) -> f64 {
        match self.op_rtol.iter().find(|(name, _)| *name == op) {
            Some((_, r)) => *r,
            None if dtype == DType::F64 => self.f64_rtol,
            None => self.f32_rtol,
        }
    }
}

/// Check the instance `backend` against [`RefBackend`] on every catalogue
/// op. The samples are built on `backend` (inside
/// [`with_backend`](func_core::with_backend)), so a backend with state (a
/// device index, a stream, a pool) is checked on the instance given.
///
/// The samples are deterministic (a fixed seed per op name), so a failure
/// reproduces from run to run; a failing sample is shrunk before it is
/// reported. See [`check_backend`] for the comparison.
///
/// # Panics
///
/// When an op disagrees, listing every failing op with its sample, both
/// outputs' first differing element, or the panic message.
pub fn check_backend_with<B: Backend>(backend: B, opts: &CheckOptions) {
    let all = catalogue();
    let failures: Vec<String> = all.iter().filter_map(|info| check_op_with(&backend, info, opts).err()).collect();
    if !failures.is_empty() {
        panic!(
            "backend `{}` disagrees with the reference backend on {} of {} ops:\n\n{}",
            backend.name(),
            failures.len(),
            all.len(),
            failures.join("\n\n")
        );
    }
}

/// A 32-byte ChaCha seed derived from an op's name (FNV-1a, then SplitMix64).
fn seed_for(name: &str) -> [u8; 32] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

/// Run [`CheckOptions::cases`] random samples of one catalogue entry on
/// `backend` and on [`RefBackend`].
///
/// # Errors
///
/// The report of the first (shrunk) disagreeing sample.
pub fn check_op_with<B: Backend>(backend: &B, info: &OpInfo, opts: &CheckOptions) -> Result<(), String> {
    let config = Config {
        cases: opts.cases,
        failure_persistence: None,
        max_shrink_iters: 1024,
        verbose: 0,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed_for(info.name)));
    let strategy = info.sample();
    match runner.run(&strategy, |s| check_sample_with(backend, info, &s, opts).map_err(TestCaseError::fail)) {
        Ok(()) => Ok(()),
        Err(TestError::Fail(reason, _)) => Err(reason.to_string()),
        Err(TestError::Abort(reason)) => Err(format!("op `{}`: proptest aborted: {reason}", info.name)),
    }
}

/// Host copy of an op's output.
struct Output {
    backend: &'static str,
    shape: Vec<usize>,
    dtype: DType,
    floats: Vec<f64>,
    ints: Vec<i64>,
}

fn read<B: Backend>(t: &Tensor<B>) -> Output {
    let (floats, ints) = match t.dtype() {
        DType::F32 | DType::F64 => (t.to_vec::<f64>(), vec![]),
        DType::I64 => (vec![], t.to_vec::<i64>()),
        DType::Bool => (vec![], t.to_vec::<bool>().into_iter().map(i64::from).collect()),
        other => panic!("check_backend cannot read dtype {other} yet"),
    };
    Output {
        backend: t.backend().map_or("(traced)", |b| b.name()),
        shape: t.dims().to_vec(),
        dtype: t.dtype(),
        floats,
        ints,
    }
}

fn panic_message(p: Box<dyn Any + Send>) -> String {
    match p.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => match p.downcast::<&'static str>() {
            Ok(s) => (*s).to_string(),
            Err(_) => "(a panic without a message)".to_string(),
        },
    }
}

/// Build `sample` on `backend`, apply the op and read the result back,
/// catching panics.
fn eval<B: Backend>(backend: &B, info: &OpInfo, sample: &Sample) -> Result<Output, String> {
    func_core::with_backend(backend.clone(), || {
        catch_unwind(AssertUnwindSafe(|| {
            let args = sample.build::<B>();
            read(&info.op.apply(&args))
        }))
        .map_err(panic_message)
    })
}

/// The multi-index of flat position `flat` in row-major `shape`.
pub(crate) fn multi_index(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        if shape[d] > 0 {
            idx[d] = flat % shape[d];
            flat /= shape[d];
        }
    }
    idx
}

/// Whether `a` (under test) matches `b` (reference) within `tol`.
fn close(a: f64, b: f64, tol: f64) -> bool {
    if b.is_nan() {
        a.is_nan()
    } else if a.is_nan() || a.is_infinite() || b.is_infinite() {
        a == b
    } else {
        (a - b).abs() <= tol
    }
}

/// Evaluate one sample of `info` on `backend` and on [`RefBackend`] and
/// compare (see [`check_backend`]).
///
/// # Errors
///
/// A report naming the op, the backend, the arguments (shape, dtype, view,
/// values) and the first difference, or the panic of either evaluation.
pub fn check_sample_with<B: Backend>(
    backend: &B,
    info: &OpInfo,
    sample: &Sample,
    opts: &CheckOptions,
) -> Result<(), String> {
    let head = format!("op `{}` on backend `{}`", info.name, backend.name());
    let args = format!("arguments:\n{sample}");
    let want = eval(&RefBackend, info, sample).map_err(|e| {
        format!(
            "{head}: the reference backend panicked: {e}\n(a sample outside the op's domain is a catalogue bug)\n{args}"
        )
    })?;
    let got = eval(backend, info, sample).map_err(|e| format!("{head}: panicked: {e}\n{args}"))?;
    let random = info.random;
    if random && opts.rng == RngPolicy::Own {
        let again = eval(backend, info, sample).map_err(|e| format!("{head}: panicked: {e}\n{args}"))?;
        return check_own_random(info, sample, &got, &again, &want);
    }
    compare(info, sample, &got, &want, opts)
}

/// [`RngPolicy::Own`]: the reference's shape and dtype, the same values for
/// the same seed (`got` against `again`), and values in the support.
fn check_own_random(info: &OpInfo, sample: &Sample, got: &Output, again: &Output, want: &Output) -> Result<(), String> {
    let head = format!("op `{}` on backend `{}`", info.name, got.backend);
    let args = format!("arguments:\n{sample}");
    if got.dtype != want.dtype || got.shape != want.shape {
        return Err(format!(
            "{head}: output is {}{:?}, the reference backend's is {}{:?}\n{args}",
            got.dtype, got.shape, want.dtype, want.shape
        ));
    }
    if let Some(i) = got.floats.iter().zip(&again.floats).position(|(a, b)| a.to_bits() != b.to_bits()) {
        return Err(format!(
            "{head}: two draws with the same seed differ at flat element {i} ({:e} and {:e}): \
             a seeded random op must be a function of its seed\n{args}",
            got.floats[i], again.floats[i]
        ));
    }
    let (low, high) = match info.op {
        Op::Rand => (0.0, 1.0),
        Op::Random(func_core::Distribution::Uniform { low, high }) => (low, high),
        _ => (f64::NEG_INFINITY, f64::INFINITY),
    };
    match got.floats.iter().position(|&v| !v.is_finite() || v < low || (v >= high && high.is_finite())) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{head}: element {i} is {:e}, outside the distribution's support [{low}, {high})\n{args}",
            got.floats[i]
        )),
    }
}

/// Compare an op's output `got` (from the backend under test) with `want`
/// (from [`RefBackend`]) for `sample` (see [`check_backend`]).
fn compare(info: &OpInfo, sample: &Sample, got: &Output, want: &Output, opts: &CheckOptions) -> Result<(), String> {
    let head = format!("op `{}` on backend `{}`", info.name, got.backend);
    let args = format!("arguments:\n{sample}");
    if got.dtype != want.dtype || got.shape != want.shape {
        return Err(format!(
            "{head}: output is {}{:?}, the reference backend's is {}{:?}\n{args}",
            got.dtype, got.shape, want.dtype, want.shape
        ));
    }
    if !want.dtype.is_float() {
        return match got.ints.iter().zip(&want.ints).position(|(a, b)| a != b) {
            None => Ok(()),
            Some(i) => Err(format!(
                "{head}: output {}{:?} differs at element {:?} (flat {i}): got {}, expected {}\n{args}",
                want.dtype,
                want.shape,
                multi_index(i, &want.shape),
                got.ints[i],
                want.ints[i]
            )),
        };
    }
    let magnitude = magnitudes(info, sample, &want.floats)
        .map_err(|e| format!("{head}: cannot compute the tolerance: {e}\n{args}"))?;
    let rtol = opts.rtol(info.name, want.dtype);
    for (i, ((&a, &b), &m)) in got.floats.iter().zip(&want.floats).zip(&magnitude).enumerate() {
        let tol = tolerance(rtol, b, m);
        if !close(a, b, tol) {
            return Err(format!(
                "{head}: output {}{:?} differs at element {:?} (flat {i}): got {a:e}, expected {b:e}; \
                 |difference| {:e} > tolerance {tol:e} = {rtol:e} * (1 + |expected| + magnitude {m:e}) ({:?} scale)\n{args}",
                want.dtype,
                want.shape,
                multi_index(i, &want.shape),
                (a - b).abs(),
                info.scale
            ));
        }
    }
    Ok(())
}

/// The tolerance for an expected element `b` of magnitude `m`: `rtol * (1 +
/// |b| + m)`, or 0 (exact agreement) when `m` is not finite.
fn tolerance(rtol: f64, b: f64, m: f64) -> f64 {
    if m.is_finite() { rtol * (1.0 + b.abs() + m) } else { 0.0 }
}

type R = Tensor<RefBackend>;

/// The sample's arguments on the reference backend, f32 ones as f64 (so that
/// magnitudes do not overflow where the op's result does not).
fn promoted(sample: &Sample) -> Vec<R> {
    sample
        .args
        .iter()
        .map(|a| {
            let mut a = a.clone();
            if a.dtype == DType::F32 {
                a.dtype = DType::F64;
            }
            a.build::<RefBackend>()
        })
        .collect()
}

/// The magnitude of every element of the expected output `want` (see
/// [`check_backend`]).
fn magnitudes(info: &OpInfo, sample: &Sample, want: &[f64]) -> Result<Vec<f64>, String> {
    if want.is_empty() {
        return Ok(vec![]);
    }
    let m = match info.scale {
        Scale::Elementwise => vec![0.0; want.len()],
        Scale::Relative => want.iter().map(|b| b.abs()).collect(),
        Scale::AbsOp => {
            let args = promoted(&sample.abs());
            let m = catch_unwind(AssertUnwindSafe(|| info.op.apply(&args).to_vec::<f64>())).map_err(|e| {
                format!("the reference backend panicked on the absolute-valued sample: {}", panic_message(e))
            })?;
            m.iter().map(|x| x.abs()).collect()
        }
        Scale::Rows => {
            let args = promoted(sample);
            catch_unwind(AssertUnwindSafe(|| row_magnitudes(info, &args, want)))
                .map_err(|e| format!("the reference backend panicked: {}", panic_message(e)))??
        }
    };
    if m.len() != want.len() {
        return Err(format!(
            "{} magnitudes for {} output elements ({:?} scale; a catalogue bug)",
            m.len(),
            want.len(),
            info.scale
        ));
    }
    Ok(m)
}

/// `|x|` with non-finite elements as 0.
fn finite_abs(x: &R) -> R {
    let a = x.abs();
    Tensor::where_(&a.lt_scalar(f64::INFINITY), &a, &a.zeros_like())
}

fn dims_arg(t: &R) -> Vec<isize> {
    t.to_vec::<i64>().into_iter().map(|v| v as isize).collect()
}

/// The magnitudes of [`Scale::Rows`] ops, from the arguments on the
/// reference backend (f32 promoted to f64) and the expected output.
fn row_magnitudes(info: &OpInfo, args: &[R], want: &[f64]) -> Result<Vec<f64>, String> {
    let x = args.first().ok_or("no arguments")?;
    let a = finite_abs(x);
    // Per-row maximum of |x| (kept dims) and the row length.
    let row_max = |dims: &[isize]| -> (R, f64) {
        let m = a.max_dims(dims, true);
        let n = if m.numel() == 0 { 1 } else { x.numel() / m.numel() };
        (m, n as f64)
    };
    let param = |i: usize| args.get(i).ok_or_else(|| format!("missing argument {i}"));
    let m = match &info.op {
        Op::Softmax => {
            let (rm, _) = row_max(&[param(1)?.item::<i64>() as isize]);
            let rel = ((&a + &rm) + 1.0).to_vec::<f64>();
            rel.iter().zip(want).map(|(r, b)| r * b.abs()).collect()
        }
        Op::LogSoftmax => {
            let (rm, n) = row_max(&[param(1)?.item::<i64>() as isize]);
            ((&a + &(rm * 2.0)) + (1.0 + n.ln())).to_vec::<f64>()
        }
        Op::Logsumexp { .. } => {
            let (rm, n) = row_max(&dims_arg(param(1)?));
            (rm + (1.0 + n.ln())).to_vec::<f64>()
        }
        Op::Var { correction, .. } => {
            let dims = dims_arg(param(1)?);
            let s2 = (&a * &a).sum_dims(&dims, true);
            let n = if s2.numel() == 0 { 0 } else { x.numel() / s2.numel() };
            (s2 / (n as f64 - *correction as f64).max(1.0)).to_vec::<f64>()
        }
        Op::CrossEntropy => {
            let t = param(1)?;
            let (rm, _) = row_max(&[-1]);
            let ln_c = (x.dims().last().copied().unwrap_or(1).max(1) as f64).ln();
            let per_row = if t.dtype().is_float() {
                (t.abs() * ((&a + &(rm * 2.0)) + (1.0 + ln_c))).sum_dims(&[-1], false)
            } else {
                rm * 2.0 + (1.0 + ln_c)
            };
            per_row.mean().to_vec::<f64>()
        }
        other => return Err(format!("Scale::Rows has no magnitude rule for {other:?} (a catalogue bug)")),
    };
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use func_core::{
        ArgReduceOp, BinaryOp, CmpOp, ConvGeom, Distribution, HostData, Layout, ReduceOp, Result, UnaryOp,
    };
    use proptest::test_runner::TestRunner;

    /// The reference backend with a wrong matmul: the first output element
    /// is off by 1e-3.
    #[derive(Clone, Copy, Debug, Default)]
    struct Skewed;

    type S = crate::RefStorage;

    impl Backend for Skewed {
        type Storage = S;

        fn default_instance() -> func_core::Result<Self> {
            Ok(Skewed)
        }
        fn name(&self) -> &'static str {
            "skewed"
        }
        fn storage_dtype(&self, s: &S) -> DType {
            RefBackend.storage_dtype(s)
        }
        fn storage_len(&self, s: &S) -> usize {
            RefBackend.storage_len(s)
        }
        fn from_host(&self, data: HostData) -> Result<S> {
            RefBackend.from_host(data)
        }
        fn to_host(&self, s: &S, l: &Layout) -> Result<HostData> {
            RefBackend.to_host(s, l)
        }
        fn full(&self, value: f64, dtype: DType, numel: usize) -> Result<S> {
            RefBackend.full(value, dtype, numel)
        }
        fn unary(&self, op: UnaryOp, s: &S, l: &Layout) -> Result<S> {
            RefBackend.unary(op, s, l)
        }
        fn binary(&self, op: BinaryOp, a: &S, la: &Layout, b: &S, lb: &Layout) -> Result<S> {
            RefBackend.binary(op, a, la, b, lb)
        }
        fn compare(&self, op: CmpOp, a: &S, la: &Layout, b: &S, lb: &Layout) -> Result<S> {
            RefBackend.compare(op, a, la, b, lb)
        }
        fn select(&self, c: &S, lc: &Layout, a: &S, la: &Layout, b: &S, lb: &Layout) -> Result<S> {
            RefBackend.select(c, lc, a, la, b, lb)
        }
        fn reduce(&self, op: ReduceOp, s: &S, l: &Layout, axes: &[usize]) -> Result<S> {
            RefBackend.reduce(op, s, l, axes)
        }
        fn arg_reduce(&self, op: ArgReduceOp, s: &S, l: &Layout, axis: usize) -> Result<S> {
            RefBackend.arg_reduce(op, s, l, axis)
        }
        fn cumsum(&self, s: &S, l: &Layout, axis: usize) -> Result<S> {
            RefBackend.cumsum(s, l, axis)
        }
        fn matmul(&self, a: &S, la: &Layout, b: &S, lb: &Layout) -> Result<S> {
            let out = RefBackend.matmul(a, la, b, lb)?;
            let n = RefBackend.storage_len(&out);
            let mut v = RefBackend.to_host(&out, &Layout::contiguous([n]))?.to_f64_vec();
            if let Some(x) = v.first_mut() {
                *x += 1e-3;
            }
            RefBackend.from_host(HostData::from_f64(&v, RefBackend.storage_dtype(&out)))
        }
        fn cast(&self, s: &S, l: &Layout, dtype: DType) -> Result<S> {
            RefBackend.cast(s, l, dtype)
        }
        fn copy_strided(&self, s: &S, l: &Layout) -> Result<S> {
            RefBackend.copy_strided(s, l)
        }
        fn write_strided(&self, dst: &mut S, dl: &Layout, src: &S, sl: &Layout) -> Result<()> {
            RefBackend.write_strided(dst, dl, src, sl)
        }
        fn concat(&self, parts: &[(&S, &Layout)], axis: usize) -> Result<S> {
            RefBackend.concat(parts, axis)
        }
        fn pad(&self, s: &S, l: &Layout, pads: &[(usize, usize)], value: f64) -> Result<S> {
            RefBackend.pad(s, l, pads, value)
        }
        fn flip(&self, s: &S, l: &Layout, axes: &[usize]) -> Result<S> {
            RefBackend.flip(s, l, axes)
        }
        fn gather(&self, s: &S, l: &Layout, axis: usize, idx: &S, il: &Layout) -> Result<S> {
            RefBackend.gather(s, l, axis, idx, il)
        }
        fn scatter_add(
            &self,
            base: &S,
            bl: &Layout,
            axis: usize,
            idx: &S,
            il: &Layout,
            src: &S,
            sl: &Layout,
        ) -> Result<S> {
            RefBackend.scatter_add(base, bl, axis, idx, il, src, sl)
        }
        fn im2col(&self, s: &S, l: &Layout, geom: &ConvGeom) -> Result<S> {
            RefBackend.im2col(s, l, geom)
        }
        fn col2im(&self, s: &S, l: &Layout, geom: &ConvGeom) -> Result<S> {
            RefBackend.col2im(s, l, geom)
        }
        fn random(&self, dist: Distribution, dtype: DType, numel: usize, seed: u64) -> Result<S> {
            RefBackend.random(dist, dtype, numel, seed)
        }
    }

    fn opts(cases: u32) -> CheckOptions {
        CheckOptions { cases, ..CheckOptions::default() }
    }

    fn entry(name: &str) -> OpInfo {
        catalogue().into_iter().find(|i| i.name == name).unwrap()
    }

    #[test]
    fn a_wrong_kernel_is_reported_with_op_args_and_element() {
        let err = check_op_with(&Skewed, &entry("matmul"), &opts(64)).unwrap_err();
        assert!(err.contains("op `matmul` on backend `skewed`"), "{err}");
        assert!(err.contains("differs at element [0, 0] (flat 0)"), "{err}");
        assert!(err.contains("arg 0:") && err.contains("arg 1:"), "{err}");
        // Composites over the wrong kernel fail too; the others pass.
        assert!(check_op_with(&Skewed, &entry("linear"), &opts(64)).is_err());
        assert!(check_op_with(&Skewed, &entry("add"), &opts(64)).is_ok());
        assert!(check_op_with(&Skewed, &entry("sum_dims"), &opts(64)).is_ok());
    }

    /// A sample of `name` from its strategy whose first argument is `dtype`.
    fn sample_of(name: &str, dtype: DType) -> (OpInfo, Sample) {
        use proptest::strategy::{Strategy, ValueTree};
        let info = entry(name);
        let strategy = info.sample();
        let mut runner = TestRunner::deterministic();
        for _ in 0..200 {
            let s = strategy.new_tree(&mut runner).unwrap().current();
            if s.args[0].dtype == dtype && s.args[0].numel() > 0 {
                return (info, s);
            }
        }
        panic!("no {dtype} sample of {name} in 200 tries");
    }

    /// The reference output of a sample, as a backend under test would
    /// return it, after `corrupt`.
    fn corrupted(info: &OpInfo, s: &Sample, corrupt: impl Fn(&mut Vec<f64>)) -> (Output, Output) {
        let want = eval(&RefBackend, info, s).unwrap();
        let mut got = eval(&RefBackend, info, s).unwrap();
        got.backend = "corrupted";
        corrupt(&mut got.floats);
        (got, want)
    }

    /// The index of the largest element.
    fn argmax(v: &[f64]) -> usize {
        (0..v.len()).fold(0, |k, i| if v[i] > v[k] { i } else { k })
    }

    #[test]
    fn a_wrong_large_softmax_is_rejected() {
        for dtype in [DType::F32, DType::F64] {
            let (info, s) = sample_of("softmax_large", dtype);
            // Exact and slightly rounded results pass.
            let (got, want) = corrupted(&info, &s, |_| {});
            compare(&info, &s, &got, &want, &CheckOptions::default()).unwrap();
            let rounding = if dtype == DType::F32 { 1e-7 } else { 1e-14 };
            let (got, want) = corrupted(&info, &s, |v| v.iter_mut().for_each(|x| *x *= 1.0 + rounding));
            compare(&info, &s, &got, &want, &CheckOptions::default()).unwrap();
            // All zeros, one element off by 1e-3 (or by 1e-3 relative), a
            // uniform result: rejected.
            let (got, want) = corrupted(&info, &s, |v| v.iter_mut().for_each(|x| *x = 0.0));
            let err = compare(&info, &s, &got, &want, &CheckOptions::default()).unwrap_err();
            assert!(err.contains("op `softmax_large` on backend `corrupted`") && err.contains("differs at"), "{err}");
            let (got, want) = corrupted(&info, &s, |v| {
                let k = argmax(v);
                v[k] += 1e-3;
            });
            assert!(
                compare(&info, &s, &got, &want, &CheckOptions::default()).is_err(),
                "{dtype}: +1e-3 on the largest element passed"
            );
            let (got, want) = corrupted(&info, &s, |v| {
                let k = argmax(v);
                v[k] *= 1.0 + 1e-3;
            });
            assert!(
                compare(&info, &s, &got, &want, &CheckOptions::default()).is_err(),
                "{dtype}: 1e-3 relative on the largest element passed"
            );
            let (got, want) = corrupted(&info, &s, |v| {
                let n = v.len() as f64;
                v.iter_mut().for_each(|x| *x = 1.0 / n);
            });
            assert!(
                compare(&info, &s, &got, &want, &CheckOptions::default()).is_err(),
                "{dtype}: a uniform softmax passed"
            );
        }
    }

    #[test]
    fn an_element_off_by_a_thousandth_is_rejected_for_every_row_and_relative_op() {
        let names = [
            "softmax",
            "log_softmax",
            "logsumexp",
            "logsumexp_keepdim",
            "var",
            "var_correction0",
            "norm",
            "norm_l1",
            "norm_l3",
            "cross_entropy",
            "cross_entropy_probs",
            "mse_loss",
            "sum_dims",
            "matmul",
        ];
        for name in names {
            for dtype in [DType::F32, DType::F64] {
                let (info, s) = sample_of(name, dtype);
                let (got, want) = corrupted(&info, &s, |_| {});
                if want.floats.iter().all(|x| !x.is_finite()) || want.floats.is_empty() {
                    continue;
                }
                compare(&info, &s, &got, &want, &CheckOptions::default())
                    .unwrap_or_else(|e| panic!("the exact result fails: {e}"));
                // The first finite element, off by 1e-3.
                let k = want.floats.iter().position(|x| x.is_finite()).unwrap();
                let (got, want) = corrupted(&info, &s, |v| v[k] += 1e-3);
                let err = compare(&info, &s, &got, &want, &CheckOptions::default())
                    .expect_err(&format!("{name} {dtype}: an element off by 1e-3 passed\n{s}"));
                assert!(err.contains(&format!("(flat {k})")), "{err}");
            }
        }
    }

    #[test]
    fn a_non_finite_magnitude_requires_exact_agreement() {
        for m in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            let tol = tolerance(F32_RTOL, 2.0, m);
            assert_eq!(tol, 0.0);
            assert!(close(2.0, 2.0, tol));
            assert!(!close(2.0 + 1e-12, 2.0, tol));
        }
        assert_eq!(tolerance(1e-5, -3.0, 6.0), 1e-5 * 10.0);
    }

    #[test]
    fn closeness() {
        assert!(close(f64::NAN, f64::NAN, 0.0));
        assert!(!close(1.0, f64::NAN, 1.0));
        assert!(!close(f64::NAN, 1.0, 1.0));
        assert!(close(f64::INFINITY, f64::INFINITY, 0.0));
        assert!(!close(f64::INFINITY, 1e300, f64::INFINITY));
        assert!(close(0.0, -0.0, 0.0));
        assert!(close(1.0 + 1e-13, 1.0, 2e-12));
        assert!(!close(1.0 + 1e-11, 1.0, 2e-12));
    }

    #[test]
    fn seeds_differ_per_op() {
        assert_ne!(seed_for("add"), seed_for("sub"));
        assert_eq!(seed_for("add"), seed_for("add"));
    }

    #[test]
    fn multi_indices() {
        assert_eq!(multi_index(5, &[2, 3]), vec![1, 2]);
        assert_eq!(multi_index(0, &[]), Vec::<usize>::new());
    }
}
