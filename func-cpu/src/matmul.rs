//! Batched matrix multiplication through the `gemm` crate (and
//! `matrixmultiply` for one shape class: NOTE: [gemm choice]), both of which
//! read operands through arbitrary row and column strides: transposed and
//! other strided views are never copied. Rank-1 products (`k = 1`) and tiny
//! ones take direct loops, small f32 ones AVX-512 register tiles (NOTE:
//! [small tiles] in tiles.rs); threads come from rayon only (NOTE: [one
//! threading layer]).

use crate::cache;
use crate::elem::{Arith, Real};
use crate::par;
use crate::stream;
use crate::strided::{Plan, istrides, out_alloc, out_filled, try_alloc, try_filled};
use crate::tiles;
use func_core::{DimVec, Error, Layout, Result};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Below this many multiply-adds a batch runs on one thread (about 20 us of
/// work: below it, waking the pool cost more than it saved on the MAML
/// workload's four 20x40x40 products).
pub(crate) const PAR_FLOPS: usize = 1 << 18;
/// From this many multiply-adds, one product is split into row blocks that
/// run as rayon tasks.
const PAR_GEMM: usize = 1 << 20;
/// Row blocks are multiples of this many rows (the GEMM kernels' register
/// tile height), so no block ends in a partial tile.
const ROW_TILE: usize = 8;
/// Up to this many multiply-adds, a direct loop beats gemm's packing.
pub(crate) const SMALL: usize = 1024;
/// Up to this many multiply-adds, a product with at least
/// [`tiles::TILE_ROWS`] rows runs in register tiles when the element type
/// and CPU have them, instead of through gemm (NOTE: [small tiles] in
/// tiles.rs).
pub(crate) const TILED: usize = 1 << 17;
/// Up to this many multiply-adds, a product with a contraction of at most
/// [`TILED_K`] also runs in register tiles: with a short `k` the gemm
/// crate's packing is a larger share of the work. The Lennard-Jones model's
/// `[1000, 16] @ [16, 16]^T` and `[1000, 16] @ [16, 16]` took 7.7 and 7.3
/// us through gemm, 6.3 and 5.7 us in tiles (one thread, Sapphire Rapids);
/// `[16, 1000] @ [1000, 16]`, with its long `k`, 6.7 against 7.0 us, so it
/// stays with gemm.
pub(crate) const TILED_SHORT_K: usize = 1 << 19;
/// The longest contraction of a product tiled up to [`TILED_SHORT_K`].
pub(crate) const TILED_K: usize = 64;

/// Whether a product of `rows x k x n` (of more than [`SMALL`] multiply-adds
/// and at least [`tiles::TILE_ROWS`] rows) is of the size computed in
/// register tiles: at most [`TILED`] multiply-adds, or [`TILED_SHORT_K`]
/// with a contraction of at most [`TILED_K`], or at most [`tiles::NARROW`]
/// columns wide with a right operand of at most [`NARROW_KN`] elements, at
/// any height (NOTE: [narrow tiles] in tiles.rs).
pub(crate) fn tiles_size((rows, k, n): (usize, usize, usize)) -> bool {
    let work = rows.saturating_mul(k).saturating_mul(n);
    work <= TILED || (k <= TILED_K && work <= TILED_SHORT_K) || (n <= tiles::NARROW && k.saturating_mul(n) <= NARROW_KN)
}

/// The largest right operand (`k x n`, in elements) of a narrow product
/// computed in register tiles at any height: 512 KiB of f32, the most a
/// thread's row-major copy of a strided one holds (NOTE: [small tiles]).
pub(crate) const NARROW_KN: usize = 1 << 17;

/// The largest product of a batch computed into a scratch buffer and then
/// streamed to an output larger than the cache (NOTE: [streamed stores] in
/// stream.rs): half a 2 MiB L2, so the copy reads it from there.
const STREAM_SCRATCH: usize = 1 << 20;
/// A product whose contraction is at least this many times its larger
/// output side is split along `k` (NOTE: [long k]).
const LONG_K: usize = 64;

// NOTE: [long k] A product with a long contraction and a small output (a
// Gram matrix `J J^T` of Jacobians: 200 x 216320 x 50 in the NTK workload)
// is split along `k`, one slice per thread, each into its own output, and
// the partial outputs are summed. Split by rows instead, each thread would
// stream all of `b` and fill half-height kernel tiles (100 rows against
// 64-row tiles); split along `k`, each streams half of both operands over
// the full height. The summation order differs from one thread's (the
// slices' sums are added at the end), so the result may differ from the
// one-thread product by rounding.

/// The product split along `k` (NOTE: [long k]): the caller computes the
/// first slice into `c`, the pool the others into a temporary buffer, which
/// is then added to `c`. `false` (nothing written) when the temporary
/// buffer cannot be allocated; the caller then splits by rows.
fn split_k<T: Real>(
    product: &(impl Fn(usize, usize, isize, isize, isize, &mut [MaybeUninit<T>]) + Sync),
    (rows, k, n): (usize, usize, usize),
    (oa, ob, rs): (isize, isize, isize),
    (csa, rsb): (isize, isize),
    c: &mut [MaybeUninit<T>],
) -> bool {
    let parts = rayon::current_num_threads().min(k);
    let slice = k.div_ceil(parts);
    let parts = k.div_ceil(slice);
    let size = rows * n;
    let Ok(mut tmp) = out_alloc::<T>((parts - 1) * size) else {
        return false;
    };
    let spare = &mut tmp.spare_capacity_mut()[..(parts - 1) * size];
    let rest = spare.chunks_mut(size).enumerate().map(|(p, t)| {
        let k0 = (p + 1) * slice;
        let kk = slice.min(k - k0);
        move || product(rows, kk, oa + k0 as isize * csa, ob + k0 as isize * rsb, rs, t)
    });
    par::in_place(rest, || product(rows, slice, oa, ob, rs, c));
    // SAFETY: each of the `parts - 1` chunks of `size` that make up `spare`
    // got one slice's product, which writes every element of its output.
    unsafe { tmp.set_len((parts - 1) * size) };
    // SAFETY: the first slice's product wrote every element of `c` (as
    // above), and `MaybeUninit<T>` has the layout of `T`.
    let c = unsafe { &mut *(c as *mut [MaybeUninit<T>] as *mut [T]) };
    for part in tmp.chunks_exact(size) {
        c.iter_mut().zip(part).for_each(|(y, &z)| *y = *y + z);
    }
    true
}

// NOTE: [gemm choice] The `gemm` crate is the GEMM: on this project's
// benchmark machine (AVX-512) it ran the workloads' products in up to 45%
// less time than matrixmultiply on one thread, and within 1% on the f64
// ones (figures in the crate docs), except
// when the right operand is column-major with a column stride that is a
// multiple of 4 KiB: `x @ w^T` for a linear layer with 1024 or 9216 f32
// inputs ran 1.5-1.9x slower. `gemm` computes a row-major output as the
// transposed product and reads that operand unpacked, one row per step,
// rows 4 KiB apart, which all map to the same L1 cache sets;
// matrixmultiply packs it first. Such products go to matrixmultiply, unless
// they are tall enough to repay a padded copy (NOTE: [aliasing columns]).

// NOTE: [column blocks] A product too short to share by rows (fewer than
// `COL_SPLIT_ROWS`) is shared by columns instead: each thread runs the full
// height against its own block of `b`'s columns, writing its block of `c`'s
// columns (row stride `n`). Split by rows, each thread would run
// half-height kernel tiles (the GEMM's tile is 64 rows with AVX-512) and
// pack all of `b`; by columns, full tiles, and each packs its half of `b`.

/// Products with fewer rows than this are shared by column blocks (NOTE:
/// [column blocks]).
const COL_SPLIT_ROWS: usize = 128;
/// Column blocks are multiples of this many columns.
const COL_TILE: usize = 16;

/// A pointer to the output that column blocks write through from several
/// threads, each to its own columns.
#[derive(Clone, Copy)]
struct Cols<T>(*mut T);
// SAFETY: the blocks written through it are disjoint (see `split_cols`), so
// sharing the pointer between threads lets no two write one element.
unsafe impl<T: Send> Send for Cols<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Cols<T> {}

impl<T> Cols<T> {
    /// The pointer (a method, so that closures capture the whole `Cols`).
    fn ptr(self) -> *mut T {
        self.0
    }
}

/// `c = a b` (`rows x k x n`, `c` contiguous with row stride `n`) as column
/// blocks, one per thread, the calling thread running the first (NOTE:
/// [column blocks], [calling thread works] in par.rs).
fn split_cols<T: Real>(
    (rows, k, n): (usize, usize, usize),
    (a, oa, rsa, csa): Mat<'_, T>,
    (b, ob, rsb, csb): Mat<'_, T>,
    threads: usize,
    c: &mut [MaybeUninit<T>],
) {
    // The bound the blocks' writes rely on (SAFETY below).
    assert_eq!(c.len(), rows * n, "split_cols: the output is not rows x n");
    let width = n.div_ceil(threads).next_multiple_of(COL_TILE);
    let out = Cols(c.as_mut_ptr().cast::<T>());
    let run = move |j: usize| {
        let w = width.min(n - j);
        // SAFETY: as for `product`'s GEMM call (the operands' spans were
        // checked in `Cpu::matmul`, strides converted exactly), with `b`
        // offset by `j` columns (`j + w <= n`, so every column addressed is
        // one of `b`'s). The block writes rows `0..rows`, columns `j..j + w`
        // of `c`, at `j + i * n + jj`, all below `rows * n = c.len()`
        // (asserted above); the blocks' column ranges are disjoint, so no
        // element is written by two threads, and `c` is borrowed exclusively
        // for the whole scope.
        unsafe {
            let (pa, pb) = (a.as_ptr().offset(oa), b.as_ptr().offset(ob + j as isize * csb));
            T::gemm((rows, k, w), pa, rsa, csa, pb, rsb, csb, out.ptr().add(j), n as isize);
        }
    };
    par::in_place((width..n).step_by(width).map(|j| move || run(j)), || run(0));
}

/// Whether a product is better served by `matrixmultiply` than by the
/// `gemm` crate (NOTE: [gemm choice]): a column-major right operand (`b`
/// read through its transpose, as `x @ w^T` does) whose column stride is a
/// multiple of 4 KiB.
pub(crate) fn packs_better(elem_size: usize, rsb: isize, csb: isize) -> bool {
    rsb.unsigned_abs() == 1 && csb.unsigned_abs() > 1 && (csb.unsigned_abs() * elem_size).is_multiple_of(ALIASING)
}

/// The stride, in bytes, at which rows of an operand read unpacked alias in
/// the L1 cache (4 KiB pages, 64 sets of 64 bytes).
const ALIASING: usize = 4096;

/// A strided matrix operand: data, offset, row stride, column stride.
pub(crate) type Mat<'a, T> = (&'a [T], isize, isize, isize);

/// `c = a b` for a contiguous `c` with `n` columns, by direct loops: `c` is
/// zeroed, then each row of `c` accumulates rows of `b` scaled by entries of
/// `a`.
#[inline(always)]
fn small<T: Real>(
    (a, oa, rsa, csa): Mat<'_, T>,
    (b, ob, rsb, csb): Mat<'_, T>,
    k: usize,
    n: usize,
    c: &mut [MaybeUninit<T>],
) {
    if n == 1 {
        // A matrix-vector product: one running sum per row, in the order
        // (and so with the rounding) of the loop below, without its
        // one-element inner loops.
        for (i, y) in c.iter_mut().enumerate() {
            let ra = oa + i as isize * rsa;
            let dot = (0..k as isize).fold(T::ZERO, |s, p| s + a[(ra + p * csa) as usize] * b[(ob + p * rsb) as usize]);
            y.write(dot);
        }
        return;
    }
    let c = zeroed(c);
    for (i, row) in c.chunks_exact_mut(n).enumerate() {
        for p in 0..k as isize {
            let x = a[(oa + i as isize * rsa + p * csa) as usize];
            let bo = ob + p * rsb;
            if csb == 1 {
                let bo = bo as usize;
                row.iter_mut().zip(&b[bo..bo + n]).for_each(|(y, &z)| *y = *y + x * z);
            } else {
                row.iter_mut().enumerate().for_each(|(j, y)| *y = *y + x * b[(bo + j as isize * csb) as usize]);
            }
        }
    }
}

/// One row of `a` times `b` (`m = 1`: a vector-matrix product), reading `b`
/// once in memory order: a dot product per output when `b`'s columns are
/// contiguous (`x @ w^T`), else `small`'s sum of scaled rows of `b`. A GEMM
/// packs all of `b` for the one row: `[1, 2048] @ [2048, 32]` with a
/// column-major `b` took 84-107 µs through matrixmultiply (whose path an
/// 8 KiB column stride takes, NOTE: [gemm choice]), 10-16 µs row-major
/// through `gemm`.
#[inline(always)]
fn row_product<T: Real>(am: Mat<'_, T>, bm: Mat<'_, T>, k: usize, n: usize, c: &mut [MaybeUninit<T>]) {
    let ((a, oa, _, csa), (b, ob, rsb, csb)) = (am, bm);
    if rsb != 1 {
        if csb == 1 {
            let (x, row) =
                (|p: usize| a[(oa + p as isize * csa) as usize], |p: usize| (ob + p as isize * rsb) as usize);
            return scaled_sum(c, k, x, b, row);
        }
        return small(am, bm, k, n, c);
    }
    let ao = oa as usize;
    for (j, y) in c.iter_mut().enumerate() {
        let bo = (ob + j as isize * csb) as usize;
        let col = &b[bo..bo + k];
        y.write(if csa == 1 {
            dot(&a[ao..ao + k], col)
        } else {
            col.iter().enumerate().fold(T::ZERO, |s, (p, &z)| s + a[(oa + p as isize * csa) as usize] * z)
        });
    }
}

/// `sum(x[i] * y[i])` over slices of one length, in eight running sums (so
/// the loop vectorizes) added in order, then the remainder.
#[inline(always)]
fn dot<T: Real>(x: &[T], y: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let (xs, ys) = (x.chunks_exact(8), y.chunks_exact(8));
    let tail = xs.remainder().iter().zip(ys.remainder());
    for (p, q) in xs.zip(ys) {
        for l in 0..8 {
            acc[l] = acc[l] + p[l] * q[l];
        }
    }
    tail.fold(acc.iter().fold(T::ZERO, |s, &v| s + v), |s, (&p, &q)| s + p * q)
}

/// `a` times one column of `b` (`n = 1`: a matrix-vector product), reading
/// `a` once in memory order: a dot product per row when `a`'s rows are
/// contiguous (`h @ w^T` for a one-output layer), a sum of scaled columns
/// of `a` when its columns are (`h^T @ g`, that layer's weight gradient
/// under a Jacobian), else `small`'s loop. `gemm` took 4.7 µs for
/// `[1000, 16] @ [16, 1]` and 6.2 µs for `[16, 1000] @ [1000, 1]` (the
/// Lennard-Jones model's last layer and its gradient), 3 GFLOP/s (NOTE:
/// [thin products]).
#[inline(always)]
fn col_product<T: Real>(am: Mat<'_, T>, bm: Mat<'_, T>, k: usize, c: &mut [MaybeUninit<T>]) {
    let ((a, oa, rsa, csa), (b, ob, rsb, _)) = (am, bm);
    if csa == 1 && rsb == 1 {
        let x = &b[ob as usize..ob as usize + k];
        for (i, y) in c.iter_mut().enumerate() {
            let ra = (oa + i as isize * rsa) as usize;
            y.write(dot(&a[ra..ra + k], x));
        }
    } else if rsa == 1 {
        let (x, col) = (|p: usize| b[(ob + p as isize * rsb) as usize], |p: usize| (oa + p as isize * csa) as usize);
        scaled_sum(c, k, x, a, col);
    } else {
        small(am, bm, k, 1, c);
    }
}

// NOTE: [thin products] A product with one row or one column (a layer with
// one input or one output, and its gradients) does `k` multiply-adds per
// output: a GEMM's packing and tiling cost more than the arithmetic. Such
// products run as dot products or as sums of scaled rows or columns, reading
// each operand once in memory order, in a loop compiled for AVX-512F or
// AVX2 when the CPU has them (runtime detection, as vmath's maps), so that
// it vectorizes to the register width instead of baseline SSE2's four f32
// lanes. The tiny products (`SMALL`) take the same loops, and one row or
// one column goes to `row_product` or `col_product` at any size: `small`'s
// matrix-vector loop is one running sum per output, which does not
// vectorize. MAML's per-task `[40, 20]^T @ [20, 1]` and `[20, 40] @ [40,
// 1]` (800 multiply-adds each, in batches of 4) took 2.9 us per batch
// through `small`, 1.3 and 0.8 us through the column loops (`Profiled`
// means over 2000 calls).

/// Which direct loop a product takes (NOTE: [thin products]).
#[derive(Clone, Copy)]
enum Thin {
    /// `small`: more than one row and column, up to `SMALL` multiply-adds.
    Small,
    /// `row_product`: one row.
    Row,
    /// `col_product`: one column.
    Col,
    /// `row_product` for each row: the tail columns of a long contraction
    /// (NOTE: [tail columns]) where `Real::dots` has no kernel.
    Dots,
}

/// The direct loop `kind` for `c = a b` (`c`: rows of `n` elements).
#[inline(always)]
fn thin_body<T: Real>(kind: Thin, am: Mat<'_, T>, bm: Mat<'_, T>, k: usize, n: usize, c: &mut [MaybeUninit<T>]) {
    match kind {
        Thin::Small => small(am, bm, k, n, c),
        Thin::Row => row_product(am, bm, k, n, c),
        Thin::Col => col_product(am, bm, k, c),
        Thin::Dots => {
            let (a, oa, rsa, csa) = am;
            for (i, row) in c.chunks_exact_mut(n.max(1)).enumerate() {
                row_product((a, oa + i as isize * rsa, rsa, csa), bm, k, n, row);
            }
        }
    }
}

macro_rules! thin_for {
    ($($name:ident: $feature:literal),*) => {$(
        #[doc = concat!("[`thin_body`] compiled for `", $feature, "`.")]
        ///
        /// # Safety
        ///
        #[doc = concat!("The CPU must support `", $feature, "`.")]
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name<T: Real>(
            kind: Thin,
            am: Mat<'_, T>,
            bm: Mat<'_, T>,
            k: usize,
            n: usize,
            c: &mut [MaybeUninit<T>],
        ) {
            thin_body(kind, am, bm, k, n, c)
        }
    )*};
}
thin_for!(thin_avx2: "avx2", thin_avx512: "avx512f");

/// [`thin_body`] in the widest instruction set the CPU has.
fn thin<T: Real>(kind: Thin, am: Mat<'_, T>, bm: Mat<'_, T>, k: usize, n: usize, c: &mut [MaybeUninit<T>]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (detected just above).
            return unsafe { thin_avx512(kind, am, bm, k, n, c) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (detected just above).
            return unsafe { thin_avx2(kind, am, bm, k, n, c) };
        }
    }
    thin_body(kind, am, bm, k, n, c)
}

/// Outputs accumulated together in [`scaled_sum`]: one 512-bit register
/// of f32.
const BLOCK: usize = 16;

/// `c[j] = sum over p < k of x(p) * v[at(p) + j]`: a sum of `k` scaled
/// contiguous vectors (rows or columns of an operand), each block of
/// `BLOCK` outputs accumulated in a fixed-size array (registers) over all
/// `p`, rather than in `c` through memory; the last, partial block in a
/// loop of its own length. Every output sums in order of `p`.
#[inline(always)]
fn scaled_sum<T: Real>(
    c: &mut [MaybeUninit<T>],
    k: usize,
    x: impl Fn(usize) -> T,
    v: &[T],
    at: impl Fn(usize) -> usize,
) {
    let (blocks, rest) = c.as_chunks_mut::<BLOCK>();
    for (b, out) in blocks.iter_mut().enumerate() {
        let mut acc = [T::ZERO; BLOCK];
        for p in 0..k {
            let (s, r) = (x(p), at(p) + b * BLOCK);
            let r = &v[r..r + BLOCK];
            for l in 0..BLOCK {
                acc[l] = acc[l] + s * r[l];
            }
        }
        out.iter_mut().zip(acc).for_each(|(y, v)| {
            y.write(v);
        });
    }
    let (j, w) = (blocks.len() * BLOCK, rest.len());
    if w > 0 {
        let out = zeroed(rest);
        for p in 0..k {
            let (s, r) = (x(p), at(p) + j);
            out.iter_mut().zip(&v[r..r + w]).for_each(|(y, &z)| *y = *y + s * z);
        }
    }
}

/// Zero `c` and view it as initialized.
#[inline(always)]
pub(crate) fn zeroed<T: Arith>(c: &mut [MaybeUninit<T>]) -> &mut [T] {
    c.iter_mut().for_each(|x| {
        x.write(T::ZERO);
    });
    // SAFETY: every element was just written, and `MaybeUninit<T>` has the
    // layout of `T`.
    unsafe { &mut *(c as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// The rank-1 product (`k = 1`) `c[i, j] = a[i, 0] * b[0, j]`, written once
/// per element: memory-bound, so no packing and no zero-fill first. A
/// strided row `b` (a column-major activation: NOTE: [output layout] in
/// func-core) is gathered once, so every output row is a contiguous loop.
/// With `stream` (a whole output larger than the cache), the rows are written
/// with non-temporal stores where the CPU has them (NOTE: [streamed stores]
/// in stream.rs).
fn outer<T: Real>(
    (a, oa, rsa, _): Mat<'_, T>,
    (b, ob, _, csb): Mat<'_, T>,
    n: usize,
    stream: bool,
    c: &mut [MaybeUninit<T>],
) {
    let gathered: Vec<T>;
    let row_b = if csb == 1 {
        &b[ob as usize..ob as usize + n]
    } else {
        gathered = (0..n).map(|j| b[(ob + j as isize * csb) as usize]).collect();
        &gathered[..]
    };
    let xs = (0..c.len() / n.max(1)).map(|i| a[(oa + i as isize * rsa) as usize]);
    if stream && T::scaled_rows(xs, row_b, c) {
        return;
    }
    for (i, row) in c.chunks_exact_mut(n).enumerate() {
        let x = a[(oa + i as isize * rsa) as usize];
        row.iter_mut().zip(row_b).for_each(|(y, &z)| {
            y.write(x * z);
        });
    }
}

// NOTE: [transposed product] `x @ w^T` (a row-major `a`, a column-major
// `b`) reads one operand against the grain whichever way it is computed,
// and the gemm crate gathers that operand into panels: `b` (`k x n`) for
// the product as given, `a` (`m x k`) for `(b^T a^T)^T`. When `a` is much
// the smaller, the product is computed transposed into a scratch buffer and
// copied into `c` transposed (`m n` more element moves). One thread:
// `[64,784] @ [784,128]^T` 140 -> 125 us through the transposed form alone;
// `[32,512] @ [512,256]^T` 332 -> 86 us. The other way round it loses
// (`[1280,784] @ [784,64]^T` 1130 -> 1450 us), and for `[64,128] @
// [128,128]^T` (23 -> 21 us) the copy eats the gain, hence the margin in
// `transposes_better`. For f32 with AVX-512 the copy transposes 16 x 16
// blocks in registers (`tiles::transpose_f32`): the ensemble's `[64,784] @
// [784,128]^T` then took 83-87 us on one thread, against 94 with the
// element-by-element copy (the product alone, `(w x^T)`, 87). Without
// AVX-512 the copy goes in 8 x 8 AVX blocks (`strided::transpose_into`,
// NOTE: [transposing copy]): on a Zen 3 (AVX2) machine, the distinct
// ensemble's ten `[64,128] @ [128,128]^T`, two threads, 188 -> 150 us.

/// Whether `rows x k x n` with these strides runs faster transposed (NOTE:
/// [transposed product]): `a` row-major, `b` column-major, and the panels
/// saved (`(n - rows) k`) at least four times the elements copied back.
pub(crate) fn transposes_better(
    (rows, k, n): (usize, usize, usize),
    (rsa, csa): (isize, isize),
    (rsb, csb): (isize, isize),
) -> bool {
    csa == 1
        && rsa != 1
        && rsb == 1
        && csb != 1
        && rows < n
        && (n - rows).saturating_mul(k) >= rows.saturating_mul(n).saturating_mul(4)
}

// NOTE: [tail columns] The GEMM computes a row-major product as its
// transpose, whose kernel tile is 16 output columns high: a width that is
// not a multiple of 16 ends in a tile of a few columns that costs a whole
// one. `[200, 216320] @ [216320, 50]` (the NTK workload's contraction of
// Jacobians, `J1 J2^T`) ran at 77 GFLOP/s on one thread where the first 48
// columns alone ran at 90. When both operands are contiguous along `k`
// (`J J^T`) and the contraction is long, the full tiles go to the GEMM one
// slice of `k` at a time (accumulating), and the last few columns are dot
// products over the same slice while it is still in cache: that product
// 29.1 -> 27.0 ms, `[200, 9216] @ [9216, 50]` 1.44 -> 1.34 ms (best of 7,
// two threads). The tail columns sum slice by slice, so they may differ
// from the GEMM's order by rounding. For f32 with AVX-512 the dot products
// of a slice run in register tiles of four rows by the tail's columns
// (`Real::dots`, `tiles::dots_f32`), one register of 16 sums per output,
// instead of `row_product`'s loop one row at a time (eight sums, the
// compiler's vectorization): the dot products went from 13.6% to 1.4% of
// the samples of `[200, 216320] @ [216320, 50]^T` (perf), and the product
// from 210-233 to 235-251 GFLOP/s (best of 7, four alternating runs),
// against 242-260 for its first 48 columns alone. Longer slices (4096,
// 16384) were slower.

/// Most tail columns computed as dot products (NOTE: [tail columns]).
const TAIL_MAX: usize = 4;
/// The slice of `k` per step (NOTE: [tail columns]): 200 rows of f32 are
/// 800 KiB, within L2.
const TAIL_K: usize = 1024;

/// Whether [`tail_columns`] computes a `rows x k x n` product (NOTE: [tail
/// columns]): both operands contiguous along `k`, a long `k`, and a width
/// past its last full tile by at most `TAIL_MAX` columns.
pub(crate) fn takes_tail_columns((rows, k, n): (usize, usize, usize), csa: isize, rsb: isize) -> bool {
    let r = n % COL_TILE;
    csa == 1 && rsb == 1 && n > COL_TILE && (1..=TAIL_MAX).contains(&r) && k >= 4 * TAIL_K && rows >= ROW_TILE
}

/// `c = a b` with the last `n % COL_TILE` columns as dot products (NOTE:
/// [tail columns]). `false` (nothing written) when the product is not one
/// such (layouts, width, length of `k`) or the sums cannot be allocated.
fn tail_columns<T: Real>(
    (rows, k, n): (usize, usize, usize),
    (a, oa, rsa, csa): Mat<'_, T>,
    (b, ob, rsb, csb): Mat<'_, T>,
    c: &mut [MaybeUninit<T>],
) -> bool {
    if !takes_tail_columns((rows, k, n), csa, rsb) {
        return false;
    }
    let r = n % COL_TILE;
    // `c` is `rows` whole output rows (every caller passes such a block).
    assert_eq!(rows.checked_mul(n), Some(c.len()), "matmul: a block of {rows} rows of {n} has {} elements", c.len());
    let (Ok(mut sums), Ok(mut part)) = (try_filled(rows * r, T::ZERO), try_alloc::<T>(rows * r)) else {
        return false;
    };
    let n0 = n - r;
    let out = c.as_mut_ptr().cast::<T>();
    for k0 in (0..k).step_by(TAIL_K) {
        let kc = TAIL_K.min(k - k0);
        // SAFETY: the elements addressed are a subset of the whole
        // product's: rows `0..rows` of `a` from `oa`, its columns `k0..k0 +
        // kc` (`csa = 1`), and columns `0..n0` of `b` from `ob`, its rows
        // `k0..k0 + kc` (`rsb = 1`), all within the spans `Cpu::matmul`
        // checked (see `product`'s call). The GEMM writes rows `0..rows`,
        // columns `0..n0 < n` of `c` at row stride `n`, within `rows * n =
        // c.len()` (asserted above); `c` is borrowed exclusively. The first
        // slice (`k0 = 0`) only writes those elements; every later one adds
        // to them, written by the first.
        unsafe {
            let (pa, pb) = (a.as_ptr().offset(oa + k0 as isize), b.as_ptr().offset(ob + k0 as isize));
            T::gemm_with((rows, kc, n0), (pa, rsa, 1), (pb, 1, csb), (out, n as isize), k0 > 0);
        }
        let tail = ob + n0 as isize * csb + k0 as isize;
        let done = &mut part.spare_capacity_mut()[..rows * r];
        let (am, bm) = ((a, oa + k0 as isize, rsa, 1), (b, tail, 1, csb));
        if !T::dots((rows, kc, r), am, bm, done) {
            thin(Thin::Dots, am, bm, kc, r, done);
        }
        // SAFETY: `Real::dots` (when it returns `true`) or `row_product`
        // wrote all `rows * r` elements of `done`, and `MaybeUninit<T>` has
        // the layout of `T`.
        let done = unsafe { &*(done as *const [MaybeUninit<T>] as *const [T]) };
        sums.iter_mut().zip(done).for_each(|(s, &p)| *s = *s + p);
    }
    for (row, s) in c.chunks_exact_mut(n).zip(sums.chunks_exact(r)) {
        row[n0..].iter_mut().zip(s).for_each(|(y, &v)| {
            y.write(v);
        });
    }
    true
}

/// `c = a b` computed as `(b^T a^T)^T` into a scratch buffer, then copied
/// into `c` (NOTE: [transposed product]). `false` (nothing written) when
/// the scratch buffer cannot be allocated.
fn transposed<T: Real>(
    (rows, k, n): (usize, usize, usize),
    (a, oa, rs, csa): Mat<'_, T>,
    (b, ob, rsb, csb): Mat<'_, T>,
    c: &mut [MaybeUninit<T>],
) -> bool {
    // `c` is `rows` whole output rows (every caller passes such a block):
    // the GEMM below writes exactly `len` elements.
    let len = c.len();
    assert_eq!(rows.checked_mul(n), Some(len), "matmul: a block of {rows} rows of {n} has {len} elements");
    let Ok(mut t) = out_alloc::<T>(len) else {
        return false;
    };
    // SAFETY: the elements addressed are those of the direct product (see
    // the call in `matmul`, whose bounds argument holds unchanged): `b^T`
    // is `b` read with its strides swapped, `a^T` likewise, so the same
    // elements are read, in bounds of `a` and `b`. `t` is a fresh,
    // exclusively owned buffer with capacity for the `len = n * rows`
    // elements written (row stride `rows`); with beta = 0 the GEMM writes
    // all of them and reads none, so `set_len` covers written elements
    // only.
    unsafe {
        let (pa, pb) = (a.as_ptr().offset(oa), b.as_ptr().offset(ob));
        T::gemm((n, k, rows), pb, csb, rsb, pa, csa, rs, t.as_mut_ptr(), rows as isize);
        t.set_len(len);
    }
    if !T::transpose(&t, (rows, n), c) {
        crate::strided::transpose_into(&t, (rows, n), rows, c);
    }
    cache::give(t);
    true
}

// NOTE: [aliasing columns] A column-major right operand (`x @ w^T`, and the
// transposed Jacobians of an NTK contraction) whose column stride is a
// multiple of 4 KiB is read by `gemm` one column per step, 4 KiB apart, all
// in the same L1 sets; matrixmultiply packs it but ran these shapes at half
// `gemm`'s speed on an unaliased operand. So before the product it is
// copied once, column-major with each column padded by 64 bytes, and `gemm`
// reads the copy: `[64,9216] @ [9216,128]^T` 2.2-2.5 ms (matrixmultiply) ->
// 1.0 ms + 0.19 ms for the copy; `[64,1024] @ [1024,1024]^T` 1.7-2.4 ->
// 1.0 + 0.17 (best of 7, two threads, the copy made beforehand). In the
// product itself, best of 7 over two alternating runs: `[200,9216] @
// [9216,50]^T` (the NTK's conv-weight Jacobian contraction) 2.47-2.68 ->
// 1.44-1.63 ms; `[64,9216] @ [9216,128]^T` 1.56-1.58 -> 1.31-1.42; but
// `[64,1024] @ [1024,1024]^T` 1.59-1.66 -> 1.69-1.81, where the 4 MB copy
// is a quarter of the product. So only products of at least
// `REPACK_ROWS` rows repack. Broadcast batch dims stay broadcast in the
// copy (one copy per distinct matrix). When the copy cannot be allocated,
// the product reads the operand in place and goes to matrixmultiply
// (NOTE: [gemm choice]).

/// Products with at least this many rows repack an aliasing right operand
/// (NOTE: [aliasing columns]): the copy costs `k n` against the product's
/// `m k n`, and at 64 rows it was not always repaid.
const REPACK_ROWS: usize = 128;

/// Bytes of padding after each column of a repacked operand.
const COLUMN_PAD: usize = 64;

/// The matrices of `b` (`[.., k, n]`, column-major) copied column-major with
/// columns `k + COLUMN_PAD / size` apart, with the strides of the copy
/// (broadcast batch dims keep stride 0); `None` when the copy's size
/// overflows or cannot be allocated (NOTE: [aliasing columns]).
pub(crate) fn repack<T: Real>(b: &[T], lb: &Layout) -> Option<(Vec<T>, DimVec<isize>)> {
    let (nd, dims, src) = (lb.ndim(), lb.dims(), istrides(lb));
    let (k, n) = (dims[nd - 2], dims[nd - 1]);
    let ks = k.checked_add(COLUMN_PAD / size_of::<T>())?;
    let mut strides: DimVec<isize> = DimVec::from_elem(0, nd);
    strides[nd - 2] = 1;
    strides[nd - 1] = isize::try_from(ks).ok()?;
    let mut size = ks.checked_mul(n)?;
    for d in (0..nd - 2).rev() {
        if src[d] != 0 && dims[d] > 1 {
            strides[d] = isize::try_from(size).ok()?;
            size = size.checked_mul(dims[d])?;
        }
    }
    isize::try_from(size).ok()?;
    // From the buffer cache (and given back after the product): a fresh
    // allocation of megabytes per call paid its page faults every time.
    let mut out = out_filled(size, T::ZERO).ok()?;
    // Every distinct matrix: an odometer over the batch dims that are not
    // broadcast.
    let mut index: DimVec<usize> = DimVec::from_elem(0, nd - 2);
    loop {
        let (mut from, mut to) = (lb.offset() as isize, 0isize);
        for d in 0..nd - 2 {
            from += index[d] as isize * src[d];
            to += index[d] as isize * strides[d];
        }
        for j in 0..n as isize {
            // In bounds: `Cpu::matmul` checked the layout's span against
            // `b` (indexing is checked regardless), and the copy holds
            // every `to + j * ks + i` (its size is the product above).
            let column = (to + j * strides[nd - 1]) as usize;
            let dst = &mut out[column..column + k];
            let first = from + j * src[nd - 1];
            if src[nd - 2] == 1 {
                dst.copy_from_slice(&b[first as usize..first as usize + k]);
            } else {
                for (i, y) in dst.iter_mut().enumerate() {
                    *y = b[(first + i as isize * src[nd - 2]) as usize];
                }
            }
        }
        // Next batch index (only the dims the copy does not broadcast).
        let Some(d) = (0..nd - 2).rev().find(|&d| strides[d] != 0 && index[d] + 1 < dims[d]) else {
            break;
        };
        index[d] += 1;
        for e in d + 1..nd - 2 {
            index[e] = 0;
        }
    }
    Some((out, strides))
}

fn err_size(la: &Layout, lb: &Layout) -> Error {
    Error::shape_mismatch("matmul", la.shape(), lb.shape(), "give a product whose number of elements overflows usize")
}

pub(crate) fn matmul<T: Real>(a: &[T], la: &Layout, b: &[T], lb: &Layout) -> Result<Vec<T>> {
    product_plus(a, la, b, lb, None)
}

/// `c + a @ b`, with `c` of the product's shape (broadcast allowed),
/// added to each block of rows as soon as the block is written (NOTE:
/// [bias epilogue]).
pub(crate) fn addmm<T: Real>(c: &[T], lc: &Layout, a: &[T], la: &Layout, b: &[T], lb: &Layout) -> Result<Vec<T>> {
    product_plus(a, la, b, lb, Some((c, lc)))
}

// NOTE: [bias epilogue] `addmm` (a linear layer's `x @ w^T + bias`) adds
// its input to each block of output rows right after the block's product
// is written, by the thread that wrote it, while the block is in that
// core's cache: the pass over the output that a separate `add` makes
// (reading the product back from memory or the other core, and writing a
// new buffer) is gone. Every product path below writes whole rows of its
// block, so the epilogue sees finished rows; a product split along `k` or
// by columns gets its epilogue once the parts are summed or all written.

/// Adds the rows of `bias` (`[.., m, n]`, possibly broadcast) to `c`, the
/// output rows from `row0` on (a whole number of rows of `n`), in the
/// widest vectors the CPU has.
fn add_bias<T: Real>(bias: (&[T], &Layout), n: usize, row0: usize, c: &mut [T]) {
    if n == 0 || c.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (detected just above).
            return unsafe { add_rows_avx512(bias, n, row0, c) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (detected just above).
            return unsafe { add_rows_avx2(bias, n, row0, c) };
        }
    }
    add_rows(bias, n, row0, c)
}

macro_rules! add_rows_for {
    ($($name:ident: $feature:literal),*) => {$(
        #[doc = concat!("[`add_rows`] compiled for `", $feature, "`.")]
        ///
        /// # Safety
        ///
        #[doc = concat!("The CPU must support `", $feature, "`.")]
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name<T: Real>(bias: (&[T], &Layout), n: usize, row0: usize, c: &mut [T]) {
            add_rows(bias, n, row0, c)
        }
    )*};
}
add_rows_for!(add_rows_avx2: "avx2", add_rows_avx512: "avx512f");

/// [`add_bias`]'s loops, inlined into each instruction set's copy.
#[inline(always)]
fn add_rows<T: Real>((bias, lbias): (&[T], &Layout), n: usize, row0: usize, c: &mut [T]) {
    let nd = lbias.ndim();
    let strides = istrides(lbias);
    let (dims, st, csc) = (&lbias.dims()[..nd - 1], &strides[..nd - 1], strides[nd - 1]);
    // The multi-index of row `row0`, and its offset in `bias`.
    let mut idx: DimVec<usize> = DimVec::from_elem(0, dims.len());
    let mut rest = row0;
    for d in (0..dims.len()).rev() {
        idx[d] = rest % dims[d];
        rest /= dims[d];
    }
    let mut off = lbias.offset() as isize + idx.iter().zip(st).map(|(&i, &s)| i as isize * s).sum::<isize>();
    if st.iter().all(|&s| s == 0) && (csc == 0 || csc == 1) {
        // One row for every output row (a linear layer's bias `[n]`): no
        // per-row offsets.
        let o = off as usize;
        match csc {
            0 => add_scalar(c, bias[o]),
            _ => {
                let r = &bias[o..o + n];
                // Short rows are added several at a time, against the row
                // repeated in a local buffer: one loop long enough for
                // whole vectors, over memory that cannot alias `c`.
                let mut rep = [T::ZERO; REPEAT];
                let q = (REPEAT / n).max(1);
                let c = if q > 1 {
                    rep.chunks_exact_mut(n).take(q).for_each(|d| d.copy_from_slice(r));
                    let mut blocks = c.chunks_exact_mut(q * n);
                    for block in &mut blocks {
                        add_row(block, &rep[..q * n]);
                    }
                    blocks.into_remainder()
                } else {
                    c
                };
                for row in c.chunks_exact_mut(n) {
                    add_row(row, r);
                }
            }
        }
        return;
    }
    for row in c.chunks_exact_mut(n) {
        // In bounds: `Cpu::addmm` checked the layout's span against the
        // storage (a bad offset panics on the index, it is never read
        // unchecked).
        let o = off as usize;
        match csc {
            0 => add_scalar(row, bias[o]),
            1 => add_row(row, &bias[o..o + n]),
            _ => {
                for (j, y) in row.iter_mut().enumerate() {
                    *y = *y + bias[(off + j as isize * csc) as usize];
                }
            }
        }
        // The next row: an odometer over the row dims.
        for d in (0..dims.len()).rev() {
            idx[d] += 1;
            off += st[d];
            if idx[d] < dims[d] {
                break;
            }
            off -= st[d] * dims[d] as isize;
            idx[d] = 0;
        }
    }
}

/// The length of the local buffer a short bias row is repeated in
/// ([`add_rows`]).
const REPEAT: usize = 128;

/// `y += r`.
#[inline(always)]
fn add_row<T: Real>(y: &mut [T], r: &[T]) {
    for (y, &v) in y.iter_mut().zip(r) {
        *y = *y + v;
    }
}

/// `y += v` for every element.
#[inline(always)]
fn add_scalar<T: Real>(y: &mut [T], v: T) {
    for y in y.iter_mut() {
        *y = *y + v;
    }
}

/// `c` as initialized elements.
///
/// # Safety
///
/// Every element of `c` has been written.
unsafe fn written<T>(c: &mut [MaybeUninit<T>]) -> &mut [T] {
    // SAFETY: all elements are initialized (the caller's contract), and
    // `MaybeUninit<T>` has the layout of `T`.
    unsafe { &mut *(c as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// `c = a b` for row-major `a [m, k]` and `b [k, n]` (the whole slices)
/// on the calling thread, by the kernels one product of [`matmul`] takes
/// at this size: direct loops, register tiles or gemm. For the products of
/// one sample of a convolution (NOTE: [convolution by samples] in conv.rs).
///
/// # Panics
///
/// When the slices' lengths are not `m * k`, `k * n` and `m * n`.
pub(crate) fn product_rows<T: Real>((m, k, n): (usize, usize, usize), a: &[T], b: &[T], c: &mut [MaybeUninit<T>]) {
    let fits =
        Some(a.len()) == m.checked_mul(k) && Some(b.len()) == k.checked_mul(n) && Some(c.len()) == m.checked_mul(n);
    assert!(fits, "product_rows: slices of {}, {} and {} for {m} x {k} x {n}", a.len(), b.len(), c.len());
    let (am, bm) = ((a, 0, k as isize, 1), (b, 0, n as isize, 1));
    if k == 0 || m == 0 || n == 0 {
        zeroed(c);
    } else if m.saturating_mul(k).saturating_mul(n) <= SMALL {
        thin(Thin::Small, am, bm, k, n, c);
    } else if m >= tiles::TILE_ROWS && tiles_size((m, k, n)) && T::tiled((m, k, n), am, bm, c) {
        // Computed in register tiles (NOTE: [small tiles] in tiles.rs).
    } else {
        // SAFETY: the assert above: `a`, `b`, `c` hold exactly `m * k`, `k *
        // n`, `m * n` elements, addressed row-major from 0 (row strides `k`,
        // `n`, `n`, unit columns): all in bounds. `c` is exclusive, distinct,
        // and only written (beta = 0), so uninitialized is allowed.
        unsafe {
            T::gemm(
                (m, k, n),
                a.as_ptr(),
                k as isize,
                1,
                b.as_ptr(),
                n as isize,
                1,
                c.as_mut_ptr().cast::<T>(),
                n as isize,
            );
        }
    }
}

fn product_plus<T: Real>(a: &[T], la: &Layout, b: &[T], lb: &Layout, bias: Option<(&[T], &Layout)>) -> Result<Vec<T>> {
    let nd = la.ndim();
    if nd < 2 || lb.ndim() != nd || la.dims()[..nd - 2] != lb.dims()[..nd - 2] || la.dims()[nd - 1] != lb.dims()[nd - 2]
    {
        return Err(Error::shape_mismatch("matmul", la.shape(), lb.shape(), "must be [..., m, k] and [..., k, n]"));
    }
    let (m, k, n) = (la.dims()[nd - 2], la.dims()[nd - 1], lb.dims()[nd - 1]);
    let bdims = &la.dims()[..nd - 2];
    if let Some((_, lc)) = bias {
        let (dc, nc) = (lc.dims(), lc.ndim());
        if nc != nd || dc[..nd - 2] != *bdims || dc[nd - 2] != m || dc[nd - 1] != n {
            return Err(Error::shape_mismatch("addmm", lc.shape(), la.shape(), "input must have the product's shape"));
        }
    }
    let epilogue = |row0: usize, c: &mut [T]| {
        if let Some(bias) = bias {
            add_bias(bias, n, row0, c);
        }
    };
    // Sizes with checked products (an empty operand may have a batch whose product overflows).
    let batch = bdims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let len = match batch.and_then(|b| b.checked_mul(m)?.checked_mul(n)) {
        Some(len) => len,
        None if m == 0 || n == 0 => 0,
        None => return Err(err_size(la, lb)),
    };
    if len == 0 || k == 0 {
        return match bias {
            Some((c, lc)) if len > 0 => crate::strided::copy(c, lc),
            _ => out_filled(len, T::ZERO),
        };
    }
    // Every element is written below (by gemm with beta = 0, which does not
    // read `c`, by `outer`, or by `small` after zeroing): no zero-fill.
    let mut out = out_alloc::<T>(len)?;
    // An output larger than the cache is streamed (NOTE: [streamed stores]
    // in stream.rs): rank-1 products directly, a batch of others through
    // a scratch buffer.
    let stream = len.saturating_mul(size_of::<T>()) >= stream::stream_threshold();
    let (sa, sb) = (istrides(la), istrides(lb));
    // A right operand whose columns alias in the L1 cache is copied once
    // with padded columns (NOTE: [aliasing columns]).
    let repacked = if k > 1 && m >= REPACK_ROWS && packs_better(size_of::<T>(), sb[nd - 2], sb[nd - 1]) {
        repack(b, lb)
    } else {
        None
    };
    let (b, sb, b_off) = match repacked.as_ref() {
        Some((buf, strides)) => (&buf[..], strides.clone(), 0),
        None => (b, sb, lb.offset() as isize),
    };
    let (rsa, csa, rsb, csb) = (sa[nd - 2], sa[nd - 1], sb[nd - 2], sb[nd - 1]);
    // `rows x k x n` from the operands at `oa`, `ob` (a slice `k` of the
    // contraction when the product is split along it: NOTE: [long k]).
    let product = |rows: usize, k: usize, oa: isize, ob: isize, rs: isize, c: &mut [MaybeUninit<T>]| {
        if k == 1 {
            outer((a, oa, rs, csa), (b, ob, rsb, csb), n, stream, c);
        } else if rows == 1 {
            // One row or one column, at any size: the vectorized loops
            // (NOTE: [thin products]).
            thin(Thin::Row, (a, oa, rs, csa), (b, ob, rsb, csb), k, n, c);
        } else if n == 1 {
            thin(Thin::Col, (a, oa, rs, csa), (b, ob, rsb, csb), k, n, c);
        } else if rows.saturating_mul(k).saturating_mul(n) <= SMALL {
            thin(Thin::Small, (a, oa, rs, csa), (b, ob, rsb, csb), k, n, c);
        } else if rows >= tiles::TILE_ROWS
            && tiles_size((rows, k, n))
            && T::tiled((rows, k, n), (a, oa, rs, csa), (b, ob, rsb, csb), c)
        {
            // Computed in register tiles (NOTE: [small tiles] in tiles.rs).
        } else if !((transposes_better((rows, k, n), (rs, csa), (rsb, csb))
            && transposed((rows, k, n), (a, oa, rs, csa), (b, ob, rsb, csb), c))
            || tail_columns((rows, k, n), (a, oa, rs, csa), (b, ob, rsb, csb), c))
        {
            // The product as given (not computed transposed, NOTE:
            // [transposed product], nor with tail columns, NOTE: [tail
            // columns]).
            // SAFETY: `Cpu::matmul` checked `storage_span() <= len` for both
            // layouts (`check` in lib.rs), and a layout's span is computed
            // without overflow (func-core's NOTE: [layout invariant]), so every
            // element addressed from these offsets with these strides (exact
            // conversions: `istrides`) is in bounds of `a` and `b`. A
            // repacked `b` (NOTE: [aliasing columns]) is addressed with the
            // strides `repack` returned, from offset 0: its buffer holds
            // `ks * n` elements per distinct matrix, for every index of the
            // batch dims with a nonzero stride (sizes checked there), and
            // broadcast dims have stride 0, so every element addressed is in
            // bounds of the copy. The batch dims folded into `rows` were
            // folded only where the layout's own strides make row `r` of the
            // fold sit at `r * rs` (NOTE: [batch folding]), so the rows
            // addressed are the layout's own. `c` is a distinct, exclusively
            // borrowed, contiguous buffer of `rows * n` elements
            // (uninitialized is allowed: with beta = 0 gemm only writes it).
            unsafe {
                let (pa, pb) = (a.as_ptr().offset(oa), b.as_ptr().offset(ob));
                T::gemm((rows, k, n), pa, rs, csa, pb, rsb, csb, c.as_mut_ptr().cast::<T>(), n as isize);
            }
        }
    };
    // NOTE: [batch folding] A batch dim over which `b` is broadcast (stride 0)
    // and whose `a` slices follow each other at one row stride is more rows of
    // one product: `[.., t, m, k] @ [k, n]` is `[t*m, k] @ [k, n]`. Folding
    // the trailing such dims (the output's rows then also follow each other)
    // turns many thin products into fewer tall ones, which pack `b` once per
    // product instead of once per slice: a layer's shared weight gradient
    // under `vmap(jacrev)` folds the Jacobian's rows into M.
    // NOTE: [one threading layer] rayon is the only source of threads: the
    // GEMM runs single-threaded, and a product large enough to share is cut
    // into row blocks (or column blocks: NOTE: [column blocks]), one task
    // each (the caller runs one: NOTE: [calling thread works] in par.rs;
    // each packs `b` itself, a cost of `k * n` against
    // `rows * k * n / threads` of work). A batch of products runs its
    // products as tasks instead. Nesting two thread pools on few cores
    // spends the time in the scheduler.
    let threads = rayon::current_num_threads();
    // `rows` output rows from row `row0`, with the bias epilogue.
    let split = |rows: usize, oa: isize, ob: isize, rs: isize, c: &mut [MaybeUninit<T>], row0: usize| {
        let work = rows.saturating_mul(k).saturating_mul(n);
        let whole = if threads >= 2
            && work >= PAR_GEMM
            && k >= LONG_K * rows.max(n)
            && split_k(&product, (rows, k, n), (oa, ob, rs), (csa, rsb), c)
        {
            true
        } else if threads >= 2 && work >= PAR_GEMM && k > 1 && rows < COL_SPLIT_ROWS && n >= 2 * COL_TILE {
            split_cols((rows, k, n), (a, oa, rs, csa), (b, ob, rsb, csb), threads, c);
            true
        } else if threads < 2 || work < PAR_GEMM || rows < 2 * ROW_TILE {
            product(rows, k, oa, ob, rs, c);
            true
        } else {
            false
        };
        if whole {
            // SAFETY: the branch taken wrote all of `c` (split_k's slices,
            // split_cols's column blocks, or the product).
            return epilogue(row0, unsafe { written(c) });
        }
        let block = rows.div_ceil(threads.min(rows / ROW_TILE)).next_multiple_of(ROW_TILE);
        let run = |i: usize, cb: &mut [MaybeUninit<T>]| {
            product(cb.len() / n, k, oa + (i * block) as isize * rs, ob, rs, cb);
            // SAFETY: the product wrote all of `cb`.
            epilogue(row0 + i * block, unsafe { written(cb) });
        };
        par::chunks(c, block * n, run);
    };
    // Fold the trailing batch dims over which `b` is broadcast into the rows
    // of `a` (NOTE: [batch folding]).
    let (mut rows, mut rs, mut nb) = (m, rsa, nd - 2);
    while let Some(d) = nb.checked_sub(1) {
        let r = if rows == 1 { sa[d] } else { rs };
        let folds =
            la.dims()[d] == 1 || (sb[d] == 0 && r != 0 && r.checked_mul(rows as isize).is_some_and(|s| s == sa[d]));
        if !folds {
            break;
        }
        (rows, rs, nb) = (rows * la.dims()[d], r, d);
    }
    let (m, rsa, bdims) = (rows, rs, &bdims[..nb]);
    let batch = len / (m * n);
    if nb == 0 {
        let c = &mut out.spare_capacity_mut()[..len];
        split(m, la.offset() as isize, b_off, rsa, c, 0);
        // SAFETY: `product` wrote all `len` elements (`len <= capacity`).
        unsafe { out.set_len(len) };
        if let Some((buf, _)) = repacked {
            cache::give(buf);
        }
        return Ok(out);
    }
    let p = Plan::new(bdims, [&sa[..nb], &sb[..nb]], [la.offset() as isize, b_off]);
    let mut offs = try_alloc(batch)?;
    p.walk(0, batch, |_, len, [oa, ob]| {
        offs.extend((0..len as isize).map(|j| (oa + j * p.istr[0], ob + j * p.istr[1])));
    });
    let flops = m.saturating_mul(n).saturating_mul(k);
    let spare = &mut out.spare_capacity_mut()[..len];
    // Products as tasks when there are enough of them to share evenly (or
    // each is too small to split); else each product is split itself.
    if stream && k > 1 && m.saturating_mul(n).saturating_mul(size_of::<T>()) <= STREAM_SCRATCH && stream::available() {
        // Each product into a scratch buffer in the cache, then streamed to
        // the output (NOTE: [streamed stores] in stream.rs). An output of at
        // least 64 MiB in products of at most 1 MiB is a batch of at least
        // 64: enough tasks to share.
        par::linger();
        let scratch = || cache::take::<T>(m * n).ok().map(cache::Lent);
        spare.par_chunks_mut(m * n).zip(&offs).enumerate().for_each_init(
            scratch,
            |buf, (i, (c, &(oa, ob)))| match buf {
                Some(cache::Lent(buf)) => {
                    let tmp = &mut buf.spare_capacity_mut()[..m * n];
                    product(m, k, oa, ob, rsa, tmp);
                    // SAFETY: `product` wrote all `m * n` elements of `tmp`.
                    let tmp = unsafe { written(tmp) };
                    epilogue(i * m, tmp);
                    if !stream::copy(tmp, c) {
                        c.iter_mut().zip(&*tmp).for_each(|(y, &v)| {
                            y.write(v);
                        });
                    }
                }
                None => {
                    product(m, k, oa, ob, rsa, c);
                    // SAFETY: `product` wrote all of `c`.
                    epilogue(i * m, unsafe { written(c) });
                }
            },
        );
    } else if batch > 1 && flops.saturating_mul(batch) >= PAR_FLOPS && (batch >= 2 * threads || flops < PAR_GEMM) {
        par::chunks(spare, m * n, |i, c| {
            let (oa, ob) = offs[i];
            product(m, k, oa, ob, rsa, c);
            // SAFETY: `product` wrote all of `c`.
            epilogue(i * m, unsafe { written(c) });
        });
    } else {
        spare.chunks_mut(m * n).zip(&offs).enumerate().for_each(|(i, (c, &(oa, ob)))| split(m, oa, ob, rsa, c, i * m));
    }
    // SAFETY: the `batch` chunks of `m * n` cover all `len` elements, and
    // `product` wrote each chunk.
    unsafe { out.set_len(len) };
    if let Some((buf, _)) = repacked {
        cache::give(buf);
    }
    Ok(out)
}
