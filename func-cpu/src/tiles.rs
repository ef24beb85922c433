//! Small f32 products in AVX-512 or AVX2 register tiles (NOTE: [small
//! tiles]).

use crate::matmul::Mat;
use std::mem::MaybeUninit;

// NOTE: [small tiles] Below `TILED` multiply-adds (in matmul.rs) the gemm
// crate's setup (dispatch, blocking, packing both operands) costs more than
// the arithmetic: the MAML workload's `[80, 40] @ [40, 40]` and `[4, 20,
// 40] @ [4, 40, 40]`, or the Jacobian rows' `[64, 31] @ [31, 33]`, ran at
// 40-60 GFLOP/s on one thread, against 100-110 for large products. With
// AVX-512, such an f32 product is computed in tiles of `TILE_ROWS` rows by
// up to three vectors of 16 columns, whose sums stay in registers over all
// of `k`: per step of `k`, up to three vector loads of a row of `b` and one
// broadcast of `a` per row feed up to twelve vector multiply-adds. With
// AVX2 and FMA (16 registers of 8 lanes) a tile is `AVX2_WIDE_ROWS` rows by
// up to two vectors: twelve sums, two loads, a broadcast and a mask fill
// the 16 registers (four rows by three vectors spilled a sum to the stack
// in every step). The kernels are written once, over the `Lanes` trait of
// vector operations, and compiled into one entry point per instruction
// set. The last vector of a row is loaded and stored under a lane mask
// (the others whole), so no padding is needed and nothing outside the
// operands is read or written. `a` is read in place through its strides (one element per row
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
// rounding only. Other element types, and CPUs with neither AVX-512F nor
// AVX2 and FMA, keep the GEMM.

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
/// Rows of one register tile more than one vector wide with AVX2 (16
/// registers): 6 rows by 2 vectors of sums, as the GEMM's AVX2 kernel
/// (NOTE: [small tiles]).
#[cfg(target_arch = "x86_64")]
const AVX2_WIDE_ROWS: usize = 6;

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

/// The widest vectors this CPU has for the register tiles (NOTE: [small
/// tiles]): AVX-512F, else AVX2 with FMA, else none.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Isa {
    Avx512,
    Avx2,
}

#[cfg(target_arch = "x86_64")]
fn isa() -> Option<Isa> {
    if is_x86_feature_detected!("avx512f") {
        Some(Isa::Avx512)
    } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        Some(Isa::Avx2)
    } else {
        None
    }
}

/// Whether this CPU runs the register tiles and dot products of this module
/// (AVX-512F, or AVX2 with FMA).
#[cfg(test)]
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return isa().is_some();
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// `c = a b` for f32 (`c`: `m` contiguous rows of `n`) in register tiles
/// (NOTE: [small tiles]). `false`, with nothing written, without AVX-512F
/// or AVX2 with FMA, when the row-major copy of `b` (in a per-thread buffer
/// kept between calls) cannot be allocated, or when an operand's strides
/// address elements outside it (which `Cpu::matmul`'s checks already
/// exclude).
pub(crate) fn tiled_f32(
    (m, k, n): (usize, usize, usize),
    (a, oa, rsa, csa): Mat<'_, f32>,
    (b, ob, rsb, csb): Mat<'_, f32>,
    c: &mut [MaybeUninit<f32>],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if m == 0 || k == 0 || n == 0 || m.checked_mul(n) != Some(c.len()) {
            return false;
        }
        let Some(isa) = isa() else {
            return false;
        };
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
            // SAFETY: `isa` was detected above; `c` holds `m * n` elements,
            // and every offset of `a` (`oa + i * rsa + p * csa`) and of `b`
            // (`ob + p * rsb + j`, `csb = 1`) lies within the spans checked
            // above.
            unsafe { run(isa, (m, k, n), (a, oa, rsa, csa), (b, ob, rsb), c) };
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
            if rsb == 1 && csb > 0 {
                // A column-major `b` (`x @ w^T`), transposed in registers:
                // it reads `ob + q + j * csb` (`q < k`, `j < n`, `rsb = 1`,
                // all at least `ob`, which is in bounds: the span's lowest)
                // and writes all `len = k * n` reserved elements.
                let out = &mut p.spare_capacity_mut()[..len];
                if isa == Isa::Avx512 {
                    // SAFETY: AVX-512F detected; `b`'s span checked above.
                    unsafe { kernel::transpose_into((k, n), (b.as_ptr().offset(ob), csb), out) };
                } else {
                    // `out[q * n + j] = b[ob + j * csb + q]`: the `n x k`
                    // matrix at `ob` with rows `csb` apart, transposed.
                    crate::strided::transpose_into(&b[ob as usize..], (k, n), csb as usize, out);
                }
                // SAFETY: every one of the `len` reserved elements was
                // written just above.
                unsafe { p.set_len(len) };
            } else {
                // In bounds: `b`'s offsets were checked above.
                for q in 0..k as isize {
                    let first = ob + q * rsb;
                    p.extend((0..n as isize).map(|j| b[(first + j * csb) as usize]));
                }
            }
            // SAFETY: `isa` was detected above; `c` holds `m * n` elements;
            // `a`'s offsets lie within the span checked above, and the copy
            // holds `k` rows of `n` (offsets `p * n + j`).
            unsafe { run(isa, (m, k, n), (a, oa, rsa, csa), (p, 0, n as isize), c) };
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
/// written, without AVX-512F (the caller then copies in 8 x 8 AVX blocks,
/// `strided::transpose_into`) or when `t` or `out` does not hold `m * n`
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
/// contraction (NOTE: [tail columns] in matmul.rs), in tiles of a few rows
/// by `n` columns, each output in one register of running sums (fused
/// multiply-adds in order of `k`, the last partial vector under a lane
/// mask), added across lanes at the end. `false`, with nothing written,
/// without AVX-512F or AVX2 with FMA, for other layouts or widths, or when
/// an operand's strides address elements outside it.
pub(crate) fn dots_f32(
    (m, k, n): (usize, usize, usize),
    (a, oa, rsa, csa): Mat<'_, f32>,
    (b, ob, rsb, csb): Mat<'_, f32>,
    c: &mut [MaybeUninit<f32>],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let shaped = csa == 1 && rsb == 1 && (1..=DOTS_MAX).contains(&n) && m.checked_mul(n) == Some(c.len());
        if !shaped || m == 0 || k == 0 {
            return false;
        }
        let Some(isa) = isa() else {
            return false;
        };
        let (Some(sa), Some(sb)) = (span(oa, (m, rsa), (k, 1)), span(ob, (k, 1), (n, csb))) else {
            return false;
        };
        if !within(sa, a.len()) || !within(sb, b.len()) {
            return false;
        }
        // SAFETY: `isa` was detected above; every offset `oa + i * rsa + p`
        // (`i < m`, `p < k`) of `a` and `ob + p + j * csb` (`j < n`) of `b`
        // lies within the spans checked above; `c` holds `m * n` elements
        // and is borrowed exclusively, aliasing neither operand.
        unsafe {
            let (pa, pb) = (a.as_ptr().offset(oa), b.as_ptr().offset(ob));
            match isa {
                Isa::Avx512 => kernel::dots_avx512((m, k, n), (pa, rsa), (pb, csb), c),
                Isa::Avx2 => kernel::dots_avx2((m, k, n), (pa, rsa), (pb, csb), c),
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
/// The CPU supports `isa`; `c` holds `m * n` elements; every offset `oa +
/// i * rsa + p * csa` (`i < m`, `p < k`) indexes into `a` and every `ob + p
/// * ldb + j` (`j < n`) into `b`.
#[cfg(target_arch = "x86_64")]
unsafe fn run(
    isa: Isa,
    (m, k, n): (usize, usize, usize),
    (a, oa, rsa, csa): Mat<'_, f32>,
    (b, ob, ldb): (&[f32], isize, isize),
    c: &mut [MaybeUninit<f32>],
) {
    // The kernel reads `a` at `oa + i * rsa + p * csa` and `b` at `ob + p *
    // ldb + j` (under lane masks), and writes `c`'s `m * n` elements.
    // SAFETY: the caller's contract (the CPU supports `isa`, those offsets
    // in bounds, `c` of `m * n`); `c` is borrowed exclusively, aliasing
    // neither operand.
    unsafe {
        let (pa, pb) = (a.as_ptr().offset(oa), b.as_ptr().offset(ob));
        match isa {
            Isa::Avx512 => kernel::tiles_avx512((m, k, n), (pa, rsa, csa), (pb, ldb), c),
            Isa::Avx2 => kernel::tiles_avx2((m, k, n), (pa, rsa, csa), (pb, ldb), c),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use super::{AVX2_WIDE_ROWS, LANES, NARROW_ROWS, TILE_ROWS};
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// The f32 vectors of one instruction set, as the tiles use them. The
    /// kernels below are written once over this trait and compiled into
    /// each instruction set's entry points (`#[target_feature]` functions
    /// that inline them), so every method is `#[inline(always)]`.
    ///
    /// # Safety
    ///
    /// Every method requires a CPU with the instruction set (the entry
    /// points' `#[target_feature]`).
    pub(super) trait Lanes {
        /// f32 lanes of one register.
        const LANES: usize;
        /// Rows of a tile more than one register wide, and the most
        /// registers of columns in one: `WIDE_ROWS * MAX_V` sums, `MAX_V`
        /// loads of `b`, a broadcast of `a` and a lane mask fit the
        /// registers (NOTE: [small tiles]).
        const WIDE_ROWS: usize;
        const MAX_V: usize;
        /// Rows of a dot-product tile: `DOT_ROWS * DOTS_MAX` sums and
        /// `DOTS_MAX + 1` loads fit the registers.
        const DOT_ROWS: usize;
        /// One register.
        type V: Copy;
        /// Which lanes of a register a partial load or store touches.
        type M: Copy;
        /// The first `lanes` lanes (`1..=LANES`).
        unsafe fn mask(lanes: usize) -> Self::M;
        /// A whole register from `p`.
        unsafe fn load(p: *const f32) -> Self::V;
        /// The lanes of `m` from `p` (the others zero; only those are read).
        unsafe fn load_part(m: Self::M, p: *const f32) -> Self::V;
        /// A whole register to `p`.
        unsafe fn store(p: *mut f32, v: Self::V);
        /// The lanes of `m` of `v` to `p` (only those are written).
        unsafe fn store_part(p: *mut f32, m: Self::M, v: Self::V);
        unsafe fn zero() -> Self::V;
        unsafe fn splat(x: f32) -> Self::V;
        /// `a * b + c`, rounded once.
        unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
        /// The sum of the lanes.
        unsafe fn sum(v: Self::V) -> f32;
    }

    /// AVX-512F: 16 lanes, masks in mask registers, 32 registers.
    pub(super) struct Avx512;

    impl Lanes for Avx512 {
        const LANES: usize = 16;
        const WIDE_ROWS: usize = TILE_ROWS;
        const MAX_V: usize = 3;
        const DOT_ROWS: usize = TILE_ROWS;
        type V = __m512;
        type M = __mmask16;
        #[inline(always)]
        unsafe fn mask(lanes: usize) -> __mmask16 {
            ((1u32 << lanes) - 1) as __mmask16
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            // SAFETY: the caller's contract (AVX-512F; 16 f32 readable).
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn load_part(m: __mmask16, p: *const f32) -> __m512 {
            // SAFETY: the caller's contract (AVX-512F; the lanes of `m` readable).
            unsafe { _mm512_maskz_loadu_ps(m, p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m512) {
            // SAFETY: the caller's contract (AVX-512F; 16 f32 writable).
            unsafe { _mm512_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn store_part(p: *mut f32, m: __mmask16, v: __m512) {
            // SAFETY: the caller's contract (AVX-512F; the lanes of `m` writable).
            unsafe { _mm512_mask_storeu_ps(p, m, v) }
        }
        #[inline(always)]
        unsafe fn zero() -> __m512 {
            // SAFETY: AVX-512F (the caller's contract).
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m512 {
            // SAFETY: AVX-512F (the caller's contract).
            unsafe { _mm512_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
            // SAFETY: AVX-512F (the caller's contract).
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn sum(v: __m512) -> f32 {
            // SAFETY: AVX-512F (the caller's contract).
            unsafe { _mm512_reduce_add_ps(v) }
        }
    }

    /// AVX2 with FMA: 8 lanes, 16 registers; a partial register is loaded
    /// and stored with `vmaskmovps`, which touches only the lanes of its
    /// mask.
    pub(super) struct Avx2;

    impl Lanes for Avx2 {
        const LANES: usize = 8;
        const WIDE_ROWS: usize = 6;
        const MAX_V: usize = 2;
        const DOT_ROWS: usize = 2;
        type V = __m256;
        type M = __m256i;
        #[inline(always)]
        unsafe fn mask(lanes: usize) -> __m256i {
            // SAFETY: AVX2 (the caller's contract). Lane `l` is on (all
            // ones) when `l < lanes`.
            unsafe { _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m256 {
            // SAFETY: the caller's contract (AVX; 8 f32 readable).
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn load_part(m: __m256i, p: *const f32) -> __m256 {
            // SAFETY: the caller's contract (AVX; the lanes of `m`
            // readable; `vmaskmovps` reads no other).
            unsafe { _mm256_maskload_ps(p, m) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m256) {
            // SAFETY: the caller's contract (AVX; 8 f32 writable).
            unsafe { _mm256_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn store_part(p: *mut f32, m: __m256i, v: __m256) {
            // SAFETY: the caller's contract (AVX; the lanes of `m`
            // writable; `vmaskmovps` writes no other).
            unsafe { _mm256_maskstore_ps(p, m, v) }
        }
        #[inline(always)]
        unsafe fn zero() -> __m256 {
            // SAFETY: AVX (the caller's contract).
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m256 {
            // SAFETY: AVX (the caller's contract).
            unsafe { _mm256_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
            // SAFETY: FMA (the caller's contract).
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn sum(v: __m256) -> f32 {
            // SAFETY: AVX (the caller's contract).
            unsafe {
                let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
                _mm_cvtss_f32(s)
            }
        }
    }

    macro_rules! entry_points {
        ($($isa:ident: $tiles:ident, $dots:ident, $feature:literal);*) => {$(
            #[doc = concat!("[`tiles`] for [`", stringify!($isa), "`].")]
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU must support `", $feature, "`; otherwise as [`tiles`].")]
            #[target_feature(enable = $feature)]
            pub(super) unsafe fn $tiles(
                mkn: (usize, usize, usize),
                a: (*const f32, isize, isize),
                b: (*const f32, isize),
                c: &mut [MaybeUninit<f32>],
            ) {
                // SAFETY: the caller's contract, passed on.
                unsafe { tiles::<$isa>(mkn, a, b, c) }
            }

            #[doc = concat!("[`dots`] for [`", stringify!($isa), "`], `n` in `1..=4`.")]
            ///
            /// # Safety
            ///
            #[doc = concat!("The CPU must support `", $feature, "`; otherwise as [`dots`].")]
            #[target_feature(enable = $feature)]
            pub(super) unsafe fn $dots(
                (m, k, n): (usize, usize, usize),
                a: (*const f32, isize),
                b: (*const f32, isize),
                c: &mut [MaybeUninit<f32>],
            ) {
                // SAFETY: the caller's contract, passed on.
                unsafe {
                    match n {
                        1 => dots::<$isa, 1>((m, k), a, b, c),
                        2 => dots::<$isa, 2>((m, k), a, b, c),
                        3 => dots::<$isa, 3>((m, k), a, b, c),
                        _ => dots::<$isa, 4>((m, k), a, b, c),
                    }
                }
            }
        )*};
    }
    entry_points!(Avx512: tiles_avx512, dots_avx512, "avx512f"; Avx2: tiles_avx2, dots_avx2, "avx2,fma");

    /// `c = a b`: `a` (`m x k`) at `pa` with row and column strides, `b`
    /// (`k x n`) at `pb` with contiguous rows `ldb` apart, `c` the `m x n`
    /// row-major output (NOTE: [small tiles]).
    ///
    /// # Safety
    ///
    /// The CPU must support `I`; `pa + i * rsa + p * csa` (`i < m`, `p <
    /// k`) and `pb + p * ldb + j` (`j < n`) must be readable f32s; `c` must
    /// hold `m * n` elements.
    #[inline(always)]
    unsafe fn tiles<I: Lanes>(
        (m, k, n): (usize, usize, usize),
        (pa, rsa, csa): (*const f32, isize, isize),
        (pb, ldb): (*const f32, isize),
        c: &mut [MaybeUninit<f32>],
    ) {
        // SAFETY: the caller's contract, passed on.
        unsafe {
            if n <= I::LANES {
                // NOTE: [narrow tiles]
                tiles_of::<I, NARROW_ROWS>((m, k, n), (pa, rsa, csa), (pb, ldb), c)
            } else if I::WIDE_ROWS == TILE_ROWS {
                tiles_of::<I, TILE_ROWS>((m, k, n), (pa, rsa, csa), (pb, ldb), c)
            } else {
                tiles_of::<I, AVX2_WIDE_ROWS>((m, k, n), (pa, rsa, csa), (pb, ldb), c)
            }
        }
    }

    /// [`tiles`] in tiles of `R` rows.
    ///
    /// # Safety
    ///
    /// As [`tiles`].
    #[inline(always)]
    unsafe fn tiles_of<I: Lanes, const R: usize>(
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
                // `vecs` registers of columns `j..j + w`, the last with
                // `tail` lanes in the product (masked when partial: lanes
                // past `w` are not accessed).
                let w = (n - j).min(I::MAX_V * I::LANES);
                let vecs = w.div_ceil(I::LANES);
                let tail = w - (vecs - 1) * I::LANES;
                // SAFETY: the instruction set (the caller's contract).
                let mask = unsafe { I::mask(tail) };
                let full = tail == I::LANES;
                // SAFETY: `j + w <= n` and `i + live <= m` (the loops' bounds),
                // so every base address below is in bounds of `b` and `c`.
                unsafe {
                    let (b, out) = (pb.add(j), pc.add(i * n + j));
                    let (a, b, out) = ((rows, csa), (b, ldb), (out, n, live));
                    match (vecs, full) {
                        (3, true) if I::MAX_V >= 3 => tile::<I, R, 3, true>(k, a, b, mask, out),
                        (3, false) if I::MAX_V >= 3 => tile::<I, R, 3, false>(k, a, b, mask, out),
                        (2, true) => tile::<I, R, 2, true>(k, a, b, mask, out),
                        (2, false) => tile::<I, R, 2, false>(k, a, b, mask, out),
                        (_, true) => tile::<I, R, 1, true>(k, a, b, mask, out),
                        (_, false) => tile::<I, R, 1, false>(k, a, b, mask, out),
                    }
                }
                j += w;
            }
        }
    }

    /// One tile: rows `rows` of `a` (column stride `csa`) times `V` vectors
    /// of columns of `b` from `pb` (rows `ldb` apart), summed over `k` in
    /// registers, stored to the first `live` rows of `out` (rows `n`
    /// apart); the last vector whole when `FULL`, else the lanes of `mask`.
    ///
    /// # Safety
    ///
    /// The CPU supports `I`; `rows[r] + p * csa` readable for `p < k`; for
    /// `p < k` and `q < V`, the lanes of vector `q` (all but for the last
    /// when not `FULL`, the lanes of `mask`) at `pb + p * ldb + q * LANES`
    /// readable and, for `r < live`, at `out + r * n + q * LANES` writable,
    /// each such base address in bounds.
    #[inline(always)]
    unsafe fn tile<I: Lanes, const R: usize, const V: usize, const FULL: bool>(
        k: usize,
        (rows, csa): ([*const f32; R], isize),
        (pb, ldb): (*const f32, isize),
        mask: I::M,
        (out, n, live): (*mut f32, usize, usize),
    ) {
        // SAFETY (of every block below): the caller's contract (the
        // instruction set; whole vectors but the last partial one, whose
        // lanes past `mask` are not accessed; in bounds).
        let mut acc: [[I::V; V]; R] = [[unsafe { I::zero() }; V]; R];
        for p in 0..k as isize {
            // SAFETY: the instruction set (the caller's contract).
            let mut v = [unsafe { I::zero() }; V];
            for (q, v) in v.iter_mut().enumerate() {
                // SAFETY: `p < k`, `q < V`: vector `q` of row `p` of `b`,
                // whose base address is in bounds (the caller's contract).
                let at = unsafe { pb.offset(p * ldb).add(q * I::LANES) };
                // SAFETY: whole vectors but a partial last one, read only
                // in the lanes of `mask` (the caller's contract).
                *v = unsafe { if FULL || q + 1 < V { I::load(at) } else { I::load_part(mask, at) } };
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `rows[r] + p * csa`, `p < k`, is readable (the
                // caller's contract); the instruction set likewise.
                let x = unsafe { I::splat(*rows[r].offset(p * csa)) };
                for (acc, &v) in acc.iter_mut().zip(&v) {
                    // SAFETY: the instruction set (the caller's contract).
                    *acc = unsafe { I::fmadd(x, v, *acc) };
                }
            }
        }
        for (r, acc) in acc.iter().enumerate().take(live) {
            for (q, &acc) in acc.iter().enumerate() {
                let at = unsafe { out.add(r * n + q * I::LANES) };
                unsafe { if FULL || q + 1 < V { I::store(at, acc) } else { I::store_part(at, mask, acc) } }
            }
        }
    }

    /// `c[i * N + j]` = the dot product of row `i` of `a` (at `pa + i *
    /// rsa`, `k` contiguous f32) and column `j` of `b` (at `pb + j * csb`,
    /// `k` contiguous), for `i < m`: tiles of `I::DOT_ROWS` rows, then the
    /// rows left one at a time (NOTE: [tail columns] in matmul.rs).
    ///
    /// # Safety
    ///
    /// The CPU supports `I`; `pa + i * rsa + p` (`i < m`, `p < k`) and `pb
    /// + j * csb + p` (`j < N`) readable f32s; `c` holds `m * N` elements.
    #[inline(always)]
    unsafe fn dots<I: Lanes, const N: usize>(
        (m, k): (usize, usize),
        (pa, rsa): (*const f32, isize),
        (pb, csb): (*const f32, isize),
        c: &mut [MaybeUninit<f32>],
    ) {
        let cols: [*const f32; N] = std::array::from_fn(|j| pb.wrapping_offset(j as isize * csb));
        let row = |i: usize| pa.wrapping_offset(i as isize * rsa);
        let mut i = 0;
        // Tiles of `DOT_ROWS` rows: 4 with AVX-512, 2 with AVX2 (const
        // arms, so each tile's sums stay in registers).
        while i + I::DOT_ROWS <= m {
            let out = &mut c[i * N..(i + I::DOT_ROWS) * N];
            // SAFETY: the caller's contract, for rows `i..i + DOT_ROWS <= m`.
            unsafe {
                if I::DOT_ROWS == 4 {
                    let sums = dot_tile::<I, 4, N>(k, std::array::from_fn(|r| row(i + r)), cols);
                    out.iter_mut().zip(sums.as_flattened()).for_each(|(y, &v)| _ = y.write(v));
                } else {
                    let sums = dot_tile::<I, 2, N>(k, std::array::from_fn(|r| row(i + r)), cols);
                    out.iter_mut().zip(sums.as_flattened()).for_each(|(y, &v)| _ = y.write(v));
                }
            }
            i += I::DOT_ROWS;
        }
        while i < m {
            // SAFETY: the caller's contract, for row `i < m`.
            let sums = unsafe { dot_tile::<I, 1, N>(k, [row(i)], cols) };
            for (y, &v) in c[i * N..(i + 1) * N].iter_mut().zip(&sums[0]) {
                y.write(v);
            }
            i += 1;
        }
    }

    /// The `R x N` dot products of `k` contiguous f32 at `rows[r]` and at
    /// `cols[j]`, each summed in one register of running sums.
    ///
    /// # Safety
    ///
    /// The CPU supports `I`; `rows[r] + p` and `cols[j] + p` readable for
    /// `p < k`.
    #[inline(always)]
    unsafe fn dot_tile<I: Lanes, const R: usize, const N: usize>(
        k: usize,
        rows: [*const f32; R],
        cols: [*const f32; N],
    ) -> [[f32; N]; R] {
        // SAFETY (of every block below): the caller's contract (the
        // instruction set; the masked lanes `p..p + live <= k` readable).
        let mut acc: [[I::V; N]; R] = [[unsafe { I::zero() }; N]; R];
        let mut p = 0;
        while p < k {
            // The last vector under a mask of its `k - p` lanes.
            let live = (k - p).min(I::LANES);
            let mask = unsafe { I::mask(live) };
            let ld = |at: *const f32| unsafe { if live == I::LANES { I::load(at) } else { I::load_part(mask, at) } };
            let mut y = [unsafe { I::zero() }; N];
            for (y, &col) in y.iter_mut().zip(&cols) {
                *y = ld(unsafe { col.add(p) });
            }
            for (acc, &row) in acc.iter_mut().zip(&rows) {
                let x = ld(unsafe { row.add(p) });
                for (acc, &y) in acc.iter_mut().zip(&y) {
                    *acc = unsafe { I::fmadd(x, y, *acc) };
                }
            }
            p += I::LANES;
        }
        acc.map(|a| a.map(|v| unsafe { I::sum(v) }))
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
}
