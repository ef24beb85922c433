//! Vectorizable f32 `sin`, `cos`, `exp` and `tanh`.
//!
//! The C library's `sinf` and friends are one call per element, which no
//! compiler vectorizes; on a 2048-element `sin` they are most of the time of
//! a Hessian-vector product. The functions here are branch-free (selects
//! only, integer parts read from the bits of a rounded `f64`), so a loop of
//! them vectorizes. `sin`, `cos` and `exp` have forms that work in `f64`
//! internally (an f32 argument reduction in f64 is exact enough), for CPUs
//! without FMA; `tanh` works in f32 lanes, twice as many per register, with
//! the error bounded by an exhaustive sweep (see [`tanh_f32`]), and with
//! fused multiply-adds where the CPU has them (NOTE: [fused tanh]). Where
//! it has them, dense maps of `sin`, `cos` and `exp` run in f32 lanes with
//! fused multiply-adds too (NOTE: [trig in f32 lanes], [exp in f32
//! lanes]). Each result is within one unit in the last place of the
//! correctly rounded value; `vmath_tests` checks every function against the
//! `f64` library function on a dense grid and at the edges of each range,
//! and exhaustive sweeps (ignored by default) every f32 of each f32-lane
//! form's range.
//!
//! `sin` and `cos` are musl's `sinf`/`cosf` medium-range path: the reduction
//! by a 25 + 53-bit pi/2 is good for |x| < 2^28 pi/2, and the polynomials are
//! musl's `__sindf`/`__cosdf`. Outside that range (and for NaN) they return
//! NaN, which [`with_fallback`] detects and answers with the library
//! function, so every input still gets the library's result. Where the
//! CPU has FMA, dense maps first run [`sin_fused`]/[`cos_fused`], the same
//! polynomials in f32 lanes for |x| < 8192, and fall back to the `f64`
//! forms past that (NOTE: [trig in f32 lanes]).

// The polynomial and split-constant digits are musl's and Cephes', kept as published.
#![allow(clippy::excessive_precision)]

use crate::cache::Lent;
use crate::strided::{CHUNK, Out, Slot, build, copy, dense, map1};
use func_core::{Layout, Result};

/// 1.5 * 2^52: adding it rounds an f64 of magnitude below 2^51 to an
/// integer (to nearest, ties to even) held in the low bits of the sum.
const TOINT: f64 = 6_755_399_441_055_744.0;

/// `(round(v), round(v) as i64)` for |v| < 2^51, without a rounding
/// instruction (SSE2 has none for f64).
#[inline(always)]
fn round_parts(v: f64) -> (f64, i64) {
    let t = v + TOINT;
    (t - TOINT, (t.to_bits() as i64).wrapping_sub(TOINT.to_bits() as i64))
}

const INV_PIO2: f64 = std::f64::consts::FRAC_2_PI;
/// The first 25 bits of pi/2, so that `n * PIO2_1` is exact for |n| < 2^28.
const PIO2_1: f64 = 1.570_796_310_901_641_845_70;
/// pi/2 - PIO2_1.
const PIO2_1T: f64 = 1.589_325_477_352_819_669_16e-8;
/// |x| below this: the medium-range reduction applies (musl's 0x4dc90fdb).
const TRIG_RANGE: f32 = 421_657_440.0;

/// `x mod pi/2` in [-pi/4, pi/4] (slightly wider after rounding) and the
/// quadrant `n mod 4`.
#[inline(always)]
fn reduce_pio2(x: f64) -> (f64, i64) {
    let (n, q) = round_parts(x * INV_PIO2);
    (x - n * PIO2_1 - n * PIO2_1T, q & 3)
}

/// sin(y) for |y| <= ~pi/4: |sin(y)/y - s(y)| < 2^-37.5 (musl `__sindf`).
#[inline(always)]
fn sin_kernel(y: f64) -> f64 {
    const S1: f64 = -0.166_666_666_416_265_235_595;
    const S2: f64 = 0.008_333_329_385_889_463_175_6;
    const S3: f64 = -0.000_198_393_348_360_966_317_347;
    const S4: f64 = 0.000_002_718_311_493_989_821_906_4;
    let z = y * y;
    let w = z * z;
    let r = S3 + z * S4;
    let s = z * y;
    (y + s * (S1 + z * S2)) + s * w * r
}

/// cos(y) for |y| <= ~pi/4: |cos(y) - c(y)| < 2^-34.1 (musl `__cosdf`).
#[inline(always)]
fn cos_kernel(y: f64) -> f64 {
    const C0: f64 = -0.499_999_997_251_031_003_120;
    const C1: f64 = 0.041_666_623_323_739_063_189_4;
    const C2: f64 = -0.001_388_676_377_460_992_946_92;
    const C3: f64 = 0.000_024_390_448_796_277_409_065_4;
    let z = y * y;
    let w = z * z;
    let r = C2 + z * C3;
    ((1.0 + z * C0) + w * C1) + (w * z) * r
}

/// sin(x), or NaN when |x| is outside the reduction's range or x is NaN.
#[inline(always)]
pub(crate) fn sin_f32(x: f32) -> f32 {
    let (y, q) = reduce_pio2(x as f64);
    let (s, c) = (sin_kernel(y), cos_kernel(y));
    let v = if q & 1 == 0 { s } else { c };
    let v = if q & 2 == 0 { v } else { -v };
    // sin(-0) = -0: the polynomial's `y + s (..)` makes it +0.
    let v = if x == 0.0 { x as f64 } else { v };
    if x.abs() < TRIG_RANGE { v as f32 } else { f32::NAN }
}

/// cos(x), or NaN when |x| is outside the reduction's range or x is NaN.
#[inline(always)]
pub(crate) fn cos_f32(x: f32) -> f32 {
    let (y, q) = reduce_pio2(x as f64);
    let (s, c) = (sin_kernel(y), cos_kernel(y));
    let v = if q & 1 == 0 { c } else { s };
    let v = if (q + 1) & 2 == 0 { v } else { -v };
    if x.abs() < TRIG_RANGE { v as f32 } else { f32::NAN }
}

/// pi/2 as the sum of four f32s: `PIO2_F32[0]` the nearest f32
/// (0x3fc90fdb); `PIO2_F32[1]` the rest to 11 significant bits, so that
/// its product with an integer below 2^13 is exact; then the nearest f32s
/// to what the ones before leave. The four leave 2.9e-27.
const PIO2_F32: [f32; 4] =
    [1.570_796_370_506_286_6, -4.371_395_334_601_402e-8, 2.563_344_068_257_089_6e-12, 8.333_743_212_599_745e-20];

/// |x| below this (so |n| < 2^13 below): [`sin_fused`] and [`cos_fused`]
/// answer; from it on they return NaN (NOTE: [trig in f32 lanes]).
const TRIG_RANGE_F32: f32 = 8192.0;

/// `(sin(y), cos(y), n mod 4)` with `x = n pi/2 + y`, in f32 arithmetic with
/// fused multiply-adds, for |x| < [`TRIG_RANGE_F32`] (NOTE: [trig in f32
/// lanes]).
#[inline(always)]
fn trig_fused(x: f32) -> (f32, f32, i32) {
    // n = round(x 2/pi); q = n mod 4 from the low bits of the sum.
    let t = x.mul_add(std::f32::consts::FRAC_2_PI, TOINT_F32);
    let n = t - TOINT_F32;
    let q = (t.to_bits() as i32).wrapping_sub(TOINT_F32.to_bits() as i32) & 3;
    // x - n PIO2_F32[0] is exact: both are multiples of ulp(x) or of
    // 2^-23, whichever is larger, and the difference is below 1.
    let y1 = (-n).mul_add(PIO2_F32[0], x);
    // n PIO2_F32[1] is exact, and so is the rounding error of the
    // difference (Fast2Sum: either |y1| >= |th|, or the difference is
    // exact, a multiple of 2^-35 below 2^-11).
    let th = n * PIO2_F32[1];
    let yh = y1 - th;
    let e = (y1 - yh) - th;
    // y = yh + yl.
    let yl = (-n).mul_add(PIO2_F32[3], (-n).mul_add(PIO2_F32[2], e));
    let z = yh * yh;
    // sin(y) = y + y^3 S(y^2), musl's `__sindf` coefficients in f32, and
    // the low part of y added to the small term.
    const S: [f32; 4] = [
        -0.166_666_666_416_265_235_595,
        0.008_333_329_385_889_463_175_6,
        -0.000_198_393_348_360_966_317_347,
        0.000_002_718_311_493_989_821_906_4,
    ];
    let ps = z.mul_add(z.mul_add(z.mul_add(S[3], S[2]), S[1]), S[0]);
    let sin = yh + (yh * z).mul_add(ps, yl);
    // cos(y) = 1 - y^2/2 + y^4 C(y^2), musl's `__cosdf` coefficients past
    // the first, which is -1/2 here; the rounding of 1 - y^2/2 recovered
    // exactly (fdlibm's `__kernel_cos`), and cos(yh + yl) = cos(yh) - yh yl.
    const C: [f32; 3] =
        [0.041_666_623_323_739_063_189_4, -0.001_388_676_377_460_992_946_92, 0.000_024_390_448_796_277_409_065_4];
    let pc = z.mul_add(z.mul_add(C[2], C[1]), C[0]);
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    let cos = w + (((1.0 - w) - hz) + (z * z).mul_add(pc, -(yh * yl)));
    (sin, cos, q)
}

// NOTE: [trig in f32 lanes] `sin_f32` and `cos_f32` reduce and evaluate in
// f64: four lanes to an AVX2 register, some 35 instructions per four
// elements with both polynomials and the quadrant's selects, 2.9 us for
// `sin` of 2048 elements (the Hessian-vector product's size) on a Zen 3
// core. In f32 lanes the same work covers eight elements, but an f32 pi/2
// leaves too much of the reduction's error for one unit in the last
// place. `trig_fused` keeps the reduced argument as a pair `yh + yl`:
// - n = round(x 2/pi) from the bits of a rounded sum, as the f64 forms;
// - pi/2 is split in four f32s; the first product is subtracted in one
//   fused multiply-add, exactly; the second part has 11 significant bits,
//   so that its product with n (|n| < 2^13, hence |x| < 8192) is exact,
//   and the rounding error of the difference is recovered by Fast2Sum;
//   the last two parts go into `yl`, rounded once. This matters near the
//   multiples of pi/2, where the reduction cancels most: with pi/2 in
//   three f32s and `yh`'s error computed by a plain subtraction instead,
//   cos(2238.3848) came out 754 units off;
// - sin(yh + yl) = yh + (yh^3 S(yh^2) + yl) and cos(yh + yl) = (1 - yh^2/2)
//   + (its rounding error, exact) + yh^4 C(yh^2) - yh yl, with musl's
//   coefficients rounded to f32.
// Every non-negative f32 below 8192 gives sin and cos within one unit in
// the last place (`fused_sin_and_cos_every_f32_in_range_are_within_one_ulp`,
// ignored by default). Best of 20 loops of 100 maps of 2048 elements:
// `sin` 2.94 -> 1.55 us, `cos` 2.98 -> 1.58 us; of 16000 (two threads)
// 17.1 -> 10.8 us and 16.7 -> 11.4 us. `fma` makes the scalar forms a
// library call per step, so they are the `fused` argument of `map_v` only,
// as `tanh_fused` is (NOTE: [fused tanh]). A map whose input has an
// element at or past 8192 (or a NaN) is redone with the `f64` forms, and
// past their range with the library: each element within one unit in the
// last place either way, but its bits then depend on that pass.

/// sin(x) in f32 lanes (NOTE: [trig in f32 lanes]), or NaN when |x| is at
/// or past [`TRIG_RANGE_F32`] or x is NaN. Fast only in a loop compiled
/// with FMA; elsewhere each `mul_add` is a library call (with the same
/// result), and [`sin_f32`] is the form to use.
#[inline(always)]
pub(crate) fn sin_fused(x: f32) -> f32 {
    let (s, c, q) = trig_fused(x);
    let v = if q & 1 == 0 { s } else { c };
    let v = if q & 2 == 0 { v } else { -v };
    // sin(-0) = -0: the reduction's `y1 - th` makes it +0.
    let v = if x == 0.0 { x } else { v };
    if x.abs() < TRIG_RANGE_F32 { v } else { f32::NAN }
}

/// cos(x) in f32 lanes, as [`sin_fused`].
#[inline(always)]
pub(crate) fn cos_fused(x: f32) -> f32 {
    let (s, c, q) = trig_fused(x);
    let v = if q & 1 == 0 { c } else { s };
    let v = if (q + 1) & 2 == 0 { v } else { -v };
    if x.abs() < TRIG_RANGE_F32 { v } else { f32::NAN }
}

const LN2_HI: f64 = 6.931_471_803_691_238_164_90e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_700_02e-10;
const LOG2E: f64 = std::f64::consts::LOG2_E;

/// `(2^n, expm1(r))` with `x = n ln2 + r`, |r| <= ln2 / 2, for |x| < ~700;
/// expm1(r) within 2^-31 relative (Taylor to degree 9; |r|^10 / 10! < 2^-37).
#[inline(always)]
fn exp_parts(x: f64) -> (f64, f64) {
    let (n, k) = round_parts(x * LOG2E);
    let r = x - n * LN2_HI - n * LN2_LO;
    const C: [f64; 8] =
        [1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0, 1.0 / 40320.0, 1.0 / 362_880.0];
    let mut p = C[7];
    for &c in C[..7].iter().rev() {
        p = p * r + c;
    }
    let em1 = r + r * r * p;
    let scale = f64::from_bits(((k + 1023) as u64) << 52);
    (scale, em1)
}

/// exp(x) for every f32 x (NaN gives NaN; the clamp makes large arguments
/// round to infinity or zero as the correctly rounded result does).
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    let (scale, em1) = exp_parts((x as f64).clamp(-104.0, 89.0));
    let v = (scale + scale * em1) as f32;
    if x.is_nan() { x } else { v }
}

/// 1.5 * 2^23: adding it rounds an f32 of magnitude below 2^22 to an
/// integer held in the low bits of the sum (the f32 [`TOINT`]).
const TOINT_F32: f32 = 12_582_912.0;

/// How the f32 polynomials multiply and add (NOTE: [fused tanh]).
pub(crate) trait MulAdd {
    /// `a * b + c`.
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// A multiply and an add, each rounded: what a loop compiled without FMA
/// computes in two instructions.
pub(crate) struct Split;

impl MulAdd for Split {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// A fused multiply-add, rounded once: one instruction in a loop compiled
/// with FMA, and a library call (with the same result) elsewhere.
pub(crate) struct Fused;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// `(exp(r), n)` with `y = n ln2 + r` in f32 arithmetic, for |y| <= 104:
/// Cody-Waite (`n * LN2_HI_F32` exact for n < 2^15), |r| <= ln2 / 2, and
/// Cephes' `expf` polynomial for exp(r).
#[inline(always)]
fn exp_f32_parts<M: MulAdd>(y: f32) -> (f32, i32) {
    const LN2_HI_F32: f32 = 0.693_359_375;
    const LN2_LO_F32: f32 = -2.121_944_4e-4;
    let s = M::mul_add(y, std::f32::consts::LOG2_E, TOINT_F32);
    let n = s - TOINT_F32;
    let k = (s.to_bits() as i32).wrapping_sub(TOINT_F32.to_bits() as i32);
    let r = M::mul_add(-n, LN2_LO_F32, M::mul_add(-n, LN2_HI_F32, y));
    const P: [f32; 6] = [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5.000_000_1e-1];
    let mut p = P[0];
    for &c in &P[1..] {
        p = M::mul_add(p, r, c);
    }
    (M::mul_add(r * r, p, r) + 1.0, k)
}

/// exp(y) for 0 <= y <= 19 in f32 arithmetic, within about one unit in the
/// last place ([`exp_f32_parts`], scaled by 2^n).
#[inline(always)]
fn exp_f32_lanes<M: MulAdd>(y: f32) -> f32 {
    let (e, k) = exp_f32_parts::<M>(y);
    e * f32::from_bits(((k + 127) as u32) << 23)
}

// NOTE: [exp in f32 lanes] `exp_f32` reduces and evaluates in f64, four
// lanes to an AVX2 register: 3.4-4.0 us for `exp` of 2048 elements on a Zen
// 3 core. `exp_fused` is `tanh`'s f32 exponential (`exp_f32_parts`: n =
// round(x log2 e), x - n ln 2 in two fused steps with an 8-bit `ln 2` head,
// Cephes' `expf` polynomial) made whole: the argument clamped as `exp_f32`
// clamps it (large ones round to infinity or zero), NaN passed through,
// and 2^n applied as two normal powers of two, so that a subnormal result
// is rounded once, from the exact product of the first. Every f32 gives
// exp within one unit in the last place
// (`fused_exp_every_f32_is_within_one_ulp`, ignored by default). Best of
// 20 loops of 2000 calls of `Tensor::exp` on 2048 elements: 3.96 -> 1.42 us.
// `sigmoid`, which ran its `exp_f32` in a loop compiled for the baseline
// x86-64 with a branch per element, is now one `exp` and a select in
// `map_v`'s loops: 20.9 -> 1.8 us.

/// exp(x) for every f32 x in f32 lanes with fused multiply-adds (NOTE:
/// [exp in f32 lanes]): x clamped to [-104, 89] as [`exp_f32`] does, the
/// reduction and polynomial of [`exp_f32_parts`], and the power of two
/// applied in two halves, so that a result below the normal range is
/// rounded once, from the exact product of the first half. NaN gives NaN.
/// Fast only in a loop compiled with FMA; elsewhere each `mul_add` is a
/// library call (with the same result), and [`exp_f32`] is the form to use.
#[inline(always)]
pub(crate) fn exp_fused(x: f32) -> f32 {
    let (e, k) = exp_f32_parts::<Fused>(x.clamp(-104.0, 89.0));
    // 2^k as 2^(k - k/2) 2^(k/2), each a normal f32 for -151 <= k <= 129.
    let k1 = k >> 1;
    let (s1, s2) = (f32::from_bits(((k - k1 + 127) as u32) << 23), f32::from_bits(((k1 + 127) as u32) << 23));
    let v = (e * s1) * s2;
    if x.is_nan() { x } else { v }
}

/// tanh(x) for every f32 x, in f32 arithmetic (16 lanes to a 512-bit
/// register, against 8 for the `f64` forms above):
/// - |x| < 0.625: x + x^3 P(x^2), P a degree-4 weighted least-squares fit
///   to (tanh(x) - x) / x^3 on [0, 0.625] (approximation error below 0.08
///   units in the last place);
/// - |x| >= 0.625: 1 - 2 / (exp(2|x|) + 1), where tanh >= 0.55 and the
///   quotient is at most 0.45, so its rounding errors shrink in the
///   difference; |x| is clamped at 9.1, past 9.011 where tanh rounds to 1;
/// - the sign restored by `copysign` (so tanh(-0) = -0), NaN passed through.
///
/// Checked against the f64 library `tanh` on every positive f32 (2^31
/// values; `tanh_every_f32_is_within_one_ulp`, ignored by default): never
/// more than one unit in the last place from the correctly rounded value,
/// and 0.17% of them one unit off. `vmath_tests` checks a dense grid and
/// the edges on every run. This form computes each multiply-add in two
/// roundings; [`tanh_fused`] is the same function with fused ones.
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    tanh_with::<Split>(x)
}

/// [`tanh_f32`] with fused multiply-adds (NOTE: [fused tanh]): as fast
/// only inside a loop compiled with FMA, and within one unit in the last
/// place on every f32 by the same sweep.
#[inline(always)]
pub(crate) fn tanh_fused(x: f32) -> f32 {
    tanh_with::<Fused>(x)
}

// NOTE: [fused tanh] Rust does not contract `a * b + c` into a fused
// multiply-add, so `tanh_f32`'s two polynomials and its `exp` cost two
// instructions per step, on the two ports that execute 512-bit
// instructions: 11.3 us for `tanh` of `[1000, 16]` (the Lennard-Jones
// model's hidden layer), some 26 cycles (at 2.3 GHz) per 16 lanes.
// Written with `mul_add`, the same function takes 7.2 us (7.5 us through
// `Tensor::tanh`). `mul_add` is one instruction only where
// the code is compiled with FMA, and a library call elsewhere, so the
// polynomials take the multiply-add as a type parameter: the dense maps
// compiled for AVX-512F or AVX2 with FMA run the fused form, and machines
// without FMA the split one. A strided input is copied first and then
// mapped densely, so that every layout gets the same values. The fused
// form rounds differently (each step once instead of twice); the sweep
// over every positive f32 finds it, too, never more than one unit in the
// last place off, and 3,656,367 values one unit off below 10 against the
// split form's 3,729,370.

/// [`tanh_f32`]'s body, with the multiply-adds of `M`.
#[inline(always)]
fn tanh_with<M: MulAdd>(x: f32) -> f32 {
    const P: [f32; 5] = [-0.3333328, 0.13331442, -0.05373972, 0.020639101, -0.0057050004];
    let a = x.abs();
    let big = 1.0 - 2.0 / (exp_f32_lanes::<M>(2.0 * a.min(9.1)) + 1.0);
    let z = a * a;
    let mut p = P[4];
    for &c in P[..4].iter().rev() {
        p = M::mul_add(p, z, c);
    }
    let small = M::mul_add(a * z, p, a);
    let v = f32::copysign(if a < 0.625 { small } else { big }, x);
    if x.is_nan() { x } else { v }
}

/// `fast` over a whole buffer, then the library function `slow` for all of
/// it if `fast` produced a NaN anywhere (an argument outside its range, or
/// a NaN argument): the common case stays one vectorized pass, and the rare
/// one still gets the library's answer.
pub(crate) fn with_fallback<T: Copy + PartialEq>(out: Vec<T>, redo: impl FnOnce() -> Result<Vec<T>>) -> Result<Vec<T>> {
    // A branch-free fold per block of 64 (vectorized, where `any` would
    // test one element per branch: a fifth of `hvp_fwdrev_2048`'s
    // instructions), stopping at the first block with a NaN.
    #[allow(clippy::eq_op)]
    let has_nan = out.chunks(64).any(|c| c.iter().fold(false, |nan, &y| nan | (y != y)));
    if has_nan { redo() } else { Ok(out) }
}

/// The elementwise functions a float type evaluates in vectorizable form:
/// f32 through this module, f64 through the library (an f64 polynomial to
/// the library's accuracy is longer, and no workload here needs it yet).
pub(crate) trait VMath: Copy {
    /// Whether `sin_v`/`cos_v` may return NaN for an argument the library
    /// answers (then [`with_fallback`] must follow them).
    const TRIG_FALLBACK: bool;
    fn sin_v(self) -> Self;
    fn cos_v(self) -> Self;
    /// `sin_v` in f32 lanes with fused multiply-adds (NOTE: [trig in f32
    /// lanes]): for [`map_v`](Self::map_v)'s loops compiled with FMA only,
    /// and NaN on a shorter range than `sin_v`'s.
    fn sin_fused(self) -> Self;
    /// `cos_v` as [`sin_fused`](Self::sin_fused) is `sin_v`.
    fn cos_fused(self) -> Self;
    fn exp_v(self) -> Self;
    /// `exp_v` in f32 lanes with fused multiply-adds (NOTE: [exp in f32
    /// lanes]): for [`map_v`](Self::map_v)'s loops compiled with FMA only.
    fn exp_fused(self) -> Self;
    fn tanh_v(self) -> Self;
    /// `tanh_v` with fused multiply-adds (NOTE: [fused tanh]): for
    /// [`map_v`](Self::map_v)'s loops compiled with FMA only.
    fn tanh_fused(self) -> Self;
    /// `f` over the elements of `(v, l)` into a new contiguous buffer, as
    /// [`map1`], compiled for AVX-512F or AVX2 with FMA when the CPU has
    /// them (four or two times the lanes of the baseline SSE2), and then
    /// with `fused` in place of `f`: the same function with fused
    /// multiply-adds (NOTE: [fused tanh]), a faster form of it (NOTE: [trig
    /// in f32 lanes], [exp in f32 lanes]), or `f` itself. A strided input is then copied first,
    /// so that every layout gets `fused`'s values.
    fn map_v(
        v: &[Self],
        l: &Layout,
        f: impl Fn(Self) -> Self + Copy + Sync,
        fused: impl Fn(Self) -> Self + Copy + Sync,
    ) -> Result<Vec<Self>>;
}

impl VMath for f32 {
    const TRIG_FALLBACK: bool = true;
    #[inline(always)]
    fn sin_v(self) -> Self {
        sin_f32(self)
    }
    #[inline(always)]
    fn cos_v(self) -> Self {
        cos_f32(self)
    }
    #[inline(always)]
    fn sin_fused(self) -> Self {
        sin_fused(self)
    }
    #[inline(always)]
    fn cos_fused(self) -> Self {
        cos_fused(self)
    }
    #[inline(always)]
    fn exp_v(self) -> Self {
        exp_f32(self)
    }
    #[inline(always)]
    fn exp_fused(self) -> Self {
        exp_fused(self)
    }
    #[inline(always)]
    fn tanh_v(self) -> Self {
        tanh_f32(self)
    }
    #[inline(always)]
    fn tanh_fused(self) -> Self {
        tanh_fused(self)
    }
    fn map_v(
        v: &[Self],
        l: &Layout,
        f: impl Fn(Self) -> Self + Copy + Sync,
        fused: impl Fn(Self) -> Self + Copy + Sync,
    ) -> Result<Vec<Self>> {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::arch::is_x86_feature_detected!("fma");
            let (avx512, avx2) = (
                fma && std::arch::is_x86_feature_detected!("avx512f"),
                fma && std::arch::is_x86_feature_detected!("avx2"),
            );
            if !(avx512 || avx2) {
                return map1(v, l, f);
            }
            // A strided input is copied, and the copy mapped (NOTE: [fused tanh]).
            let copied;
            let src = match dense(l) {
                Some(r) => &v[r],
                None => {
                    copied = Lent(copy(v, l)?);
                    &copied.0[..]
                }
            };
            // `out` and `part` have one length (asserted by the fills).
            let fill = |out: &mut [Out<f32>], part: &[f32]| {
                if avx512 {
                    // SAFETY: the CPU has AVX-512F and FMA (detected above),
                    // which is all `fill_avx512` is compiled for.
                    unsafe { fill_avx512(out, part, fused) }
                } else {
                    // SAFETY: the CPU has AVX2 and FMA (detected above),
                    // which is all `fill_avx2` is compiled for.
                    unsafe { fill_avx2(out, part, fused) }
                }
            };
            // SAFETY: `build` requires every element of the output to be
            // written, and both branches write them all: each fill writes
            // one output element per element of its part of `src`, and
            // asserts (`assert_eq!`, a panic before any write) that the
            // output and the part have one length. Serially the part is
            // all of `src`, whose length `build` gives the output; split,
            // `par::chunks` hands each `CHUNK`-sized chunk of the output,
            // with its index `i`, to exactly one call, whose part
            // `src[i * CHUNK..][..len]` has the chunk's length (in bounds:
            // the chunks tile the output, which is as long as `src`).
            unsafe {
                build(src.len(), |o| {
                    if o.len() < PAR_MAP {
                        fill(o, src)
                    } else {
                        let chunk = CHUNK.min(o.len().div_ceil(rayon::current_num_threads()).next_multiple_of(64));
                        crate::par::chunks(o, chunk, |i, oc| {
                            let s0 = i * chunk;
                            fill(oc, &src[s0..s0 + oc.len()])
                        })
                    }
                })
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = fused;
            map1(v, l, f)
        }
    }
}

/// Elements of a dense transcendental map (some 0.5-1.5 ns each,
/// vectorized) from which it is split over threads, one share per thread,
/// the caller working on the first (NOTE: [calling thread works] in
/// `par`). On a 2-core Zen 3 (AVX2), best of 20 loops of 100 calls, one
/// thread against two: `tanh` of 16000 elements (the Lennard-Jones model's
/// `[1000, 16]` layers) 15.9 -> 10.3 us, `sin` 24.1 -> 16.3 us; of 8192,
/// 8.1-8.2 -> 6.6-7.5 us; of 4096 no gain (4.2-4.8 against 4.2-4.4), of
/// 2048 a loss (2.2 -> 3.3 us). In 14 alternating rounds of the bench
/// runner, lj_forces_1000 0.92x and lj_train_step_1000 0.95x their
/// median times with the threshold at 2^15 (which kept `[1000, 16]` on one
/// thread).
const PAR_MAP: usize = 1 << 13;

/// `fill_*`: `out[i] = f(src[i])`, one function per instruction set, each
/// compiled with that target feature so the loop vectorizes to its width.
///
/// # Panics
///
/// If `out` and `src` differ in length (the zip would leave elements of
/// `out` unwritten, which `build` forbids).
///
/// # Safety
///
/// The CPU must support the function's target feature.
macro_rules! fill_for {
    ($($name:ident: $feature:literal),*) => {$(
        #[doc = concat!("`out[i] = f(src[i])` compiled for `", $feature, "` (see `fill_for`).")]
        ///
        /// # Panics
        ///
        /// If `out` and `src` differ in length.
        ///
        /// # Safety
        ///
        #[doc = concat!("The CPU must support `", $feature, "`.")]
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name(out: &mut [Out<f32>], src: &[f32], f: impl Fn(f32) -> f32) {
            assert_eq!(out.len(), src.len(), concat!(stringify!($name), ": output and input lengths differ"));
            for (y, &x) in out.iter_mut().zip(src) {
                y.put(f(x));
            }
        }
    )*};
}
fill_for!(fill_avx2: "avx2,fma", fill_avx512: "avx512f,fma");

impl VMath for f64 {
    const TRIG_FALLBACK: bool = false;
    #[inline(always)]
    fn sin_v(self) -> Self {
        self.sin()
    }
    #[inline(always)]
    fn cos_v(self) -> Self {
        self.cos()
    }
    #[inline(always)]
    fn sin_fused(self) -> Self {
        self.sin()
    }
    #[inline(always)]
    fn cos_fused(self) -> Self {
        self.cos()
    }
    #[inline(always)]
    fn exp_v(self) -> Self {
        self.exp()
    }
    #[inline(always)]
    fn exp_fused(self) -> Self {
        self.exp()
    }
    #[inline(always)]
    fn tanh_v(self) -> Self {
        self.tanh()
    }
    #[inline(always)]
    fn tanh_fused(self) -> Self {
        self.tanh()
    }
    fn map_v(
        v: &[Self],
        l: &Layout,
        f: impl Fn(Self) -> Self + Copy + Sync,
        _: impl Fn(Self) -> Self + Copy + Sync,
    ) -> Result<Vec<Self>> {
        map1(v, l, f)
    }
}

#[cfg(test)]
mod vmath_tests {
    use super::*;
    use func_core::UnaryOp;

    /// Distance in f32 units in the last place between `got` and the f64
    /// value `want` rounded to f32.
    fn ulps(got: f32, want: f64) -> u32 {
        let w = want as f32;
        if got == w {
            return 0;
        }
        let key = |v: f32| {
            let b = v.to_bits() as i64;
            if b < 0x8000_0000 { b } else { 0x8000_0000 - b }
        };
        (key(got) - key(w)).unsigned_abs() as u32
    }

    /// Arguments: a dense grid over [-lim, lim], small magnitudes, the
    /// edges of each range, and powers of two.
    fn grid(lim: f32) -> Vec<f32> {
        let mut xs: Vec<f32> = (0..=200_000).map(|i| -lim + 2.0 * lim * i as f32 / 200_000.0).collect();
        for e in -40..40 {
            let p = 2f32.powi(e);
            if p <= lim {
                xs.extend([p, -p, p * 1.1, -p * 0.9]);
            }
        }
        xs.extend([0.0, -0.0, f32::MIN_POSITIVE, 1e-30, -1e-30]);
        xs
    }

    fn check(name: &str, f: fn(f32) -> f32, reference: fn(f64) -> f64, xs: &[f32], max_ulps: u32) -> usize {
        let mut checked = 0;
        for &x in xs {
            let (got, want) = (f(x), reference(x as f64));
            let d = ulps(got, want);
            assert!(d <= max_ulps, "{name}({x:e}) = {got:e}, library {want:e}: {d} ulps");
            checked += 1;
        }
        checked
    }

    #[test]
    fn sin_and_cos_are_within_one_ulp_on_their_range() {
        let mut xs = grid(1000.0);
        xs.extend(grid(10.0));
        // Near multiples of pi/2, where the reduction matters most, to past
        // the fused forms' range.
        for k in -5300i32..5300 {
            let c = k as f64 * std::f64::consts::FRAC_PI_2;
            let x = c as f32;
            xs.extend([x, f32::from_bits(x.to_bits() + 1), f32::from_bits(x.to_bits().saturating_sub(1))]);
        }
        // Both sides of the fused forms' bound.
        let b = TRIG_RANGE_F32.to_bits();
        xs.extend((b - 64..b + 64).map(f32::from_bits));
        xs.extend([1e6, -3e7, 4.2e8, 123_456.79]);
        let n = check("sin", sin_f32, f64::sin, &xs, 1) + check("cos", cos_f32, f64::cos, &xs, 1);
        assert!(n > 800_000, "checked {n}");
        let short: Vec<f32> = xs.iter().copied().filter(|x| x.abs() < TRIG_RANGE_F32).collect();
        let n =
            check("sin (fused)", sin_fused, f64::sin, &short, 1) + check("cos (fused)", cos_fused, f64::cos, &short, 1);
        assert!(n > 800_000, "checked {n}");
    }

    #[test]
    fn sin_and_cos_give_nan_outside_their_range_so_the_library_answers() {
        for x in [f32::NAN, f32::INFINITY, -f32::INFINITY, 5e8, -1e30, f32::MAX] {
            assert!(sin_f32(x).is_nan() && cos_f32(x).is_nan(), "{x}");
        }
        for x in [f32::NAN, f32::INFINITY, -f32::INFINITY, TRIG_RANGE_F32, -TRIG_RANGE_F32, 1e4, -5e8, f32::MAX] {
            assert!(sin_fused(x).is_nan() && cos_fused(x).is_nan(), "{x}");
        }
        // Signed zeros, which `ulps` does not tell apart: sin and tanh keep
        // the sign, cos and exp give 1.
        for (i, f) in [sin_f32, sin_fused, tanh_f32, tanh_fused].into_iter().enumerate() {
            assert_eq!((f(0.0).to_bits(), f(-0.0).to_bits()), (0.0f32.to_bits(), (-0.0f32).to_bits()), "{i}");
        }
        for f in [cos_f32, cos_fused, exp_f32, exp_fused] {
            assert_eq!((f(0.0), f(-0.0)), (1.0, 1.0));
        }
        let out = vec![0.5f32, f32::NAN];
        let redone = with_fallback(out, || Ok(vec![1.0f32, 2.0])).expect("redo");
        assert_eq!(redone, vec![1.0, 2.0]);
        let kept = with_fallback(vec![0.5f32, 0.25], || Ok(vec![9.0f32])).expect("kept");
        assert_eq!(kept, vec![0.5, 0.25]);
        // A NaN at any position of a buffer of several 64-element blocks
        // (the scan goes by block), and none.
        let redo = || Ok(vec![7.0f32]);
        for at in 0..200 {
            let mut out = vec![0.5f32; 200];
            out[at] = f32::NAN;
            assert_eq!(with_fallback(out, redo).expect("redo"), vec![7.0], "NaN at {at}");
        }
        assert_eq!(with_fallback(vec![0.5f32; 200], redo).expect("kept").len(), 200);
    }

    /// A function's split form and its fused one.
    type Pair = (fn(f32) -> f32, fn(f32) -> f32);

    /// Each function as `map_v` takes it: the split form and the fused one
    /// (the same function where there is none).
    const MAPPED: [Pair; 4] =
        [(sin_f32, sin_fused), (cos_f32, cos_fused), (exp_f32, exp_fused), (tanh_f32, tanh_fused)];

    /// The form whose values `map_v` gives: the fused one where its loops
    /// are compiled with FMA (NOTE: [fused tanh]). A scalar call of the
    /// fused form computes each `mul_add` by the library, rounded once, so
    /// its bits are those of the compiled loop's instruction.
    fn mapped((split, fused): Pair) -> fn(f32) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("fma")
            && (std::arch::is_x86_feature_detected!("avx512f") || std::arch::is_x86_feature_detected!("avx2"))
        {
            return fused;
        }
        let _ = fused;
        split
    }

    #[test]
    fn the_vectorized_maps_give_the_scalar_functions_bits() {
        // One map on the calling thread, and one split over threads in
        // chunks (a length that is not a whole number of chunks); and the
        // odd elements of each, a strided input.
        let mut checked = 0;
        for n in [5000, 2 * PAR_MAP + 1234] {
            let xs: Vec<f32> = grid(50.0).into_iter().take(n).collect();
            assert_eq!(xs.len(), n);
            let l = Layout::contiguous(&[n][..]);
            let odd = Layout::new([n / 2], &[2], 1);
            for pair in MAPPED {
                let want = mapped(pair);
                let got = f32::map_v(&xs, &l, pair.0, pair.1).expect("map");
                assert_eq!(got.len(), n);
                for (g, &x) in got.iter().zip(&xs) {
                    assert_eq!(g.to_bits(), want(x).to_bits(), "at {x:e}");
                    checked += 1;
                }
                let got = f32::map_v(&xs, &odd, pair.0, pair.1).expect("strided map");
                assert_eq!(got.len(), n / 2);
                for (g, &x) in got.iter().zip(xs.iter().skip(1).step_by(2)) {
                    assert_eq!(g.to_bits(), want(x).to_bits(), "strided, at {x:e}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 4 * (5000 + 2500 + 2 * PAR_MAP + 1234 + PAR_MAP + 617));
    }

    /// Each compiled variant the CPU can run, called directly (`map_v`
    /// picks only the widest), against the scalar functions' bits.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn each_compiled_variant_gives_the_scalar_functions_bits() {
        let xs: Vec<f32> = grid(50.0).into_iter().take(3001).collect();
        let mut checked = 0;
        let fma = std::arch::is_x86_feature_detected!("fma");
        for f in [sin_f32, cos_f32, sin_fused, cos_fused, exp_f32, exp_fused, tanh_f32, tanh_fused] {
            let mut variants = Vec::new();
            if fma && std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 and FMA; `fill_avx2` writes every element.
                variants.push(unsafe { build(xs.len(), |o| fill_avx2(o, &xs, f)) }.expect("avx2"));
            }
            if fma && std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F and FMA; `fill_avx512` writes every element.
                variants.push(unsafe { build(xs.len(), |o| fill_avx512(o, &xs, f)) }.expect("avx512"));
            }
            for got in &variants {
                for (g, &x) in got.iter().zip(&xs) {
                    assert_eq!(g.to_bits(), f(x).to_bits(), "at {x:e}");
                    checked += 1;
                }
            }
        }
        eprintln!("compiled variants checked on {checked} values");
        assert!(checked == 0 || checked % 24_008 == 0, "{checked}");
    }

    #[test]
    fn exp_is_within_one_ulp_everywhere() {
        let mut xs = grid(110.0);
        xs.extend(grid(1.0));
        xs.extend([88.72, 88.73, -87.3, -103.9, -104.5, -150.0, 200.0, f32::MAX, -f32::MAX]);
        let n = check("exp", exp_f32, f64::exp, &xs, 1) + check("exp (fused)", exp_fused, f64::exp, &xs, 1);
        assert!(n > 800_000, "checked {n}");
        for f in [exp_f32, exp_fused] {
            assert_eq!(f(f32::INFINITY), f32::INFINITY);
            assert_eq!(f(-f32::INFINITY), 0.0);
            assert!(f(f32::NAN).is_nan());
        }
    }

    /// The worst distance in ulps, its argument and the number of values
    /// checked, over the f32s whose bits are `block << shift | low` for
    /// each `block` in `blocks` and every `low` below `1 << shift`, blocks
    /// in parallel: `check(xs, put)` calls `put(ulps, x)` for each value of
    /// `xs` it checks.
    fn sweep(
        blocks: std::ops::RangeInclusive<u32>,
        shift: u32,
        check: impl Fn(&[f32], &mut dyn FnMut(u32, f32)) + Sync,
    ) -> (u32, f32, u64) {
        use rayon::prelude::*;
        blocks
            .into_par_iter()
            .map(|block| {
                let xs: Vec<f32> = (0..1u32 << shift).map(|low| f32::from_bits(block << shift | low)).collect();
                let mut w = (0, 0.0, 0);
                check(&xs, &mut |d, x| w = if d > w.0 { (d, x, w.2 + 1) } else { (w.0, w.1, w.2 + 1) });
                w
            })
            .reduce(|| (0, 0.0, 0), |a, b| if b.0 > a.0 { (b.0, b.1, a.2 + b.2) } else { (a.0, a.1, a.2 + b.2) })
    }

    /// The sweep behind [`tanh_f32`]'s and [`tanh_fused`]'s bound: every
    /// positive f32 (tanh is odd and the sign is restored exactly), the
    /// fused form through `map_v` (compiled with FMA where the CPU has it;
    /// the split form again where not). About a minute on two cores in
    /// release mode: `cargo test --release -p func-cpu -- --ignored tanh_every`.
    #[test]
    #[ignore = "exhaustive over 2^31 values; run in release mode"]
    fn tanh_every_f32_is_within_one_ulp() {
        let (worst, at, _) = sweep(0..=255, 23, |xs, put| {
            let fused = f32::map_v(xs, &Layout::contiguous(&[xs.len()][..]), tanh_f32, tanh_fused).expect("map");
            for (&x, y) in xs.iter().zip(fused).filter(|(x, _)| x.is_finite()) {
                let want = (x as f64).tanh();
                put(ulps(tanh_f32(x), want).max(ulps(y, want)), x);
            }
        });
        assert!(worst <= 1, "tanh({at:e}) is {worst} ulps off");
    }

    /// [`sweep`] of `sin` and `cos` (through `map_v`) over every
    /// non-negative f32 below `bound`.
    fn sweep_sin_cos(
        bound: f32,
        sin: impl Fn(f32) -> f32 + Copy + Sync,
        cos: impl Fn(f32) -> f32 + Copy + Sync,
    ) -> (u32, f32, u64) {
        sweep(0..=bound.to_bits() >> 16, 16, |xs, put| {
            let l = Layout::contiguous(&[xs.len()][..]);
            let s = f32::map_v(xs, &l, sin, sin).expect("map");
            let c = f32::map_v(xs, &l, cos, cos).expect("map");
            for (&x, (s, c)) in xs.iter().zip(s.into_iter().zip(c)).filter(|(x, _)| x.abs() < bound) {
                put(ulps(s, (x as f64).sin()).max(ulps(c, (x as f64).cos())), x);
            }
        })
    }

    /// The sweep behind `sin` and `cos`: every non-negative f32 below the
    /// reduction's range (both are odd or even, and the reduction is
    /// symmetric), through `map_v`, as the kernels take them. Ignored by
    /// default, like the tanh sweep:
    /// `cargo test --release -p func-cpu -- --ignored sin_and_cos_every`.
    #[test]
    #[ignore = "exhaustive over 2^30 values; run in release mode"]
    fn sin_and_cos_every_f32_in_range_are_within_one_ulp() {
        let (worst, at, checked) = sweep_sin_cos(TRIG_RANGE, sin_f32, cos_f32);
        assert!(worst <= 1, "sin or cos of {at:e} is {worst} ulps off");
        // Every non-negative f32 below 421657440 (0x4dc90fdb); NaNs and the
        // values at or past the bound are the library's.
        assert_eq!(checked, u64::from(TRIG_RANGE.to_bits()), "values checked");
    }

    /// The sweep behind [`sin_fused`] and [`cos_fused`]: every non-negative
    /// f32 below [`TRIG_RANGE_F32`] (the functions are odd and even, and each
    /// step of the reduction is symmetric in x), through `map_v`, compiled
    /// with FMA where the CPU has it (the scalar fused forms' bits, by
    /// `each_compiled_variant_gives_the_scalar_functions_bits`). About
    /// 40 s on two cores in release mode:
    /// `cargo test --release -p func-cpu -- --ignored fused_sin_and_cos_every`.
    #[test]
    #[ignore = "exhaustive over 2^30 values; run in release mode"]
    fn fused_sin_and_cos_every_f32_in_range_are_within_one_ulp() {
        let (worst, at, checked) = sweep_sin_cos(TRIG_RANGE_F32, sin_fused, cos_fused);
        assert!(worst <= 1, "fused sin or cos of {at:e} is {worst} ulps off");
        // Every non-negative f32 below 8192 (0x46000000).
        assert_eq!(checked, u64::from(TRIG_RANGE_F32.to_bits()), "values checked");
    }

    /// The sweep behind [`exp_fused`]: every f32 (both signs), through
    /// `map_v`, compiled with FMA where the CPU has it. About two minutes
    /// on two cores in release mode:
    /// `cargo test --release -p func-cpu -- --ignored fused_exp_every`.
    #[test]
    #[ignore = "exhaustive over 2^32 values; run in release mode"]
    fn fused_exp_every_f32_is_within_one_ulp() {
        let (worst, at, checked) = sweep(0..=0xffff, 16, |xs, put| {
            let l = Layout::contiguous(&[xs.len()][..]);
            let got = f32::map_v(xs, &l, exp_fused, exp_fused).expect("map");
            for (&x, y) in xs.iter().zip(got).filter(|(x, _)| !x.is_nan()) {
                put(ulps(y, (x as f64).exp()), x);
            }
        });
        assert!(worst <= 1, "fused exp of {at:e} is {worst} ulps off");
        // Every f32 but the NaNs (2^24 - 2 of them).
        assert_eq!(checked, (1u64 << 32) - (1 << 24) + 2, "values checked");
    }

    /// The kernel's chain: the fused forms below their range, the
    /// f64-internal ones past it, the library past theirs (and for NaN),
    /// each element within one unit in the last place.
    #[test]
    fn sin_and_cos_past_each_range_are_still_within_one_ulp() {
        let mut xs: Vec<f32> = grid(20.0).into_iter().step_by(97).collect();
        let b = TRIG_RANGE_F32.to_bits();
        xs.extend((b - 8..b + 8).map(f32::from_bits));
        xs.extend([-9000.5, 12_345.678, 1e6, -3e7]);
        let with_huge = [&xs[..], &[5e8, -1e30, f32::MAX]].concat();
        let mut checked = 0;
        for v in [&xs, &with_huge] {
            let l = Layout::contiguous(&[v.len()][..]);
            for (op, f) in [(UnaryOp::Sin, f64::sin as fn(f64) -> f64), (UnaryOp::Cos, f64::cos)] {
                let got = crate::kernels::unary_real(op, v, &l).expect("kernel");
                for (&g, &x) in got.iter().zip(v.iter()) {
                    assert!(ulps(g, f(x as f64)) <= 1, "{op:?}({x:e}) = {g:e}");
                    checked += 1;
                }
            }
            let nan = crate::kernels::unary_real(UnaryOp::Sin, &[0.5f32, f32::NAN], &Layout::contiguous(&[2][..]));
            let nan = nan.expect("kernel");
            assert!(ulps(nan[0], 0.5f64.sin()) <= 1 && nan[1].is_nan());
        }
        assert_eq!(checked, 2 * (2 * xs.len() + 3));
    }

    #[test]
    fn tanh_is_within_one_ulp_everywhere() {
        let mut xs = grid(12.0);
        xs.extend(grid(0.01));
        xs.extend([2.44e-4, 2.45e-4, -2.45e-4, 9.0, -9.5, 1e10, f32::MAX, -f32::MAX, f32::INFINITY, -f32::INFINITY]);
        // Both sides of the switch between the two forms at |x| = 0.625,
        // and of 9.011, past which tanh rounds to 1.
        for c in [0.625f32, -0.625, 9.0109, -9.0109] {
            let b = c.to_bits();
            xs.extend((b - 64..b + 64).map(f32::from_bits));
        }
        let n = check("tanh", tanh_f32, f64::tanh, &xs, 1) + check("tanh (fused)", tanh_fused, f64::tanh, &xs, 1);
        assert!(n > 800_000, "checked {n}");
        for f in [tanh_f32, tanh_fused] {
            assert!(f(f32::NAN).is_nan());
            assert_eq!(f(-0.0).to_bits(), (-0.0f32).to_bits());
            assert_eq!((f(f32::INFINITY), f(-f32::INFINITY)), (1.0, -1.0));
        }
    }
}
