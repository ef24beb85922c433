//! Strided iteration: coalesced iteration plans over one or more operands
//! sharing a shape, and the elementwise map kernels built on them.
//!
//! A [`Plan`] drops size-1 dimensions and merges adjacent dimensions that are
//! contiguous with each other in every operand, then iterates the remaining
//! outer dimensions with an odometer and hands out runs ("segments") along
//! the innermost dimension. Kernels specialize the inner loop on the inner
//! strides (1 = slice, 0 = broadcast scalar, other = gather), so contiguous
//! and scalar-broadcast operands get tight loops the compiler vectorizes.

use crate::cache::{self, Pooled};
use crate::par;
use func_core::{DimVec, Layout, Result, Shape};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Work (in elements) below which a kernel runs on the calling thread
/// ("Parallelism only where it pays" in the crate docs). 1 << 19 while
/// each parallel kernel woke a sleeping worker; with a lingering one (NOTE:
/// [lingering worker] in par.rs) 1 << 17 was faster on most rows and
/// 1 << 16 made the Jacobian rows twice as slow.
pub(crate) const PAR_MIN: usize = 1 << 17;
/// Elements per rayon task.
pub(crate) const CHUNK: usize = 1 << 14;

/// The storage range of `l` if it is contiguous (empty for an empty layout,
/// whatever its offset).
pub(crate) fn dense(l: &Layout) -> Option<std::ops::Range<usize>> {
    if l.numel() == 0 { Some(0..0) } else { l.contiguous_range() }
}

/// The strides of `l` as signed integers (negative strides express flips).
///
/// Every conversion is exact: a layout with elements addresses at most
/// `isize::MAX` storage positions (NOTE: [layout invariant] in func-core), so
/// `(size - 1) * stride <= isize::MAX` for each dimension of size > 1. The
/// stride of a dimension of size <= 1, or of any dimension of an empty
/// layout, addresses nothing and is given as 0.
pub(crate) fn istrides(l: &Layout) -> DimVec<isize> {
    let empty = l.numel() == 0;
    l.dims().iter().zip(l.strides()).map(|(&d, &s)| if empty || d <= 1 { 0 } else { s as isize }).collect()
}

/// An empty vector with room for `n` elements, allocated fallibly: an
/// [`Error::OutOfMemory`](func_core::Error::OutOfMemory) instead of an
/// abort when memory runs out (every buffer sized from a layout goes
/// through here).
pub(crate) fn try_alloc<T>(n: usize) -> Result<Vec<T>> {
    func_core::alloc::try_vec("cpu", &Shape::from([n]), n)
}

/// `n` copies of `x`, allocated fallibly (see [`try_alloc`]).
pub(crate) fn try_filled<T: Clone>(n: usize, x: T) -> Result<Vec<T>> {
    let mut v = try_alloc(n)?;
    v.resize(n, x);
    Ok(v)
}

/// An empty output buffer with room for `n` elements, from the buffer cache
/// (see [`crate::cache`]), allocated fallibly.
pub(crate) fn out_alloc<T: Pooled>(n: usize) -> Result<Vec<T>> {
    cache::take(n)
}

/// An output buffer of `n` copies of `x`, from the buffer cache.
pub(crate) fn out_filled<T: Pooled>(n: usize, x: T) -> Result<Vec<T>> {
    let mut v = out_alloc(n)?;
    v.resize(n, x);
    Ok(v)
}

/// A coalesced joint iteration over `N` operands of one shape.
pub(crate) struct Plan<const N: usize> {
    /// Outer dimensions (all > 1), iterated by the odometer.
    pub outer: DimVec<usize>,
    /// Strides of the outer dimensions, per operand.
    pub ostr: [DimVec<isize>; N],
    /// Length of the innermost run (0 when there are no elements).
    pub inner: usize,
    /// Stride along the innermost run, per operand.
    pub istr: [isize; N],
    /// Offset of the first element, per operand.
    pub base: [isize; N],
    /// Number of elements.
    pub numel: usize,
}

impl<const N: usize> Plan<N> {
    /// Plan the iteration of `dims` with per-operand `strides` and `base` offsets.
    ///
    /// Dimensions taken from a layout with elements have a product, and
    /// strides whose extents, within `isize`. A subset of the dimensions of
    /// an empty layout may not: its counts saturate (the plan of such a
    /// subset is never walked, as there is no element to visit).
    pub fn new(dims: &[usize], strides: [&[isize]; N], base: [isize; N]) -> Self {
        let numel = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).unwrap_or(usize::MAX);
        let mut outer: DimVec<usize> = DimVec::new();
        let mut ostr: [DimVec<isize>; N] = std::array::from_fn(|_| DimVec::new());
        for (i, &d) in dims.iter().enumerate().filter(|&(_, &d)| d != 1 && numel > 0) {
            // Merge into the previous dimension when it steps exactly over this one in every operand.
            let merge = (0..N).all(|k| ostr[k].last().copied() == strides[k][i].checked_mul(d as isize));
            match outer.last_mut() {
                Some(last) if merge => *last = last.saturating_mul(d),
                _ => outer.push(d),
            }
            for (o, s) in ostr.iter_mut().zip(strides) {
                if merge {
                    o.pop();
                }
                o.push(s[i]);
            }
        }
        let (inner, istr) = match outer.pop() {
            Some(d) => (d, std::array::from_fn(|k| ostr[k].pop().unwrap_or(0))),
            None => (usize::from(numel > 0), [0; N]),
        };
        Plan { outer, ostr, inner, istr, base, numel }
    }

    /// Call `f(position, len, offsets)` for consecutive inner runs covering the
    /// row-major element positions `e0..e1`; `offsets` are those of the run's
    /// first element.
    #[inline]
    pub fn walk(&self, e0: usize, e1: usize, mut f: impl FnMut(usize, usize, [isize; N])) {
        self.walk_lines(e0, e1, |e, rows, len, off, step| {
            for r in 0..rows {
                f(e + r * len, len, std::array::from_fn(|k| off[k] + r as isize * step[k]));
            }
        });
    }

    /// [`walk`](Self::walk) in groups: `f(position, rows, len, offsets,
    /// steps)` stands for `rows` consecutive runs of `len` elements, the
    /// `r`-th starting at `offsets + r * steps` (the strides of the last
    /// outer dimension). Whole inner runs come in groups as long as the
    /// last outer dimension allows; a partial run comes alone (`rows` = 1).
    /// A kernel that loops over the rows itself pays one call, and one
    /// dispatch on the inner strides, per group instead of per run.
    #[inline]
    pub fn walk_lines(&self, e0: usize, e1: usize, mut f: impl FnMut(usize, usize, usize, [isize; N], [isize; N])) {
        self.walk_groups(e0, e1, &mut f);
    }

    /// [`walk_lines`](Self::walk_lines) with `f` behind a trait object:
    /// one odometer per operand count (NOTE: [one traversal per element
    /// type]).
    fn walk_groups(&self, e0: usize, e1: usize, f: &mut dyn FnMut(usize, usize, usize, [isize; N], [isize; N])) {
        if e0 >= e1 || self.inner == 0 {
            return;
        }
        let inner = self.inner;
        let Some(last) = self.outer.len().checked_sub(1) else {
            // One run: the inner dimension holds every element.
            f(e0, 1, e1 - e0, std::array::from_fn(|k| self.base[k] + e0 as isize * self.istr[k]), [0; N]);
            return;
        };
        let mut idx: DimVec<usize> = DimVec::from_elem(0, last + 1);
        let mut off = self.base;
        let mut rem = e0 / inner;
        for d in (0..=last).rev() {
            idx[d] = rem % self.outer[d];
            rem /= self.outer[d];
            off.iter_mut().zip(&self.ostr).for_each(|(o, s)| *o += idx[d] as isize * s[d]);
        }
        // The last outer dimension is stepped in a tight loop; the odometer
        // over the dimensions before it moves once per line of it.
        let (lines, step): (usize, [isize; N]) = (self.outer[last], std::array::from_fn(|k| self.ostr[k][last]));
        let mut i = idx[last];
        let (mut e, mut j) = (e0, e0 % inner);
        // Wrapping steps: a position past the end of a dimension may leave
        // isize, but it is never used, and the rewind restores the exact
        // (in-range) offset, which two's complement arithmetic preserves.
        loop {
            while i < lines && e < e1 {
                let rows = if j == 0 { (lines - i).min((e1 - e) / inner) } else { 0 };
                if rows > 0 {
                    f(e, rows, inner, off, step);
                    e += rows * inner;
                    i += rows;
                    off.iter_mut().zip(step).for_each(|(o, s)| *o = o.wrapping_add(s.wrapping_mul(rows as isize)));
                } else {
                    let len = (inner - j).min(e1 - e);
                    f(e, 1, len, std::array::from_fn(|k| off[k] + j as isize * self.istr[k]), step);
                    e += len;
                    j = 0;
                    i += 1;
                    off.iter_mut().zip(step).for_each(|(o, s)| *o = o.wrapping_add(s));
                }
            }
            if e >= e1 {
                return;
            }
            off.iter_mut().zip(step).for_each(|(o, s)| *o = o.wrapping_sub(s.wrapping_mul(lines as isize)));
            i = 0;
            for d in (0..last).rev() {
                idx[d] += 1;
                off.iter_mut().zip(&self.ostr).for_each(|(o, s)| *o = o.wrapping_add(s[d]));
                if idx[d] < self.outer[d] {
                    break;
                }
                off.iter_mut()
                    .zip(&self.ostr)
                    .for_each(|(o, s)| *o = o.wrapping_sub(s[d].wrapping_mul(self.outer[d] as isize)));
                idx[d] = 0;
            }
        }
    }

    /// Fill the contiguous `out` (one entry per element of the plan): calls
    /// `f(segment, offsets)` on runs of `out`. Runs on rayon in chunks of at
    /// least `grain` elements when `out.len() * cost` is large. Elementwise
    /// work (`cost == 1`) on a transposed operand is visited in tiles.
    pub fn drive<U: Send>(&self, out: &mut [U], cost: usize, grain: usize, f: impl Fn(&mut [U], [isize; N]) + Sync) {
        self.drive_lines(out, cost, grain, |o, len, off, step| for_runs(o, len, off, step, &f));
    }

    /// [`drive`](Self::drive) in groups of runs, as
    /// [`walk_lines`](Self::walk_lines): `f(segment, len, offsets, steps)`
    /// fills `segment`, runs of `len` elements (the `r`-th read at `offsets
    /// + r * steps`); see [`for_runs`].
    #[inline]
    pub fn drive_lines<U: Send>(
        &self,
        out: &mut [U],
        cost: usize,
        grain: usize,
        f: impl Fn(&mut [U], usize, [isize; N], [isize; N]) + Sync,
    ) {
        self.drive_groups(out, cost, grain, &f);
    }

    /// [`drive_lines`](Self::drive_lines) with the group's kernel behind a
    /// reference to a trait object. NOTE: [one traversal per element type]
    /// Only the kernel, which loops over the runs of a group and their
    /// elements, is compiled per operation; the traversal (the odometer,
    /// tiles, the split into parallel chunks and its thread-pool jobs) is
    /// compiled once per element type and operand count, and calls the
    /// kernel once per group of runs, so the indirect call is paid per run
    /// group (at least a tile row of 32 elements on a transposed operand),
    /// not per element. Generic over the kernel, the traversal was
    /// instantiated for each of several hundred kernels, about half of the
    /// crate's compiled code.
    fn drive_groups<U: Send>(&self, out: &mut [U], cost: usize, grain: usize, f: &Group<'_, U, N>) {
        let n = out.len();
        let par = n.saturating_mul(cost.max(1)) >= crate::par::par_min() && n >= 2;
        if cost <= 1 && n >= 4 * TILE * TILE && self.transposed() {
            let block = self.outer[self.outer.len() - 1] * self.inner;
            let unit = TILE * self.inner;
            let run = |o: &mut [U], off| f(o, o.len(), off, [0; N]);
            let tiles = |p: usize, b: &mut [U]| {
                b.chunks_mut(unit).enumerate().for_each(|(u, o)| self.tiles(p * block + u * unit, o, &run));
            };
            if par && block >= PAR_MIN {
                par::linger();
                out.par_chunks_mut(block).enumerate().for_each(|(p, b)| {
                    b.par_chunks_mut(unit).enumerate().for_each(|(u, o)| self.tiles(p * block + u * unit, o, &run));
                });
            } else if par {
                par::chunks(out, block, tiles);
            } else {
                out.chunks_mut(block).enumerate().for_each(|(p, b)| tiles(p, b));
            }
        } else if !par {
            self.walk_lines(0, n, |e, rows, len, off, step| f(&mut out[e..e + rows * len], len, off, step));
        } else {
            let chunk = (CHUNK / cost.max(1)).max(grain).max(1);
            crate::par::chunks(out, chunk, |c, o| {
                let e0 = c * chunk;
                self.walk_lines(e0, e0 + o.len(), |e, rows, len, off, step| {
                    f(&mut o[e - e0..e - e0 + rows * len], len, off, step)
                });
            });
        }
    }

    /// The width of a column tile ([`TILE_COLS`], or [`TILE_COLS_CONFLICT`]
    /// when a transposed operand's columns are a multiple of
    /// [`CONFLICT_STRIDE`] apart). `[784, 64]^T + [784, 64]^T`: 82 -> 48
    /// us; `[1024, 1024]^T` keeps 8 (32 made it 1.3-1.7 ms against 1.2-1.3).
    fn tile_cols(&self) -> usize {
        let conflict = self.istr.iter().any(|&s| {
            let s = s.unsigned_abs();
            s >= 16 && s % CONFLICT_STRIDE == 0
        });
        if conflict { TILE_COLS_CONFLICT } else { TILE_COLS }
    }

    /// Whether some operand runs against the grain: a large inner stride and
    /// a smaller one on the next-outer dimension (a transpose), so that
    /// visiting the last two dimensions in tiles keeps its cache lines hot.
    fn transposed(&self) -> bool {
        let Some(last) = self.outer.len().checked_sub(1) else {
            return false;
        };
        self.inner >= TILE
            && self.outer[last] >= TILE
            && (0..N).any(|k| {
                let (i, o) = (self.istr[k].unsigned_abs(), self.ostr[k][last].unsigned_abs());
                i >= 16 && o < i
            })
    }

    /// Visit `o`, whole rows of one block of the last two dimensions starting
    /// at element `e0`, in column tiles of [`tile_cols`](Self::tile_cols).
    fn tiles<U>(&self, e0: usize, o: &mut [U], f: &impl Fn(&mut [U], [isize; N])) {
        let (cols, last) = (self.inner, self.outer.len() - 1);
        let mut base = self.base;
        self.walk(e0, e0 + 1, |_, _, off| base = off);
        let width = self.tile_cols();
        for c0 in (0..cols).step_by(width) {
            let tc = width.min(cols - c0);
            for (r, row) in o.chunks_mut(cols).enumerate() {
                let r = r as isize;
                f(
                    &mut row[c0..c0 + tc],
                    std::array::from_fn(|k| base[k] + r * self.ostr[k][last] + c0 as isize * self.istr[k]),
                );
            }
        }
    }
}

/// The kernel of a group of runs, as [`Plan::drive_lines`] calls it:
/// `f(segment, len, offsets, steps)`.
type Group<'a, U, const N: usize> = dyn Fn(&mut [U], usize, [isize; N], [isize; N]) + Sync + 'a;

/// Tile rows for transposed elementwise work (enough to use every element
/// of a transposed operand's cache lines).
const TILE: usize = 32;
/// Tile columns: each row of a tile is one call of the kernel, so wide
/// tiles amortize the call, but a transposed operand keeps one cache line
/// live per column, and lines a multiple of 1 KiB apart fall into a few
/// L1 sets (one set at 4 KiB), which hold 8 lines each.
const TILE_COLS: usize = 32;
/// Tile columns when a transposed operand's columns are a multiple of
/// [`CONFLICT_STRIDE`] elements apart.
const TILE_COLS_CONFLICT: usize = 8;
/// An inner stride (in elements) whose multiples put a column tile's lines
/// into few cache sets: 128 elements are 1 KiB of f64 (512 B of f32).
const CONFLICT_STRIDE: usize = 128;

#[inline(always)]
fn at(off: isize, j: usize, s: isize) -> usize {
    (off + j as isize * s) as usize
}

/// `g(run, offsets)` for each run of `len` elements of a group from
/// [`Plan::drive_lines`], the `r`-th at `offsets + r * steps`. Kernels call
/// it inside each arm of their dispatch on the inner strides, so that the
/// loop over the rows holds no dispatch.
#[inline(always)]
pub(crate) fn for_runs<U, const N: usize>(
    o: &mut [U],
    len: usize,
    off: [isize; N],
    step: [isize; N],
    mut g: impl FnMut(&mut [U], [isize; N]),
) {
    if o.len() <= len {
        // One run (a partial run, or one row of a tile): no row loop.
        return g(o, off);
    }
    for (r, run) in o.chunks_mut(len.max(1)).enumerate() {
        g(run, std::array::from_fn(|k| off[k] + r as isize * step[k]));
    }
}

/// An output element: initialized (`U`) or not yet (`MaybeUninit<U>`), so
/// fresh outputs are written once, without zero-filling them first.
pub(crate) trait Slot<U>: Send {
    /// Write the element.
    fn put(&mut self, u: U);
}

impl<U: Send> Slot<U> for U {
    #[inline(always)]
    fn put(&mut self, u: U) {
        *self = u;
    }
}

/// A not yet written element of a fresh output of [`build`]. In release
/// builds it is exactly a `MaybeUninit<U>`; debug builds also record that it
/// was written, and `build` asserts that every element was.
#[cfg(not(debug_assertions))]
#[repr(transparent)]
pub(crate) struct Out<U>(MaybeUninit<U>);

/// A not yet written element of a fresh output of [`build`], with a flag
/// recording that it was written (debug builds).
#[cfg(debug_assertions)]
pub(crate) struct Out<U>(MaybeUninit<U>, bool);

impl<U: Send> Slot<U> for Out<U> {
    #[inline(always)]
    fn put(&mut self, u: U) {
        self.0.write(u);
        #[cfg(debug_assertions)]
        {
            self.1 = true;
        }
    }
}

/// A vector of `n` elements written by `fill`, allocated fallibly.
///
/// Debug builds fill a separate buffer whose elements record being written,
/// assert that all `n` were, and copy them out.
///
/// # Errors
///
/// [`Error::OutOfMemory`](func_core::Error::OutOfMemory) when the buffer
/// cannot be allocated.
///
/// # Safety
///
/// `fill` must write (with [`Slot::put`]) every element of the slice it is
/// given (the kernels below do: a [`Plan`] visits every element exactly
/// once).
pub(crate) unsafe fn build<U: Pooled>(n: usize, fill: impl FnOnce(&mut [Out<U>])) -> Result<Vec<U>> {
    let mut v: Vec<U> = out_alloc(n)?;
    #[cfg(debug_assertions)]
    {
        let mut outs: Vec<Out<U>> = try_alloc(n)?;
        outs.extend((0..n).map(|_| Out(MaybeUninit::uninit(), false)));
        fill(&mut outs);
        let unwritten = outs.iter().filter(|o| !o.1).count();
        assert_eq!(unwritten, 0, "strided::build: {unwritten} of {n} output elements were not written");
        // SAFETY: every element was written: its flag is set only by `put`, which writes it (asserted above).
        v.extend(outs.iter().map(|o| unsafe { o.0.assume_init() }));
    }
    #[cfg(not(debug_assertions))]
    {
        let spare: *mut [MaybeUninit<U>] = &mut v.spare_capacity_mut()[..n];
        // SAFETY: `Out<U>` is `repr(transparent)` over `MaybeUninit<U>` in
        // release builds, so the slices have the same layout; `spare` is the
        // exclusively borrowed spare capacity of `v` (at least `n`, reserved by `try_alloc`).
        fill(unsafe { &mut *(spare as *mut [Out<U>]) });
        // SAFETY: the caller guarantees `fill` initialized all `n` elements, and `n <= capacity`.
        unsafe { v.set_len(n) };
    }
    Ok(v)
}

/// `out[i] = f(src[elements of (dims, strides, base)][i])`.
pub(crate) fn map1_raw<T: Copy + Sync, U: Copy>(
    out: &mut [impl Slot<U>],
    src: &[T],
    dims: &[usize],
    strides: &[isize],
    base: isize,
    f: impl Fn(T) -> U + Sync,
) {
    let p = Plan::new(dims, [strides], [base]);
    let s = p.istr[0];
    p.drive_lines(out, 1, 1, |o, len, off, step| match s {
        1 => for_runs(o, len, off, step, |o, [off]| {
            let (u, m) = (off as usize, o.len());
            o.iter_mut().zip(&src[u..u + m]).for_each(|(y, &x)| y.put(f(x)));
        }),
        0 => for_runs(o, len, off, step, |o, [off]| {
            let x = f(src[off as usize]);
            o.iter_mut().for_each(|y| y.put(x));
        }),
        _ => for_runs(o, len, off, step, |o, [off]| {
            o.iter_mut().enumerate().for_each(|(j, y)| y.put(f(src[at(off, j, s)])));
        }),
    });
}

/// `out[i] = f(src[l][i])` into a contiguous buffer.
pub(crate) fn map1_into<T: Copy + Sync, U: Copy>(
    out: &mut [impl Slot<U>],
    src: &[T],
    l: &Layout,
    f: impl Fn(T) -> U + Sync,
) {
    match dense(l) {
        Some(r) if out.len() < crate::par::par_min() => out.iter_mut().zip(&src[r]).for_each(|(y, &x)| y.put(f(x))),
        _ => map1_raw(out, src, l.dims(), &istrides(l), l.offset() as isize, f),
    }
}

/// A new contiguous buffer of `f` applied to the elements of `(src, l)`.
pub(crate) fn map1<T: Copy + Sync, U: Pooled>(src: &[T], l: &Layout, f: impl Fn(T) -> U + Sync) -> Result<Vec<U>> {
    // SAFETY: `map1_into` writes every output element.
    unsafe { build(l.numel(), |o| map1_into(o, src, l, f)) }
}

/// A contiguous copy of the elements of `(src, l)`.
pub(crate) fn copy<T: Pooled + Sync>(src: &[T], l: &Layout) -> Result<Vec<T>> {
    if let Some(r) = dense(l) {
        let mut v = out_alloc(r.len())?;
        v.extend_from_slice(&src[r]);
        return Ok(v);
    }
    let p = Plan::new(l.dims(), [&istrides(l)], [l.offset() as isize]);
    match Transposed::of(&p) {
        Some(t) => t.copy(src, &p),
        None => map1(src, l, |x| x),
    }
}

/// `out[i * n + j] = t[j * stride + i]` for `i < m`, `j < n`: the `n x m`
/// matrix `t` (rows `stride` apart) transposed into `out`, every element
/// written, in the bands of a transposing copy (8 x 8 blocks in AVX
/// registers where the CPU has AVX: NOTE: [transposing copy]).
///
/// # Panics
///
/// If `out` does not hold `m * n` elements, or `t` does not hold the
/// matrix (`(n - 1) * stride + m` elements).
pub(crate) fn transpose_into<T: Copy>(t: &[T], (m, n): (usize, usize), stride: usize, out: &mut [MaybeUninit<T>]) {
    let needed = n.checked_sub(1).map_or(Some(0), |last| last.checked_mul(stride)?.checked_add(m));
    let fits = m.checked_mul(n) == Some(out.len()) && needed.is_some_and(|need| need <= t.len());
    assert!(fits, "transpose_into: {m} x {n} (stride {stride}) does not fit buffers of {} and {}", t.len(), out.len());
    if n == 0 || m == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    let avx = std::arch::is_x86_feature_detected!("avx");
    #[cfg(not(target_arch = "x86_64"))]
    let avx = false;
    let copy = Transposed { rows: m, cols: n, stride };
    for (b, band) in out.chunks_mut(BAND * n).enumerate() {
        copy.band(band, t, b * BAND, avx);
    }
}

/// A layout whose last two dimensions are transposed matrices: the output
/// rows run along the source's contiguous dimension, the output columns
/// `stride` elements apart.
///
/// NOTE: [transposing copy] Copied row by row, as [`map1`] does (in column
/// tiles), each output row gathers one element from each of `cols` source
/// lines, and the rows of a power-of-two width, a multiple of 4 KiB apart,
/// evict each other from L1: `[2048, 32]^T` took 28-41 µs, `[1024, 1024]^T`
/// 0.58 ms. This copy goes instead in bands of [`BAND`] output rows: a band
/// takes `BAND x BAND` blocks from left to right, reading `BAND` contiguous
/// elements of each of `BAND` source rows, transposing them in registers
/// (AVX, for 4- and 8-byte elements) and writing `BAND` contiguous elements
/// of each output row. The band's `BAND` write streams advance together.
struct Transposed {
    /// Output rows per matrix (along the source's contiguous dimension).
    rows: usize,
    /// Output columns (source rows, `stride` elements apart).
    cols: usize,
    stride: usize,
}

/// Output rows per band, and the block size, of a transposing copy (NOTE:
/// [transposing copy]).
const BAND: usize = 8;

/// The work per element of a transposing copy, against 1 for a map read in
/// order, in deciding whether to split it over the threads: `[32, 2048]^T`
/// and `[2048, 32]^T` took 22-26 us on one thread of the benchmark VM, a
/// dense map of as many f32 8 us. Split from 2^16 elements instead of
/// 2^17 (the copy then 13 us), `jacfwd_2048to32`, whose Jacobian is one
/// such copy and one map, took 0.82x its time (NOTE: [work where its data
/// is] in par.rs).
const TRANSPOSE_COST: usize = 2;

impl Transposed {
    /// The transposed matrices of `p`, if its last outer dimension is
    /// contiguous in the source and its inner run strided; both at least
    /// [`BAND`] long (smaller ones gain nothing).
    fn of(p: &Plan<1>) -> Option<Transposed> {
        let last = p.outer.len().checked_sub(1)?;
        let (rows, cols, stride) = (p.outer[last], p.inner, p.istr[0]);
        let fits = p.ostr[0][last] == 1 && stride >= 2 && rows >= BAND && cols >= BAND;
        fits.then_some(Transposed { rows, cols, stride: stride as usize })
    }

    /// A new contiguous buffer of the elements of `p` in `src`.
    fn copy<T: Pooled + Sync>(&self, src: &[T], p: &Plan<1>) -> Result<Vec<T>> {
        let Transposed { rows, cols, .. } = *self;
        let (n, mat) = (p.numel, rows * cols);
        let mut v: Vec<T> = out_alloc(n)?;
        let out = &mut v.spare_capacity_mut()[..n];
        #[cfg(target_arch = "x86_64")]
        let avx = std::arch::is_x86_feature_detected!("avx");
        #[cfg(not(target_arch = "x86_64"))]
        let avx = false;
        // Chunks of whole bands within one matrix.
        let unit = if rows % BAND == 0 { BAND * cols } else { mat };
        let chunk = |k: usize, o: &mut [MaybeUninit<T>]| {
            let row = k * unit / cols;
            let (m, r0) = (row / rows, row % rows);
            let mut base = 0;
            p.walk(m * mat, m * mat + 1, |_, _, off| base = off[0]);
            // The offset of the matrix's element (r0, 0): the plan's
            // elements lie in `src`.
            let base = base as usize + r0;
            for (b, band) in o.chunks_mut(BAND * cols).enumerate() {
                self.band(band, src, base + b * BAND, avx);
            }
        };
        if n.saturating_mul(TRANSPOSE_COST) >= crate::par::par_min() {
            crate::par::chunks(out, unit, chunk);
        } else {
            out.chunks_mut(unit).enumerate().for_each(|(k, o)| chunk(k, o));
        }
        // SAFETY: the chunks cover `out`, and `band` writes every element
        // of each band it is given; `n <= capacity` (`out_alloc`).
        unsafe { v.set_len(n) };
        Ok(v)
    }

    /// `then` of a contiguous copy of the elements of `p` in `src` (see
    /// [`copy`](Self::copy)), the copy given back to the cache after.
    fn copied<T: Pooled + Sync, R>(&self, src: &[T], p: &Plan<1>, then: impl FnOnce(&[T]) -> Result<R>) -> Result<R> {
        let copy = self.copy(src, p)?;
        let out = then(&copy);
        cache::give(copy);
        out
    }

    /// Write `band`, up to [`BAND`] whole output rows, whose element `(i,
    /// j)` is `src[first + i + j * stride]`: every element of it.
    fn band<T: Copy>(&self, band: &mut [MaybeUninit<T>], src: &[T], first: usize, avx: bool) {
        let (cols, stride) = (self.cols, self.stride);
        let h = band.len() / cols;
        // One past the last element read (all lie in `src`: they are the plan's).
        let end = first + (cols - 1) * stride + h;
        let fits = band.len() == h * cols && end <= src.len();
        assert!(fits, "strided::copy: a band's reads or writes leave their buffers");
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if avx && h == BAND && matches!(size_of::<T>(), 4 | 8) {
            // SAFETY: the CPU has AVX (`avx` is its detection), `T` is 4 or
            // 8 bytes, `band` is BAND rows of `cols`, and every read lies
            // before `end <= src.len()` (asserted above).
            done = unsafe { simd::band8(band, src, first, (cols, stride)) };
        }
        for j in done..cols {
            let at = first + j * stride;
            for (i, &x) in src[at..at + h].iter().enumerate() {
                band[i * cols + j].write(x);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use super::BAND;
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// Write the whole blocks of columns of `band` (8 rows of `cols`),
    /// element `(i, j)` being `src[first + i + j * stride]`, in 8 x 8
    /// blocks transposed in AVX registers as raw bits (shuffles only: every
    /// bit pattern, NaN payloads included, is kept). Returns the first
    /// column not written.
    ///
    /// # Safety
    ///
    /// The CPU must support AVX; `size_of::<T>()` must be 4 or 8;
    /// `band.len() == 8 * cols`; `first + (cols - 1) * stride + 8 <=
    /// src.len()`.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn band8<T: Copy>(
        band: &mut [MaybeUninit<T>],
        src: &[T],
        first: usize,
        (cols, stride): (usize, usize),
    ) -> usize {
        let full = cols - cols % BAND;
        let (s, o) = (src.as_ptr(), band.as_mut_ptr().cast::<T>());
        for c0 in (0..full).step_by(BAND) {
            let at = first + c0 * stride;
            // SAFETY: the caller's bounds put every read of this block, at
            // `at + j * stride + i` for `i, j < 8`, in `src` (`c0 + 7 <
            // cols`), and every write, at `i * cols + c0 + k` for `i, k <
            // 8`, in `band`. Loads and stores are unaligned. The stored
            // lanes are bit copies of elements of `src`, so valid `T`s.
            unsafe {
                let row = |j: usize| s.add(at + j * stride);
                let dst = |i: usize| o.add(i * cols + c0);
                if size_of::<T>() == 4 {
                    let ld = |j: usize| _mm256_loadu_ps(row(j).cast::<f32>());
                    let (r0, r1, r2, r3, r4, r5, r6, r7) = (ld(0), ld(1), ld(2), ld(3), ld(4), ld(5), ld(6), ld(7));
                    let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
                    let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
                    let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
                    let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
                    let (u0, u1) = (_mm256_shuffle_ps::<0x44>(t0, t2), _mm256_shuffle_ps::<0xEE>(t0, t2));
                    let (u2, u3) = (_mm256_shuffle_ps::<0x44>(t1, t3), _mm256_shuffle_ps::<0xEE>(t1, t3));
                    let (u4, u5) = (_mm256_shuffle_ps::<0x44>(t4, t6), _mm256_shuffle_ps::<0xEE>(t4, t6));
                    let (u6, u7) = (_mm256_shuffle_ps::<0x44>(t5, t7), _mm256_shuffle_ps::<0xEE>(t5, t7));
                    let st = |i: usize, v: __m256| _mm256_storeu_ps(dst(i).cast::<f32>(), v);
                    st(0, _mm256_permute2f128_ps::<0x20>(u0, u4));
                    st(1, _mm256_permute2f128_ps::<0x20>(u1, u5));
                    st(2, _mm256_permute2f128_ps::<0x20>(u2, u6));
                    st(3, _mm256_permute2f128_ps::<0x20>(u3, u7));
                    st(4, _mm256_permute2f128_ps::<0x31>(u0, u4));
                    st(5, _mm256_permute2f128_ps::<0x31>(u1, u5));
                    st(6, _mm256_permute2f128_ps::<0x31>(u2, u6));
                    st(7, _mm256_permute2f128_ps::<0x31>(u3, u7));
                } else {
                    // Four 4 x 4 blocks: output rows `bi..bi + 4`, columns
                    // `bj..bj + 4` are source rows `bj..bj + 4`, elements
                    // `bi..bi + 4`.
                    for (bi, bj) in [(0, 0), (0, 4), (4, 0), (4, 4)] {
                        let ld = |j: usize| _mm256_loadu_pd(row(bj + j).add(bi).cast::<f64>());
                        let (r0, r1, r2, r3) = (ld(0), ld(1), ld(2), ld(3));
                        let (t0, t1) = (_mm256_unpacklo_pd(r0, r1), _mm256_unpackhi_pd(r0, r1));
                        let (t2, t3) = (_mm256_unpacklo_pd(r2, r3), _mm256_unpackhi_pd(r2, r3));
                        let st = |i: usize, v: __m256d| _mm256_storeu_pd(dst(bi + i).add(bj).cast::<f64>(), v);
                        st(0, _mm256_permute2f128_pd::<0x20>(t0, t2));
                        st(1, _mm256_permute2f128_pd::<0x20>(t1, t3));
                        st(2, _mm256_permute2f128_pd::<0x31>(t0, t2));
                        st(3, _mm256_permute2f128_pd::<0x31>(t1, t3));
                    }
                }
            }
        }
        full
    }
}

/// `f` applied elementwise to two operands of one shape.
pub(crate) fn map2<A: Pooled + Sync, B: Pooled + Sync, U: Pooled>(
    a: &[A],
    la: &Layout,
    b: &[B],
    lb: &Layout,
    f: impl Fn(A, B) -> U + Sync,
) -> Result<Vec<U>> {
    map2_with(a, la, b, lb, &f, true)
}

/// [`map2`], trying the transposed operand's copy (NOTE: [one operand
/// transposed]) only when `transposes`.
fn map2_with<A: Pooled + Sync, B: Pooled + Sync, U: Pooled>(
    a: &[A],
    la: &Layout,
    b: &[B],
    lb: &Layout,
    f: &(impl Fn(A, B) -> U + Sync),
    transposes: bool,
) -> Result<Vec<U>> {
    let n = la.numel();
    let par_min = crate::par::par_min();
    if n < par_min
        && let (Some(ra), Some(rb)) = (dense(la), dense(lb))
    {
        let (a, b) = (&a[ra], &b[rb]);
        if a.len() == n && b.len() == n {
            let fill = |out: &mut [Out<U>]| {
                out.iter_mut().zip(a).zip(b).for_each(|((y, &x), &z)| y.put(f(x, z)));
            };
            // SAFETY: `a` and `b` have `n` elements each (checked just
            // above), so the zip writes all `n` output elements (`wide`
            // runs `fill` once, on the whole output).
            return unsafe { build(n, |o| wide(|| fill(o))) };
        }
    }
    let p = Plan::new(la.dims(), [&istrides(la), &istrides(lb)], [la.offset() as isize, lb.offset() as isize]);
    if n < par_min
        && let Some(v) = map2_rows(a, la, b, lb, &p, f)
    {
        return v;
    }
    if n < par_min
        && transposes
        && let Some(v) = map2_transposed(a, la, b, lb, f)
    {
        return v;
    }
    // Not for large outputs, which are memory-bound: there 32-byte stores
    // made `jacrev` 32 -> 2048 8-15% slower in alternating runs (measured
    // when a `[2048, 2048]` `tanh_backward` pass was most of it, before
    // its one-hot basis was deferred), and no faster in any large row. (A large buffer comes from `mmap` and starts 16 bytes past
    // a page, the system allocator's header, so half of the 32-byte stores
    // straddle two cache lines, the likely cause.)
    #[cfg(target_arch = "x86_64")]
    let avx2 = n < par_min && std::arch::is_x86_feature_detected!("avx2");
    let fill = |out: &mut [Out<U>]| {
        p.drive_lines(out, 1, 1, |o, len, off, step| {
            let group = (len, off, step);
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: the CPU has AVX2 (detected above).
                return unsafe { runs2_avx2(o, group, (a, b), p.istr, f) };
            }
            runs2(o, group, (a, b), p.istr, f)
        })
    };
    // SAFETY: the plan's drive visits every output element.
    unsafe { build(n, fill) }
}

// NOTE: [one operand transposed] A transposed operand paired with one that
// reads in the output's order (dense, or a broadcast row or column: `g +
// h^T`, a cotangent in the layout of the matmul that made it meeting one in
// the layout of the transposed view it flowed back through) was read in the
// output's order: the transposed operand's inner run is strided, every
// element a separate load. MAML's `[4, 40, 20]` `relu_backward` and `add`
// of such pairs took 3.0-3.1 us for 3,200 elements (`Profiled` means, 2000
// calls), against 0.64 for a dense pair of the same size. The transposed
// operand is now copied in register-transposed blocks first (NOTE:
// [transposing copy]) and the pair then mapped densely: 3.0-3.1 -> 2.0-2.1
// us, most of it the copy.

/// `f` of `a` and `b` when one is a stack of transposed matrices and the
/// other reads in the output's order (its last stride 0 or 1): the
/// transposed one copied first (NOTE: [one operand transposed]); `None`
/// when the layouts are not such a pair.
fn map2_transposed<A: Pooled + Sync, B: Pooled + Sync, U: Pooled>(
    a: &[A],
    la: &Layout,
    b: &[B],
    lb: &Layout,
    f: &(impl Fn(A, B) -> U + Sync),
) -> Option<Result<Vec<U>>> {
    let of = |l: &Layout| {
        let p = Plan::new(l.dims(), [&istrides(l)], [l.offset() as isize]);
        Transposed::of(&p).map(|t| (t, p))
    };
    // Read on the layouts' last strides first, so that the many small maps
    // of other layouts (a bias broadcast over a dense operand) do not pay
    // for the plans.
    let in_order = |l: &Layout| matches!(l.strides().last(), None | Some(0 | 1));
    let strided = |l: &Layout| l.strides().last().is_some_and(|&s| s >= 2) && l.dims().last() >= Some(&BAND);
    let contiguous = || Layout::contiguous(la.shape().clone());
    // The copy is contiguous, so the map that follows does not come back
    // here (`transposes` false).
    if in_order(lb)
        && strided(la)
        && let Some((t, p)) = of(la)
    {
        return Some(t.copied(a, &p, |a| map2_with(a, &contiguous(), b, lb, f, false)));
    }
    if in_order(la)
        && strided(lb)
        && let Some((t, p)) = of(lb)
    {
        return Some(t.copied(b, &p, |b| map2_with(a, la, b, &contiguous(), f, false)));
    }
    None
}

/// Fill `o`, a group of runs of `len` elements (the `r`-th read at `off +
/// r * step`) from [`Plan::drive_lines`], with `f` of the elements of `a`
/// and `b`, whose inner strides are `strides`: unit strides and broadcast
/// scalars as slice loops that vectorize.
#[inline(always)]
fn runs2<A: Copy, B: Copy, U>(
    o: &mut [Out<U>],
    (len, off, step): (usize, [isize; 2], [isize; 2]),
    (a, b): (&[A], &[B]),
    [sa, sb]: [isize; 2],
    f: &impl Fn(A, B) -> U,
) where
    Out<U>: Slot<U>,
{
    match (sa, sb) {
        (1, 1) => for_runs(o, len, off, step, |o, [oa, ob]| {
            let (ua, ub, m) = (oa as usize, ob as usize, o.len());
            o.iter_mut().zip(&a[ua..ua + m]).zip(&b[ub..ub + m]).for_each(|((y, &x), &z)| y.put(f(x, z)));
        }),
        (1, 0) => for_runs(o, len, off, step, |o, [oa, ob]| {
            let (ua, z, m) = (oa as usize, b[ob as usize], o.len());
            o.iter_mut().zip(&a[ua..ua + m]).for_each(|(y, &x)| y.put(f(x, z)));
        }),
        (0, 1) => for_runs(o, len, off, step, |o, [oa, ob]| {
            let (x, ub, m) = (a[oa as usize], ob as usize, o.len());
            o.iter_mut().zip(&b[ub..ub + m]).for_each(|(y, &z)| y.put(f(x, z)));
        }),
        _ => for_runs(o, len, off, step, |o, [oa, ob]| {
            o.iter_mut().enumerate().for_each(|(j, y)| y.put(f(a[at(oa, j, sa)], b[at(ob, j, sb)])));
        }),
    }
}

/// [`runs2`] compiled for AVX2.
///
/// # Safety
///
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn runs2_avx2<A: Copy, B: Copy, U>(
    o: &mut [Out<U>],
    group: (usize, [isize; 2], [isize; 2]),
    ab: (&[A], &[B]),
    strides: [isize; 2],
    f: &impl Fn(A, B) -> U,
) where
    Out<U>: Slot<U>,
{
    runs2(o, group, ab, strides, f)
}

/// Run `f`, compiled for AVX2 when the CPU has it (x86-64), so that the
/// elementwise loops it holds, inlined into it, use 256-bit vectors. (A
/// loop behind a closure that is not inlined, as [`Plan::drive_lines`]'s
/// callback, stays at the build's baseline: [`map2`] calls [`runs2_avx2`]
/// per group of runs instead.)
#[inline(always)]
fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        /// `f()` compiled for AVX2.
        ///
        /// # Safety
        ///
        /// The CPU must support AVX2.
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU has AVX2 (detected just above).
        return unsafe { avx2(f) };
    }
    f()
}

/// [`map2`] where one operand is dense and the other is one row (the
/// plan's inner run) repeated over every outer position, as a bias added
/// across a batch: a loop over rows with no per-row offset arithmetic.
/// `None` when the operands are not of that form.
fn map2_rows<A: Copy, B: Copy, U: Pooled>(
    a: &[A],
    la: &Layout,
    b: &[B],
    lb: &Layout,
    p: &Plan<2>,
    f: &impl Fn(A, B) -> U,
) -> Option<Result<Vec<U>>> {
    let (n, w) = (p.numel, p.inner);
    if p.istr != [1, 1] || p.outer.is_empty() || w == 0 {
        return None;
    }
    let repeats = |k: usize| p.ostr[k].iter().all(|&s| s == 0);
    let row = |base: isize, src_len: usize| {
        let start = usize::try_from(base).ok()?;
        (start.checked_add(w)? <= src_len).then_some(start..start + w)
    };
    // The dense operand covers exactly the `n` elements in order; the row
    // lies inside the other operand's storage.
    if repeats(1)
        && let (Some(ra), Some(rb)) = (dense(la).filter(|r| r.len() == n), row(p.base[1], b.len()))
    {
        return Some(fill_rows(&a[ra], &b[rb], f));
    }
    if repeats(0)
        && let (Some(rb), Some(ra)) = (dense(lb).filter(|r| r.len() == n), row(p.base[0], a.len()))
    {
        return Some(fill_rows(&b[rb], &a[ra], |z, x| f(x, z)));
    }
    None
}

/// `g(d, r)` for each element `d` of `dense` and the element `r` of `row`
/// at its position within its row (`dense` read as rows of `row.len()`).
///
/// A short row is first repeated into a pattern of about [`PATTERN`]
/// elements, so that the loop runs over long stretches (one loop prologue
/// per pattern, not per row: a 16-element bias row costs as much again in
/// loop setup as in arithmetic otherwise).
fn fill_rows<X: Copy, Y: Copy, U: Pooled>(dense: &[X], row: &[Y], g: impl Fn(X, Y) -> U) -> Result<Vec<U>> {
    // No more repetitions than there are rows: a small output is one pattern.
    let w = row.len().max(1);
    let reps = (PATTERN / w).clamp(1, (dense.len() / w).max(1));
    let mut pattern: Vec<Y> = try_alloc(row.len() * reps)?;
    for _ in 0..reps {
        pattern.extend_from_slice(row);
    }
    let span = pattern.len().max(1);
    let fill = |out: &mut [Out<U>]| {
        for (o, d) in out.chunks_mut(span).zip(dense.chunks(span)) {
            o.iter_mut().zip(d).zip(&pattern).for_each(|((y, &x), &z)| y.put(g(x, z)));
        }
    };
    // SAFETY: the output has `dense.len()` elements, and its chunks pair
    // with chunks of `dense` of the same lengths, each at most `span`, the
    // length of `pattern` (or there are no elements): every element is
    // written (`wide` runs `fill` once, on the whole output).
    unsafe { build(dense.len(), |o| wide(|| fill(o))) }
}

/// Elements a repeated row is expanded to in [`fill_rows`].
const PATTERN: usize = 1024;

/// `f` applied elementwise to three operands of one shape.
pub(crate) fn map3<A: Copy + Sync, B: Copy + Sync, C: Copy + Sync, U: Pooled>(
    (a, la): (&[A], &Layout),
    (b, lb): (&[B], &Layout),
    (c, lc): (&[C], &Layout),
    f: impl Fn(A, B, C) -> U + Sync,
) -> Result<Vec<U>> {
    let p = Plan::new(
        la.dims(),
        [&istrides(la), &istrides(lb), &istrides(lc)],
        [la.offset() as isize, lb.offset() as isize, lc.offset() as isize],
    );
    let [sa, sb, sc] = p.istr;
    let fill = |out: &mut [Out<U>]| {
        // Unit strides and broadcast scalars (`where(x <= 0, 0, x)`, as
        // relu and its derivative select) as slice loops that vectorize.
        p.drive_lines(out, 1, 1, |o, len, off, step| match (sa, sb, sc) {
            (1, 1, 1) => for_runs(o, len, off, step, |o, [oa, ob, oc]| {
                let (ua, ub, uc, m) = (oa as usize, ob as usize, oc as usize, o.len());
                let abc = o.iter_mut().zip(&a[ua..ua + m]).zip(&b[ub..ub + m]).zip(&c[uc..uc + m]);
                abc.for_each(|(((y, &x), &z), &w)| y.put(f(x, z, w)));
            }),
            (1, 0, 1) => for_runs(o, len, off, step, |o, [oa, ob, oc]| {
                let (ua, z, uc, m) = (oa as usize, b[ob as usize], oc as usize, o.len());
                o.iter_mut().zip(&a[ua..ua + m]).zip(&c[uc..uc + m]).for_each(|((y, &x), &w)| y.put(f(x, z, w)));
            }),
            (1, 1, 0) => for_runs(o, len, off, step, |o, [oa, ob, oc]| {
                let (ua, ub, w, m) = (oa as usize, ob as usize, c[oc as usize], o.len());
                o.iter_mut().zip(&a[ua..ua + m]).zip(&b[ub..ub + m]).for_each(|((y, &x), &z)| y.put(f(x, z, w)));
            }),
            _ => for_runs(o, len, off, step, |o, [oa, ob, oc]| {
                for (j, y) in o.iter_mut().enumerate() {
                    y.put(f(a[at(oa, j, sa)], b[at(ob, j, sb)], c[at(oc, j, sc)]));
                }
            }),
        })
    };
    // SAFETY: the plan's drive visits every output element.
    unsafe { build(la.numel(), fill) }
}

/// Copy the elements of `(src, sl)` to the positions `dl` of `dst`
/// (sequential; `dl` may be any non-self-overlapping layout).
pub(crate) fn copy_into<T: Copy>(dst: &mut [T], dl: &Layout, src: &[T], sl: &Layout) {
    let p = Plan::new(dl.dims(), [&istrides(dl), &istrides(sl)], [dl.offset() as isize, sl.offset() as isize]);
    let [sd, ss] = p.istr;
    p.walk(0, p.numel, |_, len, [od, os]| {
        let (ud, us) = (od as usize, os as usize);
        match (sd, ss) {
            (1, 1) => dst[ud..ud + len].copy_from_slice(&src[us..us + len]),
            (1, 0) => dst[ud..ud + len].fill(src[us]),
            _ => (0..len).for_each(|j| dst[at(od, j, sd)] = src[at(os, j, ss)]),
        }
    });
}

/// Fold a slice into an accumulator with `step`: for long slices through
/// several accumulators (combined with `comb`), which the compiler vectorizes.
#[inline(always)]
pub(crate) fn fold_slice<T: Copy, A: Copy>(xs: &[T], id: A, step: impl Fn(A, T) -> A, comb: impl Fn(A, A) -> A) -> A {
    if xs.len() < 16 {
        return xs.iter().fold(id, |a, &x| step(a, x));
    }
    let mut acc = [id; 8];
    let mut chunks = xs.chunks_exact(8);
    for c in &mut chunks {
        for k in 0..8 {
            acc[k] = step(acc[k], c[k]);
        }
    }
    let a = acc.into_iter().fold(id, comb);
    chunks.remainder().iter().fold(a, |a, &x| step(a, x))
}

/// Fold `len` elements from `off` with stride `st` (see [`fold_slice`]).
#[inline(always)]
pub(crate) fn fold<T: Copy, A: Copy>(
    v: &[T],
    (off, len, st): (isize, usize, isize),
    id: A,
    step: impl Fn(A, T) -> A,
    comb: impl Fn(A, A) -> A,
) -> A {
    if st == 1 {
        fold_slice(&v[off as usize..off as usize + len], id, step, comb)
    } else {
        (0..len).fold(id, |a, j| step(a, v[at(off, j, st)]))
    }
}
