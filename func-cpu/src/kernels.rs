//! Elementwise, reduction, scan and indexing kernels, generic over element
//! types.

use crate::elem::{Arith, Elem, Real};
use crate::par;
use crate::strided::{
    CHUNK, Out, PAR_MIN, Plan, Slot, build, copy, copy_into, dense, fold, fold_slice, istrides, map1, map1_into,
    map1_raw, map2, map3, out_alloc, out_filled, try_filled,
};
use crate::vmath::{VMath, with_fallback};
use func_core::{ArgReduceOp, BinaryOp, CmpOp, DimVec, Error, Layout, ReduceOp, Result, Shape, UnaryOp};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) fn err(op: &str, why: impl Into<String>) -> Error {
    Error::backend("cpu", op, why)
}

fn check_axis(op: &str, axis: usize, l: &Layout) -> Result<()> {
    if axis < l.ndim() { Ok(()) } else { Err(err(op, format!("axis {axis} out of range for shape {}", l.shape()))) }
}

/// Float unary ops: the cheap and the most common ones as explicit closures
/// (the same expressions as the reference definitions), the rest through the
/// reference definition itself.
pub(crate) fn unary_real<T: Real + VMath>(op: UnaryOp, v: &[T], l: &Layout) -> Result<Vec<T>> {
    let library = || map1(v, l, move |x| T::un_ref(op, x));
    match op {
        UnaryOp::Neg => map1(v, l, |x: T| -x),
        UnaryOp::Abs => map1(v, l, |x: T| x.abs()),
        UnaryOp::Sqrt => map1(v, l, |x: T| x.sqrt()),
        UnaryOp::Floor => map1(v, l, |x: T| x.floor()),
        UnaryOp::Ceil => map1(v, l, |x: T| x.ceil()),
        UnaryOp::Exp => T::map_v(v, l, T::exp_v, T::exp_fused),
        UnaryOp::Log => map1(v, l, |x: T| x.ln()),
        UnaryOp::Tanh => T::map_v(v, l, T::tanh_v, T::tanh_fused),
        UnaryOp::Relu => map1(v, l, |x: T| if x <= T::zero() { T::zero() } else { x }),
        // The fused forms' range is the shorter (NOTE: [trig in f32 lanes]):
        // past it, the f64-internal forms, and past theirs the library.
        UnaryOp::Sin if T::TRIG_FALLBACK => with_fallback(T::map_v(v, l, T::sin_v, T::sin_fused)?, || {
            with_fallback(T::map_v(v, l, T::sin_v, T::sin_v)?, library)
        }),
        UnaryOp::Cos if T::TRIG_FALLBACK => with_fallback(T::map_v(v, l, T::cos_v, T::cos_fused)?, || {
            with_fallback(T::map_v(v, l, T::cos_v, T::cos_v)?, library)
        }),
        UnaryOp::Sigmoid => T::map_v(v, l, |x| sigmoid(x, T::exp_v), |x| sigmoid(x, T::exp_fused)),
        _ => library(),
    }
}

/// The logistic function through `exp`, in the form that does not overflow:
/// `e / (1 + e)` below zero and `1 / (1 + e)` from it, `e = exp(-|x|)`
/// (one `exp` and one select, so that a loop of it vectorizes).
#[inline(always)]
fn sigmoid<T: Real>(x: T, exp: impl Fn(T) -> T) -> T {
    let e = exp(-x.abs());
    let d = T::one() + e;
    if x < T::zero() { e / d } else { T::one() / d }
}

/// Numeric binary ops, one monomorphized kernel per op.
pub(crate) fn binary_arith<T: Arith>(op: BinaryOp, a: &[T], la: &Layout, b: &[T], lb: &Layout) -> Result<Vec<T>> {
    match op {
        BinaryOp::Add => map2(a, la, b, lb, T::plus),
        BinaryOp::Sub => map2(a, la, b, lb, T::minus),
        BinaryOp::Mul => map2(a, la, b, lb, T::times),
        BinaryOp::Div => map2(a, la, b, lb, T::over),
        BinaryOp::Maximum => map2(a, la, b, lb, T::max_nan),
        BinaryOp::Minimum => map2(a, la, b, lb, T::min_nan),
        BinaryOp::Pow => map2(a, la, b, lb, move |x, y| T::bin_ref(op, x, y)),
        BinaryOp::ReluBackward => map2(a, la, b, lb, |g, y| if y <= T::ZERO { T::ZERO } else { g }),
        BinaryOp::TanhBackward => map2(a, la, b, lb, |g, y| T::times(g, T::minus(T::ONE, T::times(y, y)))),
        BinaryOp::SigmoidBackward => map2(a, la, b, lb, |g, y| T::times(g, T::times(y, T::minus(T::ONE, y)))),
    }
}

/// Elementwise comparison, one kernel per op.
pub(crate) fn compare<T: Elem>(op: CmpOp, a: &[T], la: &Layout, b: &[T], lb: &Layout) -> Result<Vec<bool>> {
    match op {
        CmpOp::Eq => map2(a, la, b, lb, |x, y| x == y),
        CmpOp::Ne => map2(a, la, b, lb, |x, y| x != y),
        CmpOp::Lt => map2(a, la, b, lb, |x, y| x < y),
        CmpOp::Le => map2(a, la, b, lb, |x, y| x <= y),
        CmpOp::Gt => map2(a, la, b, lb, |x, y| x > y),
        CmpOp::Ge => map2(a, la, b, lb, |x, y| x >= y),
    }
}

/// `c ? a : b` elementwise.
pub(crate) fn select<T: Elem>(c: &[bool], lc: &Layout, a: &[T], la: &Layout, b: &[T], lb: &Layout) -> Result<Vec<T>> {
    map3((c, lc), (a, la), (b, lb), |c, x, y| if c { x } else { y })
}

/// Convert to another element type (via f64, as `HostData::from_f64`).
pub(crate) fn cast<T: Elem, U: Elem>(v: &[T], l: &Layout) -> Result<Vec<U>> {
    map1(v, l, |x: T| U::from_f64(x.to_f64()))
}

pub(crate) fn reduce_arith<T: Arith>(op: ReduceOp, v: &[T], l: &Layout, axes: &[usize]) -> Result<Vec<T>> {
    type Acc<T> = <T as Arith>::Acc;
    // A generic function, not a `fn` pointer, so that the step inlines into
    // the folds and they vectorize.
    fn lift<T: Arith>(
        f: impl Fn(Acc<T>, Acc<T>) -> Acc<T> + Copy + Sync,
    ) -> impl Fn(Acc<T>, T) -> Acc<T> + Copy + Sync {
        move |a, x: T| f(a, x.to_acc())
    }
    match op {
        ReduceOp::Sum => reduce(v, l, axes, Acc::<T>::ZERO, lift::<T>(Acc::<T>::plus), Acc::<T>::plus, T::from_acc),
        ReduceOp::Prod => reduce(v, l, axes, Acc::<T>::ONE, lift::<T>(Acc::<T>::times), Acc::<T>::times, T::from_acc),
        // NaN-propagating, in a select form that vectorizes (the accumulator
        // comes first; once NaN it stays NaN, and a NaN element replaces it).
        ReduceOp::Max => {
            let max = |a: T, b: T| if a.isnan() || a > b { a } else { b };
            reduce(v, l, axes, T::LOWEST, max, max, |a| a)
        }
        ReduceOp::Min => {
            let min = |a: T, b: T| if a.isnan() || a < b { a } else { b };
            reduce(v, l, axes, T::HIGHEST, min, min, |a| a)
        }
    }
}

// NOTE: [lane blocks] A sum over the rows of a `[rows, c]` block (a weight
// gradient's column sums, `[1000, 16]` over axis 0 in the Lennard-Jones
// workload) once folded each element into one lane of a 64-wide accumulator
// array. Its length was only known at run time, so the compiled loop
// (baseline x86-64) loaded and stored the accumulator for every element:
// 3.4 us for `[1000, 16]`. With `c` a multiple of `LANES`, each block of
// `LANES` outputs keeps two fixed-size accumulators (even and odd rows, to
// overlap the additions' latency) in registers across all the rows. Rows of
// up to 64 outputs only: each block reads every row, which stays cheap
// while the rows' lines are shared by few blocks. Best of 7: `[1000, 16]`
// 3.44 -> 2.55 us, `[4, 20, 40]` over axis 1 1.10 -> 0.82 us; instructions
// for both, 137 K -> 68 K (callgrind).

/// Outputs per register-held accumulator block (NOTE: [lane blocks]).
const LANES: usize = 8;

/// Reduce over `axes`: elements are folded into accumulators of type `A`
/// (f64 for f32 sums) by `step`, partial accumulators are combined by the
/// associative `comb` with identity `id`, and `finish` converts the results.
///
/// The kept and the reduced dimensions are each coalesced. When the kept
/// dimensions end in a unit-stride run and the reduced ones do not (a
/// reduction over leading or middle axes), whole rows are accumulated into
/// the outputs ("column" mode, vectorized across outputs); otherwise each
/// output folds its reduced elements (vectorized along a unit-stride
/// reduced run). Work is split across outputs, or, when there are few
/// outputs, across the reduced elements with partial results combined in a
/// fixed order (deterministic).
pub(crate) fn reduce<T: crate::cache::Pooled + Sync, A: Copy + Send + Sync>(
    v: &[T],
    l: &Layout,
    axes: &[usize],
    id: A,
    step: impl Fn(A, T) -> A + Copy + Sync,
    comb: impl Fn(A, A) -> A + Copy + Sync,
    finish: impl Fn(A) -> T + Sync,
) -> Result<Vec<T>> {
    if axes.windows(2).any(|w| w[0] >= w[1]) || axes.last().is_some_and(|&a| a >= l.ndim()) {
        return Err(err("reduce", format!("axes {axes:?} must be sorted, distinct and below {}", l.ndim())));
    }
    let st = istrides(l);
    let (mut kd, mut ks, mut rd, mut rs) = (DimVec::new(), DimVec::new(), DimVec::new(), DimVec::new());
    for (d, (&n, &s)) in l.dims().iter().zip(&st).enumerate() {
        if axes.contains(&d) {
            rd.push(n);
            rs.push(s);
        } else {
            kd.push(n);
            ks.push(s);
        }
    }
    if rd.iter().product::<usize>() == 1 {
        // Every reduced axis has size 1 (the batch axis of a per-sample
        // gradient): each output folds its one element, a strided map.
        // SAFETY: `map1_raw` writes every element of the output (a plan
        // visits each exactly once), and the output has the kept numel.
        return unsafe {
            crate::strided::build(kd.iter().product(), |o| {
                crate::strided::map1_raw(o, v, &kd, &ks, l.offset() as isize, |x| finish(step(id, x)))
            })
        };
    }
    let kp = Plan::new(&kd, [&ks], [l.offset() as isize]);
    let rp = Plan::new(&rd, [&rs], [0]);
    let (out_n, red_n) = (kp.numel, rp.numel);
    let mut out = try_filled(out_n, id)?;
    if out_n > 0 && red_n > 0 {
        let (ksi, rsi) = (kp.istr[0], rp.istr[0]);
        let cols = ksi == 1 && rsi != 1 && (kp.inner >= 4 || rsi == kp.inner as isize);
        // Fold the reduced elements e0..e1 into the outputs `o` whose first kept offset is `ko`.
        let acc = |o: &mut [A], ko: isize, e0: usize, e1: usize| {
            // Whole rows of `o.len()` outputs, one after another.
            let rows_of_o = cols && o.len() == kp.inner && rsi == kp.inner as isize;
            if rows_of_o && o.len() <= 64 && o.len().is_multiple_of(LANES) {
                // Consecutive reduced elements are consecutive rows of a
                // multiple of `LANES` outputs: each block of `LANES` outputs
                // folds the rows through two register-sized accumulators
                // (even and odd rows), so no accumulator round-trips through
                // memory (NOTE: [lane blocks]).
                let c = o.len();
                rp.walk(e0, e1, |_, len, [ro]| {
                    let s = (ko + ro) as usize;
                    let rows = &v[s..s + len * c];
                    for (j, oj) in o.chunks_exact_mut(LANES).enumerate() {
                        let (mut x0, mut x1) = ([id; LANES], [id; LANES]);
                        let mut pairs = rows.chunks_exact(2 * c);
                        for p in &mut pairs {
                            let (r0, r1) = (&p[j * LANES..][..LANES], &p[c + j * LANES..][..LANES]);
                            for i in 0..LANES {
                                x0[i] = step(x0[i], r0[i]);
                                x1[i] = step(x1[i], r1[i]);
                            }
                        }
                        if let Some(r) = pairs.remainder().get(j * LANES..(j + 1) * LANES) {
                            for i in 0..LANES {
                                x0[i] = step(x0[i], r[i]);
                            }
                        }
                        for i in 0..LANES {
                            oj[i] = comb(oj[i], comb(x0[i], x1[i]));
                        }
                    }
                });
            } else if rows_of_o && o.len() <= 32 {
                // Consecutive reduced elements are consecutive narrow rows:
                // fold each contiguous run of rows through a wide accumulator.
                let (c, mut wide) = (o.len(), [id; 64]);
                let wide = &mut wide[..64 / c * c];
                rp.walk(e0, e1, |_, len, [ro]| {
                    let s = (ko + ro) as usize;
                    let mut rows = v[s..s + len * c].chunks_exact(wide.len());
                    for r in &mut rows {
                        wide.iter_mut().zip(r).for_each(|(a, &x)| *a = step(*a, x));
                    }
                    rows.remainder().iter().enumerate().for_each(|(t, &x)| o[t % c] = step(o[t % c], x));
                });
                wide.iter().enumerate().for_each(|(t, &a)| o[t % c] = comb(o[t % c], a));
            } else if cols {
                rp.walk(e0, e1, |_, len, [ro]| {
                    for t in 0..len {
                        let (s, m) = ((ko + ro + t as isize * rsi) as usize, o.len());
                        o.iter_mut().zip(&v[s..s + m]).for_each(|(y, &x)| *y = step(*y, x));
                    }
                });
            } else if rsi == 1 && rp.outer.is_empty() && ksi == red_n as isize {
                // Consecutive outputs reduce consecutive contiguous rows.
                let rows = v[ko as usize..ko as usize + o.len() * red_n].chunks_exact(red_n);
                o.iter_mut().zip(rows).for_each(|(y, r)| *y = comb(*y, fold_slice(&r[e0..e1], id, step, comb)));
            } else {
                for (j, y) in o.iter_mut().enumerate() {
                    let b = ko + j as isize * ksi;
                    rp.walk(e0, e1, |_, len, [ro]| *y = comb(*y, fold(v, (b + ro, len, rsi), id, step, comb)));
                }
            }
        };
        // Split over the reduced elements when the outputs are too few (or,
        // in column mode, too narrow) to keep every thread busy.
        let few = || out_n < rayon::current_num_threads() * if cols { 64 } else { 2 };
        // `PAR_MIN` here, never `par::par_min()`: this split changes the
        // order of the sums, which must not depend on where the operand was
        // computed (NOTE: [work where its data is] in par.rs).
        if out_n.saturating_mul(red_n) >= PAR_MIN && few() {
            let part = (CHUNK / out_n).max(64);
            par::linger();
            let partials: Vec<Vec<A>> = (0..red_n.div_ceil(part))
                .into_par_iter()
                .map(|p| {
                    let mut o = vec![id; out_n];
                    let (e0, e1) = (p * part, ((p + 1) * part).min(red_n));
                    kp.walk(0, out_n, |e, len, [ko]| acc(&mut o[e..e + len], ko, e0, e1));
                    o
                })
                .collect();
            for p in partials {
                out.iter_mut().zip(p).for_each(|(y, x)| *y = comb(*y, x));
            }
        } else {
            kp.drive(&mut out, red_n, if cols { 64 } else { 1 }, |o, [ko]| acc(o, ko, 0, red_n));
        }
    }
    let mut res = out_alloc(out_n)?;
    res.extend(out.into_iter().map(finish));
    Ok(res)
}

/// Index of the first extreme along `axis` (a NaN is the extreme).
pub(crate) fn arg_reduce<T: Elem>(op: ArgReduceOp, v: &[T], l: &Layout, axis: usize) -> Result<Vec<i64>> {
    check_axis(op.name(), axis, l)?;
    let st = istrides(l);
    let (n, sa) = (l.dims()[axis], st[axis]);
    let mut dims: DimVec<usize> = l.dims().into();
    dims[axis] = 1;
    let p = Plan::new(&dims, [&st], [l.offset() as isize]);
    if p.numel > 0 && n == 0 {
        return Err(err(op.name(), "cannot reduce over an empty axis"));
    }
    let max = op == ArgReduceOp::ArgMax;
    let si = p.istr[0];
    // The search down one column from element `b`: the first NaN wins and
    // ends it, else a strictly better value wins (ties keep the first).
    let column = |b: isize| -> i64 {
        let (mut bi, mut bv) = (0, v[b as usize]);
        if !bv.isnan() {
            for i in 1..n {
                let x = v[(b + i as isize * sa) as usize];
                if x.isnan() {
                    bi = i;
                    break;
                }
                if if max { x > bv } else { x < bv } {
                    (bi, bv) = (i, x);
                }
            }
        }
        bi as i64
    };
    let fill = |out: &mut [Out<i64>]| {
        p.drive(out, n, 1, |o, [off]| {
            if si == 1 && u32::try_from(n).is_ok() {
                // Neighbouring outputs read neighbouring elements.
                if max {
                    arg_rows(o, v, (off, sa, n), |x, b| x > b, column);
                } else {
                    arg_rows(o, v, (off, sa, n), |x, b| x < b, column);
                }
                return;
            }
            for (j, y) in o.iter_mut().enumerate() {
                y.put(column(off + j as isize * si));
            }
        })
    };
    // SAFETY: the plan's drive visits every output element, and both paths
    // write every element of each run they are given.
    unsafe { build(p.numel, fill) }
}

/// The arg-reduction of `o.len()` neighbouring columns: column `j` holds
/// the `n` elements `v[off + j + i * sa]`, `n` fitting in `u32`. Blocks of
/// [`ARG_W`] columns update a row of running best values one reduced
/// position at a time, which vectorizes across the columns (a loop down
/// each column does not); the rest of the columns go to `column`. The
/// update is the column loop's: a strictly `better` value wins (ties keep
/// the first index), and a NaN wins over any non-NaN, after which the
/// column's value is NaN and nothing is better (the first NaN wins).
#[inline(always)]
fn arg_rows<T: Elem>(
    o: &mut [Out<i64>],
    v: &[T],
    (off, sa, n): (isize, isize, usize),
    better: impl Fn(T, T) -> bool,
    column: impl Fn(isize) -> i64,
) {
    let done = (o.len() / ARG_W * ARG_W) as isize;
    let mut blocks = o.chunks_exact_mut(ARG_W);
    for (c, oc) in (&mut blocks).enumerate() {
        let base = off + (c * ARG_W) as isize;
        let row = |i: usize| -> [T; ARG_W] {
            let start = (base + i as isize * sa) as usize;
            v[start..start + ARG_W].try_into().unwrap_or_else(|_| unreachable!("a slice of ARG_W elements"))
        };
        let (mut best, mut at) = (row(0), [0u32; ARG_W]);
        for i in 1..n {
            let x = row(i);
            // Fresh arrays written in full, with selects and
            // non-short-circuit `&`, `|`: no branch and no conditional
            // store in the loop.
            let (mut nb, mut na) = ([T::default(); ARG_W], [0u32; ARG_W]);
            for j in 0..ARG_W {
                let take = better(x[j], best[j]) | (x[j].isnan() & !best[j].isnan());
                nb[j] = if take { x[j] } else { best[j] };
                na[j] = if take { i as u32 } else { at[j] };
            }
            (best, at) = (nb, na);
        }
        oc.iter_mut().zip(&at).for_each(|(y, &k)| y.put(i64::from(k)));
    }
    for (j, y) in blocks.into_remainder().iter_mut().enumerate() {
        y.put(column(off + done + j as isize));
    }
}

/// Columns per block of [`arg_rows`].
const ARG_W: usize = 16;

/// Inclusive scan along `axis` on a contiguous copy, accumulating in
/// `T::Acc` (f64 for f32, as the reference backend) and rounding each output.
pub(crate) fn cumsum<T: Arith>(v: &[T], l: &Layout, axis: usize) -> Result<Vec<T>> {
    check_axis("cumsum", axis, l)?;
    let mut out = copy(v, l)?;
    let (len, inner) = (l.dims()[axis], l.dims()[axis + 1..].iter().product::<usize>());
    let block = len * inner;
    if out.is_empty() {
        return Ok(out);
    }
    // Scan one [len, inner] block with a row of running sums.
    let scan = |acc: &mut Vec<T::Acc>, b: &mut [T]| {
        acc.clear();
        acc.resize(inner, T::Acc::ZERO);
        for row in b.chunks_exact_mut(inner) {
            for (a, y) in acc.iter_mut().zip(row) {
                *a = T::Acc::plus(*a, y.to_acc());
                *y = T::from_acc(*a);
            }
        }
    };
    if out.len() >= crate::par::par_min() && out.len() > block {
        par::linger();
        out.par_chunks_mut(block).for_each_init(Vec::new, scan);
    } else {
        let mut acc = Vec::new();
        out.chunks_mut(block).for_each(|b| scan(&mut acc, b));
    }
    Ok(out)
}

fn check_same_shape(op: &str, a: &Layout, b: &Layout) -> Result<()> {
    if a.dims() == b.dims() { Ok(()) } else { Err(Error::shape_mismatch(op, a.shape(), b.shape(), "must be equal")) }
}

/// Write `(src, sl)` into `dst` at the positions of `dl`.
pub(crate) fn write<T: Elem>(dst: &mut [T], dl: &Layout, src: &[T], sl: &Layout) -> Result<()> {
    check_same_shape("write_strided", dl, sl)?;
    // An empty destination has no elements to overlap.
    if dl.numel() > 0 && dl.dims().iter().zip(dl.strides()).any(|(&d, &s)| d > 1 && s == 0) {
        return Err(err("write_strided", "the destination layout overlaps itself (stride 0)"));
    }
    match dense(dl) {
        Some(r) => map1_into::<T, T>(&mut dst[r], src, sl, |x| x),
        None => copy_into(dst, dl, src, sl),
    }
    Ok(())
}

pub(crate) fn concat<T: Elem>(parts: &[(&[T], &Layout)], axis: usize) -> Result<Vec<T>> {
    let Some(&(_, first)) = parts.first() else {
        return Err(err("concat", "no tensors to join"));
    };
    check_axis("concat", axis, first)?;
    let mut dims: DimVec<usize> = first.dims().into();
    dims[axis] = 0;
    for (_, l) in parts {
        let same = l.ndim() == first.ndim()
            && l.dims().iter().zip(first.dims()).enumerate().all(|(d, (a, b))| d == axis || a == b);
        if !same {
            return Err(Error::shape_mismatch("concat", first.shape(), l.shape(), "must agree except along the axis"));
        }
        dims[axis] =
            dims[axis].checked_add(l.dims()[axis]).ok_or_else(|| err("concat", "the joined size overflows usize"))?;
    }
    let ol = Layout::try_contiguous(Shape::from(dims))?;
    let mut out = out_filled(ol.numel(), T::default())?;
    let mut at = 0;
    for (v, l) in parts {
        copy_into(&mut out, &Layout::new(l.dims(), ol.strides(), at * ol.strides()[axis]), v, l);
        at += l.dims()[axis];
    }
    Ok(out)
}

pub(crate) fn pad<T: Elem>(v: &[T], l: &Layout, pads: &[(usize, usize)], value: f64) -> Result<Vec<T>> {
    if pads.len() != l.ndim() {
        return Err(err("pad", format!("{} pads for shape {}", pads.len(), l.shape())));
    }
    let dims =
        l.dims().iter().zip(pads).map(|(&d, &(a, b))| d.checked_add(a)?.checked_add(b)).collect::<Option<Shape>>();
    let dims = dims.ok_or_else(|| err("pad", format!("padding {pads:?} of shape {} overflows usize", l.shape())))?;
    let ol = Layout::try_contiguous(dims)?;
    let mut out = out_filled(ol.numel(), T::from_f64(value))?;
    let off = pads.iter().zip(ol.strides()).map(|(&(a, _), &s)| a * s).sum();
    copy_into(&mut out, &Layout::new(l.dims(), ol.strides(), off), v, l);
    Ok(out)
}

/// Reverse along `axes`: a copy through negative strides.
pub(crate) fn flip<T: Elem>(v: &[T], l: &Layout, axes: &[usize]) -> Result<Vec<T>> {
    let mut st = istrides(l);
    let mut base = l.offset() as isize;
    let mut flipped: DimVec<bool> = DimVec::from_elem(false, l.ndim());
    for &a in axes {
        check_axis("flip", a, l)?;
        if !std::mem::replace(&mut flipped[a], true) && l.dims()[a] > 0 {
            base += (l.dims()[a] as isize - 1) * st[a];
            st[a] = -st[a];
        }
    }
    // SAFETY: `map1_raw` writes every output element.
    unsafe { build(l.numel(), |o| map1_raw(o, v, l.dims(), &st, base, |x| x)) }
}

/// Check the index layout against the data layout for gather/scatter: same
/// rank, and no larger than the data outside `axis`.
fn check_index(op: &str, l: &Layout, axis: usize, il: &Layout) -> Result<()> {
    check_axis(op, axis, l)?;
    let fits =
        il.ndim() == l.ndim() && il.dims().iter().zip(l.dims()).enumerate().all(|(d, (i, n))| d == axis || i <= n);
    if fits {
        Ok(())
    } else {
        Err(Error::shape_mismatch(op, l.shape(), il.shape(), "index must match the input outside the axis"))
    }
}

fn bad_index(op: &str, n: usize) -> Error {
    err(op, format!("index out of range for an axis of size {n}"))
}

pub(crate) fn gather<T: Elem>(v: &[T], l: &Layout, axis: usize, idx: &[i64], il: &Layout) -> Result<Vec<T>> {
    check_index("gather", l, axis, il)?;
    let mut sv = istrides(l);
    let (n, sax) = (l.dims()[axis], sv[axis]);
    sv[axis] = 0;
    let p = Plan::new(il.dims(), [&istrides(il), &sv], [il.offset() as isize, l.offset() as isize]);
    let [si, ss] = p.istr;
    let bad = AtomicBool::new(false);
    let fill = |out: &mut [Out<T>]| {
        p.drive(out, 1, 1, |o, [oi, os]| {
            for (j, y) in o.iter_mut().enumerate() {
                let (j, i) = (j as isize, idx[(oi + j as isize * si) as usize]);
                if (0..n as i64).contains(&i) {
                    y.put(v[(os + j * ss + i as isize * sax) as usize]);
                } else {
                    y.put(T::default());
                    bad.store(true, Ordering::Relaxed);
                }
            }
        })
    };
    // SAFETY: the plan's drive visits, and the loop writes, every output element.
    let out = unsafe { build(p.numel, fill)? };
    if bad.load(Ordering::Relaxed) { Err(bad_index("gather", n)) } else { Ok(out) }
}

pub(crate) fn scatter_add<T: Arith>(
    base: &[T],
    bl: &Layout,
    axis: usize,
    idx: &[i64],
    il: &Layout,
    src: &[T],
    sl: &Layout,
) -> Result<Vec<T>> {
    check_index("scatter_add", bl, axis, il)?;
    check_same_shape("scatter_add", il, sl)?;
    let mut out = copy(base, bl)?;
    let n = bl.dims()[axis];
    let mut so: DimVec<isize> = bl.shape().contiguous_strides().iter().map(|&s| s as isize).collect();
    let sax = std::mem::replace(&mut so[axis], 0);
    let (si, ss) = (istrides(il), istrides(sl));
    // Add the index positions of `dims` (strides `si`, `ss`, `so` from
    // bases `oi`, `os` into `idx`/`src` and 0 into `dst`) into `dst`;
    // whether every index was in range.
    let scatter = |dst: &mut [T], dims: &[usize], [si, ss, so]: [&[isize]; 3], [oi, os]: [isize; 2]| -> bool {
        let p = Plan::new(dims, [si, ss, so], [oi, os, 0]);
        let [ji, js, jd] = p.istr;
        let mut ok = true;
        p.walk(0, p.numel, |_, len, [oi, os, od]| {
            for j in 0..len as isize {
                let i = idx[(oi + j * ji) as usize];
                if (0..n as i64).contains(&i) {
                    let t = (od + j * jd + i as isize * sax) as usize;
                    dst[t] = T::plus(dst[t], src[(os + j * js) as usize]);
                } else {
                    ok = false;
                }
            }
        });
        ok
    };
    let offs = [il.offset() as isize, sl.offset() as isize];
    // Index positions that differ in a dimension other than `axis` write
    // different output elements: with `axis` not the first dimension, each
    // index of the first dimension owns one block of the (contiguous)
    // output, and the blocks are filled in parallel.
    let blocks = il.dims().first().copied().unwrap_or(0);
    let block = so.first().copied().unwrap_or(0) as usize;
    let bad = if axis > 0 && blocks > 1 && il.numel() >= PAR_MIN && block > 0 {
        par::linger();
        !out.par_chunks_mut(block).take(blocks).enumerate().all(|(b, dst)| {
            let b = b as isize;
            scatter(dst, &il.dims()[1..], [&si[1..], &ss[1..], &so[1..]], [offs[0] + b * si[0], offs[1] + b * ss[0]])
        })
    } else {
        !scatter(&mut out, il.dims(), [&si, &ss, &so], offs)
    };
    if bad { Err(bad_index("scatter_add", n)) } else { Ok(out) }
}
