//! The benchmark runner: one JSON line per workload on stdout.
//!
//! ```text
//! cargo run --release --example bench                 # every workload
//! cargo run --release --example bench -- matmul_f32_1024 add_op_overhead
//! ```
//!
//! Protocol: inputs are built once (seeded), then 3 warm-up calls, then the
//! median of at least 20 timed calls (5 for workloads over 50 ms), f32, with
//! every output element computed. Workloads that take well under a
//! microsecond (`add_op_overhead`) time each sample as the mean of a loop of
//! calls, since one call is below the clock's resolution.
//!
//! Rows with `"system": "matrixmultiply-sgemm"` are the raw GEMM kernel on
//! the same buffers, measured in the same run for comparison.

use func::prelude::*;
use std::hint::black_box;
use std::time::Instant;

/// Median time in ms of `f`, by the protocol above; `inner` calls per sample.
fn measure(mut f: impl FnMut(), inner: usize) -> f64 {
    for _ in 0..3 {
        f();
    }
    let probe = Instant::now();
    f();
    let one = probe.elapsed().as_secs_f64() * 1e3;
    let samples = if one > 50.0 { 5 } else { 21 };
    let mut times: Vec<f64> = (0..samples)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..inner {
                f();
            }
            t.elapsed().as_secs_f64() * 1e3 / inner as f64
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

fn report(work: &str, system: &str, ms: f64) {
    println!("{{\"work\": \"{work}\", \"system\": \"{system}\", \"median_ms\": {ms:.6}}}");
}

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape.to_vec(), DType::F32, &mut Generator::new(seed))
}

fn matmul(n: usize) -> (f64, f64) {
    let a = randn(&[n, n], 1);
    let b = randn(&[n, n], 2);
    let ours = measure(
        || {
            black_box(a.matmul(&b));
        },
        1,
    );
    let av = a.to_vec::<f32>();
    let bv = b.to_vec::<f32>();
    let mut cv = vec![0f32; n * n];
    let raw = measure(
        || {
            // SAFETY: the three buffers hold n*n elements in row-major order.
            unsafe {
                matrixmultiply::sgemm(
                    n,
                    n,
                    n,
                    1.0,
                    av.as_ptr(),
                    n as isize,
                    1,
                    bv.as_ptr(),
                    n as isize,
                    1,
                    0.0,
                    cv.as_mut_ptr(),
                    n as isize,
                    1,
                );
            }
            black_box(&cv);
        },
        1,
    );
    (ours, raw)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |w: &str| args.is_empty() || args.iter().any(|a| a == w);
    for n in [256usize, 1024] {
        let work = format!("matmul_f32_{n}");
        if wanted(&work) {
            let (ours, raw) = matmul(n);
            report(&work, "func-rs", ours);
            report(&work, "matrixmultiply-sgemm", raw);
        }
    }
    if wanted("add_op_overhead") {
        let a = Tensor::from_vec(vec![1.0f32], [1]);
        let b = Tensor::from_vec(vec![2.0f32], [1]);
        let ms = measure(
            || {
                black_box(&a + &b);
            },
            10_000,
        );
        report("add_op_overhead", "func-rs", ms);
    }
}
