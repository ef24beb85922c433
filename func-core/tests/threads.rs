//! The threading contract of `Tensor` (see its documentation): operations
//! that lock several storages cannot deadlock, an in-place operation is
//! atomic on its storage, and a storage whose writer panicked reports an
//! error instead of half-written data.
//!
//! Every test runs its threads under a watchdog: a deadlock fails the test
//! after `WATCHDOG` instead of hanging it.

use func_core::{
    ArgReduceOp, Backend, BinaryOp, CmpOp, ConvGeom, DType, Distribution, Error, HostData, Layout, ReduceOp, Result,
    Tensor, UnaryOp,
};
use func_testkit::RefBackend;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Barrier, mpsc};
use std::thread;
use std::time::Duration;

type T = Tensor<RefBackend>;

/// How long the threads of one test may take before it counts as a deadlock
/// (they need well under a second when nothing blocks).
const WATCHDOG: Duration = Duration::from_secs(30);

/// Rounds of fresh tensors, and operations per thread in each round, of the
/// deadlock tests. With the locks taken in argument order, these deadlock in
/// the first few rounds.
const ROUNDS: usize = 50;
const REPS: usize = 200;

/// Run `body` on a new thread and wait for it at most [`WATCHDOG`]. Fails
/// the test when it does not finish (a deadlock) or when it panics.
fn with_watchdog(what: &str, body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(WATCHDOG) {
        Ok(()) => handle.join().expect("the worker finished"),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: the threads did not finish within {WATCHDOG:?}: they deadlocked")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => panic!("{what}: the worker stopped without reporting"),
        },
    }
}

fn f64s(t: &T) -> Vec<f64> {
    t.to_vec::<f64>()
}

/// `n` values starting at `start`, as a tensor of shape `[n]`.
fn ramp(start: f64, n: usize) -> T {
    T::from_vec((0..n).map(|i| start + i as f64).collect::<Vec<f64>>(), [n])
}

#[test]
fn tensors_are_send_and_sync() {
    fn is<S: Send + Sync>() {}
    is::<T>();
    is::<func_core::StorageCell<RefBackend>>();
}

/// Run each of `jobs` `reps` times on its own thread, all starting together.
fn race<'a>(reps: usize, jobs: &[&(dyn Fn() + Sync + 'a)]) {
    let start = Barrier::new(jobs.len());
    thread::scope(|s| {
        for job in jobs {
            let start = &start;
            s.spawn(move || {
                start.wait();
                (0..reps).for_each(|_| job());
            });
        }
    });
}

#[test]
fn crossed_copies_do_not_deadlock() {
    // b.copy_(&a) locks b to write and a to read; a.copy_(&b) the reverse.
    // Taken in argument order, the two deadlock within milliseconds.
    const N: usize = 16;
    let (va, vb) = (f64s(&ramp(0.0, N)), f64s(&ramp(100.0, N)));
    with_watchdog("b.copy_(&a) || a.copy_(&b)", move || {
        for _ in 0..ROUNDS {
            let (a, b) = (ramp(0.0, N), ramp(100.0, N));
            race(REPS, &[&|| b.copy_(&a), &|| a.copy_(&b)]);
            // Each copy is atomic: every tensor holds one of the two original
            // vectors, never a mixture.
            for t in [&a, &b] {
                let v = f64s(t);
                assert!(v == va || v == vb, "torn copy: {v:?}");
            }
        }
    });
}

#[test]
fn a_reader_and_two_crossed_writers_do_not_deadlock() {
    // a + b reads a then b; a.copy_(&c) writes a; b.copy_(&a) writes b and
    // reads a. With a writer-preferring lock, a waiting writer also blocks
    // new readers, so any cycle in the lock order hangs.
    const N: usize = 8;
    let (va, vb, vc) = (f64s(&ramp(0.0, N)), f64s(&ramp(100.0, N)), f64s(&ramp(1000.0, N)));
    // a only ever holds A or C; b holds B or a value of a.
    let add = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| p + q).collect::<Vec<f64>>();
    let allowed: Vec<Vec<f64>> = [&va, &vc].iter().flat_map(|x| [&va, &vb, &vc].map(|y| add(x, y))).collect();
    with_watchdog("a + b || a.copy_(&c) || b.copy_(&a)", move || {
        for _ in 0..ROUNDS {
            let (a, b, c) = (ramp(0.0, N), ramp(100.0, N), ramp(1000.0, N));
            let read = || {
                let sum = f64s(&(&a + &b));
                assert!(allowed.contains(&sum), "a + b read a torn or impossible value: {sum:?}");
            };
            // The cycle needs three threads to line up: give it more chances.
            race(10 * REPS, &[&read, &read, &|| a.copy_(&c), &|| b.copy_(&a), &|| b.copy_(&a)]);
        }
    });
}

#[test]
fn concurrent_in_place_additions_are_not_lost() {
    const THREADS: usize = 8;
    const STEPS: usize = 250;
    with_watchdog("a.add_scalar_(1.0) on 8 threads", || {
        for dtype in [DType::F64, DType::F32, DType::I64] {
            let a = T::zeros([4, 3], dtype);
            let ones = T::ones([3], dtype);
            thread::scope(|s| {
                for t in 0..THREADS {
                    let (a, ones) = (&a, &ones);
                    s.spawn(move || {
                        for _ in 0..STEPS {
                            // Half the threads add a tensor (broadcast over
                            // rows), half a scalar: both are read-modify-write.
                            if t % 2 == 0 { a.add_scalar_(1.0) } else { a.add_(ones) }
                        }
                    });
                }
            });
            let expected = (THREADS * STEPS) as f64;
            assert_eq!(f64s(&a.to_dtype(DType::F64)), vec![expected; 12], "lost updates for {dtype}");
        }
    });
}

#[test]
fn concurrent_multiplications_are_not_lost() {
    // Doubling commutes with doubling: 4 threads x 10 doublings = 2^40.
    with_watchdog("a.mul_(2) on 4 threads", || {
        let a = T::ones([5], DType::F64);
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..10).for_each(|_| a.mul_(&T::scalar(2.0f64))));
            }
        });
        assert_eq!(f64s(&a), vec![2f64.powi(40); 5]);
    });
}

#[test]
fn a_view_and_its_base_written_concurrently_lose_nothing() {
    const STEPS: usize = 300;
    with_watchdog("base and views written concurrently", || {
        // Rows 0..4 are written; row 4 stays zero.
        let base = T::zeros([5, 4], DType::F64);
        let body = base.slice(0, 0, 4, 1);
        let row = base.select(0, 1);
        let even_cols = body.slice(1, 0, 4, 2);
        let zero_row = base.select(0, 4);
        thread::scope(|s| {
            s.spawn(|| (0..STEPS).for_each(|_| body.add_scalar_(1.0)));
            s.spawn(|| (0..STEPS).for_each(|_| row.add_(&T::ones([4], DType::F64))));
            s.spawn(|| (0..STEPS).for_each(|_| even_cols.t().add_scalar_(2.0)));
            // The operand is another part of the destination's own storage.
            s.spawn(|| (0..STEPS).for_each(|_| body.add_(&zero_row)));
            s.spawn(|| (0..STEPS).for_each(|_| drop(f64s(&(&base.t() + &row.reshape(&[4, 1]))))));
        });
        let n = STEPS as f64;
        let expected: Vec<f64> = (0..5)
            .flat_map(|i| {
                (0..4).map(move |j| match i {
                    4 => 0.0,
                    _ => n + if i == 1 { n } else { 0.0 } + if j % 2 == 0 { 2.0 * n } else { 0.0 },
                })
            })
            .collect();
        assert_eq!(f64s(&base), expected);
    });
}

#[test]
fn readers_of_one_tensor_on_many_threads_agree() {
    with_watchdog("concurrent readers", || {
        let a = ramp(1.0, 64).reshape(&[8, 8]);
        let want = f64s(&a.matmul(&a).sum());
        thread::scope(|s| {
            let hs: Vec<_> = (0..6).map(|_| s.spawn(|| f64s(&a.matmul(&a.t().t()).sum()))).collect();
            for h in hs {
                assert_eq!(h.join().expect("reader finished"), want);
            }
        });
    });
}

// ----- poisoning ---------------------------------------------------------------------------

thread_local! {
    /// Which kernel of [`Flaky`] panics on this thread, if any.
    static FAIL: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// The reference backend, except that the kernel named in [`FAIL`] panics on
/// the thread that set it: a backend bug striking in the middle of a write.
#[derive(Clone, Copy, Debug, Default)]
struct Flaky;

fn trip(kernel: &'static str) {
    if FAIL.with(|f| f.get()) == Some(kernel) {
        panic!("flaky backend: {kernel} failed");
    }
}

const R: RefBackend = RefBackend;

impl Backend for Flaky {
    type Storage = <RefBackend as Backend>::Storage;

    fn default_instance() -> func_core::Result<Self> {
        Ok(Flaky)
    }

    fn name(&self) -> &'static str {
        "flaky"
    }
    fn storage_dtype(&self, s: &Self::Storage) -> DType {
        R.storage_dtype(s)
    }
    fn storage_len(&self, s: &Self::Storage) -> usize {
        R.storage_len(s)
    }
    fn from_host(&self, data: HostData) -> Result<Self::Storage> {
        R.from_host(data)
    }
    fn to_host(&self, s: &Self::Storage, l: &Layout) -> Result<HostData> {
        R.to_host(s, l)
    }
    fn full(&self, value: f64, dtype: DType, numel: usize) -> Result<Self::Storage> {
        R.full(value, dtype, numel)
    }
    fn unary(&self, op: UnaryOp, s: &Self::Storage, l: &Layout) -> Result<Self::Storage> {
        R.unary(op, s, l)
    }
    fn binary(
        &self,
        op: BinaryOp,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
    ) -> Result<Self::Storage> {
        trip("binary");
        R.binary(op, a, la, b, lb)
    }
    fn compare(
        &self,
        op: CmpOp,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
    ) -> Result<Self::Storage> {
        R.compare(op, a, la, b, lb)
    }
    fn select(
        &self,
        cond: &Self::Storage,
        lc: &Layout,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
    ) -> Result<Self::Storage> {
        R.select(cond, lc, a, la, b, lb)
    }
    fn reduce(&self, op: ReduceOp, s: &Self::Storage, l: &Layout, axes: &[usize]) -> Result<Self::Storage> {
        R.reduce(op, s, l, axes)
    }
    fn arg_reduce(&self, op: ArgReduceOp, s: &Self::Storage, l: &Layout, axis: usize) -> Result<Self::Storage> {
        R.arg_reduce(op, s, l, axis)
    }
    fn cumsum(&self, s: &Self::Storage, l: &Layout, axis: usize) -> Result<Self::Storage> {
        R.cumsum(s, l, axis)
    }
    fn matmul(&self, a: &Self::Storage, la: &Layout, b: &Self::Storage, lb: &Layout) -> Result<Self::Storage> {
        R.matmul(a, la, b, lb)
    }
    fn cast(&self, s: &Self::Storage, l: &Layout, dtype: DType) -> Result<Self::Storage> {
        R.cast(s, l, dtype)
    }
    fn copy_strided(&self, s: &Self::Storage, l: &Layout) -> Result<Self::Storage> {
        R.copy_strided(s, l)
    }
    fn write_strided(&self, dst: &mut Self::Storage, dl: &Layout, src: &Self::Storage, sl: &Layout) -> Result<()> {
        trip("write_strided");
        R.write_strided(dst, dl, src, sl)
    }
    fn concat(&self, parts: &[(&Self::Storage, &Layout)], axis: usize) -> Result<Self::Storage> {
        R.concat(parts, axis)
    }
    fn pad(&self, s: &Self::Storage, l: &Layout, pads: &[(usize, usize)], value: f64) -> Result<Self::Storage> {
        R.pad(s, l, pads, value)
    }
    fn flip(&self, s: &Self::Storage, l: &Layout, axes: &[usize]) -> Result<Self::Storage> {
        R.flip(s, l, axes)
    }
    fn gather(
        &self,
        s: &Self::Storage,
        l: &Layout,
        axis: usize,
        idx: &Self::Storage,
        il: &Layout,
    ) -> Result<Self::Storage> {
        R.gather(s, l, axis, idx, il)
    }
    fn scatter_add(
        &self,
        base: &Self::Storage,
        bl: &Layout,
        axis: usize,
        idx: &Self::Storage,
        il: &Layout,
        src: &Self::Storage,
        sl: &Layout,
    ) -> Result<Self::Storage> {
        R.scatter_add(base, bl, axis, idx, il, src, sl)
    }
    fn im2col(&self, s: &Self::Storage, l: &Layout, geom: &ConvGeom) -> Result<Self::Storage> {
        R.im2col(s, l, geom)
    }
    fn col2im(&self, s: &Self::Storage, l: &Layout, geom: &ConvGeom) -> Result<Self::Storage> {
        R.col2im(s, l, geom)
    }
    fn random(&self, dist: Distribution, dtype: DType, numel: usize, seed: u64) -> Result<Self::Storage> {
        R.random(dist, dtype, numel, seed)
    }
}

type F = Tensor<Flaky>;

const POISONED: &str = "a thread panicked while writing this tensor's storage";

/// Run `write` on a thread where `kernel` panics; the write must fail.
fn poison_with(kernel: &'static str, write: impl FnOnce() + Send) {
    thread::scope(|s| {
        let h = s.spawn(|| {
            FAIL.with(|f| f.set(Some(kernel)));
            write();
        });
        let panic = h.join().expect_err("the write panics in the backend");
        let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains(&format!("{kernel} failed")), "{msg}");
    });
}

/// Every access to `t` reports the poisoning, naming the operation.
fn assert_poisoned(t: &F) {
    let other = F::full(t.shape().clone(), 7.0, DType::F64);
    let err = t.try_to_vec::<f64>().expect_err("a poisoned storage cannot be read");
    assert_eq!(err, Error::Poisoned { op: "to_vec".into() });
    assert!(err.to_string().starts_with(&format!("to_vec: {POISONED}")), "{err}");
    assert!(matches!(t.try_copy_(&other), Err(Error::Poisoned { ref op }) if op == "copy_"));
    assert!(matches!(other.try_add(t), Err(Error::Poisoned { ref op }) if op == "add"));
    // Views share the storage, and so its state.
    let view = t.slice(0, 0, 1, 1);
    assert!(matches!(view.try_to_vec::<f64>(), Err(Error::Poisoned { .. })));
    // The panicking forms panic with the message.
    let p = catch_unwind(AssertUnwindSafe(|| t.add_scalar_(1.0))).expect_err("add_ panics");
    let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.starts_with(&format!("add_: {POISONED}")), "{msg}");
    let p = catch_unwind(AssertUnwindSafe(|| t.to_vec::<f64>())).expect_err("to_vec panics");
    let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains(POISONED), "{msg}");
    assert!(format!("{t}").contains(POISONED));
    // Other tensors are unaffected.
    assert_eq!(other.to_vec::<f64>(), vec![7.0; t.numel()]);
}

#[test]
fn a_panic_inside_a_copy_poisons_the_destination() {
    with_watchdog("poisoned by copy_", || {
        let a = F::from_vec(vec![1.0f64, 2.0, 3.0], [3]);
        let b = F::from_vec(vec![7.0f64, 8.0, 9.0], [3]);
        poison_with("write_strided", || a.copy_(&b));
        assert_poisoned(&a);
        // The source was only read: it stays usable.
        b.add_scalar_(1.0);
        assert_eq!(b.to_vec::<f64>(), vec![8.0, 9.0, 10.0]);
    });
}

#[test]
fn a_panic_inside_an_in_place_operation_poisons_its_storage() {
    with_watchdog("poisoned by add_", || {
        let a = F::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]);
        let row = a.select(0, 1);
        poison_with("binary", || row.add_scalar_(1.0));
        assert_poisoned(&a);
        assert_poisoned(&row);
    });
}

#[test]
fn a_panic_in_an_out_of_place_operation_poisons_nothing() {
    with_watchdog("panic under a read lock", || {
        let a = F::from_vec(vec![1.0f64, 2.0, 3.0], [3]);
        poison_with("binary", || drop(&a + &a));
        assert_eq!(a.to_vec::<f64>(), vec![1.0, 2.0, 3.0]);
        a.add_scalar_(1.0);
        assert_eq!(a.to_vec::<f64>(), vec![2.0, 3.0, 4.0]);
    });
}

// ----- the atomic path computes what the out-of-place operation does ------------------------

type InPlace = fn(&T, &T);
type OutOfPlace = fn(&T, &T) -> T;

#[test]
fn in_place_operations_on_concrete_tensors_match_their_out_of_place_forms() {
    let dtypes = [DType::Bool, DType::I64, DType::F32, DType::F64];
    let a0 = T::from_vec(vec![3.0f64, -2.0, 0.0, 5.0, 1.5, 7.0], [2, 3]);
    let b0 = T::from_vec(vec![2.0f64, 4.0, -1.0], [3]);
    for da in dtypes {
        for db in dtypes {
            let (a, b) = (a0.to_dtype(da), b0.to_dtype(db));
            let cases: [(&str, InPlace, OutOfPlace); 4] = [
                ("add_", |x, y| x.add_(y), |x, y| x + y),
                ("sub_", |x, y| x.sub_(y), |x, y| x - y),
                ("mul_", |x, y| x.mul_(y), |x, y| x * y),
                ("div_", |x, y| x.div_(y), |x, y| x / y),
            ];
            for (name, in_place, out_of_place) in cases {
                let got = catch_unwind(AssertUnwindSafe(|| {
                    let d = a.deep_copy();
                    in_place(&d, &b);
                    d
                }));
                let want = catch_unwind(AssertUnwindSafe(|| out_of_place(&a, &b).to_dtype(da)));
                match (got, want) {
                    (Ok(g), Ok(w)) => {
                        assert_eq!(g.dtype(), da, "{name} {da} {db}");
                        let (g, w) = (f64s(&g.to_dtype(DType::F64)), f64s(&w.to_dtype(DType::F64)));
                        let same = g.iter().zip(&w).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()));
                        assert!(same, "{name} {da} {db}: {g:?} != {w:?}");
                    }
                    (Err(_), Err(_)) => {}
                    (g, w) => panic!("{name} {da} {db}: in place ok={}, out of place ok={}", g.is_ok(), w.is_ok()),
                }
            }
        }
    }
}

#[test]
fn an_in_place_operand_may_alias_the_destination() {
    let a = T::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]);
    a.add_(&a.t());
    assert_eq!(f64s(&a), vec![2.0, 5.0, 5.0, 8.0]);
    let row = a.select(0, 0);
    a.mul_(&row);
    assert_eq!(f64s(&a), vec![4.0, 25.0, 10.0, 40.0]);
    a.sub_(&a);
    assert_eq!(f64s(&a), vec![0.0; 4]);
}

/// Storage ids (the key of the lock order) are unique across threads,
/// though each thread hands them out from a block of its own (NOTE:
/// [storage ids]): 4 threads x 20,000 fresh storages, no id seen twice.
#[test]
fn storage_ids_are_unique_across_threads() {
    let per = 20_000;
    let ids: Vec<u64> = thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|i| {
                s.spawn(move || {
                    (0..per)
                        .map(|j| {
                            let t = T::from_vec(vec![(i * per + j) as f64], [1]);
                            t.concrete().map(|(cell, _)| cell.id()).expect("a concrete tensor")
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().expect("no thread panics")).collect()
    });
    let distinct: std::collections::HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), 4 * per);
    assert_eq!(distinct.len(), ids.len(), "every storage has an id of its own");
}
