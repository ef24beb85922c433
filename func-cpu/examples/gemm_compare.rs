//! Compare the two pure-Rust GEMMs, `matrixmultiply` and `gemm`, on the
//! products of the benchmark workloads, on one thread and on two.
//!
//! ```text
//! cargo run --release -p func-cpu --example gemm_compare
//! ```
//!
//! Each line prints the median milliseconds of one (library, threading)
//! strategy on one shape. Shapes, as the benchmark workloads issue them:
//!
//! - `matmul_f32_256`: one 256x256x256 product;
//! - `ensemble10_mlp_b64`: ten products per layer, `x [64, k] @ w[i]^T`
//!   (the weight read through its transpose), 64x784x128, 64x128x128 and
//!   64x128x10, in f32 and f64;
//! - `psg_cnn_b64`: the im2col products of the per-sample CNN gradient, a
//!   batch of 64 each: `w [32, 9] @ cols [9, 676]`, `w [64, 288] @ cols
//!   [288, 576]`, their weight gradients `g [o, L] @ cols^T` and the input
//!   gradient `w^T [288, 64] @ g [64, 576]`, and the linear layer's folded
//!   products 64x9216x128 and 64x128x9216.
//!
//! Strategies on two threads: "tasks" runs the products of a batch as rayon
//! tasks, each product on one thread; "split" runs the products one after
//! another, each on two threads (matrixmultiply: two row blocks as rayon
//! tasks; gemm: its own `Parallelism::Rayon(2)`, which runs on rayon too).
//! "fold" bounds what a packing cache could save for an operand shared by a
//! batch: it times one product whose `n` is the batch's `n` times the batch
//! (the shared operand packed once).
use rayon::prelude::*;
use std::time::Instant;

/// A strided operand: (rows, cols, row stride, col stride) over a buffer.
#[derive(Clone, Copy)]
struct Op {
    rs: isize,
    cs: isize,
}

/// One GEMM call site: `batch` products of m x k x n, `a`/`b` strides, and
/// whether the `a` (left) operand is shared by the batch.
struct Shape {
    name: &'static str,
    batch: usize,
    m: usize,
    k: usize,
    n: usize,
    a: Op,
    b: Op,
    a_shared: bool,
    b_shared: bool,
}

trait Num: Copy + Send + Sync + 'static + From<f32> {
    const NAME: &'static str;
    /// # Safety
    /// As `matrixmultiply::sgemm`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn mm(m: usize, k: usize, n: usize, a: *const Self, a: Op, b: *const Self, b: Op, c: *mut Self, rsc: isize);
}

macro_rules! num {
    ($t:ident, $gemm:path) => {
        impl Num for $t {
            const NAME: &'static str = stringify!($t);
            unsafe fn mm(
                m: usize,
                k: usize,
                n: usize,
                pa: *const Self,
                a: Op,
                pb: *const Self,
                b: Op,
                c: *mut Self,
                rsc: isize,
            ) {
                // SAFETY: forwarded from the caller's contract.
                unsafe { $gemm(m, k, n, 1.0, pa, a.rs, a.cs, pb, b.rs, b.cs, 0.0, c, rsc, 1) }
            }
        }
    };
}

num!(f32, matrixmultiply::sgemm);
num!(f64, matrixmultiply::dgemm);

/// `gemm::gemm` with beta = 1 and a write-only destination.
///
/// # Safety
/// Every addressed element in bounds; `c` distinct from `a`, `b`.
#[allow(clippy::too_many_arguments)]
unsafe fn gg<T: Num>(
    m: usize,
    k: usize,
    n: usize,
    pa: *const T,
    a: Op,
    pb: *const T,
    b: Op,
    c: *mut T,
    rsc: isize,
    par: gemm::Parallelism,
) {
    let (zero, one) = (T::from(0.0), T::from(1.0));
    // SAFETY: forwarded from the caller's contract.
    unsafe {
        gemm::gemm(m, n, k, c, 1, rsc, false, pa, a.cs, a.rs, pb, b.cs, b.rs, zero, one, false, false, false, par)
    }
}

#[derive(Clone, Copy)]
struct P<T>(*const T);
// SAFETY: the benchmark only reads through these pointers, from buffers
// that outlive every task.
unsafe impl<T> Send for P<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for P<T> {}

impl<T> P<T> {
    /// The pointer (a method, so closures capture the whole `Send` wrapper).
    fn get(self) -> *const T {
        self.0
    }
}

fn median(mut f: impl FnMut(), reps: usize) -> f64 {
    for _ in 0..3 {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn run<T: Num>(s: &Shape, threads: usize, reps: usize) {
    let (m, k, n, batch) = (s.m, s.k, s.n, s.batch);
    let a_len = if s.a_shared { m * k } else { batch * m * k };
    let b_len = if s.b_shared { k * n } else { batch * k * n };
    let a: Vec<T> = (0..a_len).map(|i| T::from(((i * 7) % 13) as f32 * 0.1 - 0.6)).collect();
    let b: Vec<T> = (0..b_len).map(|i| T::from(((i * 5) % 11) as f32 * 0.1 - 0.5)).collect();
    let mut c: Vec<T> = vec![T::from(0.0); batch * m * n];
    let (pa, pb) = (P(a.as_ptr()), P(b.as_ptr()));
    let a_step = if s.a_shared { 0 } else { m * k };
    let b_step = if s.b_shared { 0 } else { k * n };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
    let label = format!("{} {} x{} {}x{}x{}", s.name, T::NAME, batch, m, k, n);
    let line = |what: &str, ms: f64| println!("{label:<40} t={threads} {what:<12} {ms:9.4} ms");
    let row_tile = 8;
    pool.install(|| {
        // One product `i`, rows [r0, r0 + rows) of it, into `c`.
        let mm = |i: usize, r0: usize, rows: usize, c: &mut [T]| {
            // SAFETY: the buffers hold `batch` (or one shared) operands of
            // the strides given, and `c` is `rows * n` long.
            unsafe {
                let ap = pa.get().add(i * a_step).offset(r0 as isize * s.a.rs);
                T::mm(rows, k, n, ap, s.a, pb.get().add(i * b_step), s.b, c.as_mut_ptr(), n as isize)
            }
        };
        let gm = |i: usize, c: &mut [T], par| {
            // SAFETY: as above.
            unsafe {
                gg(
                    m,
                    k,
                    n,
                    pa.get().add(i * a_step),
                    s.a,
                    pb.get().add(i * b_step),
                    s.b,
                    c.as_mut_ptr(),
                    n as isize,
                    par,
                )
            }
        };
        if threads == 1 {
            let t = median(|| c.chunks_mut(m * n).enumerate().for_each(|(i, c)| mm(i, 0, m, c)), reps);
            line("mm", t);
            let t =
                median(|| c.chunks_mut(m * n).enumerate().for_each(|(i, c)| gm(i, c, gemm::Parallelism::None)), reps);
            line("gemm", t);
        } else {
            if batch > 1 {
                let t = median(|| c.par_chunks_mut(m * n).enumerate().for_each(|(i, c)| mm(i, 0, m, c)), reps);
                line("mm tasks", t);
                let t = median(
                    || c.par_chunks_mut(m * n).enumerate().for_each(|(i, c)| gm(i, c, gemm::Parallelism::None)),
                    reps,
                );
                line("gemm tasks", t);
            }
            let block = m.div_ceil(threads).next_multiple_of(row_tile);
            let t = median(
                || {
                    c.chunks_mut(m * n).enumerate().for_each(|(i, c)| {
                        c.par_chunks_mut(block * n).enumerate().for_each(|(j, cb)| mm(i, j * block, cb.len() / n, cb))
                    })
                },
                reps,
            );
            line("mm split", t);
            let t = median(
                || c.chunks_mut(m * n).enumerate().for_each(|(i, c)| gm(i, c, gemm::Parallelism::Rayon(threads))),
                reps,
            );
            line("gemm split", t);
        }
    });
    // The shared operand packed once: one product with n (or m) times batch.
    if batch > 1 && (s.a_shared || s.b_shared) && threads == 1 {
        let (fm, fn_) = if s.a_shared { (m, n * batch) } else { (m * batch, n) };
        let fa: Vec<T> = vec![T::from(0.5); fm * k];
        let fb: Vec<T> = vec![T::from(0.25); k * fn_];
        let mut fc: Vec<T> = vec![T::from(0.0); fm * fn_];
        let (fa_op, fb_op) = (Op { rs: k as isize, cs: 1 }, Op { rs: 1, cs: k as isize });
        let t = median(
            // SAFETY: buffers of exactly these shapes and strides.
            || unsafe { T::mm(fm, k, fn_, fa.as_ptr(), fa_op, fb.as_ptr(), fb_op, fc.as_mut_ptr(), fn_ as isize) },
            reps,
        );
        line("mm fold", t);
        let t = median(
            // SAFETY: as above.
            || unsafe {
                gg(
                    fm,
                    k,
                    fn_,
                    fa.as_ptr(),
                    fa_op,
                    fb.as_ptr(),
                    fb_op,
                    fc.as_mut_ptr(),
                    fn_ as isize,
                    gemm::Parallelism::None,
                )
            },
            reps,
        );
        line("gemm fold", t);
    }
}

fn main() {
    let row = |k: usize| Op { rs: k as isize, cs: 1 };
    let tr = |k: usize| Op { rs: 1, cs: k as isize };
    let sq = Shape {
        name: "matmul_256",
        batch: 1,
        m: 256,
        k: 256,
        n: 256,
        a: row(256),
        b: row(256),
        a_shared: false,
        b_shared: false,
    };
    let sq1024 = Shape {
        name: "matmul_1024",
        batch: 1,
        m: 1024,
        k: 1024,
        n: 1024,
        a: row(1024),
        b: row(1024),
        a_shared: false,
        b_shared: false,
    };
    // ensemble: x [64, k] shared, w[i] [n, k] read as w^T.
    let ens = |k: usize, n: usize| Shape {
        name: "ensemble",
        batch: 10,
        m: 64,
        k,
        n,
        a: row(k),
        b: tr(k),
        a_shared: true,
        b_shared: false,
    };
    let ensemble = [ens(784, 128), ens(128, 128), ens(128, 10)];
    let cnn = [
        // forward: w [o, k] shared @ cols [k, L]
        Shape {
            name: "cnn conv1 fwd",
            batch: 64,
            m: 32,
            k: 9,
            n: 676,
            a: row(9),
            b: row(676),
            a_shared: true,
            b_shared: false,
        },
        Shape {
            name: "cnn conv2 fwd",
            batch: 64,
            m: 64,
            k: 288,
            n: 576,
            a: row(288),
            b: row(576),
            a_shared: true,
            b_shared: false,
        },
        // weight gradients: g [o, L] @ cols^T [L, k]
        Shape {
            name: "cnn conv1 dW",
            batch: 64,
            m: 32,
            k: 676,
            n: 9,
            a: row(676),
            b: tr(676),
            a_shared: false,
            b_shared: false,
        },
        Shape {
            name: "cnn conv2 dW",
            batch: 64,
            m: 64,
            k: 576,
            n: 288,
            a: row(576),
            b: tr(576),
            a_shared: false,
            b_shared: false,
        },
        // input gradient of conv2: w^T [288, 64] shared @ g [64, 576]
        Shape {
            name: "cnn conv2 dcols",
            batch: 64,
            m: 288,
            k: 64,
            n: 576,
            a: tr(288),
            b: row(576),
            a_shared: true,
            b_shared: false,
        },
        // linear 9216 -> 128, batch folded into m; and its input gradient
        Shape {
            name: "cnn fc1 fwd",
            batch: 1,
            m: 64,
            k: 9216,
            n: 128,
            a: row(9216),
            b: tr(9216),
            a_shared: false,
            b_shared: false,
        },
        Shape {
            name: "cnn fc1 dx",
            batch: 1,
            m: 64,
            k: 128,
            n: 9216,
            a: row(128),
            b: row(9216),
            a_shared: false,
            b_shared: false,
        },
    ];
    // The empirical NTK's contraction: J1 [200, P] @ J2^T [P, 50], P = 216320.
    let ntk = Shape {
        name: "ntk contraction",
        batch: 1,
        m: 200,
        k: 216_320,
        n: 50,
        a: row(216_320),
        b: tr(216_320),
        a_shared: false,
        b_shared: false,
    };
    // Extra probes of the fc1 class (column-major `b`): `GEMM_PROBE_K=1000,2000`.
    let probes: Vec<Shape> = std::env::var("GEMM_PROBE_K")
        .unwrap_or_default()
        .split(',')
        .filter_map(|k| k.trim().parse::<usize>().ok())
        .map(|k| Shape {
            name: "probe",
            batch: 1,
            m: 64,
            k,
            n: 128,
            a: row(k),
            b: tr(k),
            a_shared: false,
            b_shared: false,
        })
        .collect();
    let only: Vec<String> = std::env::args().skip(1).collect();
    let want = |s: &Shape| only.is_empty() || only.iter().any(|o| s.name.contains(o.as_str()));
    for threads in [1, 2] {
        for s in [&sq, &sq1024] {
            if want(s) {
                run::<f32>(s, threads, if s.m > 512 { 7 } else { 41 });
            }
        }
        for s in &ensemble {
            if want(s) {
                run::<f32>(s, threads, 41);
                run::<f64>(s, threads, 41);
            }
        }
        for s in cnn.iter().chain(std::iter::once(&ntk)).chain(&probes) {
            if want(s) {
                run::<f32>(s, threads, 9);
            }
        }
    }
}
