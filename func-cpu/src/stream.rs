//! Non-temporal stores for outputs larger than the cache.
//!
//! NOTE: [streamed stores] An ordinary store to a line that is not in the
//! cache first reads the line from memory (a read for ownership), so writing
//! a buffer that does not fit in the cache moves its bytes twice. A
//! non-temporal store writes whole lines without reading them and without
//! evicting the cache's contents. For an output that stays in the cache
//! until it is read again it is the wrong choice: on a Zen 4 machine (32 MiB
//! L3), streaming the 25.7 MB of `psg_mlp_b64`'s per-sample gradients took
//! 0.95 ms against 0.39 ms for ordinary stores. On a Sapphire Rapids VM
//! (260 MB L3 shared with other guests), rank-1 products written with
//! ordinary stores ran at 46-51 GB/s up to 67 MB and at 15-17 GB/s from
//! 117 MB on; streamed, at 43-48 GB/s at every size (302 MB: 19.0 ms ->
//! 6.5 ms; 173 MB: 10.4 -> 3.8 ms; 26 MB: 0.51 -> 0.56 ms). 16-byte SSE2
//! streaming stores were slower than ordinary ones (23 GB/s at 302 MB), so
//! only full 64-byte (AVX-512) lines are streamed.
//!
//! So an output is streamed when it is at least [`stream_threshold`] bytes:
//! a quarter of the last-level cache, and never below 64 MiB (the sizes that
//! ran at full speed with ordinary stores on both machines). The rank-1
//! products of per-sample weight gradients and of Jacobians of linear layers
//! (`matmul::outer`) stream their rows. A batch of other products (the
//! GEMM writes its output itself) computes each product into a scratch
//! buffer of at most 1 MiB, in the L2 cache, and streams it to the output:
//! the conv input gradients' columns `[288, 32] @ [200, 32, 784]` (180 MB)
//! took 17.3-17.6 -> 14.7-15.0 ms.

use std::mem::MaybeUninit;
use std::sync::OnceLock;

/// The smallest output streamed whatever the cache size (64 MiB).
pub(crate) const STREAM_MIN_BYTES: usize = 64 << 20;

/// The size in bytes from which an output is written with non-temporal
/// stores (NOTE: [streamed stores]): a quarter of the last-level cache, at
/// least [`STREAM_MIN_BYTES`].
pub(crate) fn stream_threshold() -> usize {
    static T: OnceLock<usize> = OnceLock::new();
    *T.get_or_init(|| last_level_cache().map_or(STREAM_MIN_BYTES, |c| (c / 4).max(STREAM_MIN_BYTES)))
}

/// The last-level cache's size in bytes, where the C library reports it.
fn last_level_cache() -> Option<usize> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `sysconf` has no preconditions: it reads a system
        // configuration value, returning 0 or -1 for one it does not know.
        let l3 = unsafe { libc::sysconf(libc::_SC_LEVEL3_CACHE_SIZE) };
        usize::try_from(l3).ok().filter(|&b| b > 0)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

/// Whether this CPU has the streaming stores used here (AVX-512F).
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// The number of elements of `row` before its first 64-byte boundary (all
/// of them when it has none). `T` is 4 or 8 bytes and aligned to its size
/// (the `Streamed` types), so the boundary falls on an element.
#[cfg(target_arch = "x86_64")]
fn line_head<T>(row: &[MaybeUninit<T>]) -> usize {
    let misaligned = (row.as_ptr() as usize % 64) / size_of::<T>();
    if misaligned == 0 { 0 } else { (64 / size_of::<T>() - misaligned).min(row.len()) }
}

/// The element types written with streaming stores: 4 or 8 bytes, aligned
/// to their size, so that a 64-byte line holds whole elements.
///
/// [`scaled_rows`](Streamed::scaled_rows): `c[i, j] = x_i * b[j]` for the rows `c` (`b.len()` elements each) and
/// the factors `xs`, one per row, written with non-temporal stores (NOTE:
/// [streamed stores]), then fenced, so the writes are visible to any thread
/// that synchronises with this one afterwards. `false`, with nothing
/// written, where the CPU has no AVX-512.
pub(crate) trait Streamed: Copy {
    fn scaled_rows(xs: impl Iterator<Item = Self>, b: &[Self], c: &mut [MaybeUninit<Self>]) -> bool;
}

macro_rules! streamed {
    ($t:ty, $lanes:expr, $kernel:ident, $set1:ident, $loadu:ident, $mul:ident, $stream:ident) => {
        impl Streamed for $t {
            fn scaled_rows(xs: impl Iterator<Item = Self>, b: &[Self], c: &mut [MaybeUninit<Self>]) -> bool {
                #[cfg(target_arch = "x86_64")]
                {
                    if b.is_empty() || !available() {
                        return false;
                    }
                    // SAFETY: the CPU has AVX-512F (checked just above).
                    unsafe { $kernel(xs, b, c) };
                    true
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    let _ = (xs, b, c);
                    false
                }
            }
        }

        /// [`Streamed::scaled_rows`] for this type.
        ///
        /// # Safety
        ///
        /// The CPU must have AVX-512F; `b` must not be empty.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        unsafe fn $kernel(xs: impl Iterator<Item = $t>, b: &[$t], c: &mut [MaybeUninit<$t>]) {
            use std::arch::x86_64::*;
            const LANES: usize = $lanes;
            let n = b.len();
            for (row, x) in c.chunks_exact_mut(n).zip(xs) {
                // Ordinary stores up to the first 64-byte boundary of the
                // row, then whole lines, then the tail.
                let head = line_head(row);
                for (y, &z) in row[..head].iter_mut().zip(&b[..head]) {
                    y.write(x * z);
                }
                let xv = $set1(x);
                let mut lines = row[head..].chunks_exact_mut(LANES);
                let mut from = b[head..].chunks_exact(LANES);
                for (y, z) in (&mut lines).zip(&mut from) {
                    // SAFETY: `z` holds `LANES` elements (one unaligned
                    // 64-byte load); `y` holds `LANES` elements starting at
                    // a 64-byte boundary (`head` moved the row to it and each
                    // chunk is 64 bytes), as the streaming store requires,
                    // inside the exclusively borrowed row.
                    unsafe { $stream(y.as_mut_ptr().cast(), $mul(xv, $loadu(z.as_ptr()))) };
                }
                for (y, &z) in lines.into_remainder().iter_mut().zip(from.remainder()) {
                    y.write(x * z);
                }
            }
            // Non-temporal stores are not ordered with later stores: fence
            // them before the caller signals completion to another thread.
            _mm_sfence();
        }
    };
}

streamed!(f32, 16, scaled_rows_f32, _mm512_set1_ps, _mm512_loadu_ps, _mm512_mul_ps, _mm512_stream_ps);
streamed!(f64, 8, scaled_rows_f64, _mm512_set1_pd, _mm512_loadu_pd, _mm512_mul_pd, _mm512_stream_pd);

/// Copy `src` into `dst` (of the same length) with non-temporal stores
/// (NOTE: [streamed stores]), then fence as [`Streamed::scaled_rows`] does.
/// `false`, with nothing written, where the CPU has no AVX-512 or the
/// lengths differ.
pub(crate) fn copy<T: Streamed>(src: &[T], dst: &mut [MaybeUninit<T>]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if src.len() != dst.len() || !available() {
            return false;
        }
        // SAFETY: the CPU has AVX-512F (checked just above); the lengths
        // are equal.
        unsafe { copy_avx512(src, dst) };
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (src, dst);
        false
    }
}

/// [`copy`], 64 bytes at a time.
///
/// # Safety
///
/// The CPU must have AVX-512F; `src` and `dst` have the same length.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn copy_avx512<T: Streamed>(src: &[T], dst: &mut [MaybeUninit<T>]) {
    use std::arch::x86_64::*;
    // `Streamed` types are 4 or 8 bytes: 64 bytes are whole elements.
    let lanes = 64 / size_of::<T>();
    let head = line_head(dst);
    for (y, &z) in dst[..head].iter_mut().zip(&src[..head]) {
        y.write(z);
    }
    let mut lines = dst[head..].chunks_exact_mut(lanes);
    let mut from = src[head..].chunks_exact(lanes);
    for (y, z) in (&mut lines).zip(&mut from) {
        // SAFETY: `z` holds 64 bytes (an unaligned load); `y` holds 64
        // bytes from a 64-byte boundary, inside the exclusively borrowed
        // `dst`, as the streaming store requires. The bits are copied
        // unchanged, so `y` holds valid `T`s afterwards.
        unsafe { _mm512_stream_si512(y.as_mut_ptr().cast(), _mm512_loadu_si512(z.as_ptr().cast())) };
    }
    for (y, &z) in lines.into_remainder().iter_mut().zip(from.remainder()) {
        y.write(z);
    }
    _mm_sfence();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `copy` of `src` into a buffer `skip` elements past its start: exact
    /// where the CPU streams (the count of elements compared), else `false`
    /// and nothing compared.
    fn check_copy<T: Streamed + PartialEq + std::fmt::Debug>(src: &[T], skip: usize) -> usize {
        let mut buf = vec![MaybeUninit::<T>::uninit(); skip + src.len()];
        assert_eq!(copy(src, &mut buf[skip..]), available());
        if !available() {
            return 0;
        }
        // SAFETY: `copy` wrote every element after `skip`.
        let got: Vec<T> = buf[skip..].iter().map(|y| unsafe { y.assume_init() }).collect();
        assert_eq!(got, src, "n {}, offset {skip}", src.len());
        src.len()
    }

    /// Every element, at every alignment of the destination and every
    /// length around a line, in f32 and f64.
    #[test]
    fn streamed_copies_are_exact_at_every_alignment() {
        let mut checked = 0;
        for n in [0usize, 1, 7, 15, 16, 17, 31, 64, 100, 1000] {
            for skip in 0..16 {
                let src: Vec<f32> = (0..n).map(|j| j as f32 * 0.25 - 7.0).collect();
                checked += check_copy(&src, skip);
                let src: Vec<f64> = src.iter().map(|&v| f64::from(v) / 3.0).collect();
                checked += check_copy(&src, skip);
            }
        }
        assert!(!available() || checked > 40_000, "{checked}");
        assert!(!copy(&[1.0f32; 3], &mut [MaybeUninit::uninit(); 4]), "lengths differ");
    }

    /// Every element of every row, at every alignment of the row start and
    /// every tail length, against ordinary multiplication.
    #[test]
    fn streamed_rows_match_plain_products_at_every_alignment() {
        let avx512 = available();
        let mut checked = 0;
        for n in [1usize, 3, 15, 16, 17, 33, 100] {
            for skip in 0..16 {
                let rows = 3;
                let b: Vec<f32> = (0..n).map(|j| j as f32 * 0.5 - 3.0).collect();
                let xs = [1.5f32, -2.0, 0.25];
                let mut buf = vec![MaybeUninit::<f32>::uninit(); skip + rows * n];
                let c = &mut buf[skip..];
                // Without AVX-512 the contract is `false` and nothing written.
                assert_eq!(f32::scaled_rows(xs.iter().copied(), &b, c), avx512);
                if !avx512 {
                    continue;
                }
                for (i, row) in c.chunks_exact(n).enumerate() {
                    for (j, y) in row.iter().enumerate() {
                        // SAFETY: `scaled_rows` wrote every element of every row.
                        let y = unsafe { y.assume_init() };
                        assert_eq!(y, xs[i] * b[j], "row {i}, column {j}, n {n}, offset {skip}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(!avx512 || checked > 1000, "{checked}");
        let b = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let mut c = vec![MaybeUninit::<f64>::uninit(); 18];
        assert_eq!(f64::scaled_rows([2.0, -1.0].into_iter(), &b, &mut c), avx512);
        if !avx512 {
            return;
        }
        // SAFETY: both rows were written.
        let c: Vec<f64> = c.iter().map(|y| unsafe { y.assume_init() }).collect();
        let want: Vec<f64> = b.iter().map(|z| 2.0 * z).chain(b.iter().map(|z| -z)).collect();
        assert_eq!(c, want);
    }
}
