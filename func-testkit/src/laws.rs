//! The backend-agreement law: every op of the [catalogue](crate::catalogue()),
//! evaluated on a backend under test and on [`RefBackend`] from the same
//! sample, gives the same shape, dtype and values.
//!
//! The comparison is documented on [`check_backend`].

use crate::RefBackend;
use crate::catalogue::{OpInfo, Scale, catalogue};
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

/// Check backend `B` against [`RefBackend`] on every catalogue op, with
/// [`DEFAULT_CASES`] random samples per op (see [`check_backend_with`]).
///
/// # Comparison
///
/// Shapes and dtypes must be equal; i64 and bool elements must be equal
/// exactly. A float element `a` (under test) matches `b` (reference) when
/// - `b` is NaN and `a` is NaN (any NaN equals any NaN), or
/// - `b` or `a` is infinite and `a == b`, or
/// - both are finite and `|a - b| <= rtol * (1 + |b| + m)`,
///
/// with `rtol = 1e-12` for f64 and `1e-5` for f32 (`0.0` and `-0.0` are
/// equal). `m`, the magnitude of the terms that produced the element, depends
/// on the op's [`Scale`]:
/// - [`Scale::Elementwise`]: `m = 0` (absolute near zero, relative beyond);
/// - [`Scale::AbsOp`] (sums, matmul, conv, linear, mean, cumsum, losses that
///   average gathered values): `m` is the same element of the op evaluated on
///   the reference backend with every float argument replaced by its absolute
///   value, i.e. the sum of the absolute values of the terms summed into the
///   element, so accumulation in a different order or precision (an f32
///   kernel accumulating in f32, blocked matmul) is accepted up to `rtol`
///   times that sum; a non-finite `m` accepts any finite pair;
/// - [`Scale::SumAbs`] (softmax family, logsumexp, var, norms, cross entropy,
///   mse): `m` is the sum of `|x|` over every element of every float
///   argument.
///
/// The reference backend computes f32 elementwise ops in f32 and
/// accumulations in f64 rounded once; see its module documentation.
///
/// # Panics
///
/// When an op disagrees, listing every failing op with its (shrunk) sample
/// and the first differing element.
pub fn check_backend<B: Backend>() {
    check_backend_with::<B>(DEFAULT_CASES)
}

/// Check backend `B` against [`RefBackend`] on every catalogue op, with
/// `cases` random samples per op.
///
/// The samples are deterministic (a fixed seed per op name), so a failure
/// reproduces from run to run; a failing sample is shrunk before it is
/// reported. See [`check_backend`] for the comparison.
///
/// # Panics
///
/// When an op disagrees, listing every failing op with its sample, both
/// outputs' first differing element, or the panic message.
pub fn check_backend_with<B: Backend>(cases: u32) {
    let all = catalogue();
    let failures: Vec<String> = all.iter().filter_map(|info| check_op::<B>(info, cases).err()).collect();
    if !failures.is_empty() {
        panic!(
            "backend `{}` disagrees with the reference backend on {} of {} ops:\n\n{}",
            B::default().name(),
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

/// Run `cases` random samples of one catalogue entry on `B` and on
/// [`RefBackend`].
///
/// # Errors
///
/// The report of the first (shrunk) disagreeing sample.
pub fn check_op<B: Backend>(info: &OpInfo, cases: u32) -> Result<(), String> {
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 1024, verbose: 0, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed_for(info.name)));
    let strategy = info.sample();
    match runner.run(&strategy, |s| check_sample::<B>(info, &s).map_err(TestCaseError::fail)) {
        Ok(()) => Ok(()),
        Err(TestError::Fail(reason, _)) => Err(reason.to_string()),
        Err(TestError::Abort(reason)) => Err(format!("op `{}`: proptest aborted: {reason}", info.name)),
    }
}

/// Host copy of an op's output.
struct Output {
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
    };
    Output { shape: t.dims().to_vec(), dtype: t.dtype(), floats, ints }
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

/// Build `sample` on `B`, apply the op and read the result back, catching
/// panics.
fn eval<B: Backend>(info: &OpInfo, sample: &Sample) -> Result<Output, String> {
    catch_unwind(AssertUnwindSafe(|| {
        let args = sample.build::<B>();
        read(&info.op.apply(&args))
    }))
    .map_err(panic_message)
}

fn multi_index(mut flat: usize, shape: &[usize]) -> Vec<usize> {
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

/// Evaluate one sample of `info` on `B` and on [`RefBackend`] and compare
/// (see [`check_backend`]).
///
/// # Errors
///
/// A report naming the op, the backend, the arguments (shape, dtype, view,
/// values) and the first difference, or the panic of either evaluation.
pub fn check_sample<B: Backend>(info: &OpInfo, sample: &Sample) -> Result<(), String> {
    let backend = B::default().name();
    let head = format!("op `{}` on backend `{backend}`", info.name);
    let args = format!("arguments:\n{sample}");
    let want = eval::<RefBackend>(info, sample).map_err(|e| {
        format!(
            "{head}: the reference backend panicked: {e}\n(a sample outside the op's domain is a catalogue bug)\n{args}"
        )
    })?;
    let got = eval::<B>(info, sample).map_err(|e| format!("{head}: panicked: {e}\n{args}"))?;
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
    let n = want.floats.len();
    let magnitude: Vec<f64> = match info.scale {
        Scale::Elementwise => vec![0.0; n],
        Scale::AbsOp => {
            let m = eval::<RefBackend>(info, &sample.abs()).map_err(|e| {
                format!("{head}: the reference backend panicked on the absolute-valued sample: {e}\n{args}")
            })?;
            m.floats.iter().map(|x| x.abs()).collect()
        }
        Scale::SumAbs => {
            let total: f64 =
                sample.args.iter().filter(|a| a.dtype.is_float()).flat_map(|a| a.data.iter()).map(|x| x.abs()).sum();
            vec![total; n]
        }
    };
    let rtol = if want.dtype == DType::F64 { F64_RTOL } else { F32_RTOL };
    for (i, ((&a, &b), &m)) in got.floats.iter().zip(&want.floats).zip(&magnitude).enumerate() {
        let tol = if m.is_finite() { rtol * (1.0 + b.abs() + m) } else { f64::INFINITY };
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

#[cfg(test)]
mod tests {
    use super::*;
    use func_core::{
        ArgReduceOp, BinaryOp, CmpOp, ConvGeom, Distribution, HostData, Layout, ReduceOp, Result, UnaryOp,
    };

    /// The reference backend with a wrong matmul: the first output element
    /// is off by 1e-3.
    #[derive(Clone, Copy, Debug, Default)]
    struct Skewed;

    type S = crate::RefStorage;

    impl Backend for Skewed {
        type Storage = S;
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

    fn entry(name: &str) -> OpInfo {
        catalogue().into_iter().find(|i| i.name == name).unwrap()
    }

    #[test]
    fn a_wrong_kernel_is_reported_with_op_args_and_element() {
        let err = check_op::<Skewed>(&entry("matmul"), 64).unwrap_err();
        assert!(err.contains("op `matmul` on backend `skewed`"), "{err}");
        assert!(err.contains("differs at element [0, 0] (flat 0)"), "{err}");
        assert!(err.contains("arg 0:") && err.contains("arg 1:"), "{err}");
        // Composites over the wrong kernel fail too; the others pass.
        assert!(check_op::<Skewed>(&entry("linear"), 64).is_err());
        assert!(check_op::<Skewed>(&entry("add"), 64).is_ok());
        assert!(check_op::<Skewed>(&entry("sum_dims"), 64).is_ok());
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
