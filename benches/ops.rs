//! criterion benches of the tensor workloads in the benchmark runner
//! (`cargo bench --bench ops`): matmul and elementwise operations.

use criterion::{Criterion, criterion_group, criterion_main};
use func::prelude::*;
use std::hint::black_box;

fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape.to_vec(), DType::F32, &mut Generator::new(seed))
}

fn matmul(c: &mut Criterion) {
    for n in [64usize, 256, 1024] {
        let a = randn(&[n, n], 1);
        let b = randn(&[n, n], 2);
        c.bench_function(&format!("matmul_f32_{n}"), |bench| bench.iter(|| black_box(a.matmul(&b))));
    }
    let a = randn(&[64, 16, 16], 3);
    let b = randn(&[64, 16, 16], 4);
    c.bench_function("bmm_f32_64x16x16", |bench| bench.iter(|| black_box(a.matmul(&b))));
}

fn elementwise(c: &mut Criterion) {
    let one_a = Tensor::from_vec(vec![1.0f32], [1]);
    let one_b = Tensor::from_vec(vec![2.0f32], [1]);
    c.bench_function("add_op_overhead", |bench| bench.iter(|| black_box(&one_a + &one_b)));
    for n in [1usize << 10, 1 << 16, 1 << 20] {
        let a = randn(&[n], 5);
        let b = randn(&[n], 6);
        c.bench_function(&format!("add_f32_{n}"), |bench| bench.iter(|| black_box(&a + &b)));
        c.bench_function(&format!("exp_f32_{n}"), |bench| bench.iter(|| black_box(a.exp())));
        c.bench_function(&format!("sum_f32_{n}"), |bench| bench.iter(|| black_box(a.sum())));
    }
    let m = randn(&[512, 512], 7);
    let v = randn(&[512], 8);
    c.bench_function("add_broadcast_512x512", |bench| bench.iter(|| black_box(&m + &v)));
    c.bench_function("add_transposed_512x512", |bench| bench.iter(|| black_box(&m.t() + &m)));
}

criterion_group!(benches, matmul, elementwise);
criterion_main!(benches);
