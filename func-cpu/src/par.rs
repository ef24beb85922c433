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
//! caller's own sleep and wake-up per call. A product's row blocks and the
//! im2col / col2im planes of a convolution go through `chunks` at every
//! size: with the hand-off below, the ensemble's 1280x784x64 product
//! (which rayon's own `par_chunks_mut` ran at one-thread speed in about half
//! the processes, 1.0-1.1 ms for the workload against 0.68) took
//! ensemble10_mlp_b64 to 0.56-0.68 ms in every process, and the planes
//! took psg_cnn_b64 from 47.5-50 to 43-44 ms (alternating runs).
//!
//! NOTE: [lingering worker] A worker of the pool that has run out of work
//! goes to sleep within microseconds, and waking it costs far more than
//! that: on the two-vCPU benchmark VM an empty two-way region took 6-8 µs
//! back to back, but 65-78 µs after a pause of 100 µs or more, because the
//! sleeping worker's vCPU halts and the host must wake it. (With another
//! thread keeping that vCPU busy it took 4-6 µs after any pause.) A kernel
//! that splits 100 µs of work in two therefore ran closer to 170 µs than to
//! 100. So each parallel region first arms a linger job (`linger`): one
//! worker of the pool keeps polling the pool for work (`rayon::yield_now`,
//! then `std::thread::yield_now`, which hands the core to any other thread
//! that wants it) until [`spin_time`] has passed since the last region,
//! then returns to rayon and sleeps. The next region's tasks are then
//! picked up at once. This is the role of OpenMP's spin-wait before a
//! thread blocks (`KMP_BLOCKTIME`, 200 ms by default in Intel's runtime,
//! which torch's MKL builds use); at 1 ms the cost is bounded to one core
//! for 1 ms after the last parallel kernel. Alternating runs, median ms, 0
//! against 1 ms: matmul_f32_256 0.123-0.148 -> 0.109-0.114, psg_mlp_b64
//! 1.29 -> 1.03-1.15, batch_hessian_B64_31to33 1.23 -> 1.06-1.09,
//! hessian_512to32 1.15 -> 1.03; lj_train_step_1000, batched_hessian_B64_D16
//! and maml unchanged. A low-priority (`SCHED_IDLE`) spinner thread that
//! only kept the vCPU awake was tried first and made psg_mlp_b64 15%
//! slower: rayon's idle workers call `sched_yield`, which handed their core
//! to the spinner until the next scheduler tick.
//!
//! NOTE: [the caller spins] The calling thread, done with its own share,
//! waits for the pool's shares by spinning (up to [`spin_time`]) rather
//! than blocking at once in rayon's scope: a thread that blocks is woken
//! as slowly as a worker is. Timed inside a 256^3 product split in two,
//! both shares ended 100-110 µs after the start, the worker having started
//! within 2 µs, but the call returned after 130-175 µs whenever the worker
//! finished after the caller. Spinning, matmul_f32_256 went 0.126-0.133 ->
//! 0.103-0.108 ms, psg_mlp_b64 1.21-1.28 -> 0.97-1.07 ms,
//! ensemble10_mlp_distinct_b64 0.82-0.89 -> 0.74 ms (alternating runs).
//!
//! NOTE: [handed to the lingering worker] The first of a region's tasks is
//! handed straight to the lingering worker through a one-task slot
//! (`Linger::hand`) instead of rayon's queue. A task pushed onto the queue
//! from outside the pool makes rayon wake a sleeping worker as well, since
//! it counts the lingering worker, busy in its linger job, as neither idle
//! nor asleep: three threads then ran on two vCPUs, and a 256^3 product
//! that the two took 0.103-0.111 ms over took 0.13-0.24 ms in about half of
//! the processes that had run the ensemble or Lennard-Jones workloads
//! before it (the woken worker's vCPU time came out of the product's). With
//! the hand-off it took 0.092-0.111 ms in 8 of 8 such processes. The
//! caller takes the task back and runs it itself when the worker has not
//! started it by the time the caller's own share is done (the worker being
//! descheduled, or its linger job just ending), so a hand-off never waits on
//! a thread that is not running. Taken back, it also sends the next
//! `SKIP_AFTER_BACK` regions' tasks to rayon's queue: in some processes the
//! lingering worker stopped taking tasks for milliseconds at a time (a
//! cause not found; its vCPU, it seems, shared with the caller's), and
//! every task of such a streak was taken back and run serially, the 256^3
//! product in 0.21 ms in 2 of 4 full runs of the bench runner; with the
//! skip, 0.108-0.112 ms in 5 of 5. The task borrows from the caller's stack:
//! `Handoff` keeps the caller from returning, or unwinding past the borrow,
//! before the task has run or been dropped.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// The environment variable that sets the initial [`spin_time`], in
/// microseconds.
pub const SPIN_ENV: &str = "FUNC_CPU_SPIN_US";

/// The default [`spin_time`]: 1 ms.
pub const DEFAULT_SPIN: Duration = Duration::from_millis(1);

fn spin_ns() -> &'static AtomicU64 {
    static NS: OnceLock<AtomicU64> = OnceLock::new();
    NS.get_or_init(|| {
        let us = std::env::var(SPIN_ENV).ok().and_then(|v| v.trim().parse::<u64>().ok());
        AtomicU64::new(us.map_or(nanos(DEFAULT_SPIN), |us| us.saturating_mul(1000)))
    })
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// How long one worker of the thread pool keeps looking for work after the
/// last parallel kernel, before it sleeps (NOTE: [lingering worker] in
/// par.rs), and at most how long a thread that split a kernel over the pool
/// spins for the other shares before it blocks (NOTE: [the caller spins]).
/// A kernel that starts within that time finds the worker awake instead of
/// paying tens of microseconds to wake it. Starts at [`DEFAULT_SPIN`], or
/// at the microseconds in the `FUNC_CPU_SPIN_US` environment variable
/// ([`SPIN_ENV`]) when it is set to a whole number.
pub fn spin_time() -> Duration {
    Duration::from_nanos(spin_ns().load(Ordering::Relaxed))
}

/// Sets [`spin_time`]. Zero turns the spinning off: the pool's workers
/// then sleep as soon as they run out of work, and a thread waiting for
/// them blocks at once, which saves the CPU time spent polling, at the
/// price of waking them for each parallel kernel. A longer time helps programs that leave longer gaps
/// between parallel kernels.
///
/// ```
/// use std::time::Duration;
///
/// func_cpu::set_spin_time(Duration::ZERO);
/// assert_eq!(func_cpu::spin_time(), Duration::ZERO);
/// func_cpu::set_spin_time(func_cpu::DEFAULT_SPIN);
/// ```
pub fn set_spin_time(d: Duration) {
    spin_ns().store(nanos(d), Ordering::Relaxed);
}

fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    nanos(EPOCH.get_or_init(Instant::now).elapsed())
}

/// A worker of the pool polling for work until `deadline`.
struct Linger {
    /// Nanoseconds since `now_ns`'s epoch.
    deadline: AtomicU64,
    /// Whether a linger job is queued or running.
    active: AtomicBool,
    /// Whether a linger job is running and polls `slot`.
    polling: AtomicBool,
    /// A task handed to the linger job (NOTE: [handed to the lingering
    /// worker]): null, or a reference to a `Handed` made by `Arc::into_raw`,
    /// owned by whoever swaps it out.
    slot: AtomicPtr<Handed>,
    /// How many more regions send their task to rayon's queue instead,
    /// after a task handed over was taken back (NOTE: [handed to the
    /// lingering worker]).
    skip: AtomicUsize,
}

/// Regions that skip the hand-off after a task was taken back.
const SKIP_AFTER_BACK: usize = 32;

/// One task handed to the linger job, and how it ended.
struct Handed {
    /// The task, until the worker or its caller takes it. Its lifetime is
    /// erased: the caller does not return before the task has run or been
    /// dropped (`Handoff`).
    job: Mutex<Option<Job>>,
    /// Set by the worker once the task has run.
    done: AtomicBool,
    /// The task's panic, for the caller to resume.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// The caller, once it has stopped spinning and parks.
    waiter: Mutex<Option<Thread>>,
}

type Job = Box<dyn FnOnce() + Send>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing runs user code while holding these locks, so a poisoned lock
    // still holds a consistent value.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Linger {
    const fn new() -> Self {
        Linger {
            deadline: AtomicU64::new(0),
            active: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            slot: AtomicPtr::new(std::ptr::null_mut()),
            skip: AtomicUsize::new(0),
        }
    }

    /// Extends the deadline to `ns` from now and starts a linger job unless
    /// one is running.
    fn arm(&'static self, ns: u64) {
        if ns == 0 {
            return;
        }
        self.deadline.store(now_ns().saturating_add(ns), Ordering::SeqCst);
        if !self.active.load(Ordering::SeqCst) && !self.active.swap(true, Ordering::SeqCst) {
            rayon::spawn(move || self.run());
        }
    }

    fn run(&self) {
        self.polling.store(true, Ordering::SeqCst);
        loop {
            self.run_handed();
            match rayon::yield_now() {
                Some(rayon::Yield::Executed) => continue,
                Some(rayon::Yield::Idle) => {}
                None => break,
            }
            if now_ns() >= self.deadline.load(Ordering::SeqCst) {
                self.active.store(false, Ordering::SeqCst);
                // An `arm` between the load and the store saw this job
                // active and started none: take its deadline over.
                if now_ns() >= self.deadline.load(Ordering::SeqCst) || self.active.swap(true, Ordering::SeqCst) {
                    self.polling.store(false, Ordering::SeqCst);
                    // A task handed over before the store runs here; one
                    // handed over after it is taken back by its caller.
                    self.run_handed();
                    return;
                }
            }
            std::thread::yield_now();
        }
        self.polling.store(false, Ordering::SeqCst);
        self.active.store(false, Ordering::SeqCst);
    }

    /// Runs the task in `slot`, if any.
    fn run_handed(&self) {
        let p = self.slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if p.is_null() {
            return;
        }
        // SAFETY: a non-null `slot` holds a reference made by `Arc::into_raw`
        // in `hand`, and the swap made this thread its only owner (the
        // caller's `compare_exchange` in `Handoff::finish` now fails).
        let h = unsafe { Arc::from_raw(p) };
        let job = lock(&h.job).take();
        if let Some(job) = job
            && let Err(e) = std::panic::catch_unwind(AssertUnwindSafe(job))
        {
            *lock(&h.panic) = Some(e);
        }
        h.done.store(true, Ordering::SeqCst);
        if let Some(t) = lock(&h.waiter).take() {
            t.unpark();
        }
    }

    /// Hands `job` to the running linger job, or gives it back when none
    /// polls or another task waits in the slot.
    fn hand<'a>(&'static self, job: Box<dyn FnOnce() + Send + 'a>) -> Result<Handoff, Box<dyn FnOnce() + Send + 'a>> {
        if !self.polling.load(Ordering::SeqCst) || !self.slot.load(Ordering::Relaxed).is_null() {
            return Err(job);
        }
        if self.skip.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| s.checked_sub(1)).is_ok() {
            return Err(job);
        }
        // SAFETY: only the lifetime changes (same layout). The task runs or
        // is dropped before the `Handoff` returned here is finished or
        // dropped, and `in_place` holds that `Handoff` while everything the
        // task borrows for `'a` is alive.
        let erased: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + 'a>, Job>(job) };
        let h = Arc::new(Handed {
            job: Mutex::new(Some(erased)),
            done: AtomicBool::new(false),
            panic: Mutex::new(None),
            waiter: Mutex::new(None),
        });
        let raw = Arc::into_raw(Arc::clone(&h)).cast_mut();
        match self.slot.compare_exchange(std::ptr::null_mut(), raw, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => Ok(Handoff { linger: self, h, raw, open: true }),
            Err(_) => {
                // SAFETY: `raw` was made by `Arc::into_raw` just above and
                // was never published.
                drop(unsafe { Arc::from_raw(raw) });
                let job = lock(&h.job).take();
                match job {
                    // SAFETY: the lifetime erased above is restored; the
                    // task was never shared.
                    Some(job) => Err(unsafe { std::mem::transmute::<Job, Box<dyn FnOnce() + Send + 'a>>(job) }),
                    None => unreachable!("an unpublished task was taken"),
                }
            }
        }
    }
}

/// A task handed to the linger job. Finishing it (or dropping it, when the
/// caller unwinds) takes the task back if the worker has not started it, or
/// waits until the worker has run it.
struct Handoff {
    linger: &'static Linger,
    h: Arc<Handed>,
    raw: *mut Handed,
    open: bool,
}

impl Handoff {
    /// Runs the task here if the worker has not taken it, else waits for
    /// it; resumes its panic.
    fn finish(mut self) {
        self.open = false;
        if let Some(job) = self.take_back() {
            job();
            return;
        }
        self.wait();
        let panic = lock(&self.h.panic).take();
        if let Some(e) = panic {
            std::panic::resume_unwind(e);
        }
    }

    /// The task, if it was still in the slot; `None` when the worker took
    /// it.
    fn take_back(&self) -> Option<Job> {
        let back =
            self.linger.slot.compare_exchange(self.raw, std::ptr::null_mut(), Ordering::AcqRel, Ordering::Relaxed);
        if back.is_err() {
            return None;
        }
        // SAFETY: the slot held `raw`, made by `Arc::into_raw` in `hand`, and
        // the exchange made this thread its only owner.
        drop(unsafe { Arc::from_raw(self.raw) });
        self.linger.skip.store(SKIP_AFTER_BACK, Ordering::Relaxed);
        let job = lock(&self.h.job).take();
        debug_assert!(job.is_some(), "a task in the slot had been taken");
        job
    }

    /// Waits for the worker that took the task: spins up to `spin_time`,
    /// then parks until it unparks this thread.
    fn wait(&self) {
        if spin_until(|| self.h.done.load(Ordering::SeqCst)) {
            return;
        }
        *lock(&self.h.waiter) = Some(std::thread::current());
        // The worker sets `done` before it looks for a waiter.
        while !self.h.done.load(Ordering::SeqCst) {
            std::thread::park();
        }
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        if self.open {
            // Unwinding: drop a task not started, wait for one running.
            if self.take_back().is_none() {
                self.wait();
            }
        }
    }
}

static LINGER: Linger = Linger::new();

// NOTE: [work where its data is] `chunks` leaves each thread's share of an
// output in that thread's core's cache: the first part in the caller's,
// the rest in the worker's. A kernel that then reads the whole output on
// one thread fetches half of it from the other core's cache, which on the
// two-vCPU benchmark VM made an 82K-element bias add after the ensemble's
// first product take 22 us in the pipeline against 10 us hot. So a kernel
// whose operand is one of the last few outputs split here runs split from
// [`PAR_NEAR`] elements on (its own output then split the same way, and
// the next kernel likewise), and otherwise from `PAR_MIN` (in strided.rs),
// where splitting pays for data that sits in one cache. Only kernels whose
// results do not depend on the split consult this (maps and copies, and
// reductions split over their outputs): a reduction split over its reduced
// elements, which changes the order of its sums, keeps `PAR_MIN`, so that
// no result depends on where its operands were computed. Best of 40
// alternating processes of the bench runner against `PAR_MIN` for all
// kernels (a busy host: medians moved by up to 30% between processes of
// one binary): ensemble10_mlp_b64 0.948x, ensemble10_mlp_distinct_b64
// 0.948x, batch_jacrev_B64_31to33 0.912x, jacfwd_32to2048 0.832x and
// jacfwd_2048to32 0.817x (these two with `TRANSPOSE_COST` in strided.rs),
// the other small rows 0.99-1.01x. `PAR_MIN` lowered to 2^15 for every
// kernel gave the ensembles the same, but took jacrev_32to2048 and
// psg_mlp_b64 2-4% slower, and splits sums by where they run.

/// The work (in elements) from which a kernel whose operand was split over
/// the threads is split too (NOTE: [work where its data is]).
pub(crate) const PAR_NEAR: usize = 1 << 15;

/// How many recent split outputs are remembered.
const SPLITS: usize = 4;

/// The byte ranges `[start, end)` of the last [`SPLITS`] outputs split by
/// [`chunks`], written in turn. A hint only: a reader may see a slot half
/// rewritten, or a range whose buffer has since been freed and reused,
/// and then splits a kernel that did not need it (or not one that did).
static SPLIT: [[AtomicUsize; 2]; SPLITS] = [const { [AtomicUsize::new(0), AtomicUsize::new(0)] }; SPLITS];
static NEXT_SPLIT: AtomicUsize = AtomicUsize::new(0);

fn record_split<T>(out: &[T]) {
    let start = out.as_ptr() as usize;
    let slot = &SPLIT[NEXT_SPLIT.fetch_add(1, Ordering::Relaxed) % SPLITS];
    slot[0].store(start, Ordering::Relaxed);
    slot[1].store(start.saturating_add(size_of_val(out)), Ordering::Relaxed);
}

/// Whether the buffer starting at `addr` is one of the last outputs split
/// over the threads.
fn was_split(addr: usize) -> bool {
    SPLIT.iter().any(|[s, e]| (s.load(Ordering::Relaxed)..e.load(Ordering::Relaxed)).contains(&addr))
}

thread_local! {
    /// Whether the kernel running on this thread reads a split output
    /// (NOTE: [work where its data is]).
    static NEAR: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The work from which the kernel running on this thread is split: see
/// NOTE: [work where its data is].
pub(crate) fn par_min() -> usize {
    if NEAR.with(std::cell::Cell::get) { PAR_NEAR } else { crate::strided::PAR_MIN }
}

/// Runs the kernel `f`, whose operands' buffers start at `addrs`, with
/// [`par_min`] lowered when one of them was split over the threads.
pub(crate) fn near<R>(addrs: &[usize], f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            NEAR.with(|n| n.set(self.0));
        }
    }
    let near = rayon::current_num_threads() >= 2 && addrs.iter().any(|&a| was_split(a));
    let _reset = Reset(NEAR.with(|n| n.replace(near)));
    f()
}

/// Keeps one worker of the pool awake for [`spin_time`] (NOTE: [lingering
/// worker]). Called at the start of every parallel region.
pub(crate) fn linger() {
    if rayon::current_num_threads() >= 2 {
        LINGER.arm(spin_ns().load(Ordering::Relaxed));
    }
}

/// `f(i, chunk)` for the `chunk`-sized chunks of `out` (the last may be
/// shorter), in parallel: the chunks are cut into one contiguous share per
/// thread of the pool, the calling thread runs the first share and the pool
/// the others (NOTE: [calling thread works]). Inline when there is one share.
/// For chunks of even cost (the row blocks of one product, the planes of a
/// convolution); uneven ones balance better through rayon's own splitting.
#[inline]
pub(crate) fn chunks<T: Send>(out: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    chunks_of(out, chunk, &f);
}

/// [`chunks`] with `f` behind a trait object: the split and the pool's
/// jobs are compiled once per element type, not once per kernel (NOTE:
/// [one traversal per element type] in strided.rs).
fn chunks_of<T: Send>(out: &mut [T], chunk: usize, f: &(dyn Fn(usize, &mut [T]) + Sync)) {
    let chunk = chunk.max(1);
    let count = out.len().div_ceil(chunk);
    let threads = rayon::current_num_threads().min(count);
    if threads < 2 {
        out.chunks_mut(chunk).enumerate().for_each(|(i, o)| f(i, o));
        return;
    }
    record_split(out);
    let per = count.div_ceil(threads);
    let share = |g: usize, part: &mut [T]| {
        part.chunks_mut(chunk).enumerate().for_each(|(i, o)| f(g * per + i, o));
    };
    let share = &share;
    let mut shares = out.chunks_mut(per * chunk).enumerate();
    let first = shares.next();
    in_place(shares.map(|(g, part)| move || share(g, part)), || {
        if let Some((g, part)) = first {
            share(g, part);
        }
    });
}

/// Runs `first` on the calling thread and each of `rest` as a task of the
/// pool (NOTE: [calling thread works]), and returns when all have run. The
/// calling thread, done with `first`, waits for the tasks by spinning for
/// up to [`spin_time`] before it blocks (NOTE: [the caller spins]).
pub(crate) fn in_place<'a, J: FnOnce() + Send + 'a>(rest: impl IntoIterator<Item = J>, first: impl FnOnce()) {
    linger();
    let pending = AtomicUsize::new(0);
    let pending = &pending;
    let mut rest = rest.into_iter();
    rayon::in_place_scope(|s| {
        let spawn = |job: Box<dyn FnOnce() + Send + 'a>| {
            pending.fetch_add(1, Ordering::Relaxed);
            s.spawn(move |_| {
                job();
                pending.fetch_sub(1, Ordering::Release);
            });
        };
        let handoff = match rest.next().map(|job| LINGER.hand(Box::new(job))) {
            Some(Ok(handoff)) => Some(handoff),
            Some(Err(job)) => {
                spawn(job);
                None
            }
            None => None,
        };
        rest.for_each(|job| spawn(Box::new(job)));
        first();
        if let Some(handoff) = handoff {
            handoff.finish();
        }
        spin_until(|| pending.load(Ordering::Acquire) == 0);
    });
}

/// Spins until `done()` or for [`spin_time`], whichever comes first; whether
/// `done()` was seen.
fn spin_until(done: impl Fn() -> bool) -> bool {
    let limit = spin_ns().load(Ordering::Relaxed);
    let start = now_ns();
    while now_ns().saturating_sub(start) < limit {
        // A few microseconds of `pause` between yields: a thread that the
        // pool's worker (or another program) is waiting to run gets the
        // core.
        for _ in 0..64 {
            if done() {
                return true;
            }
            std::hint::spin_loop();
        }
        std::thread::yield_now();
    }
    done()
}

#[cfg(test)]
mod tests {
    use super::{Linger, PAR_NEAR, SKIP_AFTER_BACK, chunks, in_place, near, now_ns, par_min};
    use crate::strided::PAR_MIN;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    /// Waits (at most 10 s) for `l`'s job to return; the time it saw it gone.
    fn ended(l: &Linger) -> u64 {
        let start = Instant::now();
        while l.active.load(Ordering::SeqCst) {
            assert!(start.elapsed() < Duration::from_secs(10), "the linger job did not return");
            std::thread::sleep(Duration::from_micros(200));
        }
        now_ns()
    }

    #[test]
    fn a_linger_job_runs_the_pools_work_until_its_deadline_and_can_be_rearmed() {
        let l: &'static Linger = Box::leak(Box::new(Linger::new()));
        l.arm(0);
        assert!(!l.active.load(Ordering::SeqCst), "a zero spin time started a linger job");
        for round in 0..3 {
            let ns = 20_000_000;
            l.arm(ns);
            assert!(l.active.load(Ordering::SeqCst), "round {round}: arming started no linger job");
            // Tasks sent to the pool while it lingers still run.
            let mut v = vec![0usize; 4096];
            chunks(&mut v, 512, |i, o| o.iter_mut().for_each(|x| *x = i + 1));
            assert!(v.iter().enumerate().all(|(j, &x)| x == j / 512 + 1), "round {round}");
            let deadline = l.deadline.load(Ordering::SeqCst);
            assert!(ended(l) >= deadline, "round {round}: the linger job returned before its deadline");
        }
    }

    /// A linger job of its own, running and polling its slot.
    fn polling_linger() -> &'static Linger {
        let l: &'static Linger = Box::leak(Box::new(Linger::new()));
        l.arm(10_000_000_000);
        let start = Instant::now();
        while !l.polling.load(Ordering::SeqCst) {
            assert!(start.elapsed() < Duration::from_secs(10), "the linger job did not start");
            std::thread::yield_now();
        }
        l
    }

    /// Waits (at most 10 s) for the linger job to take the task in `l`'s
    /// slot.
    fn taken(l: &Linger) {
        let start = Instant::now();
        while !l.slot.load(Ordering::SeqCst).is_null() {
            assert!(start.elapsed() < Duration::from_secs(10), "the worker never took the task");
            std::thread::yield_now();
        }
    }

    /// Sends the job home: a deadline in the past ends it.
    fn end(l: &Linger) {
        l.deadline.store(0, Ordering::SeqCst);
        ended(l);
        let start = Instant::now();
        while l.polling.load(Ordering::SeqCst) {
            assert!(start.elapsed() < Duration::from_secs(10), "the ended linger job still polls");
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_task_handed_to_the_lingering_worker_runs_there_once_and_its_panic_reaches_the_caller() {
        let l = polling_linger();
        let caller = std::thread::current().id();
        for round in 0..3 {
            let ran = Mutex::new(Vec::new());
            let handoff = l.hand(Box::new(|| ran.lock().expect("no panic").push(std::thread::current().id())));
            let handoff = handoff.unwrap_or_else(|_| panic!("round {round}: a polling linger job refused the task"));
            taken(l);
            handoff.finish();
            let ran = ran.into_inner().expect("no panic");
            assert_eq!(ran.len(), 1, "round {round}: the task ran {} times", ran.len());
            assert_ne!(ran[0], caller, "round {round}: the task ran on the caller");
        }
        let handoff = l.hand(Box::new(|| panic!("the handed task failed"))).unwrap_or_else(|_| panic!("refused"));
        taken(l);
        let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handoff.finish()));
        let msg = got.expect_err("the task's panic was lost");
        assert_eq!(msg.downcast_ref::<&str>(), Some(&"the handed task failed"));
        // Dropped (the caller unwinding) while the worker runs it: the drop
        // returns only once the task has ended.
        let finished = AtomicUsize::new(0);
        let handoff = l.hand(Box::new(|| {
            std::thread::sleep(Duration::from_millis(30));
            finished.store(1, Ordering::SeqCst);
        }));
        let handoff = handoff.unwrap_or_else(|_| panic!("refused"));
        taken(l);
        drop(handoff);
        assert_eq!(finished.load(Ordering::SeqCst), 1, "the hand-off was dropped before its running task ended");
        end(l);
    }

    #[test]
    fn a_task_no_worker_took_runs_on_the_caller_or_is_dropped_unrun() {
        // Polling, as far as `hand` can tell, but no job takes the slot.
        let l: &'static Linger = Box::leak(Box::new(Linger::new()));
        l.polling.store(true, Ordering::SeqCst);
        let caller = std::thread::current().id();
        let ran = Mutex::new(Vec::new());
        let handoff = l.hand(Box::new(|| ran.lock().expect("no panic").push(std::thread::current().id())));
        let handoff = handoff.unwrap_or_else(|_| panic!("a free slot refused the task"));
        // A second task finds the slot taken and is given back.
        assert!(l.hand(Box::new(|| {})).is_err(), "the slot took a second task");
        handoff.finish();
        assert_eq!(ran.into_inner().expect("no panic"), vec![caller]);
        assert!(l.slot.load(Ordering::SeqCst).is_null(), "the slot kept the task");
        // Taken back: the next regions send their tasks to rayon's queue.
        let skipped = (0..SKIP_AFTER_BACK).filter(|_| l.hand(Box::new(|| {})).is_err()).count();
        assert_eq!(skipped, SKIP_AFTER_BACK, "regions after a task taken back still handed theirs over");

        // Dropped unfinished (the caller unwinding): dropped, not run.
        let count = AtomicUsize::new(0);
        let held = Arc::new(());
        let h2 = Arc::clone(&held);
        let handoff = l.hand(Box::new(|| {
            let _h2 = h2;
            count.fetch_add(1, Ordering::SeqCst);
        }));
        drop(handoff.unwrap_or_else(|_| panic!("a free slot refused the task")));
        assert_eq!(count.load(Ordering::SeqCst), 0, "a dropped hand-off ran its task");
        assert_eq!(Arc::strong_count(&held), 1, "the task was not dropped");
        assert!(l.slot.load(Ordering::SeqCst).is_null(), "the slot kept the task");

        // Not polling: given back.
        l.polling.store(false, Ordering::SeqCst);
        assert!(l.hand(Box::new(|| {})).is_err(), "a linger job that does not poll took a task");
    }

    #[test]
    fn regions_from_several_threads_at_once_each_run_every_task_once() {
        // Callers race for the one slot: the losers' tasks go to rayon's
        // queue, and every region still sees each of its chunks once.
        let mut checked = 0usize;
        std::thread::scope(|s| {
            let runs: Vec<_> = (0..4usize)
                .map(|t| {
                    s.spawn(move || {
                        for round in 0..300usize {
                            let mut v = vec![0usize; 64 + t * 7 + round % 5];
                            chunks(&mut v, 16, |i, o| o.iter_mut().for_each(|x| *x += i + 1));
                            let want: Vec<usize> = (0..v.len()).map(|j| j / 16 + 1).collect();
                            assert_eq!(v, want, "thread {t} round {round}");
                        }
                        300
                    })
                })
                .collect();
            checked = runs.into_iter().map(|r| r.join().expect("a caller panicked")).sum();
        });
        assert_eq!(checked, 1200);
    }

    #[test]
    fn in_place_runs_the_first_part_and_every_task_once() {
        for tasks in [0usize, 1, 3, 17] {
            let mut slots = vec![0usize; tasks + 1];
            let (first, rest) = slots.split_first_mut().expect("one slot at least");
            in_place(rest.iter_mut().enumerate().map(|(i, x)| move || *x += i + 2), || *first += 1);
            assert_eq!(slots, (0..=tasks).map(|i| i + 1).collect::<Vec<_>>(), "{tasks} tasks");
        }
    }

    #[test]
    fn a_kernel_reading_a_split_output_splits_from_par_near() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("a pool of two threads");
        pool.install(|| {
            // An address on the stack lies in no output `chunks` split.
            let local = 0u8;
            let away = std::ptr::from_ref(&local) as usize;
            assert_eq!(par_min(), PAR_MIN);
            assert_eq!(near(&[away], par_min), PAR_MIN, "an operand that was not split");
            // Other tests split outputs at the same time and may take the
            // slots back: the split is retried until one is seen.
            let mut seen = false;
            for _ in 0..100 {
                let mut out = vec![0u32; 4096];
                chunks(&mut out, 256, |i, o| o.iter_mut().for_each(|x| *x = i as u32));
                let split = out.as_ptr() as usize;
                // Nested: the inner kernel's operand decides, and the outer
                // threshold comes back after it.
                let (outer, inner, after) = near(&[away, split + 4], || (par_min(), near(&[away], par_min), par_min()));
                if outer == PAR_NEAR {
                    assert_eq!((inner, after), (PAR_MIN, PAR_NEAR));
                    seen = true;
                    break;
                }
            }
            assert!(seen, "an operand inside a split output never lowered the threshold");
            assert_eq!(par_min(), PAR_MIN, "the threshold came back after the kernel");
        });
        // One thread: nothing is split, whatever the operand.
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a pool of one thread");
        one.install(|| {
            let mut out = vec![0u32; 4096];
            chunks(&mut out, 256, |i, o| o.iter_mut().for_each(|x| *x = i as u32));
            assert_eq!(near(&[out.as_ptr() as usize], par_min), PAR_MIN);
        });
    }

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
