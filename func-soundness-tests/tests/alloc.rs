//! Allocation failure is an error, not an abort: requests over
//! `isize::MAX` bytes are refused before they reach the allocator, and
//! refused requests give `Error::OutOfMemory` naming the operation, the
//! shape and the bytes.
//!
//! This binary counts allocations with a wrapping global allocator, to check
//! that no operation asks for far more memory than its result needs.

use func_core::{DType, Error, Generator, Shape};
use func_cpu::Cpu;
use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

type Tensor = func_core::Tensor<Cpu>;

/// The system allocator, recording the largest single request.
struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` unchanged; the counter is a side effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: AllocLayout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The tests of this binary run one at a time (each holds this lock), so
/// that the largest allocation is that of the test measuring it.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The largest single allocation made while running `f` (hold [`serial`]).
fn largest_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LARGEST.store(0, Ordering::Relaxed);
    let r = f();
    (r, LARGEST.load(Ordering::Relaxed))
}

#[track_caller]
fn assert_oom(e: Error, op: &str, shape: &[usize], bytes: u128) {
    assert_eq!(e, Error::OutOfMemory { op: op.into(), shape: Shape::from(shape), bytes }, "{e}");
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("{op}: out of memory: cannot allocate {bytes} bytes")), "{msg}");
}

/// Sizes whose bytes exceed `isize::MAX` are refused before any allocation.
#[test]
fn factories_beyond_isize_max_bytes_are_out_of_memory() {
    let _serial = serial();
    let ((), largest) = largest_allocation(|| {
        assert_oom(Tensor::try_zeros([1 << 61], DType::F32).unwrap_err(), "full", &[1 << 61], 1 << 63);
        assert_oom(Tensor::try_ones([1 << 30, 1 << 30], DType::F64).unwrap_err(), "full", &[1 << 30, 1 << 30], 1 << 63);
        let mut g = Generator::new(0);
        assert_oom(Tensor::try_randn([1 << 61], DType::F32, &mut g).unwrap_err(), "random", &[1 << 61], 1 << 63);
        assert_oom(Tensor::try_eye(1 << 31, DType::F32).unwrap_err(), "eye", &[1 << 31, 1 << 31], 1 << 64);
        assert_oom(Tensor::try_linspace(0.0, 1.0, 1 << 62, DType::F64).unwrap_err(), "arange", &[1 << 62], 1 << 65);
    });
    assert!(largest < 1 << 20, "largest allocation {largest} bytes");
}

/// The panicking forms panic with the error's message (and do not abort).
#[test]
fn panicking_factories_panic_with_the_message() {
    let _serial = serial();
    let payload = std::panic::catch_unwind(|| Tensor::zeros([1 << 61], DType::F32)).unwrap_err();
    let msg = payload.downcast::<String>().map(|s| *s).unwrap_or_default();
    assert!(msg.starts_with("full: out of memory: cannot allocate 9223372036854775808 bytes"), "{msg}");
}

/// `arange(0, inf, 1)` asked for usize::MAX elements ("capacity overflow").
#[test]
fn arange_without_a_finite_length_is_an_error() {
    let _serial = serial();
    let e = Tensor::try_arange(0.0, f64::INFINITY, 1.0, DType::F32).unwrap_err();
    assert_eq!(e.to_string(), "arange: unsupported range: 0 -> inf; start and end must be finite numbers");
    // A finite length beyond any tensor (it saturates at usize::MAX) is an invalid shape.
    let e = Tensor::try_arange(0.0, 1e30, 1.0, DType::F32).unwrap_err();
    assert!(matches!(e, Error::InvalidShape { .. }), "{e}");
    assert!(e.to_string().starts_with(&format!("arange: invalid shape [{}]", usize::MAX)), "{e}");
    assert_eq!(Tensor::try_arange(0.0, 3.0, 1.0, DType::F32).unwrap().to_vec::<f32>(), vec![0.0, 1.0, 2.0]);
}

/// Whether this machine's allocator deterministically refuses a single
/// request of `bytes`: Linux in heuristic (0) or strict (2) overcommit mode
/// refuses a request larger than RAM plus swap.
fn allocator_refuses(bytes: u128) -> bool {
    let Ok(mode) = std::fs::read_to_string("/proc/sys/vm/overcommit_memory") else {
        return false;
    };
    let Ok(meminfo) = std::fs::read_to_string("/proc/meminfo") else {
        return false;
    };
    let kib = |key: &str| -> Option<u128> {
        let line = meminfo.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let (Some(ram), Some(swap)) = (kib("MemTotal:"), kib("SwapTotal:")) else {
        return false;
    };
    matches!(mode.trim(), "0" | "2") && (ram + swap) * 1024 < bytes / 2
}

/// Sizes below `isize::MAX` bytes reach the allocator through
/// `try_reserve`; when it refuses, the result is `OutOfMemory`. Only run
/// where the refusal is deterministic (see [`allocator_refuses`]).
#[test]
fn allocator_refusals_are_out_of_memory() {
    let _serial = serial();
    if !allocator_refuses(1 << 42) {
        eprintln!("skipped: this machine's allocator may grant 4 TiB");
        return;
    }
    assert_oom(Tensor::try_zeros([1 << 40], DType::F32).unwrap_err(), "full", &[1 << 40], 1 << 42);
    let mut g = Generator::new(0);
    assert_oom(Tensor::try_randn([1 << 40], DType::F32, &mut g).unwrap_err(), "random", &[1 << 40], 1 << 42);
    // The identity's comparison (2^48 bools) is refused; the error names eye.
    assert_oom(Tensor::try_eye(1 << 24, DType::F32).unwrap_err(), "eye", &[1 << 24, 1 << 24], 1 << 50);
}

/// `randn` draws straight into an f32 buffer: no f64 scratch twice the
/// size of the output.
#[test]
fn randn_needs_no_f64_scratch() {
    let _serial = serial();
    let n = 1 << 20;
    let mut g = Generator::new(7);
    let (x, largest) = largest_allocation(|| Tensor::randn([n], DType::F32, &mut g));
    assert!(largest < 8 * n, "largest allocation {largest} bytes for a {}-byte output", 4 * n);
    assert_eq!(x.numel(), n);
    // The stream is unchanged: each sample is the f64 draw rounded to f32.
    let mut g = Generator::new(7);
    let x64 = Tensor::randn([n], DType::F64, &mut g).to_vec::<f64>();
    let x32 = x.to_vec::<f32>();
    assert!(x32.iter().zip(&x64).all(|(&a, &b)| a == b as f32));
}

/// The gradient of a slice with a huge step allocated len * step elements
/// (here 2^40, an abort); torch gives [1, 0, 0].
#[test]
fn grad_of_a_strided_slice_allocates_only_the_input() {
    let _serial = serial();
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3]);
    let (g, largest) = largest_allocation(|| func_autodiff::grad(|x: &Tensor| x.slice(0, 0, 3, 1 << 40).sum())(&x));
    assert_eq!(g.to_vec::<f32>(), vec![1.0, 0.0, 0.0]);
    assert!(largest < 1 << 20, "largest allocation {largest} bytes");

    // Several elements with a step: ones at 1, 5, 9 (elements start, start + step, ... below 10).
    let x = Tensor::from_vec((0..10).map(|v| v as f32).collect::<Vec<_>>(), [10]);
    let g = func_autodiff::grad(|x: &Tensor| (x.slice(0, 1, 10, 4) * 2.0).sum())(&x);
    assert_eq!(g.to_vec::<f32>(), vec![0., 2., 0., 0., 0., 2., 0., 0., 0., 2.]);
    // On a middle axis, with the slice ending before the last element.
    let x = Tensor::ones([2, 7, 2], DType::F64);
    let g = func_autodiff::grad(|x: &Tensor| x.slice(1, 2, 6, 3).sum())(&x);
    let col: Vec<f64> = vec![0., 0., 1., 0., 0., 1., 0.];
    let want: Vec<f64> = (0..2).flat_map(|_| col.iter().flat_map(|&v| [v, v])).collect();
    assert_eq!(g.to_vec::<f64>(), want);
}
