//! Large samples: the parallel, tiled and blocked paths of optimized kernels.

use super::*;
use crate::strategies::{ArgSpec, Domain, Sample, broadcastable_to, bulk_arg, float_dtype, large_shape, numeric_dtype};
use func_core::DType;
use proptest::collection::vec;
use proptest::prelude::*;

/// One large argument of `domain`.
pub(crate) fn s_large(dtypes: DTypes, domain: Domain) -> BoxedStrategy<Sample> {
    (large_shape(), dtypes()).prop_flat_map(move |(s, d)| sample(vec![bulk_arg(s, d, domain)])).boxed()
}

/// One large argument plus parameters depending on its shape.
pub(crate) fn s_large_with(
    dtypes: DTypes,
    domain: Domain,
    p: impl Fn(&[usize]) -> BoxedStrategy<Vec<ArgSpec>> + Send + Sync + 'static,
) -> BoxedStrategy<Sample> {
    (large_shape(), dtypes())
        .prop_flat_map(move |(s, d)| join(vec![single(bulk_arg(s.clone(), d, domain)), p(&s)]))
        .boxed()
}

/// Large `[a, b]` (`b` broadcasting to `a`, or to `a.t()` if `transposed`).
pub(crate) fn s_large_pair(transposed: bool) -> BoxedStrategy<Sample> {
    (large_shape(), same_or_mixed(numeric_dtype))
        .prop_flat_map(move |(s, dts)| {
            let mut target = s.clone();
            if transposed && target.len() >= 2 {
                let r = target.len();
                target.swap(r - 2, r - 1);
            }
            (Just(s), Just(dts), broadcastable_to(target))
        })
        .prop_flat_map(|(s, (ta, tb), ys)| {
            sample(vec![bulk_arg(s, ta, Domain::Finite), bulk_arg(ys, tb, Domain::Finite)])
        })
        .boxed()
}

pub(crate) fn s_large_where() -> BoxedStrategy<Sample> {
    (large_shape(), same_or_mixed(float_dtype))
        .prop_flat_map(|(s, dts)| (Just(s.clone()), Just(dts), broadcastable_to(s.clone()), broadcastable_to(s)))
        .prop_flat_map(|(s, (ta, tb), sa, sb)| {
            sample(vec![
                bulk_arg(s, DType::Bool, Domain::Any),
                bulk_arg(sa, ta, Domain::Finite),
                bulk_arg(sb, tb, Domain::Finite),
            ])
        })
        .boxed()
}

/// Matmul pairs above the direct-loop threshold (gemm path), batched with
/// enough work for a parallel batch loop when `batched`.
pub(crate) fn s_large_matmul(batched: bool) -> BoxedStrategy<Sample> {
    let pairs: BoxedStrategy<(Vec<usize>, Vec<usize>)> = if batched {
        let batch = (1usize..=2)
            .prop_flat_map(|r| vec(1usize..=4, r))
            .prop_flat_map(|out| (broadcastable_to(out.clone()), broadcastable_to(out)));
        (batch, 16usize..=32, 16usize..=32, 16usize..=32)
            .prop_map(|((ba, bb), m, k, n)| {
                let (mut x, mut y) = (ba, bb);
                x.extend([m, k]);
                y.extend([k, n]);
                (x, y)
            })
            .boxed()
    } else {
        (8usize..=48, 8usize..=48, 8usize..=48).prop_map(|(m, k, n)| (vec![m, k], vec![k, n])).boxed()
    };
    (pairs, float_dtype())
        .prop_flat_map(|((x, y), d)| sample(vec![bulk_arg(x, d, Domain::Finite), bulk_arg(y, d, Domain::Finite)]))
        .boxed()
}

/// A convolution large enough for gemm and a parallel batch of groups; with
/// 9 or 10 images, a batch the CPU backend splits between two threads by
/// samples (NOTE: [convolution by samples] in func-cpu).
pub(crate) fn s_large_conv2d() -> BoxedStrategy<Sample> {
    (prop_oneof![1usize..=2, 9usize..=10], 1usize..=2, 12usize..=16, 12usize..=16, 1usize..=2, float_dtype())
        .prop_flat_map(|(n, groups, h, w, stride, d)| {
            let (c, o) = (4 * groups, 8 * groups);
            sample(vec![
                bulk_arg(vec![n, c, h, w], d, Domain::Finite),
                bulk_arg(vec![o, 4, 3, 3], d, Domain::Finite),
                bulk_arg(vec![o], d, Domain::Finite),
                Just(ArgSpec::ints(&ints_of(&[stride, stride, 1, 1, 1, 1, groups]))).boxed(),
            ])
        })
        .boxed()
}
