//! The sample strategies of the catalogue entries, by op family: one
//! strategy (`s_*`) per kind of sample, built from the helpers below and
//! from [`strategies`](crate::strategies).

mod elementwise;
mod factories;
mod large;
mod shape;
mod windows;

pub(crate) use elementwise::*;
pub(crate) use factories::*;
pub(crate) use large::*;
pub(crate) use shape::*;
pub(crate) use windows::*;

use crate::strategies::{ArgSpec, Domain, Sample, arg};
use func_core::DType;
use proptest::collection::vec;
use proptest::prelude::*;

/// A strategy of dtypes, such as `float_dtype`.
pub(crate) type DTypes = fn() -> BoxedStrategy<DType>;

pub(crate) fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

pub(crate) fn sample(args: Vec<BoxedStrategy<ArgSpec>>) -> BoxedStrategy<Sample> {
    args.prop_map(Sample::new).boxed()
}

/// Concatenate strategies of argument lists.
pub(crate) fn join(parts: Vec<BoxedStrategy<Vec<ArgSpec>>>) -> BoxedStrategy<Sample> {
    parts.prop_map(|ps| Sample::new(ps.into_iter().flatten().collect())).boxed()
}

pub(crate) fn single(a: BoxedStrategy<ArgSpec>) -> BoxedStrategy<Vec<ArgSpec>> {
    a.prop_map(|x| vec![x]).boxed()
}

pub(crate) fn params(p: BoxedStrategy<Vec<i64>>) -> BoxedStrategy<Vec<ArgSpec>> {
    p.prop_map(|v| vec![ArgSpec::ints(&v)]).boxed()
}

pub(crate) fn param(p: BoxedStrategy<i64>) -> BoxedStrategy<Vec<ArgSpec>> {
    p.prop_map(|v| vec![ArgSpec::int(v)]).boxed()
}

/// One data argument of a random shape, dtype and view.
pub(crate) fn unary_sample(
    shapes: BoxedStrategy<Vec<usize>>,
    dtypes: BoxedStrategy<DType>,
    domain: Domain,
) -> BoxedStrategy<Sample> {
    (shapes, dtypes).prop_flat_map(move |(s, d)| sample(vec![arg(s, d, domain)])).boxed()
}

/// One data argument plus parameters depending on its shape.
pub(crate) fn with_params(
    shapes: BoxedStrategy<Vec<usize>>,
    dtypes: BoxedStrategy<DType>,
    domain: Domain,
    p: impl Fn(&[usize]) -> BoxedStrategy<Vec<ArgSpec>> + Send + Sync + 'static,
) -> BoxedStrategy<Sample> {
    (shapes, dtypes).prop_flat_map(move |(s, d)| join(vec![single(arg(s.clone(), d, domain)), p(&s)])).boxed()
}

/// `a` as a dim of a rank-`r` tensor, half the time negative.
pub(crate) fn signed(a: usize, r: usize) -> BoxedStrategy<i64> {
    any::<bool>().prop_map(move |neg| if neg && r > 0 { a as i64 - r as i64 } else { a as i64 }).boxed()
}

/// One dim of `s` (of size > 0 if `nonzero`; `s` must have one); for rank 0,
/// 0 or -1.
pub(crate) fn axis_of(s: &[usize], nonzero: bool) -> BoxedStrategy<i64> {
    let r = s.len();
    if r == 0 {
        return prop::sample::select(vec![0i64, -1]).boxed();
    }
    let cand: Vec<usize> = (0..r).filter(|&a| !nonzero || s[a] > 0).collect();
    assert!(!cand.is_empty(), "axis_of: no dim of size > 0 in {s:?}");
    prop::sample::select(cand).prop_flat_map(move |a| signed(a, r)).boxed()
}

/// A subset of at least `min` dims of `s` (of size > 0 if `nonzero`), some
/// negative.
pub(crate) fn dims_of(s: &[usize], nonzero: bool, min: usize) -> BoxedStrategy<Vec<i64>> {
    let r = s.len();
    let cand: Vec<usize> = (0..r).filter(|&a| !nonzero || s[a] > 0).collect();
    let len = cand.len();
    if len == 0 {
        return Just(vec![]).boxed();
    }
    (prop::sample::subsequence(cand, min.min(len)..=len), vec(any::<bool>(), len))
        .prop_map(move |(sub, neg)| {
            sub.iter().zip(neg).map(|(&a, n)| if n { a as i64 - r as i64 } else { a as i64 }).collect()
        })
        .boxed()
}

/// `s` with its first dim set to 1 if every dim is 0 (so some dim can be
/// reduced by max/min).
pub(crate) fn some_nonzero(mut s: Vec<usize>) -> Vec<usize> {
    if !s.is_empty() && s.iter().all(|&d| d == 0) {
        s[0] = 1;
    }
    s
}
