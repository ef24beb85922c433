//! Samples of elementwise ops, reductions and linear algebra.

use super::*;
use crate::strategies::{
    ArgSpec, Domain, Sample, any_dtype, arg, broadcast_shapes, broadcastable_to, dim_size, float_dtype, nonempty_shape,
    numeric_dtype, shape,
};
use func_core::{BinaryOp, DType, ReduceOp};
use proptest::collection::vec;
use proptest::prelude::*;

pub(crate) fn same_or_mixed(dtypes: DTypes) -> BoxedStrategy<(DType, DType)> {
    prop_oneof![3 => dtypes().prop_map(|d| (d, d)), 1 => (dtypes(), dtypes())].boxed()
}

pub(crate) fn s_binary(op: BinaryOp) -> BoxedStrategy<Sample> {
    let (da, db) = match op {
        BinaryOp::Pow => (Domain::Positive, Domain::Finite),
        BinaryOp::Div => (Domain::Any, Domain::NonZero),
        _ => (Domain::Any, Domain::Any),
    };
    let dtypes = match op {
        BinaryOp::Pow => float_dtype().prop_map(|d| (d, d)).boxed(),
        _ => same_or_mixed(numeric_dtype),
    };
    (broadcast_shapes(2, 4), dtypes)
        .prop_flat_map(move |(s, (ta, tb))| sample(vec![arg(s[0].clone(), ta, da), arg(s[1].clone(), tb, db)]))
        .boxed()
}

pub(crate) fn s_compare() -> BoxedStrategy<Sample> {
    let dtypes = prop_oneof![3 => any_dtype().prop_map(|d| (d, d)), 1 => (numeric_dtype(), numeric_dtype())];
    (broadcast_shapes(2, 4), dtypes)
        .prop_flat_map(|(s, (ta, tb))| {
            sample(vec![arg(s[0].clone(), ta, Domain::Coarse), arg(s[1].clone(), tb, Domain::Coarse)])
        })
        .boxed()
}

pub(crate) fn s_where() -> BoxedStrategy<Sample> {
    (broadcast_shapes(3, 4), same_or_mixed(numeric_dtype))
        .prop_flat_map(|(s, (ta, tb))| {
            sample(vec![
                arg(s[0].clone(), DType::Bool, Domain::Any),
                arg(s[1].clone(), ta, Domain::Any),
                arg(s[2].clone(), tb, Domain::Any),
            ])
        })
        .boxed()
}

pub(crate) fn s_reduce(op: ReduceOp) -> BoxedStrategy<Sample> {
    let (domain, dtypes) = match op {
        ReduceOp::Prod => (Domain::NearOne, numeric_dtype()),
        _ => (Domain::Any, any_dtype()),
    };
    let nonzero = matches!(op, ReduceOp::Max | ReduceOp::Min);
    with_params(shape(0, 4).prop_map(some_nonzero).boxed(), dtypes, domain, move |s| params(dims_of(s, nonzero, 1)))
}

pub(crate) fn s_reduce_all(op: ReduceOp) -> BoxedStrategy<Sample> {
    match op {
        ReduceOp::Sum => unary_sample(shape(0, 4), any_dtype(), Domain::Any),
        ReduceOp::Prod => unary_sample(shape(0, 4), numeric_dtype(), Domain::NearOne),
        ReduceOp::Max | ReduceOp::Min => unary_sample(nonempty_shape(0, 4), any_dtype(), Domain::Any),
    }
}

/// Dims to reduce with max-type composites (logsumexp, inf-norm): any
/// subset of non-empty dims, all dims (empty list) only if none is empty.
pub(crate) fn max_dims_of(s: &[usize]) -> BoxedStrategy<Vec<ArgSpec>> {
    let min = if s.contains(&0) { 1 } else { 0 };
    params(dims_of(s, true, min))
}

/// A 2-D or batched matmul pair, or one with a vector operand.
pub(crate) fn s_matmul(kind: u8) -> BoxedStrategy<Sample> {
    let m = || dim_size(5);
    let pairs: BoxedStrategy<(Vec<usize>, Vec<usize>)> = match kind {
        0 => (m(), m(), m()).prop_map(|(a, k, b)| (vec![a, k], vec![k, b])).boxed(),
        1 => {
            let batch = (1usize..=2)
                .prop_flat_map(|r| vec(0usize..=3, r))
                .prop_flat_map(|out| (broadcastable_to(out.clone()), broadcastable_to(out)));
            (batch, 0usize..=4, 0usize..=4, 0usize..=4)
                .prop_map(|((ba, bb), a, k, b)| {
                    let mut x = ba;
                    x.extend([a, k]);
                    let mut y = bb;
                    y.extend([k, b]);
                    (x, y)
                })
                .boxed()
        }
        _ => (m(), m(), m(), 0usize..=3, 0u8..5)
            .prop_map(|(a, k, b, n, case)| match case {
                0 => (vec![k], vec![k, b]),
                1 => (vec![a, k], vec![k]),
                2 => (vec![k], vec![k]),
                3 => (vec![k], vec![n, k, b]),
                _ => (vec![n, a, k], vec![k]),
            })
            .boxed(),
    };
    (pairs, float_dtype())
        .prop_flat_map(|((x, y), d)| sample(vec![arg(x, d, Domain::Finite), arg(y, d, Domain::Finite)]))
        .boxed()
}

/// `addmm`'s `(c, a, b)`: a batched matmul pair (batch dims of rank 0 to
/// 2, each side broadcastable to them) and `c` broadcastable to the
/// product's shape (from a scalar to the full shape).
pub(crate) fn s_addmm() -> BoxedStrategy<Sample> {
    let batch = (0usize..=2)
        .prop_flat_map(|r| vec(0usize..=3, r))
        .prop_flat_map(|out| (broadcastable_to(out.clone()), broadcastable_to(out)));
    (batch, 0usize..=4, 0usize..=4, 0usize..=4)
        .prop_flat_map(|((ba, bb), m, k, n)| {
            // The product's batch: the two sides broadcast together.
            let r = ba.len().max(bb.len());
            let at = |s: &[usize], i: usize| if i + s.len() >= r { s[i + s.len() - r] } else { 1 };
            let mut out: Vec<usize> = (0..r).map(|i| at(&ba, i).max(at(&bb, i))).collect();
            out.extend([m, n]);
            let (mut x, mut y) = (ba, bb);
            x.extend([m, k]);
            y.extend([k, n]);
            (broadcastable_to(out), Just(x), Just(y), float_dtype())
        })
        .prop_flat_map(|(c, x, y, d)| {
            sample(vec![arg(c, d, Domain::Finite), arg(x, d, Domain::Finite), arg(y, d, Domain::Finite)])
        })
        .boxed()
}

pub(crate) fn s_vectors(same_len: bool) -> BoxedStrategy<Sample> {
    (0usize..=16, 0usize..=8, float_dtype())
        .prop_flat_map(move |(n, m, d)| {
            let m = if same_len { n } else { m };
            sample(vec![arg(vec![n], d, Domain::Finite), arg(vec![m], d, Domain::Finite)])
        })
        .boxed()
}

pub(crate) fn s_linear(bias: bool) -> BoxedStrategy<Sample> {
    (vec(0usize..=3, 0..=2), 0usize..=5, 0usize..=5, float_dtype())
        .prop_flat_map(move |(lead, i, o, d)| {
            let mut x = lead;
            x.push(i);
            let mut args = vec![arg(x, d, Domain::Finite), arg(vec![o, i], d, Domain::Finite)];
            if bias {
                args.push(arg(vec![o], d, Domain::Finite));
            }
            sample(args)
        })
        .boxed()
}
