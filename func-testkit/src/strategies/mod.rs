//! Proptest strategies for the samples of the [op catalogue](crate::catalogue()).
//!
//! An [`ArgSpec`] describes one tensor argument independently of any backend:
//! its logical shape, its logical values in row-major order, its dtype and the
//! kind of view ([`ViewKind`]) it is built as. [`ArgSpec::build`] makes the
//! same tensor on any backend, so an op can be evaluated on two backends from
//! one sample and the results compared.
//!
//! Shapes include size-0 and size-1 dimensions, tensors stay small (at most
//! [`MAX_NUMEL`] logical elements, so that hundreds of cases per op run in
//! milliseconds), and values respect a [`Domain`] (positive inputs for `log`,
//! denominators away from zero, ...).

use func_core::{Backend, DType, HostData, Tensor};
use proptest::collection::vec;
use proptest::prelude::*;
use std::fmt;
use std::sync::Arc;

mod spec;

use spec::numel;
pub use spec::{ArgSpec, MAX_NUMEL, Sample, ViewKind};

/// The values an argument may take.
///
/// For i64 tensors each domain maps to a small integer range (noted per
/// variant); bool tensors take 0 and 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Domain {
    /// Finite values as [`Domain::Finite`]; one tensor in four also holds
    /// NaN, infinities and signed zeros. i64: `-9..=9`.
    Any,
    /// Uniform in `[-4, 4)`, half-integers (rounding ties) and small
    /// integers. i64: `-9..=9`.
    Finite,
    /// Half-integers in `[-2, 2]`, so that ties and equal elements are
    /// common (comparisons, argmax); one tensor in four holds NaN, infinities
    /// and signed zeros. i64: `-2..=2`.
    Coarse,
    /// `[0.05, 4]` (log, sqrt, pow base). i64: `1..=9`.
    Positive,
    /// `(-0.95, 4]` (log1p). i64: `0..=9`.
    AboveMinusOne,
    /// `[0.5, 4]` in magnitude, either sign (denominators). i64: `±1..=9`.
    NonZero,
    /// `[0.5, 1.5]` in magnitude, either sign (products of many elements).
    /// i64: `-1..=1`.
    NearOne,
    /// `[0, 1)` (probabilities). i64: `0..=1`.
    Unit,
    /// Integers in `lo..=hi` for every dtype.
    Ints(i64, i64),
}

impl Domain {
    fn has_specials(self) -> bool {
        matches!(self, Domain::Any | Domain::Coarse)
    }

    fn int_range(self) -> (i64, i64) {
        match self {
            Domain::Any | Domain::Finite => (-9, 9),
            Domain::Coarse => (-2, 2),
            Domain::Positive => (1, 9),
            Domain::AboveMinusOne => (0, 9),
            Domain::NonZero => (-9, 9),
            Domain::NearOne => (-1, 1),
            Domain::Unit => (0, 1),
            Domain::Ints(lo, hi) => (lo, hi),
        }
    }
}

fn signed(magnitude: BoxedStrategy<f64>) -> BoxedStrategy<f64> {
    (magnitude, any::<bool>()).prop_map(|(m, neg)| if neg { -m } else { m }).boxed()
}

/// One value of `domain` for `dtype`.
pub fn element(domain: Domain, dtype: DType) -> BoxedStrategy<f64> {
    match dtype {
        DType::Bool => (0i64..=1).prop_map(|v| v as f64).boxed(),
        DType::I64 => {
            let (lo, hi) = domain.int_range();
            if domain == Domain::NonZero {
                signed((1i64..=hi).prop_map(|v| v as f64).boxed())
            } else {
                (lo..=hi).prop_map(|v| v as f64).boxed()
            }
        }
        DType::F32 | DType::F64 => match domain {
            Domain::Any | Domain::Finite => prop_oneof![
                4 => -4.0..4.0f64,
                2 => (-8i32..=8).prop_map(|k| f64::from(k) / 2.0),
                1 => (-3i32..=3).prop_map(f64::from),
            ]
            .boxed(),
            Domain::Coarse => (-4i32..=4).prop_map(|k| f64::from(k) / 2.0).boxed(),
            Domain::Positive => {
                prop_oneof![3 => 0.05..4.0f64, 1 => (1i32..=8).prop_map(|k| f64::from(k) / 2.0)].boxed()
            }
            Domain::AboveMinusOne => {
                prop_oneof![3 => -0.95..4.0f64, 1 => (-1i32..=8).prop_map(|k| f64::from(k) / 2.0)].boxed()
            }
            Domain::NonZero => signed((0.5..4.0f64).boxed()),
            Domain::NearOne => signed((0.5..1.5f64).boxed()),
            Domain::Unit => (0.0..1.0f64).boxed(),
            Domain::Ints(lo, hi) => (lo..=hi).prop_map(|v| v as f64).boxed(),
        },
        other => panic!("no sample values for dtype {other}"),
    }
}

/// IEEE special values: NaN, the infinities and signed zeros.
pub fn special() -> BoxedStrategy<f64> {
    prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0]).boxed()
}

/// `n` values of `domain` for `dtype`. For [`Domain::Any`] and
/// [`Domain::Coarse`] float tensors, one in four has about one element in
/// eight replaced by a [`special`] value.
pub fn values(domain: Domain, dtype: DType, n: usize) -> BoxedStrategy<Vec<f64>> {
    let plain = vec(element(domain, dtype), n);
    if dtype.is_float() && domain.has_specials() {
        let mixed = vec(prop_oneof![7 => element(domain, dtype), 1 => special()], n);
        prop_oneof![3 => plain, 1 => mixed].boxed()
    } else {
        plain.boxed()
    }
}

/// `n` indices in `0..len` (as i64 values).
pub fn indices(len: usize, n: usize) -> BoxedStrategy<Vec<f64>> {
    if len == 0 {
        assert_eq!(n, 0, "indices: no valid index into an empty dimension");
        return Just(vec![]).boxed();
    }
    vec((0..len as i64).prop_map(|v| v as f64), n).boxed()
}

/// Largest size of one dimension in a generated shape of `rank`, so that a
/// shape holds at most [`MAX_NUMEL`] elements.
pub fn max_dim(rank: usize) -> usize {
    match rank {
        0 | 1 => 16,
        2 => 8,
        3 => 5,
        _ => 3,
    }
}

/// One dimension size up to `max`: 0 (rarely), 1 (often) or larger.
pub fn dim_size(max: usize) -> BoxedStrategy<usize> {
    prop_oneof![1 => Just(0usize), 2 => Just(1usize), 6 => 2..=max.max(2)].boxed()
}

/// A dimension size in `1..=max`, often 1.
pub fn nonzero_dim_size(max: usize) -> BoxedStrategy<usize> {
    prop_oneof![1 => Just(1usize), 3 => 2..=max.max(2)].boxed()
}

/// A shape of rank `min_rank..=max_rank` (at most 4) with size-0 and size-1
/// dimensions among the others.
pub fn shape(min_rank: usize, max_rank: usize) -> BoxedStrategy<Vec<usize>> {
    (min_rank..=max_rank).prop_flat_map(|r| vec(dim_size(max_dim(r)), r)).boxed()
}

/// A shape of rank `min_rank..=max_rank` without size-0 dimensions.
pub fn nonempty_shape(min_rank: usize, max_rank: usize) -> BoxedStrategy<Vec<usize>> {
    (min_rank..=max_rank).prop_flat_map(|r| vec(nonzero_dim_size(max_dim(r)), r)).boxed()
}

/// A shape that broadcasts to `target`: some leading dimensions dropped and
/// some sizes set to 1 (half the time, `target` itself).
pub fn broadcastable_to(target: Vec<usize>) -> BoxedStrategy<Vec<usize>> {
    let r = target.len();
    let same = Just(target.clone());
    let reduced = (0..=r, vec(prop::bool::weighted(0.35), r)).prop_map(move |(drop, ones)| {
        target.iter().enumerate().skip(drop).map(|(i, &d)| if ones[i] { 1 } else { d }).collect::<Vec<usize>>()
    });
    prop_oneof![1 => same, 1 => reduced].boxed()
}

/// `count` shapes of rank at most `max_rank` that broadcast together.
pub fn broadcast_shapes(count: usize, max_rank: usize) -> BoxedStrategy<Vec<Vec<usize>>> {
    shape(0, max_rank)
        .prop_flat_map(move |out| {
            let parts: Vec<BoxedStrategy<Vec<usize>>> = (0..count).map(|_| broadcastable_to(out.clone())).collect();
            parts
        })
        .boxed()
}

/// A view kind: contiguous 40%, each of the others 20%.
pub fn view_kind() -> BoxedStrategy<ViewKind> {
    prop_oneof![
        4 => Just(ViewKind::Contiguous),
        2 => Just(ViewKind::Transposed),
        2 => Just(ViewKind::Strided),
        2 => Just(ViewKind::Broadcast),
    ]
    .boxed()
}

/// A generator of `n` logical values.
pub type DataFn = Arc<dyn Fn(usize) -> BoxedStrategy<Vec<f64>> + Send + Sync>;

/// An argument of `shape` and `dtype` with values from `data` and a random
/// [`ViewKind`]; for a broadcast view the values are made constant along a
/// random dimension of size > 1.
pub fn arg_with(shape: Vec<usize>, dtype: DType, data: DataFn) -> BoxedStrategy<ArgSpec> {
    view_kind()
        .prop_flat_map(move |view| {
            let shape = shape.clone();
            let data = data.clone();
            let r = shape.len();
            let axes: Vec<usize> = (0..r).filter(|&a| shape[a] > 1).collect();
            let view = match view {
                ViewKind::Transposed if r < 2 => ViewKind::Contiguous,
                ViewKind::Strided if r == 0 => ViewKind::Contiguous,
                ViewKind::Broadcast if axes.is_empty() => ViewKind::Contiguous,
                v => v,
            };
            if view == ViewKind::Broadcast {
                prop::sample::select(axes)
                    .prop_flat_map(move |a| {
                        let shape = shape.clone();
                        let inner = numel(&shape[a + 1..]);
                        let outer = numel(&shape[..a]);
                        data(outer * inner).prop_map(move |small| {
                            let mut full = Vec::with_capacity(numel(&shape));
                            for o in 0..outer {
                                for _ in 0..shape[a] {
                                    full.extend_from_slice(&small[o * inner..(o + 1) * inner]);
                                }
                            }
                            ArgSpec::new(shape.clone(), full, dtype, ViewKind::Broadcast)
                        })
                    })
                    .boxed()
            } else {
                let n = numel(&shape);
                data(n).prop_map(move |d| ArgSpec::new(shape.clone(), d, dtype, view)).boxed()
            }
        })
        .boxed()
}

/// An argument of `shape` and `dtype` with values of `domain` and a random
/// [`ViewKind`].
pub fn arg(shape: Vec<usize>, dtype: DType, domain: Domain) -> BoxedStrategy<ArgSpec> {
    arg_with(shape, dtype, Arc::new(move |n| values(domain, dtype, n)))
}

/// An i64 index argument of `shape` with values in `0..len` and a random
/// [`ViewKind`].
pub fn index_arg(shape: Vec<usize>, len: usize) -> BoxedStrategy<ArgSpec> {
    arg_with(shape, DType::I64, Arc::new(move |n| indices(len, n)))
}

/// The number of elements from which [`large_shape`] generates shapes:
/// above the sizes at which optimized backends switch to parallel, tiled or
/// blocked kernels (func-cpu: 2^15 elements).
pub const LARGE_NUMEL: usize = 1 << 15;

/// A shape of at least [`LARGE_NUMEL`] (and at most about 40,000) elements:
/// `[n]`, `[a, b]` or `[c, a, b]`.
pub fn large_shape() -> BoxedStrategy<Vec<usize>> {
    prop_oneof![
        1 => (32_768usize..=40_000).prop_map(|n| vec![n]),
        2 => (182usize..=200, 182usize..=200).prop_map(|(a, b)| vec![a, b]),
        1 => (2usize..=3, 128usize..=140, 128usize..=140).prop_map(|(c, a, b)| vec![c, a, b]),
    ]
    .boxed()
}

/// SplitMix64: the next value of a seeded stream.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` values of `domain` (its finite part) for `dtype`, from a seeded
/// stream rather than one strategy per element: cheap for large tensors
/// (shrinking only changes the seed).
pub fn bulk_values(domain: Domain, dtype: DType, n: usize) -> BoxedStrategy<Vec<f64>> {
    any::<u64>()
        .prop_map(move |seed| {
            let mut state = seed;
            (0..n)
                .map(|_| {
                    let r = splitmix(&mut state);
                    let u = (r >> 11) as f64 / (1u64 << 53) as f64;
                    let neg = r & 1 == 1;
                    let ints = |lo: i64, hi: i64| (lo + ((hi - lo + 1) as f64 * u) as i64).min(hi) as f64;
                    match dtype {
                        DType::Bool => f64::from(u8::from(neg)),
                        DType::I64 => {
                            let (lo, hi) = domain.int_range();
                            if domain == Domain::NonZero {
                                let m = ints(1, hi);
                                if neg { -m } else { m }
                            } else {
                                ints(lo, hi)
                            }
                        }
                        DType::F32 | DType::F64 => match domain {
                            Domain::Any | Domain::Finite => -4.0 + 8.0 * u,
                            Domain::Coarse => ints(-4, 4) / 2.0,
                            Domain::Positive => 0.05 + 3.95 * u,
                            Domain::AboveMinusOne => -0.95 + 4.95 * u,
                            Domain::NonZero => (0.5 + 3.5 * u) * if neg { -1.0 } else { 1.0 },
                            Domain::NearOne => (0.5 + u) * if neg { -1.0 } else { 1.0 },
                            Domain::Unit => u,
                            Domain::Ints(lo, hi) => ints(lo, hi),
                        },
                        other => panic!("no sample values for dtype {other}"),
                    }
                })
                .collect()
        })
        .boxed()
}

/// A large argument: [`bulk_values`] of `domain` and a random [`ViewKind`].
pub fn bulk_arg(shape: Vec<usize>, dtype: DType, domain: Domain) -> BoxedStrategy<ArgSpec> {
    arg_with(shape, dtype, Arc::new(move |n| bulk_values(domain, dtype, n)))
}

/// `f32` or `f64`.
pub fn float_dtype() -> BoxedStrategy<DType> {
    prop_oneof![Just(DType::F32), Just(DType::F64)].boxed()
}

/// `f32`, `f64` or `i64`.
pub fn numeric_dtype() -> BoxedStrategy<DType> {
    prop_oneof![2 => Just(DType::F32), 2 => Just(DType::F64), 1 => Just(DType::I64)].boxed()
}

/// Any dtype, bool included.
pub fn any_dtype() -> BoxedStrategy<DType> {
    prop_oneof![2 => Just(DType::F32), 2 => Just(DType::F64), 1 => Just(DType::I64), 1 => Just(DType::Bool)].boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RefBackend;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    fn logical(spec: &ArgSpec) -> Vec<f64> {
        spec.build::<RefBackend>().to_vec::<f64>()
    }

    #[test]
    fn every_view_builds_the_logical_values() {
        let data: Vec<f64> = (0..24).map(f64::from).collect();
        for view in [ViewKind::Contiguous, ViewKind::Transposed, ViewKind::Strided] {
            let spec = ArgSpec::new(vec![2, 3, 4], data.clone(), DType::F64, view);
            let t = spec.build::<RefBackend>();
            assert_eq!(t.dims(), &[2, 3, 4]);
            assert_eq!(logical(&spec), data, "{view}");
            assert_eq!(spec.effective_view(), view);
        }
        let t = ArgSpec::new(vec![2, 3], data[..6].to_vec(), DType::F32, ViewKind::Transposed).build::<RefBackend>();
        assert!(!t.concrete().unwrap().1.is_contiguous());
        let s = ArgSpec::new(vec![2, 3], data[..6].to_vec(), DType::I64, ViewKind::Strided).build::<RefBackend>();
        assert_eq!(s.concrete().unwrap().1.strides(), &[7, 2]);
        assert_eq!(s.to_vec::<i64>(), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn broadcast_views_have_stride_zero() {
        let spec = ArgSpec::new(vec![2, 3], vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0], DType::F64, ViewKind::Broadcast);
        let t = spec.build::<RefBackend>();
        assert_eq!(t.concrete().unwrap().1.strides(), &[0, 1]);
        assert_eq!(logical(&spec), spec.data);
        let spec = ArgSpec::new(vec![2, 3], vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0], DType::F64, ViewKind::Broadcast);
        assert_eq!(spec.build::<RefBackend>().concrete().unwrap().1.strides(), &[1, 0]);
        assert_eq!(logical(&spec), spec.data);
        let spec = ArgSpec::new(vec![2], vec![1.0, 2.0], DType::F64, ViewKind::Broadcast);
        assert_eq!(spec.effective_view(), ViewKind::Contiguous);
        assert_eq!(logical(&spec), spec.data);
    }

    #[test]
    fn generated_args_match_their_shapes() {
        let mut runner = TestRunner::deterministic();
        let strat = (shape(0, 4), any_dtype()).prop_flat_map(|(s, d)| arg(s, d, Domain::Any));
        for _ in 0..300 {
            let spec = strat.new_tree(&mut runner).unwrap().current();
            assert!(spec.numel() <= MAX_NUMEL);
            let t = spec.build::<RefBackend>();
            assert_eq!(t.dims(), &spec.shape[..]);
            assert_eq!(t.dtype(), spec.dtype);
            let want = HostData::from_f64(&spec.data, spec.dtype).to_f64_vec();
            let got = t.to_vec::<f64>();
            assert!(
                got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())),
                "{spec}"
            );
        }
    }
}
