//! Every kernel against a naive computation, on contiguous, transposed,
//! sliced and broadcast layouts, f32 and f64, including size-0 dimensions and
//! sizes large enough to take the parallel paths.

use super::*;
use func_core::Shape;

mod conv;
mod copy;
mod elementwise;
mod index;
mod matmul;
mod memory;
mod reduce;
mod shape;

const FLOATS: [DType; 2] = [DType::F32, DType::F64];

fn vals(n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i as f64) * 0.731).sin() * 3.0 + 0.25).collect()
}

fn ints(n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i * 7 + 3) % 11) as f64 - 5.0).collect()
}

fn st(v: &[f64], dt: DType) -> CpuStorage {
    Cpu.from_host(HostData::from_f64(v, dt)).unwrap()
}

fn host(s: &CpuStorage) -> Vec<f64> {
    Cpu.to_host(s, &Layout::contiguous([s.len()])).unwrap().to_f64_vec()
}

/// The elements of `(v, l)` in row-major order, the naive way.
fn elems(v: &[f64], l: &Layout) -> Vec<f64> {
    l.offsets().map(|o| v[o]).collect()
}

/// Values `v` rounded to `dt` and back.
fn rounded(v: &[f64], dt: DType) -> Vec<f64> {
    HostData::from_f64(v, dt).to_f64_vec()
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()) || (x.is_nan() && y.is_nan()) || x == y)
}

/// Layouts of shape [2, 3, 4] over a 100-element storage: contiguous,
/// transposed, sliced, broadcast, scalar broadcast, and odd strides.
fn layouts() -> Vec<Layout> {
    let s = Shape::from([2, 3, 4]);
    vec![
        Layout::contiguous([2, 3, 4]),
        Layout::contiguous([4, 3, 2]).permute(&[2, 1, 0]),
        Layout::contiguous([3, 3, 9]).slice(0, 1, 3, 1).slice(2, 0, 8, 2),
        Layout::contiguous([3, 1]).broadcast_to(&s),
        Layout::contiguous(Shape::scalar()).broadcast_to(&s),
        Layout::new([2, 3, 4], &[1, 0, 10], 5),
    ]
}

/// Every row-major multi-index of `dims`.
fn indices(dims: &[usize]) -> Vec<Vec<usize>> {
    let n: usize = dims.iter().product();
    (0..n)
        .map(|mut i| {
            let mut idx = vec![0; dims.len()];
            for d in (0..dims.len()).rev() {
                idx[d] = i % dims[d];
                i /= dims[d];
            }
            idx
        })
        .collect()
}

fn flat(idx: &[usize], dims: &[usize]) -> usize {
    idx.iter().zip(dims).fold(0, |a, (&i, &d)| a * d + i)
}
