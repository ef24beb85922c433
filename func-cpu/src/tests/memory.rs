//! Memory: fallible allocation, the contract of the output builder, strides
//! that saturate, and the buffer cache's reuse and bound.

use super::*;

/// Debug builds check the contract of `strided::build`: a fill that leaves
/// an element unwritten is caught instead of returning uninitialized memory.
#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "strided::build: 1 of 3 output elements were not written")]
fn build_asserts_every_element_is_written() {
    use crate::strided::{Slot, build};
    // SAFETY: deliberately breaks the contract; debug builds assert before any element is read.
    let _ = unsafe {
        build::<f32>(3, |o| {
            o[0].put(1.0);
            o[2].put(3.0);
        })
    };
}

/// Buffers sized from layouts are allocated fallibly: a request over
/// `isize::MAX` bytes is an error, not an abort.
#[test]
fn huge_outputs_are_out_of_memory_errors() {
    let e = Cpu.full(0.0, DType::F64, 1 << 61).unwrap_err();
    assert!(matches!(e, Error::OutOfMemory { bytes, .. } if bytes == 1 << 64), "{e}");
    // A broadcast scalar viewed as 2^61 elements: the copy is refused.
    let s = Cpu.full(1.0, DType::F32, 1).unwrap();
    let l = Layout::contiguous(Shape::scalar()).broadcast_to(&Shape::from([1 << 31, 1 << 30]));
    let e = Cpu.copy_strided(&s, &l).unwrap_err();
    assert!(matches!(e, Error::OutOfMemory { bytes, .. } if bytes == 1 << 63), "{e}");
    let e = Cpu.unary(UnaryOp::Neg, &s, &l).unwrap_err();
    assert!(matches!(e, Error::OutOfMemory { .. }), "{e}");
}

/// `istrides` gives 0 for dimensions that address nothing, so strides that
/// saturate (a size-1 slice with a huge step) never become negative offsets.
#[test]
fn size_one_dimensions_with_saturated_strides_read_correctly() {
    let s = st(&vals(12), DType::F64);
    let l = Layout::contiguous([3, 4]).slice(0, 1, 3, usize::MAX).slice(1, 0, 4, 1 << 62);
    assert_eq!(l.dims(), &[1, 1]);
    assert_eq!(host(&Cpu.copy_strided(&s, &l).unwrap()), vec![vals(12)[4]]);
    let t = Layout::contiguous([3, 4]).slice(0, 2, 3, usize::MAX);
    assert_eq!(host(&Cpu.copy_strided(&s, &t).unwrap()), vals(12)[8..12].to_vec());
    let m = Cpu.matmul(&s, &t, &s, &Layout::contiguous([4, 3])).unwrap();
    let want: Vec<f64> = (0..3).map(|j| (0..4).map(|p| vals(12)[8 + p] * vals(12)[p * 3 + j]).sum()).collect();
    assert!(close(&host(&m), &want, 1e-12));
}

#[test]
fn buffer_cache_reuses_freed_buffers_within_its_bound() {
    // One test, so no other test changes the limit while this one runs.
    // 300_017 f64 elements (2.4 MB) is a size class no other test allocates.
    let n = 300_017;
    let data_ptr = |s: &CpuStorage| match s {
        CpuStorage::F64(v) => v.as_ptr() as usize,
        other => panic!("expected f64 storage, got {}", other.dtype()),
    };
    let a = Cpu.full(1.5, DType::F64, n).unwrap();
    let first = data_ptr(&a);
    drop(a);
    assert!(cache::cached_bytes() >= n * 8, "a freed buffer of {} bytes is kept", n * 8);
    // The next request of the same size class gets the same buffer, with
    // the new contents.
    let b = Cpu.full(2.5, DType::F64, n).unwrap();
    assert_eq!(data_ptr(&b), first, "the freed buffer is reused");
    assert_eq!(host(&b), vec![2.5; n]);
    // A kernel output (every element written, no zero-fill) in a reused buffer.
    drop(b);
    let x = st(&vals(n), DType::F64);
    let y = Cpu.unary(UnaryOp::Neg, &x, &Layout::contiguous([n])).unwrap();
    assert_eq!(data_ptr(&y), first);
    assert_eq!(host(&y), vals(n).iter().map(|v| -v).collect::<Vec<_>>());
    drop((x, y));
    // Bounded: under a limit below its size a freed buffer is not kept.
    cache::set_limit(1 << 20);
    assert!(cache::cached_bytes() <= 1 << 20, "lowering the limit releases what is above it");
    drop(Cpu.full(0.0, DType::F64, n).unwrap());
    assert!(cache::cached_bytes() <= 1 << 20);
    cache::set_limit(cache::default_limit());
    assert_eq!(cache::limit(), cache::default_limit());
    // Emptying releases the buffers: the next allocation is a fresh one.
    drop(Cpu.full(0.0, DType::F64, n).unwrap());
    cache::empty();
    assert!(cache::cached_bytes() < n * 8, "empty() releases the cached buffers");
}

/// The default bound is a quarter of physical memory, at most 4 GiB: on
/// Linux, against `MemTotal` in `/proc/meminfo` (the same count, read
/// another way).
#[test]
fn the_default_cache_bound_is_a_quarter_of_memory_at_most_4_gib() {
    let d = cache::default_limit();
    assert!(d > 0 && d <= cache::MAX_DEFAULT_LIMIT, "{d}");
    if let Ok(info) = std::fs::read_to_string("/proc/meminfo") {
        let kib: usize = info
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("MemTotal in /proc/meminfo");
        assert_eq!(d, (kib * 1024 / 4).min(cache::MAX_DEFAULT_LIMIT), "MemTotal {kib} kB");
    }
}

/// NOTE: [small buffers]: a buffer below `MIN_BYTES` freed on a thread
/// serves that thread's next request of its size class, without the system
/// allocator; a thread keeps at most `SMALL_BYTES` of one element type;
/// `empty` frees the calling thread's (through `empty_small`). Runs on a thread of its own, whose
/// lists no other test touches.
#[test]
fn small_buffers_are_reused_on_their_thread_up_to_the_bound() {
    std::thread::spawn(|| {
        let ptr = |s: &CpuStorage| match s {
            CpuStorage::F32(v) => v.as_ptr() as usize,
            other => panic!("expected f32 storage, got {}", other.dtype()),
        };
        // 37 elements: class 40 (four classes per power of two above 8).
        let a = Cpu.full(1.5, DType::F32, 37).unwrap();
        let first = ptr(&a);
        drop(a);
        assert_eq!(cache::small_kept::<f32>(), (1, 160), "a freed small buffer is kept");
        let b = Cpu.full(2.5, DType::F32, 39).unwrap();
        assert_eq!(ptr(&b), first, "a request of the same class reuses the freed buffer");
        assert_eq!(host(&b), vec![2.5; 39], "every element of the reused buffer is written");
        assert_eq!(cache::small_kept::<f32>(), (0, 0));
        drop(b);
        // A request of another class does not take it.
        let c = Cpu.full(0.5, DType::F32, 5).unwrap();
        assert_ne!(ptr(&c), first);
        drop(c);
        // Buffers of 3,584 f32 (14,336 bytes, one class) worth twice the
        // bound: freed, only what fits in SMALL_BYTES is kept.
        let n = 2 * cache::SMALL_BYTES / (3584 * 4) + 1;
        let many: Vec<CpuStorage> = (0..n).map(|_| Cpu.full(0.0, DType::F32, 3584).unwrap()).collect();
        let ptrs: std::collections::HashSet<usize> = many.iter().map(ptr).collect();
        assert_eq!(ptrs.len(), n, "live buffers are distinct");
        drop(many);
        let (count, bytes) = cache::small_kept::<f32>();
        let fit = (cache::SMALL_BYTES - 160 - 20) / (3584 * 4);
        assert!(bytes <= cache::SMALL_BYTES, "{bytes} bytes kept");
        assert_eq!(count, 2 + fit, "the two earlier buffers and {fit} of the {n}");
        let again: Vec<CpuStorage> = (0..n).map(|_| Cpu.full(0.0, DType::F32, 3584).unwrap()).collect();
        let reused = again.iter().filter(|s| ptrs.contains(&ptr(s))).count();
        assert!(reused >= fit, "{reused} of the {fit} kept buffers reused");
        drop(again);
        // What `empty()` does for small buffers (`empty()` itself would
        // also empty the shared pools under the other tests running now).
        cache::empty_small();
        assert_eq!(cache::small_kept::<f32>(), (0, 0), "empty() frees this thread's small buffers");
    })
    .join()
    .unwrap();
}
