//! Samples of shape and indexing ops.

use super::*;
use crate::strategies::{ArgSpec, Domain, Sample, any_dtype, arg, index_arg, numeric_dtype, shape};
use proptest::collection::vec;
use proptest::prelude::*;

pub(crate) fn prime_factors(mut n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut p = 2;
    while n > 1 {
        while n.is_multiple_of(p) {
            out.push(p);
            n /= p;
        }
        p += 1;
    }
    out
}

/// A shape with `numel(s)` elements, sometimes with one `-1`.
pub(crate) fn reshape_target(s: &[usize]) -> BoxedStrategy<Vec<i64>> {
    let n = numel(s);
    if n == 0 {
        return (Just(s.to_vec()).prop_shuffle(), any::<bool>())
            .prop_map(|(mut d, one)| {
                if one {
                    d.push(1);
                }
                d.into_iter().map(|v| v as i64).collect()
            })
            .boxed();
    }
    let primes = prime_factors(n);
    let k = primes.len();
    let general =
        (1usize..=4, vec(0usize..4, k), prop::option::weighted(0.3, 0usize..4)).prop_map(move |(t, slots, infer)| {
            let mut dims = vec![1i64; t];
            for (&p, s) in primes.iter().zip(slots) {
                dims[s % t] *= p as i64;
            }
            if let Some(j) = infer {
                dims[j % t] = -1;
            }
            dims
        });
    if n == 1 { prop_oneof![3 => general, 1 => Just(vec![])].boxed() } else { general.boxed() }
}

/// One data argument of rank 1 to 4 and two of its dims, each possibly
/// negative (`transpose`, `movedim`).
pub(crate) fn s_dim_pair() -> BoxedStrategy<Sample> {
    with_params(shape(1, 4), any_dtype(), Domain::Any, |s| {
        let r = s.len();
        params(
            ((0..r).prop_flat_map(move |a| signed(a, r)), (0..r).prop_flat_map(move |a| signed(a, r)))
                .prop_map(|(a, b)| vec![a, b])
                .boxed(),
        )
    })
}

pub(crate) fn s_permute() -> BoxedStrategy<Sample> {
    with_params(shape(0, 4), any_dtype(), Domain::Any, |s| {
        let r = s.len();
        params(
            (Just((0..r).collect::<Vec<usize>>()).prop_shuffle(), vec(any::<bool>(), r))
                .prop_map(move |(p, neg)| {
                    p.iter().zip(neg).map(|(&a, n)| if n { a as i64 - r as i64 } else { a as i64 }).collect()
                })
                .boxed(),
        )
    })
}

pub(crate) fn broadcast_target(s: &[usize], expand: bool) -> BoxedStrategy<Vec<i64>> {
    let s = s.to_vec();
    let r = s.len();
    (vec(0usize..=3, 0..=2), vec(0usize..=4, r), vec(any::<bool>(), r))
        .prop_map(move |(lead, grow, keep)| {
            let mut t: Vec<i64> = lead.iter().map(|&d| d as i64).collect();
            for i in 0..r {
                let d = if s[i] == 1 { grow[i] } else { s[i] };
                t.push(if expand && keep[i] && d == s[i] { -1 } else { d as i64 });
            }
            t
        })
        .boxed()
}

/// Python's clamped slice length (as `Tensor::slice`).
pub(crate) fn slice_len(n: usize, start: i64, stop: i64, step: usize) -> usize {
    let n = n as i64;
    let clampi = |i: i64| if i < 0 { (i + n).max(0) } else { i.min(n) };
    let (start, stop) = (clampi(start), clampi(stop));
    let stop = stop.max(start);
    ((stop - start) as usize).div_ceil(step)
}

/// `(dim, start, stop, step)` for a slice of `s` (rank >= 1).
pub(crate) fn slice_params(s: &[usize]) -> BoxedStrategy<(usize, Vec<i64>)> {
    let s = s.to_vec();
    let r = s.len();
    (0..r)
        .prop_flat_map(move |a| {
            let n = s[a] as i64;
            (Just(a), signed(a, r), -(n + 2)..=(n + 2), -(n + 2)..=(n + 2), 1i64..=3)
                .prop_map(|(a, d, start, stop, step)| (a, vec![d, start, stop, step]))
        })
        .boxed()
}

pub(crate) fn s_slice() -> BoxedStrategy<Sample> {
    with_params(shape(1, 4), any_dtype(), Domain::Any, |s| params(slice_params(s).prop_map(|(_, p)| p).boxed()))
}

pub(crate) fn s_select() -> BoxedStrategy<Sample> {
    with_params(shape(1, 4).prop_map(some_nonzero).boxed(), any_dtype(), Domain::Any, |s| {
        let s = s.to_vec();
        let r = s.len();
        let cand: Vec<usize> = (0..r).filter(|&a| s[a] > 0).collect();
        params(
            prop::sample::select(cand)
                .prop_flat_map(move |a| {
                    let n = s[a] as i64;
                    (signed(a, r), -n..n).prop_map(|(d, i)| vec![d, i])
                })
                .boxed(),
        )
    })
}

pub(crate) fn s_narrow() -> BoxedStrategy<Sample> {
    with_params(shape(1, 4), any_dtype(), Domain::Any, |s| {
        let s = s.to_vec();
        let r = s.len();
        params(
            (0..r)
                .prop_flat_map(move |a| {
                    let n = s[a] as i64;
                    (signed(a, r), 0..=n)
                        .prop_flat_map(move |(d, start)| (0..=n - start).prop_map(move |len| vec![d, start, len]))
                })
                .boxed(),
        )
    })
}

pub(crate) fn s_flatten() -> BoxedStrategy<Sample> {
    with_params(shape(0, 4), any_dtype(), Domain::Any, |s| {
        let r = s.len();
        if r == 0 {
            return params(Just(vec![0, 0]).boxed());
        }
        params(
            (0..r, 0..r)
                .prop_flat_map(move |(x, y)| (signed(x.min(y), r), signed(x.max(y), r)).prop_map(|(a, b)| vec![a, b]))
                .boxed(),
        )
    })
}

pub(crate) fn s_diagonal(shapes: BoxedStrategy<Vec<usize>>) -> BoxedStrategy<Sample> {
    with_params(shapes, any_dtype(), Domain::Any, |s| {
        let r = s.len();
        params(
            (Just((0..r).collect::<Vec<usize>>()).prop_shuffle(), -3i64..=3)
                .prop_flat_map(move |(p, off)| {
                    (Just(off), signed(p[0], r), signed(p[1], r)).prop_map(|(o, a, b)| vec![o, a, b])
                })
                .boxed(),
        )
    })
}

pub(crate) fn s_cat(stack: bool) -> BoxedStrategy<Sample> {
    let shapes = if stack { shape(0, 3) } else { shape(1, 3) };
    (shapes, 1usize..=4, same_or_mixed(numeric_dtype))
        .prop_flat_map(move |(s, count, (ta, tb))| {
            let r = s.len();
            let axis: BoxedStrategy<usize> = if stack { (0..=r).boxed() } else { (0..r).boxed() };
            (Just(s), Just(count), Just((ta, tb)), axis, vec(0usize..=3, count))
        })
        .prop_flat_map(move |(s, count, (ta, tb), a, sizes)| {
            let r = s.len();
            let mut args: Vec<BoxedStrategy<Vec<ArgSpec>>> = (0..count)
                .map(|i| {
                    let mut si = s.clone();
                    if !stack {
                        si[a] = sizes[i];
                    }
                    single(arg(si, if i % 2 == 0 { ta } else { tb }, Domain::Any))
                })
                .collect();
            let rank = if stack { r + 1 } else { r };
            args.push(param(signed(a, rank)));
            join(args)
        })
        .boxed()
}

pub(crate) fn s_split(chunk: bool) -> BoxedStrategy<Sample> {
    with_params(shape(1, 4), any_dtype(), Domain::Any, move |s| {
        let s = s.to_vec();
        let r = s.len();
        let n = if chunk { 1i64..=5 } else { 1i64..=4 };
        params((n, (0..r).prop_flat_map(move |a| signed(a, r))).prop_map(|(k, d)| vec![k, d]).boxed())
    })
}

pub(crate) fn s_pad() -> BoxedStrategy<Sample> {
    with_params(shape(0, 4), numeric_dtype(), Domain::Any, |s| {
        let r = s.len();
        let most = if r <= 2 { 2i64 } else { 1 };
        params(vec(0..=most, 2 * r).boxed())
    })
}

/// An index shape for gather along `a` of `s`: any size along `a`, other
/// sizes at most `s`'s (mostly equal).
pub(crate) fn gather_index_shape(s: &[usize], a: usize) -> BoxedStrategy<Vec<usize>> {
    let dims: Vec<BoxedStrategy<usize>> = s
        .iter()
        .enumerate()
        .map(|(i, &d)| if i == a { (0usize..=4).boxed() } else { prop_oneof![2 => Just(d), 1 => 0..=d].boxed() })
        .collect();
    dims.boxed()
}

pub(crate) fn nonzero_axes(s: &[usize]) -> Vec<usize> {
    (0..s.len()).filter(|&a| s[a] > 0).collect()
}

pub(crate) fn s_gather() -> BoxedStrategy<Sample> {
    (shape(1, 3).prop_map(some_nonzero), numeric_dtype())
        .prop_flat_map(|(s, d)| (Just(s.clone()), Just(d), prop::sample::select(nonzero_axes(&s))))
        .prop_flat_map(|(s, d, a)| (Just(s.clone()), Just(d), Just(a), gather_index_shape(&s, a)))
        .prop_flat_map(|(s, d, a, is)| {
            let r = s.len();
            sample(vec![
                arg(s.clone(), d, Domain::Any),
                index_arg(is, s[a]),
                signed(a, r).prop_map(ArgSpec::int).boxed(),
            ])
        })
        .boxed()
}

pub(crate) fn s_index_select() -> BoxedStrategy<Sample> {
    (shape(1, 4).prop_map(some_nonzero), numeric_dtype(), 0usize..=5)
        .prop_flat_map(|(s, d, len)| (Just(s.clone()), Just(d), Just(len), prop::sample::select(nonzero_axes(&s))))
        .prop_flat_map(|(s, d, len, a)| {
            let r = s.len();
            sample(vec![
                arg(s.clone(), d, Domain::Any),
                index_arg(vec![len], s[a]),
                signed(a, r).prop_map(ArgSpec::int).boxed(),
            ])
        })
        .boxed()
}

pub(crate) fn s_scatter_add() -> BoxedStrategy<Sample> {
    (shape(1, 3).prop_map(some_nonzero), same_or_mixed(numeric_dtype))
        .prop_flat_map(|(s, dts)| (Just(s.clone()), Just(dts), prop::sample::select(nonzero_axes(&s)), 0usize..=4))
        .prop_flat_map(|(s, (tb, ts), a, k)| {
            let r = s.len();
            let mut is = s.clone();
            is[a] = k;
            sample(vec![
                arg(s.clone(), tb, Domain::Finite),
                index_arg(is.clone(), s[a]),
                arg(is, ts, Domain::Finite),
                signed(a, r).prop_map(ArgSpec::int).boxed(),
            ])
        })
        .boxed()
}

pub(crate) fn s_one_hot() -> BoxedStrategy<Sample> {
    (shape(0, 3), 1usize..=5)
        .prop_flat_map(|(s, c)| sample(vec![index_arg(s, c), Just(ArgSpec::int(c as i64)).boxed()]))
        .boxed()
}
