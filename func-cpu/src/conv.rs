//! im2col / col2im for `[N, C, H, W]` inputs, one (n, c) plane per task.
//!
//! For every kernel tap the range of output positions whose input position is
//! inside the image is computed up front, so the inner loops have no bounds
//! tests (and become a `memcpy` for unit stride); padding stays zero.

use crate::elem::{Arith, Elem, Real};
use crate::kernels::err;
use crate::matmul::zeroed;
use crate::strided::{PAR_MIN, out_alloc};
use crate::{cache, par, stream};
use func_core::{ConvGeom, Layout, Result};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// The output positions `o < out` whose input coordinate `o * s + off - pad`
/// lies in `0..n`, as a range.
fn valid(out: usize, n: usize, s: usize, off: usize, pad: usize) -> (usize, usize) {
    let lo = if off >= pad { 0 } else { (pad - off).div_ceil(s) };
    let hi = if n + pad > off { (n + pad - off).div_ceil(s).min(out) } else { 0 };
    (lo.min(hi), hi)
}

/// Run `f(plane index, plane)` over the `plane`-sized chunks of `out`,
/// split over the threads (`par::chunks`) when `work` is large.
fn planes<T: Send>(out: &mut [T], plane: usize, work: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    if out.is_empty() || plane == 0 {
        return;
    }
    if work < PAR_MIN {
        out.chunks_mut(plane).enumerate().for_each(|(i, o)| f(i, o));
    } else {
        par::chunks(out, plane, f);
    }
}

/// Check the geometry: positive strides, and sizes (padded input, output
/// positions, taps) that are computed without overflow.
fn check_geom(op: &str, g: &ConvGeom, l: &Layout) -> Result<()> {
    if g.stride.0 == 0 || g.stride.1 == 0 {
        return Err(err(op, "stride must be positive"));
    }
    g.check(op, l.shape())
}

/// `a * b * ...` for buffer sizes, or an error naming `op`.
fn size(op: &str, factors: &[usize]) -> Result<usize> {
    factors
        .iter()
        .try_fold(1usize, |n, &f| n.checked_mul(f))
        .ok_or_else(|| err(op, format!("buffer size {factors:?} overflows usize")))
}

// NOTE: [streamed columns] The columns of a large input are read once, by
// the product that follows, long after the cache has lost them: written
// with ordinary stores, each line is first read from memory (NOTE:
// [streamed stores] in stream.rs). Past the streaming threshold each plane
// is written into a scratch buffer in the cache and copied out with
// non-temporal stores, the pattern of the batched products' streamed
// outputs. The NTK-vector-product workload (903 MB of columns a call), nine
// calls each way in alternating processes: best 562 -> 533 ms, median 587
// -> 555 ms.

// NOTE: [short rows] A tap's row of columns is one output row of the
// image, tens of elements (30 for the NTK workload's 32 x 32 inputs), and
// the compiler made each row's copy a call to the C library's `memmove`:
// 15% of the NTK-vector-product workload (the columns of its tangents,
// 903 MB a call) went to the calls' dispatch on lengths. `copy_row` copies
// in fixed blocks that compile to a few vector moves inline: that workload
// 611 -> 550-570 ms a call (five calls after a warm-up).

/// `dst = src` (equal lengths) in inline blocks of 16, 8 and 4 elements,
/// then singly (NOTE: [short rows]).
#[inline(always)]
fn copy_row<T: Copy>(dst: &mut [MaybeUninit<T>], src: &[T]) {
    #[inline(always)]
    fn block<T: Copy, const B: usize>(dst: &mut [MaybeUninit<T>], src: &[T]) {
        let (d, s): (&mut [MaybeUninit<T>; B], &[T; B]) = match (dst.try_into(), src.try_into()) {
            (Ok(d), Ok(s)) => (d, s),
            _ => unreachable!("copy_row: blocks of {B} elements"),
        };
        for (y, &v) in d.iter_mut().zip(s) {
            y.write(v);
        }
    }
    assert_eq!(dst.len(), src.len(), "copy_row: lengths differ");
    let mut at = 0;
    let n = src.len();
    while at + 16 <= n {
        block::<T, 16>(&mut dst[at..at + 16], &src[at..at + 16]);
        at += 16;
    }
    if at + 8 <= n {
        block::<T, 8>(&mut dst[at..at + 8], &src[at..at + 8]);
        at += 8;
    }
    if at + 4 <= n {
        block::<T, 4>(&mut dst[at..at + 4], &src[at..at + 4]);
        at += 4;
    }
    for (y, &v) in dst[at..].iter_mut().zip(&src[at..]) {
        y.write(v);
    }
}

/// The columns of an input `[N, C, H, W]`, one `(n, c)` plane at a time:
/// plane `p` (sample `p / C`, channel `p % C`) is `kh * kw` rows of `oh *
/// ow` columns.
struct Unfold<'a, T> {
    x: &'a [T],
    strides: [usize; 4],
    off: usize,
    c: usize,
    hw: (usize, usize),
    g: ConvGeom,
    out: (usize, usize),
    /// Every tap covers every output position (no zero-fill needed).
    full: bool,
}

impl<'a, T: Elem> Unfold<'a, T> {
    /// The unfolding of `(x, l)` by `g`, after checking the geometry, the
    /// rank and the input's size; also the size of a plane.
    fn new(op: &str, x: &'a [T], l: &Layout, g: &ConvGeom) -> Result<(Self, usize)> {
        check_geom(op, g, l)?;
        let &[_, c, h, w] = l.dims() else {
            return Err(err(op, format!("expected [N, C, H, W], got {}", l.shape())));
        };
        if (h, w) != (g.h, g.w) {
            return Err(err(op, format!("input {} does not match geometry {}x{}", l.shape(), g.h, g.w)));
        }
        let ((kh, kw), (sh, sw), (ph, pw), (dh, dw)) = (g.kernel, g.stride, g.padding, g.dilation);
        let (oh, ow) = (g.out_h(), g.out_w());
        let plane = size(op, &[kh, kw, oh, ow])?;
        // Every tap covers every output position unless the padding or the
        // geometry leaves some positions outside the image; only then is a
        // plane zero-filled first.
        let full = (0..kh).all(|i| valid(oh, h, sh, i * dh, ph) == (0, oh))
            && (0..kw).all(|j| valid(ow, w, sw, j * dw, pw) == (0, ow));
        let s = l.strides();
        let strides = [s[0], s[1], s[2], s[3]];
        Ok((Unfold { x, strides, off: l.offset(), c, hw: (h, w), g: *g, out: (oh, ow), full }, plane))
    }

    /// Write plane `p` into `o` (`kh * kw * oh * ow` elements): every
    /// element.
    fn plane(&self, p: usize, o: &mut [MaybeUninit<T>]) {
        let (x, s, g) = (self.x, &self.strides, &self.g);
        let ((kh, kw), (sh, sw), (ph, pw), (dh, dw)) = (g.kernel, g.stride, g.padding, g.dilation);
        let ((h, w), (oh, ow)) = (self.hw, self.out);
        if !self.full {
            o.iter_mut().for_each(|y| {
                y.write(T::default());
            });
        }
        let base = self.off + (p / self.c) * s[0] + (p % self.c) * s[1];
        for (i, j) in (0..kh).flat_map(|i| (0..kw).map(move |j| (i, j))) {
            let (ylo, yhi) = valid(oh, h, sh, i * dh, ph);
            let (xlo, xhi) = valid(ow, w, sw, j * dw, pw);
            if xlo == xhi {
                continue;
            }
            let row = &mut o[(i * kw + j) * oh * ow..][..oh * ow];
            let x0 = xlo * sw + j * dw - pw;
            for oy in ylo..yhi {
                let rb = base + (oy * sh + i * dh - ph) * s[2];
                let r = &mut row[oy * ow + xlo..oy * ow + xhi];
                if sw == 1 && s[3] == 1 {
                    copy_row(r, &x[rb + x0..rb + x0 + (xhi - xlo)]);
                } else {
                    r.iter_mut().enumerate().for_each(|(t, y)| {
                        y.write(x[rb + (x0 + t * sw) * s[3]]);
                    });
                }
            }
        }
    }
}

pub(crate) fn im2col<T: Elem>(x: &[T], l: &Layout, g: &ConvGeom) -> Result<Vec<T>> {
    let (u, plane) = Unfold::new("im2col", x, l, g)?;
    let (nb, c) = (l.dims()[0], l.dims()[1]);
    let len = size("im2col", &[nb, c, plane])?;
    // Each task writes its own planes, so the first touch of a fresh buffer
    // (page faults, the kernel's zeroing) runs on every thread, and no
    // element is written twice.
    let mut out = out_alloc::<T>(len)?;
    let write = |p: usize, o: &mut [MaybeUninit<T>]| u.plane(p, o);
    let spare = &mut out.spare_capacity_mut()[..len];
    if len.saturating_mul(size_of::<T>()) >= stream::stream_threshold() && stream::available() && plane > 0 {
        // Columns larger than the cache: each plane is written in a scratch
        // buffer in the cache, then streamed out (NOTE: [streamed columns]).
        par::linger();
        let scratch = || cache::take::<T>(plane).ok().map(cache::Lent);
        spare.par_chunks_mut(plane).enumerate().for_each_init(scratch, |buf, (p, o)| match buf {
            Some(cache::Lent(buf)) => {
                let tmp = &mut buf.spare_capacity_mut()[..plane];
                write(p, tmp);
                // SAFETY: `write` wrote all `plane` elements of `tmp` (see
                // `set_len` below), and `MaybeUninit<T>` has the layout of `T`.
                let tmp = unsafe { &*(tmp as *const [MaybeUninit<T>] as *const [T]) };
                if !T::stream_copy(tmp, o) {
                    copy_row(o, tmp);
                }
            }
            None => write(p, o),
        });
    } else {
        planes(spare, plane, nb * c * plane, write);
    }
    // SAFETY: the planes of `plane` elements cover all `len` elements, and
    // `Unfold::plane` writes each whole: it zero-fills it first unless
    // `full`, and when `full` every tap writes rows `0..oh`, columns `0..ow`
    // of its block of `oh * ow`, and the `kh * kw` blocks tile the plane
    // (written in place, or in a scratch buffer copied whole into it).
    unsafe { out.set_len(len) };
    Ok(out)
}

// NOTE: [convolution by samples] A convolution of a batch is the product
// of the weight with each sample's columns. Made for the whole batch first
// (im2col, then one batched product), the columns are `kh * kw` times the
// input, written to memory and read back: 903 MB a call for the tangents of
// the NTK-vector-product workload, whose products then ran at the rate of
// reading them. Here each thread makes one sample's columns at a time, in
// a buffer it reuses, and multiplies them while they are in its cache.
// `[1000, 32, 30, 30]` by a `[32, 32, 3, 3]` kernel on two threads (Zen 3)
// took 357 ms through the batch's columns, 275 ms even as a loop of
// one-sample convolutions at user level. The NTK-vector-product workload,
// whose vmapped tangents fold into batches of 1000 images: 1.55 -> 1.00 s
// a call (median of four alternating runs); the per-sample-gradient CNN
// 124 -> 112 ms. A batch of fewer than four samples per thread is left to
// the batch's columns and a product split between the threads by rows.
// The transposed convolution (a convolution's input gradient) runs the
// same way the other way round: each sample's columns, the transposed
// weight times the sample, folded while in the cache. The NTK Jacobians'
// `[200, 288, 784]` columns (180 MB) were written and folded back; by
// samples, the Jacobian-contraction workload's median went 255 -> 230 ms
// and the per-sample-gradient CNN's 111 -> 103 ms (eight alternating
// runs).

/// The convolution of `x [N, C, H, W]` with `w [O, C / groups, kh, kw]`
/// (`Primitive::Conv2d`'s conventions, checked by the caller) by samples
/// (NOTE: [convolution by samples]): `None` when the batch is too small to
/// share between the threads by samples, for the caller to take the
/// batch's columns and a product split by rows.
pub(crate) fn conv2d<T: Real>(
    x: &[T],
    xl: &Layout,
    w: &[T],
    wl: &Layout,
    g: &ConvGeom,
    groups: usize,
) -> Result<Option<Vec<T>>> {
    let (u, plane) = Unfold::new("conv2d", x, xl, g)?;
    let (&[n, c, _, _], &[o, _, _, _]) = (xl.dims(), wl.dims()) else {
        return Err(err("conv2d", format!("expected 4-D input and weight, got {} and {}", xl.shape(), wl.shape())));
    };
    let ok = groups > 0
        && c.is_multiple_of(groups)
        && o.is_multiple_of(groups)
        && Some(wl.numel()) == (c / groups).checked_mul(o).and_then(|v| v.checked_mul(g.kernel.0 * g.kernel.1));
    if !ok {
        return Err(err("conv2d", format!("input {} and weight {} with {groups} groups", xl.shape(), wl.shape())));
    }
    let l = g.out_h() * g.out_w();
    let per_sample = size("conv2d", &[o, l])?;
    let cols_len = size("conv2d", &[c, plane])?;
    // The contraction: a group's `C / groups` channels times the taps.
    let (og, k) = (o / groups, c / groups * g.kernel.0 * g.kernel.1);
    // Multiply-adds per sample: the contraction times the outputs.
    let Some(threads) = sample_threads(n, per_sample.saturating_mul(k)) else { return Ok(None) };
    let len = size("conv2d", &[n, per_sample])?;
    // The weight as `[O, k]` rows.
    let copy;
    let w = if wl.is_contiguous() {
        &w[wl.offset()..wl.offset() + wl.numel()]
    } else {
        copy = crate::strided::copy(w, wl)?;
        &copy[..]
    };
    let mut out = out_alloc::<T>(len)?;
    by_samples(&mut out.spare_capacity_mut()[..len], per_sample, cols_len, threads, |sample, y, cols| {
        for ch in 0..c {
            u.plane(sample * c + ch, &mut cols[ch * plane..][..plane]);
        }
        // SAFETY: the planes of `plane` elements tile `cols` (`c * plane`
        // elements), and `Unfold::plane` writes each whole; `MaybeUninit<T>`
        // has the layout of `T`.
        let done = unsafe { &*(&cols[..] as *const [MaybeUninit<T>] as *const [T]) };
        for (gi, yg) in y.chunks_mut(og * l).enumerate() {
            let (wg, cg) = (&w[gi * og * k..][..og * k], &done[gi * k * l..][..k * l]);
            crate::matmul::product_rows((og, k, l), wg, cg, yg);
        }
    })?;
    // SAFETY: `by_samples` ran the closure on every sample (it returned
    // `Ok`), and each sample's `per_sample` elements are its groups' `og *
    // l` outputs, each written whole by `product_rows`.
    unsafe { out.set_len(len) };
    Ok(Some(out))
}

/// Run `f(sample, its outputs, scratch)` for each sample's `per_sample`
/// elements of `out`, the samples shared evenly between `threads` threads,
/// each thread with one scratch buffer of `scratch` elements from the
/// cache (NOTE: [convolution by samples]). An error when a buffer cannot be
/// allocated; then some samples were not run.
fn by_samples<T: Real>(
    out: &mut [MaybeUninit<T>],
    per_sample: usize,
    scratch: usize,
    threads: usize,
    f: impl Fn(usize, &mut [MaybeUninit<T>], &mut [MaybeUninit<T>]) + Sync,
) -> Result<()> {
    let n = out.len() / per_sample.max(1);
    let per = n.div_ceil(threads.max(1)).max(1);
    let failed = std::sync::Mutex::new(None);
    par::chunks(out, per * per_sample, |i, part| {
        let mut buf = match cache::take::<T>(scratch) {
            Ok(buf) => buf,
            Err(e) => {
                *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                return;
            }
        };
        let tmp = &mut buf.spare_capacity_mut()[..scratch];
        for (j, y) in part.chunks_mut(per_sample.max(1)).enumerate() {
            f(i * per + j, y, tmp);
        }
        cache::give(buf);
    });
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A batch is convolved by samples (NOTE: [convolution by samples]) when it
/// has at least this many samples per thread, so the shares are even.
const SAMPLES_PER_THREAD: usize = 4;

/// The threads to convolve `n` samples of `work` multiply-adds each by
/// samples: one when the whole is too small to share, else the pool's;
/// `None` when the batch is too small for it (fewer than two samples, or
/// fewer than [`SAMPLES_PER_THREAD`] per thread when shared).
fn sample_threads(n: usize, work: usize) -> Option<usize> {
    let pool = rayon::current_num_threads();
    let parallel = pool >= 2 && work.saturating_mul(n) >= crate::matmul::PAR_FLOPS;
    let threads = if parallel { pool } else { 1 };
    (n >= 2 && (!parallel || n >= SAMPLES_PER_THREAD * threads)).then_some(threads)
}

pub(crate) fn col2im<T: Arith>(x: &[T], l: &Layout, g: &ConvGeom) -> Result<Vec<T>> {
    check_geom("col2im", g, l)?;
    let (h, w, oh, ow) = (g.h, g.w, g.out_h(), g.out_w());
    let taps = g.kernel.0 * g.kernel.1;
    let &[nb, ckk, len] = l.dims() else {
        return Err(err("col2im", format!("expected [N, C*kh*kw, oh*ow], got {}", l.shape())));
    };
    if taps == 0 || ckk % taps != 0 || len != oh * ow {
        return Err(err("col2im", format!("columns {} do not match geometry {g:?}", l.shape())));
    }
    let c = ckk / taps;
    let (s, off) = (l.strides(), l.offset());
    let n_out = size("col2im", &[nb, c, h, w])?;
    let mut out = out_alloc::<T>(n_out)?;
    // NOTE: [col2im streams its columns] The columns are usually far larger
    // than the image (9 times for a 3x3 kernel) and read once, a tap row of
    // `ow` elements at a time: the loop is bound by reading them. Each plane
    // is zeroed just before its sums (it is then in L1), rather than in a
    // pass over the whole output first, and the columns are prefetched 16
    // KiB ahead of the row being read: `[200, 288, 784]` columns (180 MB,
    // the NTK workload's conv input gradients) folded in 14.1 -> 7.8 ms on
    // two threads, 28.5 -> 17.7 ms on one, on a Sapphire Rapids VM
    // (prefetching 4 KiB ahead: 9.5 ms; 2 KiB: 10.5 ms).
    let f = Fold { x, strides: [s[0], s[1], s[2]], off, c, g: *g };
    planes(&mut out.spare_capacity_mut()[..n_out], h * w, l.numel(), |p, o| f.plane(p, o));
    // SAFETY: the planes of `h * w` elements cover all `n_out` elements, and
    // `zeroed` wrote every element of each plane before the sums.
    unsafe { out.set_len(n_out) };
    Ok(out)
}

/// Columns `[N, C * kh * kw, oh * ow]` (strides `strides`, from `off`)
/// folded back, one `(n, c)` plane of the image at a time.
struct Fold<'a, T> {
    x: &'a [T],
    strides: [usize; 3],
    off: usize,
    c: usize,
    g: ConvGeom,
}

impl<T: Arith> Fold<'_, T> {
    /// Plane `p` (sample `p / C`, channel `p % C`) of the image into `o`
    /// (`h * w` elements): zeroed, then every column added where its tap
    /// reads.
    fn plane(&self, p: usize, o: &mut [MaybeUninit<T>]) {
        let (x, s, g) = (self.x, &self.strides, &self.g);
        let ((kh, kw), (sh, sw), (ph, pw), (dh, dw)) = (g.kernel, g.stride, g.padding, g.dilation);
        let (h, w, oh, ow) = (g.h, g.w, g.out_h(), g.out_w());
        let taps = kh * kw;
        let o = zeroed(o);
        let base = self.off + (p / self.c) * s[0] + (p % self.c) * taps * s[1];
        for i in 0..kh {
            let (ylo, yhi) = valid(oh, h, sh, i * dh, ph);
            for j in 0..kw {
                let (xlo, xhi) = valid(ow, w, sw, j * dw, pw);
                if xlo == xhi {
                    continue;
                }
                let rb = base + (i * kw + j) * s[1];
                let x0 = xlo * sw + j * dw - pw;
                for oy in ylo..yhi {
                    let ob = (oy * sh + i * dh - ph) * w;
                    let cb = rb + (oy * ow + xlo) * s[2];
                    let n = xhi - xlo;
                    if sw == 1 && s[2] == 1 {
                        prefetch(x, cb + PREFETCH_AHEAD / size_of::<T>().max(1));
                        let dst = &mut o[ob + x0..ob + x0 + n];
                        dst.iter_mut().zip(&x[cb..cb + n]).for_each(|(y, &v)| *y = T::plus(*y, v));
                    } else {
                        for t in 0..n {
                            let d = ob + x0 + t * sw;
                            o[d] = T::plus(o[d], x[cb + t * s[2]]);
                        }
                    }
                }
            }
        }
    }
}

/// The transposed convolution of `y [N, O, oh, ow]` with `w [O, C / groups,
/// kh, kw]` (`Primitive::ConvTranspose2d`'s conventions, checked by the
/// caller) by samples, as [`conv2d`] (NOTE: [convolution by samples]): each
/// sample's columns, the transposed weight times the sample, in a buffer
/// its thread reuses, folded while they are in the cache. `None` when the
/// batch is too small to share by samples.
pub(crate) fn conv_transpose2d<T: Real>(
    y: &[T],
    yl: &Layout,
    w: &[T],
    wl: &Layout,
    g: &ConvGeom,
    groups: usize,
) -> Result<Option<Vec<T>>> {
    let op = "conv_transpose2d";
    check_geom(op, g, yl)?;
    let (&[n, o, yh, yw], &[wo, cg, kh, kw]) = (yl.dims(), wl.dims()) else {
        return Err(err(op, format!("expected 4-D input and weight, got {} and {}", yl.shape(), wl.shape())));
    };
    let (l, taps) = (g.out_h() * g.out_w(), kh * kw);
    if groups == 0 || o != wo || !o.is_multiple_of(groups) || (kh, kw) != g.kernel || (yh, yw) != (g.out_h(), g.out_w())
    {
        return Err(err(op, format!("input {} and weight {} with {groups} groups, {g:?}", yl.shape(), wl.shape())));
    }
    let (og, c) = (o / groups, size(op, &[cg, groups])?);
    let k = size(op, &[cg, taps])?;
    let cols_len = size(op, &[c, taps, l])?;
    let per_sample = size(op, &[c, g.h, g.w])?;
    // Multiply-adds per sample: each column element sums `og` products.
    let Some(threads) = sample_threads(n, cols_len.saturating_mul(og)) else { return Ok(None) };
    let len = size(op, &[n, per_sample])?;
    // `y` with each sample's channels as contiguous rows of `l`.
    let ycopy;
    let (y, yoff) = if yl.is_contiguous() {
        (y, yl.offset())
    } else {
        ycopy = crate::strided::copy(y, yl)?;
        (&ycopy[..], 0)
    };
    let y = &y[yoff..yoff + yl.numel()];
    // The weight transposed, per group: `[groups, k, og]`.
    let wc = crate::strided::copy(w, wl)?;
    let mut wt = crate::strided::try_alloc::<T>(wc.len())?;
    for gi in 0..groups {
        for r in 0..k {
            wt.extend((0..og).map(|oc| wc[(gi * og + oc) * k + r]));
        }
    }
    let mut out = out_alloc::<T>(len)?;
    by_samples(&mut out.spare_capacity_mut()[..len], per_sample, cols_len, threads, |sample, x, cols| {
        let ys = &y[sample * o * l..][..o * l];
        for gi in 0..groups {
            let (wg, yg) = (&wt[gi * k * og..][..k * og], &ys[gi * og * l..][..og * l]);
            crate::matmul::product_rows((k, og, l), wg, yg, &mut cols[gi * k * l..][..k * l]);
        }
        // SAFETY: the groups' products of `k * l` elements tile `cols`
        // (`groups * k * l` = `c * taps * l` elements), each written whole
        // by `product_rows`; `MaybeUninit<T>` has the layout of `T`.
        let done = unsafe { &*(&cols[..] as *const [MaybeUninit<T>] as *const [T]) };
        let f = Fold { x: done, strides: [cols_len, l, 1], off: 0, c, g: *g };
        for (ch, plane) in x.chunks_mut(g.h * g.w).enumerate() {
            f.plane(ch, plane);
        }
    })?;
    // SAFETY: `by_samples` ran the closure on every sample (it returned
    // `Ok`), and each sample's `c` planes of `h * w` elements tile its
    // `per_sample`, each zeroed and summed by `Fold::plane`.
    unsafe { out.set_len(len) };
    Ok(Some(out))
}

/// How far ahead of the row being read [`col2im`] prefetches its columns
/// (NOTE: [col2im streams its columns]).
const PREFETCH_AHEAD: usize = 16 << 10;

/// Ask the CPU to bring the two cache lines from `x[at]` on into the cache.
/// A hint: an index past the end prefetches nothing useful but is harmless
/// (prefetches do not fault), and the address is computed without
/// dereferencing.
#[inline(always)]
fn prefetch<T>(x: &[T], at: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = x.as_ptr().wrapping_add(at).cast::<i8>();
        // SAFETY: a prefetch reads no memory architecturally and cannot
        // fault, whatever the address (Intel SDM, PREFETCHh); the pointers
        // are computed with `wrapping_add`, which is defined for any offset.
        unsafe {
            _mm_prefetch(p, _MM_HINT_T0);
            _mm_prefetch(p.wrapping_add(64), _MM_HINT_T0);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (x, at);
}
