//! Splitting work over the calling thread and the rayon pool.
//!
//! NOTE: [calling thread works] Work split into parts runs its first share
//! on the calling thread and only the rest in the pool (`in_place_scope`),
//! rather than handing every part to the pool and blocking the caller. On
//! the two-vCPU benchmark VM, handing both halves of a 256^3 product to the
//! pool ran it at one-thread speed (0.33 ms against 0.16-0.17 ms) in about
//! half the processes: both workers were woken onto one vCPU while the
//! caller slept on the other. A caller that keeps working keeps its vCPU,
//! and the one woken worker lands on the idle one. It also saves the
//! caller's own sleep and wake-up per call. The GEMM uses it for products
//! below `CALLER_GEMM` multiply-adds (matmul.rs), where it was measured to
//! help.

/// `f(i, chunk)` for the `chunk`-sized chunks of `out` (the last may be
/// shorter), in parallel: the chunks are cut into one contiguous share per
/// thread of the pool, the calling thread runs the first share and the pool
/// the others (NOTE: [calling thread works]). Inline when there is one share.
/// For a few large, even chunks (the row blocks of one product); many small
/// or uneven ones balance better through rayon's own splitting.
pub(crate) fn chunks<T: Send>(out: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let chunk = chunk.max(1);
    let count = out.len().div_ceil(chunk);
    let threads = rayon::current_num_threads().min(count);
    if threads < 2 {
        out.chunks_mut(chunk).enumerate().for_each(|(i, o)| f(i, o));
        return;
    }
    let per = count.div_ceil(threads);
    let share = |g: usize, part: &mut [T]| {
        part.chunks_mut(chunk).enumerate().for_each(|(i, o)| f(g * per + i, o));
    };
    let share = &share;
    let mut shares = out.chunks_mut(per * chunk).enumerate();
    let first = shares.next();
    rayon::in_place_scope(|s| {
        for (g, part) in shares {
            s.spawn(move |_| share(g, part));
        }
        if let Some((g, part)) = first {
            share(g, part);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::chunks;

    #[test]
    fn every_chunk_is_visited_once_with_its_index() {
        for (len, chunk) in [(0usize, 3usize), (1, 1), (10, 3), (64, 8), (1000, 7), (5, 100)] {
            let mut v = vec![usize::MAX; len];
            chunks(&mut v, chunk, |i, o| {
                assert!(o.len() == chunk || (i + 1) * chunk >= len, "chunk {i} of {len}/{chunk} has {}", o.len());
                o.iter_mut().enumerate().for_each(|(j, x)| *x = i * chunk + j);
            });
            assert_eq!(v, (0..len).collect::<Vec<_>>(), "{len}/{chunk}");
        }
    }
}
