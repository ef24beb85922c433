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

mod magnitudes;
#[cfg(test)]
mod tests;

use magnitudes::magnitudes;

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

/// The backend's output has the reference's dtype and shape.
fn same_kind(head: &str, args: &str, got: &Output, want: &Output) -> Result<(), String> {
    if got.dtype != want.dtype || got.shape != want.shape {
        return Err(format!(
            "{head}: output is {}{:?}, the reference backend's is {}{:?}\n{args}",
            got.dtype, got.shape, want.dtype, want.shape
        ));
    }
    Ok(())
}

/// [`RngPolicy::Own`]: the reference's shape and dtype, the same values for
/// the same seed (`got` against `again`), and values in the support.
fn check_own_random(info: &OpInfo, sample: &Sample, got: &Output, again: &Output, want: &Output) -> Result<(), String> {
    let head = format!("op `{}` on backend `{}`", info.name, got.backend);
    let args = format!("arguments:\n{sample}");
    same_kind(&head, &args, got, want)?;
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
    same_kind(&head, &args, got, want)?;
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
