//! Samples of sliding-window ops (unfold, fold, conv, pooling) and losses.

use super::*;
use crate::strategies::{ArgSpec, Domain, Sample, arg, broadcast_shapes, float_dtype, index_arg};
use proptest::prelude::*;

/// Output size of a sliding window (as `ConvGeom`).
pub(crate) fn out_size(n: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
    let span = d * (k - 1) + 1;
    if n + 2 * p < span { 0 } else { (n + 2 * p - span) / s + 1 }
}

/// An input size for which the window fits at least once.
pub(crate) fn fitting(k: usize, p: usize, d: usize, extra: usize) -> usize {
    (d * (k - 1) + 1).saturating_sub(2 * p).max(1) + extra
}

/// `(kh, kw, sh, sw, ph, pw, dh, dw)` and an input `(h, w)` that fits it.
pub(crate) fn window() -> BoxedStrategy<([usize; 8], (usize, usize))> {
    (
        (1usize..=3, 1usize..=3),
        (1usize..=2, 1usize..=2),
        (0usize..=1, 0usize..=1),
        (1usize..=2, 1usize..=2),
        (0usize..=2, 0usize..=2),
    )
        .prop_map(|((kh, kw), (sh, sw), (ph, pw), (dh, dw), (eh, ew))| {
            ([kh, kw, sh, sw, ph, pw, dh, dw], (fitting(kh, ph, dh, eh), fitting(kw, pw, dw, ew)))
        })
        .boxed()
}

pub(crate) fn ints_of(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

pub(crate) fn s_unfold() -> BoxedStrategy<Sample> {
    (window(), 1usize..=2, 1usize..=2, float_dtype())
        .prop_flat_map(|((g, (h, w)), n, c, d)| {
            sample(vec![arg(vec![n, c, h, w], d, Domain::Finite), Just(ArgSpec::ints(&ints_of(&g))).boxed()])
        })
        .boxed()
}

pub(crate) fn s_fold() -> BoxedStrategy<Sample> {
    (window(), 1usize..=2, 1usize..=2, float_dtype())
        .prop_flat_map(|((g, (h, w)), n, c, d)| {
            let [kh, kw, sh, sw, ph, pw, dh, dw] = g;
            let l = out_size(h, kh, sh, ph, dh) * out_size(w, kw, sw, pw, dw);
            let mut p = vec![h, w];
            p.extend(g);
            sample(vec![arg(vec![n, c * kh * kw, l], d, Domain::Finite), Just(ArgSpec::ints(&ints_of(&p))).boxed()])
        })
        .boxed()
}

pub(crate) fn s_conv2d(bias: bool) -> BoxedStrategy<Sample> {
    (window(), 1usize..=2, (1usize..=3, 1usize..=2, 1usize..=2), any::<bool>(), float_dtype())
        .prop_flat_map(move |((g, (h, w)), n, (groups, cg, og), three_d, d)| {
            let [kh, kw, sh, sw, ph, pw, dh, dw] = g;
            let (cg, og) = if groups == 3 { (1, 1) } else { (cg, og) };
            let (c, o) = (groups * cg, groups * og);
            let x = if three_d { vec![c, h, w] } else { vec![n, c, h, w] };
            let mut args = vec![arg(x, d, Domain::Finite), arg(vec![o, cg, kh, kw], d, Domain::Finite)];
            if bias {
                args.push(arg(vec![o], d, Domain::Finite));
            }
            args.push(Just(ArgSpec::ints(&ints_of(&[sh, sw, ph, pw, dh, dw, groups]))).boxed());
            sample(args)
        })
        .boxed()
}

/// A transposed convolution: input `[N, C_in, H, W]` (or 3-D), weight
/// `[C_in, C_out / groups, kh, kw]`, stride, padding (none where it would
/// crop the whole output), output padding below the stride, dilation and
/// groups.
pub(crate) fn s_conv_transpose2d(bias: bool) -> BoxedStrategy<Sample> {
    (
        ((1usize..=3, 1usize..=3), (1usize..=2, 1usize..=2), (1usize..=2, 1usize..=2)),
        ((1usize..=3, 1usize..=3), (0usize..=1, 0usize..=1), (0usize..=1, 0usize..=1)),
        (1usize..=2, (1usize..=3, 1usize..=2, 1usize..=2), any::<bool>(), float_dtype()),
    )
        .prop_flat_map(
            move |(((kh, kw), (sh, sw), (dh, dw)), ((h, w), (ph, pw), (oh, ow)), (n, (groups, cg, og), three_d, d))| {
                let (cg, og) = if groups == 3 { (1, 1) } else { (cg, og) };
                let (oph, opw) = (oh % sh, ow % sw);
                // The output size before cropping; padding that would leave no
                // output is dropped.
                let full = |i: usize, s: usize, dl: usize, k: usize, o: usize| (i - 1) * s + dl * (k - 1) + o + 1;
                let ph = if full(h, sh, dh, kh, oph) > 2 * ph { ph } else { 0 };
                let pw = if full(w, sw, dw, kw, opw) > 2 * pw { pw } else { 0 };
                let c = groups * cg;
                let x = if three_d { vec![c, h, w] } else { vec![n, c, h, w] };
                let mut args = vec![arg(x, d, Domain::Finite), arg(vec![c, og, kh, kw], d, Domain::Finite)];
                if bias {
                    args.push(arg(vec![groups * og], d, Domain::Finite));
                }
                args.push(Just(ArgSpec::ints(&ints_of(&[sh, sw, ph, pw, oph, opw, dh, dw, groups]))).boxed());
                sample(args)
            },
        )
        .boxed()
}

pub(crate) fn s_pool(domain: Domain) -> BoxedStrategy<Sample> {
    (
        (1usize..=3, 1usize..=3),
        (1usize..=2, 1usize..=2),
        (0usize..=3, 0usize..=3),
        (1usize..=2, 1usize..=3, any::<bool>()),
        float_dtype(),
    )
        .prop_flat_map(move |((kh, kw), (sh, sw), (eh, ew), (n, c, three_d), d)| {
            // Square padding only: func-core's pool_windows pads H with
            // (ph, pw) and W with (ph, pw), so ph != pw panics (reported).
            let p = if eh % 2 == 1 { kh.min(kw) / 2 } else { 0 };
            let (ph, pw) = (p, p);
            let (h, w) = (fitting(kh, ph, 1, eh), fitting(kw, pw, 1, ew));
            let x = if three_d { vec![c, h, w] } else { vec![n, c, h, w] };
            sample(vec![arg(x, d, domain), Just(ArgSpec::ints(&ints_of(&[kh, kw, sh, sw, ph, pw]))).boxed()])
        })
        .boxed()
}

/// Logits `[N, C]` (or `[C]`) and class indices `[N]` (or 0-D).
pub(crate) fn s_class_targets() -> BoxedStrategy<Sample> {
    (prop_oneof![1 => Just(0usize), 6 => 1usize..=5], 1usize..=6, any::<bool>(), float_dtype())
        .prop_flat_map(|(n, c, one_d, d)| {
            let (x, t) = if one_d { (vec![c], vec![]) } else { (vec![n, c], vec![n]) };
            sample(vec![arg(x, d, Domain::Finite), index_arg(t, c)])
        })
        .boxed()
}

/// Logits and class probabilities of the same shape.
pub(crate) fn s_prob_targets() -> BoxedStrategy<Sample> {
    (1usize..=5, 1usize..=6, any::<bool>(), float_dtype())
        .prop_flat_map(|(n, c, one_d, d)| {
            let x = if one_d { vec![c] } else { vec![n, c] };
            sample(vec![arg(x.clone(), d, Domain::Finite), arg(x, d, Domain::Unit)])
        })
        .boxed()
}

pub(crate) fn s_pair(domain: Domain) -> BoxedStrategy<Sample> {
    (broadcast_shapes(2, 4), float_dtype())
        .prop_flat_map(move |(s, d)| sample(vec![arg(s[0].clone(), d, domain), arg(s[1].clone(), d, domain)]))
        .boxed()
}
