//! Samples of factories and in-place ops.

use super::*;
use crate::strategies::{
    ArgSpec, Domain, Sample, arg, broadcastable_to, float_dtype, nonempty_shape, numeric_dtype, shape,
};
use func_core::DType;
use proptest::prelude::*;

/// A shape-and-dtype carrier for factories.
pub(crate) fn like(shapes: BoxedStrategy<Vec<usize>>, dtypes: BoxedStrategy<DType>) -> BoxedStrategy<ArgSpec> {
    (shapes, dtypes).prop_map(|(s, d)| ArgSpec::like(s, d)).boxed()
}

pub(crate) fn len_like(max: usize, dtypes: BoxedStrategy<DType>) -> BoxedStrategy<ArgSpec> {
    like((0..=max).prop_map(|n| vec![n]).boxed(), dtypes)
}

pub(crate) fn seed() -> BoxedStrategy<ArgSpec> {
    (0i64..1_000_000).prop_map(ArgSpec::int).boxed()
}

pub(crate) fn s_arange_range() -> BoxedStrategy<Sample> {
    let step = prop::sample::select(vec![0.25, 0.5, 1.0, 1.5, 2.0, 0.3, -0.25, -1.0, -2.0, -0.7]);
    ((-8i32..=8).prop_map(|k| f64::from(k) / 2.0), step, 0.0..10.0f64, numeric_dtype())
        .prop_map(|(start, step, t, d)| {
            Sample::new(vec![ArgSpec::floats(&[start, start + step * t, step]), ArgSpec::like(vec![0], d)])
        })
        .boxed()
}

pub(crate) fn s_linspace() -> BoxedStrategy<Sample> {
    (-4.0..4.0f64, -4.0..4.0f64, len_like(12, numeric_dtype()))
        .prop_map(|(a, b, l)| Sample::new(vec![ArgSpec::floats(&[a, b]), l]))
        .boxed()
}

pub(crate) fn s_random() -> BoxedStrategy<Sample> {
    sample(vec![like(shape(0, 3), float_dtype()), seed()])
}

/// `[x, y]` with `y` broadcasting to `x`.
/// Shapes of the destinations of in-place ops: no size-0 dimensions, since
/// func-core refuses to write into an empty tensor whose contiguous strides
/// contain a 0 (`[2, 0, 3]` has strides `[0, 3, 1]`), taking it for a
/// broadcast view. Empty destinations are still covered by empty slices.
pub(crate) fn inplace_shape(min_rank: usize) -> BoxedStrategy<Vec<usize>> {
    nonempty_shape(min_rank, 4)
}

/// `[x, y]` with `y` (finite, so that it converts to an i64 `x`)
/// broadcasting to `x` (to `x.t()` for `min_rank` 2).
pub(crate) fn s_inplace(xd: DTypes, ydomain: Domain, min_rank: usize) -> BoxedStrategy<Sample> {
    (inplace_shape(min_rank), xd(), numeric_dtype())
        .prop_flat_map(move |(s, tx, ty)| {
            let target = if min_rank >= 2 {
                let mut t = s.clone();
                let r = t.len();
                t.swap(r - 2, r - 1);
                t
            } else {
                s.clone()
            };
            (Just(s), Just(tx), Just(ty), broadcastable_to(target))
        })
        .prop_flat_map(move |(s, tx, ty, ys)| sample(vec![arg(s, tx, Domain::Any), arg(ys, ty, ydomain)]))
        .boxed()
}

pub(crate) fn s_copy_into_slice() -> BoxedStrategy<Sample> {
    (inplace_shape(1), numeric_dtype(), numeric_dtype())
        .prop_flat_map(|(s, tx, ty)| (Just(s.clone()), Just(tx), Just(ty), slice_params(&s)))
        .prop_flat_map(|(s, tx, ty, (a, p))| {
            let mut target = s.clone();
            target[a] = slice_len(s[a], p[1], p[2], p[3] as usize);
            let src = broadcastable_to(target).prop_flat_map(move |ys| arg(ys, ty, Domain::Finite)).boxed();
            sample(vec![arg(s, tx, Domain::Any), src, Just(ArgSpec::ints(&p)).boxed()])
        })
        .boxed()
}

pub(crate) fn s_mul_into_select() -> BoxedStrategy<Sample> {
    (inplace_shape(1), numeric_dtype(), numeric_dtype())
        .prop_flat_map(|(s, tx, ty)| (Just(s.clone()), Just(tx), Just(ty), prop::sample::select(nonzero_axes(&s))))
        .prop_flat_map(|(s, tx, ty, a)| {
            let r = s.len();
            let n = s[a] as i64;
            let mut target = s.clone();
            target.remove(a);
            let y = broadcastable_to(target).prop_flat_map(move |ys| arg(ys, ty, Domain::Finite)).boxed();
            let p = (signed(a, r), -n..n).prop_map(|(d, i)| ArgSpec::ints(&[d, i])).boxed();
            sample(vec![arg(s, tx, Domain::Any), y, p])
        })
        .boxed()
}
