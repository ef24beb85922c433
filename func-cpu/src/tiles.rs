//! Small f32 products in AVX-512 register tiles (NOTE: [small tiles]).

use crate::matmul::Mat;
use std::mem::MaybeUninit;

// NOTE: [small tiles] Below `TILED` multiply-adds (in matmul.rs) the gemm
// crate's setup (dispatch, blocking, packing both operands) costs more than
// the arithmetic: the MAML workload's `[80, 40] @ [40, 40]` and `[4, 20,
// 40] @ [4, 40, 40]`, or the Jacobian rows' `[64, 31] @ [31, 33]`, ran at
// 40-60 GFLOP/s on one thread, against 100-110 for large products. With
// AVX-512, such an f32 product is computed in tiles of `TILE_ROWS` rows by
// up to `MAX_VECTORS` vectors of `LANES` columns, whose sums stay in
// registers over all of `k`: per step of `k`, up to three vector loads of a
// row of `b` and one broadcast of `a` per row feed up to twelve vector
// multiply-adds. The last vector of a row is loaded and stored under a lane
// mask, so no padding is needed and nothing outside the operands is read or
// written. `a` is read in place through its strides (one element per row
// and step), so a transposed `a` costs nothing; a `b` whose rows are not
// contiguous (`x @ w^T`) is first copied row-major (`k n` moves, against
// the product's `m k n` multiply-adds) in a buffer each thread keeps between
// products: allocated per product, `batch_hessian_B64_31to33` (one such
// copy per call) ran 1.25-1.26x its time before the tiles in two alternating
// runs, at equal instruction counts (cause not found); with the kept buffer,
// 0.91-1.00x. A last partial tile of rows computes its last row again in the
// spare registers and stores only its own rows.
// Sums are fused multiply-adds in order of `k`, as the GEMM's kernels do,
// so results differ from the direct loops' (`small` in matmul.rs) by
// rounding only. Other element types and CPUs without AVX-512 keep the GEMM.

/// Rows of one register tile (NOTE: [small tiles]).
pub(crate) const TILE_ROWS: usize = 4;
/// Rows of one register tile of a product at most one vector wide (NOTE:
/// [narrow tiles]).
#[cfg(target_arch = "x86_64")]
const NARROW_ROWS: usize = 8;
/// The widest product whose tiles have [`NARROW_ROWS`] rows: one vector.
pub(crate) const NARROW: usize = 16;

// NOTE: [narrow tiles] A tile's sums each take one multiply-add per step of
// `k`, which waits for the previous one (four cycles of latency, two
// multiply-adds issued per cycle): a tile needs eight independent sums to
// keep both units busy. A product at most one vector wide has only one sum
// per row, so its tiles are `NARROW_ROWS` rows high instead of
// `TILE_ROWS`, and `tiles_size` in matmul.rs sends such products here at
// any size (the long contraction of a weight gradient `h^T g` went to
// gemm). Whole calls through `Tensor::matmul`, best of 5 loops, two
// alternating runs: the Lennard-Jones model's `[1000, 16] @ [16, 16]`
// 6.1 -> 5.2-5.4 us and `[1000, 16]^T @ [1000, 16]` 6.7 -> 6.3 us;
// `[4096, 256] @ [256, 16]` 200-203 -> 151-153 us; `[64, 2048] @ [2048,
// 10]` 49 -> 22-24 us; `[200, 500] @ [500, 8]` 41 -> 24 us. Twelve- and
// sixteen-row tiles were no faster on the first.
/// f32 lanes of one 512-bit register.
#[cfg(target_arch = "x86_64")]
const LANES: usize = 16;
/// Vectors of columns in one tile: `TILE_ROWS * MAX_VECTORS` accumulators
/// and `MAX_VECTORS` loads of `b` fit the 32 registers.
#[cfg(target_arch = "x86_64")]
const MAX_VECTORS: usize = 3;

/// No register tiles for this element type: the GEMM computes the product.
pub(crate) fn none<T>(_: (usize, usize, usize), _: Mat<'_, T>, _: Mat<'_, T>, _: &mut [MaybeUninit<T>]) -> bool {
    false
}

/// The lowest and highest element offsets `o + i * s1 + j * s2` over `i <
/// d1`, `j < d2` (`d1, d2 >= 1`), or `None` on overflow.
#[cfg(target_arch = "x86_64")]
fn span(o: isize, (d1, s1): (usize, isize), (d2, s2): (usize, isize)) -> Option<(isize, isize)> {
    let e1 = isize::try_from(d1 - 1).ok()?.checked_mul(s1)?;
    let e2 = isize::try_from(d2 - 1).ok()?.checked_mul(s2)?;
    let lo = o.checked_add(e1.min(0))?.checked_add(e2.min(0))?;
    let hi = o.checked_add(e1.max(0))?.checked_add(e2.max(0))?;
    Some((lo, hi))
}

/// Whether offsets `lo..=hi` all index into a slice of `len` elements.
#[cfg(target_arch = "x86_64")]
fn within((lo, hi): (isize, isize), len: usize) -> bool {
    lo >= 0 && usize::try_from(hi).is_ok_and(|hi| hi < len)
}

/// `c = a b` for f32 (`c`: `m` contiguous rows of `n`) in AVX-512 register
/// tiles (NOTE: [small tiles]). `false`, with nothing written, without
/// AVX-512F, when the row-major copy of `b` (in a per-thread buffer kept
/// between calls) cannot be allocated, or when an
/// operand's strides address elements outside it (which `Cpu::matmul`'s
/// checks already exclude).
pub(crate) fn tiled_f32(
    (m, k, n): (usize, usize, usize),
    (a, oa, rsa, csa): Mat<'_, f32>,
    (b, ob, rsb, csb): Mat<'_, f32>,
    c: &mut [MaybeUninit<f32>],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if m == 0 || k == 0 || n == 0 || m.checked_mul(n) != Some(c.len()) || !is_x86_feature_detected!("avx512f") {
            return false;
        }
        let Some(sa) = span(oa, (m, rsa), (k, csa)) else {
            return false;
        };
        let Some(sb) = span(ob, (k, rsb), (n, csb)) else {
            return false;
        };
        if !within(sa, a.len()) || !within(sb, b.len()) {
            return false;
        }
        if csb == 1 {
            // SAFETY: AVX-512F was detected above; `c` holds `m * n`
            // elements, and every offset of `a` (`oa + i * rsa + p * csa`)
            // and of `b` (`ob + p * rsb + j`, `csb = 1`) lies within the
            // spans checked above.
            unsafe { run((m, k, n), (a, oa, rsa, csa), (b, ob, rsb), c) };
            return true;
        }
        let Some(len) = k.checked_mul(n) else {
            return false;
        };
        // The row-major copy goes to this thread's scratch buffer, kept
        // between calls (a product never runs another inside it). It grows
        // to the largest `k * n` copied on the thread: under `matmul`'s
        // bounds (`tiles_size`, at least `TILE_ROWS` rows), 128 KiB, or
        // 512 KiB for a contraction of at most `TILED_K` or a narrow
        // product (`NARROW_KN` elements).
        PACKED.with_borrow_mut(|p| {
            p.clear();
            if p.try_reserve_exact(len).is_err() {
                return false;
            }
            if rsb == 1 {
                // A column-major `b` (`x @ w^T`), transposed in registers:
                // it reads `ob + q + j * csb` (`q < k`, `j < n`, `rsb = 1`)
                // and writes all `len = k * n` reserved elements.
                // SAFETY: AVX-512F detected; `b`'s span checked above; so
                // `set_len` covers written elements only.
                unsafe {
                    kernel::transpose_into((k, n), (b.as_ptr().offset(ob), csb), &mut p.spare_capacity_mut()[..len]);
                    p.set_len(len);
                }
            } else {
                // In bounds: `b`'s offsets were checked above.
                for q in 0..k as isize {
                    let first = ob + q * rsb;
                    p.extend((0..n as isize).map(|j| b[(first + j * csb) as usize]));
                }
            }
            // SAFETY: AVX-512F was detected above; `c` holds `m * n`
            // elements; `a`'s offsets lie within the span checked above, and
            // the copy holds `k` rows of `n` (offsets `p * n + j`).
            unsafe { run((m, k, n), (a, oa, rsa, csa), (p, 0, n as isize), c) };
            true
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = ((m, k, n), (a, oa, rsa, csa), (b, ob, rsb, csb), c);
        false
    }
}

/// `out[i * n + j] = t[j * m + i]` for `i < m`, `j < n`: the row-major
/// `n x m` matrix `t` transposed into `out`, in `16 x 16` blocks transposed
/// in AVX-512 registers (the copy back of a product computed transposed:
/// NOTE: [transposed product] in matmul.rs). `false`, with nothing
/// written, without AVX-512F or when `t` or `out` does not hold `m * n`
/// elements.
pub(crate) fn transpose_f32(t: &[f32], (m, n): (usize, usize), out: &mut [MaybeUninit<f32>]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let fits = m.checked_mul(n).is_some_and(|len| len == t.len() && len == out.len());
        if !fits || !is_x86_feature_detected!("avx512f") {
            return false;
        }
        // SAFETY: AVX-512F was detected above; the kernel reads `t[q + j *
        // m]` for `q < m`, `j < n`, at most `m * n - 1 < t.len()`, and
        // writes all `m * n` elements of `out` (checked above).
        unsafe { kernel::transpose_into((m, n), (t.as_ptr(), m as isize), out) };
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (t, (m, n), out);
        false
    }
}

/// No register transpose for this element type.
pub(crate) fn no_transpose<T>(_: &[T], _: (usize, usize), _: &mut [MaybeUninit<T>]) -> bool {
    false
}

/// No register dot products for this element type.
pub(crate) fn no_dots<T>(_: (usize, usize, usize), _: Mat<'_, T>, _: Mat<'_, T>, _: &mut [MaybeUninit<T>]) -> bool {
    false
}

/// Widest `n` of [`dots_f32`].
pub(crate) const DOTS_MAX: usize = 4;

/// `c = a b` for f32 (`c`: `m` contiguous rows of `n`) as dot products,
/// when the rows of `a` and the columns of `b` are contiguous along `k`
/// (`csa = 1`, `rsb = 1`) and `n <= DOTS_MAX`: the tail columns of a long
/// contraction (NOTE: [tail columns] in matmul.rs), in AVX-512 tiles of
/// four rows by `n` columns, each output in one register of 16 running
/// sums (fused multiply-adds in order of `k`, the last partial vector under
/// a lane mask), added across lanes at the end. `false`, with nothing
/// written, without AVX-512F, for other layouts or widths, or when an
/// operand's strides address elements outside it.
pub(crate) fn dots_f32(
    (m, k, n): (usize, usize, usize),
    (a, oa, rsa, csa): Mat<'_, f32>,
    (b, ob, rsb, csb): Mat<'_, f32>,
    c: &mut [MaybeUninit<f32>],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let shaped = csa == 1 && rsb == 1 && (1..=DOTS_MAX).contains(&n) && m.checked_mul(n) == Some(c.len());
        if !shaped || m == 0 || k == 0 || !is_x86_feature_detected!("avx512f") {
            return false;
        }
        let (Some(sa), Some(sb)) = (span(oa, (m, rsa), (k, 1)), span(ob, (k, 1), (n, csb))) else {
            return false;
        };
        if !within(sa, a.len()) || !within(sb, b.len()) {
            return false;
        }
        // SAFETY: AVX-512F was detected above; every offset `oa + i * rsa +
        // p` (`i < m`, `p < k`) of `a` and `ob + p + j * csb` (`j < n`) of
        // `b` lies within the spans checked above; `c` holds `m * n`
        // elements and is borrowed exclusively, aliasing neither operand.
        unsafe {
            let (pa, pb) = (a.as_ptr().offset(oa), b.as_ptr().offset(ob));
            match n {
                1 => kernel::dots::<1>((m, k), (pa, rsa), (pb, csb), c),
                2 => kernel::dots::<2>((m, k), (pa, rsa), (pb, csb), c),
                3 => kernel::dots::<3>((m, k), (pa, rsa), (pb, csb), c),
                _ => kernel::dots::<4>((m, k), (pa, rsa), (pb, csb), c),
            }
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = ((m, k, n), (a, oa, rsa, csa), (b, ob, rsb, csb), c);
        false
    }
}

#[cfg(target_arch = "x86_64")]
thread_local! {
    /// The row-major copy of a right operand whose rows are not contiguous
    /// (NOTE: [small tiles]), kept per thread between products.
    static PACKED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The register-tile product of [`tiled_f32`] on checked operands.
///
/// # Safety
///
/// AVX-512F; `c` holds `m * n` elements; every offset `oa + i * rsa + p *
/// csa` (`i < m`, `p < k`) indexes into `a` and every `ob + p * ldb + j`
/// (`j < n`) into `b`.
#[cfg(target_arch = "x86_64")]
unsafe fn run(
    (m, k, n): (usize, usize, usize),
    (a, oa, rsa, csa): Mat<'_, f32>,
    (b, ob, ldb): (&[f32], isize, isize),
    c: &mut [MaybeUninit<f32>],
) {
    // The kernel reads `a` at `oa + i * rsa + p * csa` and `b` at `ob + p *
    // ldb + j` (under lane masks), and writes `c`'s `m * n` elements.
    // SAFETY: the caller's contract (AVX-512F, those offsets in bounds, `c`
    // of `m * n`); `c` is borrowed exclusively, aliasing neither operand.
    unsafe { kernel::tiles((m, k, n), (a.as_ptr().offset(oa), rsa, csa), (b.as_ptr().offset(ob), ldb), c) };
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use super::{LANES, MAX_VECTORS, NARROW_ROWS, TILE_ROWS};
    use std::arch::x86_64::{__m512, __mmask16, _mm512_fmadd_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps};
    use std::arch::x86_64::{_mm512_castpd_ps, _mm512_castps_pd, _mm512_shuffle_f32x4};
    use std::arch::x86_64::{_mm512_reduce_add_ps, _mm512_set1_ps, _mm512_setzero_ps};
    use std::arch::x86_64::{_mm512_unpackhi_pd, _mm512_unpackhi_ps, _mm512_unpacklo_pd, _mm512_unpacklo_ps};
    use std::mem::MaybeUninit;

    /// `c = a b`: `a` (`m x k`) at `pa` with row and column strides, `b`
    /// (`k x n`) at `pb` with contiguous rows `ldb` apart, `c` the `m x n`
    /// row-major output (NOTE: [small tiles]).
    ///
    /// # Safety
    ///
    /// The CPU must support AVX-512F; `pa + i * rsa + p * csa` (`i < m`,
    /// `p < k`) and `pb + p * ldb + j` (`j < n`) must be readable f32s;
    /// `c` must hold `m * n` elements.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tiles(
        (m, k, n): (usize, usize, usize),
        (pa, rsa, csa): (*const f32, isize, isize),
        (pb, ldb): (*const f32, isize),
        c: &mut [MaybeUninit<f32>],
    ) {
        // SAFETY: the caller's contract, passed on.
        unsafe {
            if n <= LANES {
                // NOTE: [narrow tiles]
                tiles_of::<NARROW_ROWS>((m, k, n), (pa, rsa, csa), (pb, ldb), c)
            } else {
                tiles_of::<TILE_ROWS>((m, k, n), (pa, rsa, csa), (pb, ldb), c)
            }
        }
    }

    /// [`tiles`] in tiles of `R` rows.
    ///
    /// # Safety
    ///
    /// As [`tiles`].
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn tiles_of<const R: usize>(
        (m, k, n): (usize, usize, usize),
        (pa, rsa, csa): (*const f32, isize, isize),
        (pb, ldb): (*const f32, isize),
        c: &mut [MaybeUninit<f32>],
    ) {
        let pc = c.as_mut_ptr().cast::<f32>();
        for i in (0..m).step_by(R) {
            // A last partial tile reads its last row again in the spare
            // rows, and stores only its own.
            let mut rows = [pa; R];
            for (r, row) in rows.iter_mut().enumerate() {
                // SAFETY: row `min(i + r, m - 1) < m` of `a` (the caller's
                // contract).
                *row = unsafe { pa.offset((i + r).min(m - 1) as isize * rsa) };
            }
            let live = (m - i).min(R);
            let mut j = 0;
            while j < n {
                let w = (n - j).min(MAX_VECTORS * LANES);
                let mut masks = [0 as __mmask16; MAX_VECTORS];
                for (q, mask) in masks.iter_mut().enumerate() {
                    let lanes = w.saturating_sub(q * LANES).min(LANES);
                    *mask = ((1u32 << lanes) - 1) as __mmask16;
                }
                // Each of the `w.div_ceil(LANES)` vectors has a lane in columns
                // `j..j + w`; lanes past `w` are masked off (not accessed).
                // SAFETY: `j + w <= n` and `i + live <= m` (the loops' bounds),
                // so every base address below is in bounds of `b` and `c`.
                unsafe {
                    let (b, out) = (pb.add(j), pc.add(i * n + j));
                    match w.div_ceil(LANES) {
                        3 => tile::<R, 3>(k, (rows, csa), (b, ldb), &masks, (out, n, live)),
                        2 => tile::<R, 2>(k, (rows, csa), (b, ldb), &masks, (out, n, live)),
                        _ => tile::<R, 1>(k, (rows, csa), (b, ldb), &masks, (out, n, live)),
                    }
                }
                j += w;
            }
        }
    }

    /// `out[q * n + j] = pb[q + j * csb]` for `q < k`, `j < n`: the `k x n`
    /// matrix at `pb` (column stride `csb`, row stride 1) copied row-major,
    /// in blocks of `LANES x LANES` transposed in registers.
    ///
    /// # Safety
    ///
    /// AVX-512F; `pb + q + j * csb` readable for `q < k`, `j < n`; `out`
    /// holds `k * n` elements (all of which are written).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transpose_into(
        (k, n): (usize, usize),
        (pb, csb): (*const f32, isize),
        out: &mut [MaybeUninit<f32>],
    ) {
        assert!(k.checked_mul(n).is_some_and(|len| len <= out.len()), "transpose_into: the output is too small");
        let po = out.as_mut_ptr().cast::<f32>();
        for j in (0..n).step_by(LANES) {
            let cols = (n - j).min(LANES);
            let store = ((1u32 << cols) - 1) as __mmask16;
            for q in (0..k).step_by(LANES) {
                let rows = (k - q).min(LANES);
                let load = ((1u32 << rows) - 1) as __mmask16;
                // Block columns `j..j + cols`, rows `q..q + rows` of `b`: one
                // register per column (zeros past `cols`).
                let mut r = [_mm512_setzero_ps(); LANES];
                for (c, r) in r.iter_mut().enumerate().take(cols) {
                    // SAFETY: the lanes enabled read `pb + (q + l) + (j + c)
                    // * csb` with `q + l < k`, `j + c < n`; the base address
                    // is that of lane 0, in bounds.
                    *r = unsafe { _mm512_maskz_loadu_ps(load, pb.offset((j + c) as isize * csb).add(q)) };
                }
                let r = transpose(r);
                for (l, &v) in r.iter().enumerate().take(rows) {
                    // SAFETY: the lanes enabled store `out[(q + l) * n + j +
                    // c]` with `q + l < k`, `j + c < n`: below `k * n`.
                    unsafe { _mm512_mask_storeu_ps(po.add((q + l) * n + j), store, v) };
                }
            }
        }
    }

    /// The 16 x 16 transpose of 16 registers: lane `c` of result `l` is lane
    /// `l` of input `c`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose(mut r: [__m512; LANES]) -> [__m512; LANES] {
        let mut t = [_mm512_setzero_ps(); LANES];
        // Pairs of inputs interleaved by element, then by element pair
        // (within each 128-bit lane), then 128-bit lanes exchanged twice.
        for i in (0..LANES).step_by(2) {
            t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
            t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
        }
        for g in (0..LANES).step_by(4) {
            let pd = |i: usize| _mm512_castps_pd(t[g + i]);
            r[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(0), pd(2)));
            r[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(0), pd(2)));
            r[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(1), pd(3)));
            r[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(1), pd(3)));
        }
        for h in (0..LANES).step_by(8) {
            for i in h..h + 4 {
                t[i] = _mm512_shuffle_f32x4::<0x88>(r[i], r[i + 4]);
                t[i + 4] = _mm512_shuffle_f32x4::<0xdd>(r[i], r[i + 4]);
            }
        }
        for i in 0..LANES / 2 {
            r[i] = _mm512_shuffle_f32x4::<0x88>(t[i], t[i + 8]);
            r[i + 8] = _mm512_shuffle_f32x4::<0xdd>(t[i], t[i + 8]);
        }
        r
    }

    /// `c[i * N + j]` = the dot product of row `i` of `a` (at `pa + i *
    /// rsa`, `k` contiguous f32) and column `j` of `b` (at `pb + j * csb`,
    /// `k` contiguous), for `i < m`: tiles of `TILE_ROWS` rows, then the
    /// rows left one at a time (NOTE: [tail columns] in matmul.rs).
    ///
    /// # Safety
    ///
    /// AVX-512F; `pa + i * rsa + p` (`i < m`, `p < k`) and `pb + j * csb +
    /// p` (`j < N`) readable f32s; `c` holds `m * N` elements.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dots<const N: usize>(
        (m, k): (usize, usize),
        (pa, rsa): (*const f32, isize),
        (pb, csb): (*const f32, isize),
        c: &mut [MaybeUninit<f32>],
    ) {
        let cols: [*const f32; N] = std::array::from_fn(|j| pb.wrapping_offset(j as isize * csb));
        let row = |i: usize| pa.wrapping_offset(i as isize * rsa);
        let mut i = 0;
        while i + TILE_ROWS <= m {
            let rows: [*const f32; TILE_ROWS] = std::array::from_fn(|r| row(i + r));
            // SAFETY: the caller's contract, for rows `i..i + TILE_ROWS < m`.
            let sums = unsafe { dot_tile(k, rows, cols) };
            for (y, &v) in c[i * N..(i + TILE_ROWS) * N].iter_mut().zip(sums.as_flattened()) {
                y.write(v);
            }
            i += TILE_ROWS;
        }
        while i < m {
            // SAFETY: the caller's contract, for row `i < m`.
            let sums = unsafe { dot_tile(k, [row(i)], cols) };
            for (y, &v) in c[i * N..(i + 1) * N].iter_mut().zip(&sums[0]) {
                y.write(v);
            }
            i += 1;
        }
    }

    /// The `R x N` dot products of `k` contiguous f32 at `rows[r]` and at
    /// `cols[j]`, each summed in one register of `LANES` running sums.
    ///
    /// # Safety
    ///
    /// AVX-512F; `rows[r] + p` and `cols[j] + p` readable for `p < k`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn dot_tile<const R: usize, const N: usize>(
        k: usize,
        rows: [*const f32; R],
        cols: [*const f32; N],
    ) -> [[f32; N]; R] {
        let mut acc: [[__m512; N]; R] = [[_mm512_setzero_ps(); N]; R];
        let mut p = 0;
        while p < k {
            // The last vector under a mask of its `k - p` lanes.
            let live = (k - p).min(LANES);
            let mask: __mmask16 = if live == LANES { !0 } else { (1u16 << live) - 1 };
            let mut y = [_mm512_setzero_ps(); N];
            for (y, &col) in y.iter_mut().zip(&cols) {
                // SAFETY: the caller's contract (masked lanes `p..p + live <= k`).
                *y = unsafe { _mm512_maskz_loadu_ps(mask, col.add(p)) };
            }
            for (acc, &row) in acc.iter_mut().zip(&rows) {
                // SAFETY: as above.
                let x = unsafe { _mm512_maskz_loadu_ps(mask, row.add(p)) };
                for (acc, &y) in acc.iter_mut().zip(&y) {
                    *acc = _mm512_fmadd_ps(x, y, *acc);
                }
            }
            p += LANES;
        }
        acc.map(|a| a.map(|v| _mm512_reduce_add_ps(v)))
    }

    /// One tile: rows `rows` of `a` (column stride `csa`) times `V` vectors
    /// of columns of `b` from `pb` (rows `ldb` apart), summed over `k` in
    /// registers, stored under `masks` to the first `live` rows of `out`
    /// (rows `n` apart).
    ///
    /// # Safety
    ///
    /// AVX-512F; `rows[r] + p * csa` readable for `p < k`; for `p < k` and
    /// `q < V`, the lanes of `masks[q]` at `pb + p * ldb + q * LANES` readable
    /// and, for `r < live`, at `out + r * n + q * LANES` writable, each such
    /// base address in bounds.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const R: usize, const V: usize>(
        k: usize,
        (rows, csa): ([*const f32; R], isize),
        (pb, ldb): (*const f32, isize),
        masks: &[__mmask16; MAX_VECTORS],
        (out, n, live): (*mut f32, usize, usize),
    ) {
        let mut acc: [[__m512; V]; R] = [[_mm512_setzero_ps(); V]; R];
        for p in 0..k as isize {
            let mut v = [_mm512_setzero_ps(); V];
            for (q, v) in v.iter_mut().enumerate() {
                // SAFETY: the caller's contract (masked lanes only).
                *v = unsafe { _mm512_maskz_loadu_ps(masks[q], pb.offset(p * ldb).add(q * LANES)) };
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: the caller's contract.
                let x = _mm512_set1_ps(unsafe { *rows[r].offset(p * csa) });
                for (acc, &v) in acc.iter_mut().zip(&v) {
                    *acc = _mm512_fmadd_ps(x, v, *acc);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate().take(live) {
            for (q, &acc) in acc.iter().enumerate() {
                // SAFETY: the caller's contract (masked lanes only).
                unsafe { _mm512_mask_storeu_ps(out.add(r * n + q * LANES), masks[q], acc) };
            }
        }
    }
}
