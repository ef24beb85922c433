use super::*;
use func_core::{ArgReduceOp, BinaryOp, CmpOp, ConvGeom, Distribution, HostData, Layout, ReduceOp, Result, UnaryOp};
use proptest::test_runner::TestRunner;

/// The reference backend with one fault.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum Faulty {
    /// A wrong matmul: the first output element is off by 1e-3.
    #[default]
    Skewed,
    /// Binary kernels return one element fewer than their output holds.
    Short,
}

type S = crate::RefStorage;

impl Backend for Faulty {
    type Storage = S;

    fn default_instance() -> func_core::Result<Self> {
        Ok(Faulty::Skewed)
    }
    fn name(&self) -> &'static str {
        "faulty"
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
        let out = RefBackend.binary(op, a, la, b, lb)?;
        if *self != Faulty::Short {
            return Ok(out);
        }
        let n = RefBackend.storage_len(&out);
        let v = RefBackend.to_host(&out, &Layout::contiguous([n]))?.to_f64_vec();
        RefBackend.from_host(HostData::from_f64(&v[..n.saturating_sub(1)], RefBackend.storage_dtype(&out)))
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
        if *self != Faulty::Skewed {
            return Ok(out);
        }
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
    fn scatter_add(&self, base: &S, bl: &Layout, axis: usize, idx: &S, il: &Layout, src: &S, sl: &Layout) -> Result<S> {
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
    let err = check_op_with(&Faulty::Skewed, &entry("matmul"), &opts(64)).unwrap_err();
    assert!(err.contains("op `matmul` on backend `faulty`"), "{err}");
    assert!(err.contains("differs at element [0, 0] (flat 0)"), "{err}");
    assert!(err.contains("arg 0:") && err.contains("arg 1:"), "{err}");
    // Composites over the wrong kernel fail too; the others pass.
    assert!(check_op_with(&Faulty::Skewed, &entry("linear"), &opts(64)).is_err());
    assert!(check_op_with(&Faulty::Skewed, &entry("add"), &opts(64)).is_ok());
    assert!(check_op_with(&Faulty::Skewed, &entry("sum_dims"), &opts(64)).is_ok());
}

/// A kernel output with fewer elements than its shape holds is an error
/// when the result is wrapped as a tensor (its layout must fit the
/// storage), never a tensor that reads past its storage.
#[test]
fn a_short_kernel_output_is_an_error_naming_the_counts() {
    let err = func_core::with_backend(Faulty::Short, || {
        let a = Tensor::<Faulty>::ones([2, 3], DType::F32);
        a.try_add(&a)
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("from_backend_storage"), "{err}");
    assert!(err.contains("addresses 6 elements, but the faulty storage holds 5"), "{err}");
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
