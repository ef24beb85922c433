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

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
}

impl Linger {
    const fn new() -> Self {
        Linger { deadline: AtomicU64::new(0), active: AtomicBool::new(false) }
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
        loop {
            match rayon::yield_now() {
                Some(rayon::Yield::Executed) => continue,
                Some(rayon::Yield::Idle) => {}
                None => {
                    self.active.store(false, Ordering::SeqCst);
                    return;
                }
            }
            if now_ns() >= self.deadline.load(Ordering::SeqCst) {
                self.active.store(false, Ordering::SeqCst);
                // An `arm` between the load and the store saw this job
                // active and started none: take its deadline over.
                if now_ns() >= self.deadline.load(Ordering::SeqCst) || self.active.swap(true, Ordering::SeqCst) {
                    return;
                }
            }
            std::thread::yield_now();
        }
    }
}

static LINGER: Linger = Linger::new();

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
    rayon::in_place_scope(|s| {
        for job in rest {
            pending.fetch_add(1, Ordering::Relaxed);
            s.spawn(move |_| {
                job();
                pending.fetch_sub(1, Ordering::Release);
            });
        }
        first();
        if pending.load(Ordering::Acquire) != 0 {
            let limit = spin_ns().load(Ordering::Relaxed);
            let start = now_ns();
            // A few microseconds of `pause` between yields: a thread that
            // the pool's worker (or another program) is waiting to run
            // gets the core.
            'wait: while now_ns().saturating_sub(start) < limit {
                for _ in 0..64 {
                    if pending.load(Ordering::Acquire) == 0 {
                        break 'wait;
                    }
                    std::hint::spin_loop();
                }
                std::thread::yield_now();
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{Linger, chunks, in_place, now_ns};
    use std::sync::atomic::Ordering;
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
