//! Every kernel against a naive computation, on contiguous, transposed,
//! sliced and broadcast layouts, f32 and f64, including size-0 dimensions and
//! sizes large enough to take the parallel paths.

use super::*;
use func_core::Shape;

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

#[test]
fn unary_matches_reference() {
    let v = vals(100);
    for dt in FLOATS {
        let (s, r) = (st(&v, dt), rounded(&v, dt));
        for l in layouts() {
            for op in UnaryOp::ALL {
                let got = host(&Cpu.unary(op, &s, &l).unwrap());
                let want: Vec<f64> = match dt {
                    DType::F32 => elems(&r, &l).iter().map(|&x| op.apply_f32(x as f32) as f64).collect(),
                    _ => elems(&r, &l).iter().map(|&x| op.apply_f64(x)).collect(),
                };
                assert!(same(&got, &want), "{op:?} {dt} {l:?}");
            }
        }
    }
    let iv = ints(100);
    let s = st(&iv, DType::I64);
    for op in UnaryOp::ALL {
        let got = Cpu.unary(op, &s, &layouts()[1]);
        if op.supports_int() {
            let want: Vec<f64> = elems(&iv, &layouts()[1]).iter().map(|&x| op.apply_i64(x as i64) as f64).collect();
            assert_eq!(host(&got.unwrap()), want);
        } else {
            assert!(got.is_err());
        }
    }
}

#[test]
fn binary_compare_select_match_reference() {
    let (v, w) = (vals(100), vals(130)[30..].to_vec());
    let mask: Vec<bool> = (0..100).map(|i| i % 3 == 0).collect();
    let c = Cpu.from_host(HostData::Bool(mask.clone())).unwrap();
    for dt in [DType::F32, DType::F64, DType::I64] {
        let (v, w) = if dt == DType::I64 { (ints(100), ints(107)[7..].to_vec()) } else { (v.clone(), w.clone()) };
        let (a, b, ra, rb) = (st(&v, dt), st(&w, dt), rounded(&v, dt), rounded(&w, dt));
        for la in layouts() {
            for lb in layouts() {
                let (ea, eb) = (elems(&ra, &la), elems(&rb, &lb));
                for op in BinaryOp::ALL {
                    let got = host(&Cpu.binary(op, &a, &la, &b, &lb).unwrap());
                    let want: Vec<f64> = ea
                        .iter()
                        .zip(&eb)
                        .map(|(&x, &y)| match dt {
                            DType::F32 => op.apply_f32(x as f32, y as f32) as f64,
                            DType::F64 => op.apply_f64(x, y),
                            _ => op.apply_i64(x as i64, y as i64) as f64,
                        })
                        .collect();
                    assert!(same(&got, &want), "{op:?} {dt} {la:?} {lb:?}");
                }
                for op in CmpOp::ALL {
                    let got = host(&Cpu.compare(op, &a, &la, &b, &lb).unwrap());
                    let want: Vec<f64> = ea.iter().zip(&eb).map(|(&x, &y)| op.apply(x, y) as u8 as f64).collect();
                    assert_eq!(got, want, "{op:?} {dt}");
                }
                let lc = &layouts()[2];
                let got = host(&Cpu.select(&c, lc, &a, &la, &b, &lb).unwrap());
                let m = lc.offsets().map(|o| mask[o]);
                let want: Vec<f64> = m.zip(ea.iter().zip(&eb)).map(|(m, (&x, &y))| if m { x } else { y }).collect();
                assert_eq!(got, want);
            }
        }
    }
    let l = Layout::contiguous([2]);
    assert!(Cpu.binary(BinaryOp::Add, &st(&v, DType::F32), &l, &st(&v, DType::F64), &l).is_err());
    let bools = Cpu.from_host(HostData::Bool(vec![true, false])).unwrap();
    let got = Cpu.binary(BinaryOp::Mul, &bools, &l, &bools, &Layout::contiguous([2]).permute(&[0])).unwrap();
    assert_eq!(got, CpuStorage::Bool(vec![true, false]));
    assert!(Cpu.binary(BinaryOp::Sub, &bools, &l, &bools, &l).is_err());
}

#[test]
fn large_elementwise_takes_the_parallel_path() {
    let n = 300;
    let v = vals(n * n);
    for dt in FLOATS {
        let (s, r) = (st(&v, dt), rounded(&v, dt));
        let t = Layout::contiguous([n, n]).permute(&[1, 0]);
        let row = Layout::new([n, n], &[0, 1], 7);
        let c = Layout::contiguous([n, n]);
        for (la, lb) in [(&c, &c), (&t, &row), (&c, &row), (&row, &t)] {
            let got = host(&Cpu.binary(BinaryOp::Mul, &s, la, &s, lb).unwrap());
            let want: Vec<f64> =
                elems(&r, la).iter().zip(elems(&r, lb)).map(|(x, y)| rounded(&[x * y], dt)[0]).collect();
            assert!(same(&got, &want));
        }
        for l in [Layout::contiguous([4, 100, 100]).permute(&[0, 2, 1]), Layout::contiguous([64, 64]).permute(&[1, 0])]
        {
            let c = Layout::contiguous(l.shape().clone());
            let got = host(&Cpu.binary(BinaryOp::Add, &s, &l, &s, &c).unwrap());
            let want: Vec<f64> =
                elems(&r, &l).iter().zip(elems(&r, &c)).map(|(x, y)| rounded(&[x + y], dt)[0]).collect();
            assert!(same(&got, &want));
        }
        let scalar = Layout::new([n, n], &[0, 0], 3);
        let got = host(&Cpu.binary(BinaryOp::Sub, &s, &c, &s, &scalar).unwrap());
        assert!(same(&got, &elems(&r, &c).iter().map(|x| rounded(&[x - r[3]], dt)[0]).collect::<Vec<_>>()));
        assert_eq!(
            host(&Cpu.unary(UnaryOp::Neg, &s, &t).unwrap()),
            elems(&r, &t).iter().map(|x| -x).collect::<Vec<_>>()
        );
        assert_eq!(host(&Cpu.copy_strided(&s, &t).unwrap()), elems(&r, &t));
    }
}

fn naive_reduce(v: &[f64], l: &Layout, axes: &[usize], op: ReduceOp) -> Vec<f64> {
    let mut od: Vec<usize> = l.dims().to_vec();
    axes.iter().for_each(|&a| od[a] = 1);
    let id = match op {
        ReduceOp::Sum => 0.0,
        ReduceOp::Prod => 1.0,
        ReduceOp::Max => f64::NEG_INFINITY,
        ReduceOp::Min => f64::INFINITY,
    };
    let mut out = vec![id; od.iter().product()];
    for (idx, o) in indices(l.dims()).iter().zip(l.offsets()) {
        let mut k = idx.clone();
        axes.iter().for_each(|&a| k[a] = 0);
        let y = &mut out[flat(&k, &od)];
        *y = match op {
            ReduceOp::Sum => *y + v[o],
            ReduceOp::Prod => *y * v[o],
            ReduceOp::Max => BinaryOp::Maximum.apply_f64(*y, v[o]),
            ReduceOp::Min => BinaryOp::Minimum.apply_f64(*y, v[o]),
        };
    }
    out
}

fn check_reduce(v: &[f64], l: &Layout, axes: &[usize]) {
    for dt in [DType::F32, DType::F64, DType::I64] {
        let r = if dt == DType::I64 { v.iter().map(|x| (x * 0.7).round()).collect() } else { rounded(v, dt) };
        let s = st(&r, dt);
        for op in ReduceOp::ALL {
            if op == ReduceOp::Prod && l.numel() > 30 {
                continue;
            }
            let got = host(&Cpu.reduce(op, &s, l, axes).unwrap());
            let tol = if dt == DType::F32 { 1e-3 } else { 1e-10 };
            assert!(close(&got, &naive_reduce(&r, l, axes, op), tol), "{op:?} {dt} {l:?} {axes:?}");
        }
    }
}

#[test]
fn reduce_matches_reference() {
    let v = vals(100);
    let mut ls = layouts();
    ls.push(Layout::contiguous([2, 0, 3]));
    for l in &ls {
        for mask in 0..(1 << l.ndim()) {
            let axes: Vec<usize> = (0..l.ndim()).filter(|a| mask & (1 << a) != 0).collect();
            check_reduce(&v, l, &axes);
        }
    }
    let s = st(&v, DType::F64);
    assert!(Cpu.reduce(ReduceOp::Sum, &s, &ls[0], &[1, 0]).is_err());
    assert!(Cpu.reduce(ReduceOp::Sum, &s, &ls[0], &[3]).is_err());
    let b = Cpu.from_host(HostData::Bool(vec![true, false, true, true])).unwrap();
    let l = Layout::contiguous([2, 2]);
    assert_eq!(Cpu.reduce(ReduceOp::Max, &b, &l, &[1]).unwrap(), CpuStorage::Bool(vec![true, true]));
    assert_eq!(Cpu.reduce(ReduceOp::Min, &b, &l, &[1]).unwrap(), CpuStorage::Bool(vec![false, true]));
    assert!(Cpu.reduce(ReduceOp::Sum, &b, &l, &[1]).is_err());
    let nan = st(&[1.0, f64::NAN, 3.0], DType::F32);
    assert!(host(&Cpu.reduce(ReduceOp::Max, &nan, &Layout::contiguous([3]), &[0]).unwrap())[0].is_nan());
    let mut long = vals(40);
    long[21] = f64::NAN;
    for op in [ReduceOp::Max, ReduceOp::Min, ReduceOp::Sum] {
        let got = host(&Cpu.reduce(op, &st(&long, DType::F32), &Layout::contiguous([2, 20]), &[1]).unwrap());
        assert!(!got[0].is_nan() && got[1].is_nan(), "{op:?}");
    }
}

#[test]
fn large_reductions_take_every_path() {
    let v = vals(200_000);
    let cases: Vec<(Layout, Vec<usize>)> = vec![
        (Layout::contiguous([400, 300]), vec![0]),
        (Layout::contiguous([400, 300]), vec![1]),
        (Layout::contiguous([400, 300]), vec![0, 1]),
        (Layout::contiguous([300, 400]).permute(&[1, 0]), vec![1]),
        (Layout::contiguous([300, 400]).permute(&[1, 0]), vec![0]),
        (Layout::contiguous([40000, 3]), vec![0]),
        (Layout::contiguous([3, 40000]), vec![1]),
        (Layout::contiguous([20, 100, 60]), vec![1]),
        (Layout::contiguous([20, 100, 60]), vec![0, 2]),
        (Layout::contiguous([2, 5000, 4]), vec![1]),
        (Layout::contiguous([20, 50, 4]), vec![1]),
        (Layout::contiguous([20, 50, 4]), vec![0, 1]),
        (Layout::contiguous([5000, 4]), vec![1]),
        (Layout::contiguous([200, 1]).broadcast_to(&Shape::from([200, 300])), vec![0]),
    ];
    for (l, axes) in cases {
        check_reduce(&v, &l, &axes);
    }
}

#[test]
fn arg_reduce_and_cumsum() {
    let x = st(&[3.0, 1.0, 3.0, 0.0, f64::NAN, 5.0, 1.0, 1.0, -2.0], DType::F64);
    let l = Layout::contiguous([3, 3]);
    let am = |op, l: &Layout, axis| host(&Cpu.arg_reduce(op, &x, l, axis).unwrap());
    assert_eq!(am(ArgReduceOp::ArgMax, &l, 1), vec![0.0, 1.0, 0.0]);
    assert_eq!(am(ArgReduceOp::ArgMin, &l, 1), vec![1.0, 1.0, 2.0]);
    assert_eq!(am(ArgReduceOp::ArgMax, &l, 0), vec![0.0, 1.0, 1.0]);
    assert_eq!(am(ArgReduceOp::ArgMin, &l.permute(&[1, 0]), 1), vec![1.0, 1.0, 2.0]);
    assert!(Cpu.arg_reduce(ArgReduceOp::ArgMax, &x, &Layout::contiguous([3, 0]), 1).is_err());
    assert!(Cpu.arg_reduce(ArgReduceOp::ArgMax, &x, &Layout::contiguous([0, 3]), 1).unwrap().is_empty());

    let v = vals(100);
    for dt in [DType::F32, DType::F64, DType::I64] {
        let r = rounded(&v, dt);
        let s = st(&r, dt);
        for l in layouts().into_iter().chain([Layout::contiguous([2, 0, 4])]) {
            for axis in 0..3 {
                let got = host(&Cpu.cumsum(&s, &l, axis).unwrap());
                let e = elems(&r, &l);
                let mut want = e.clone();
                for (i, idx) in indices(l.dims()).iter().enumerate() {
                    if idx[axis] > 0 {
                        let mut p = idx.clone();
                        p[axis] -= 1;
                        want[i] += want[flat(&p, l.dims())];
                    }
                }
                // Running sums in f64, each output rounded once.
                assert!(same(&got, &rounded(&want, dt)), "{dt} {l:?} {axis}");
            }
        }
    }
}

fn naive_matmul(a: &[f64], la: &Layout, b: &[f64], lb: &Layout) -> Vec<f64> {
    let nd = la.ndim();
    let (m, k, n) = (la.dims()[nd - 2], la.dims()[nd - 1], lb.dims()[nd - 1]);
    let (ea, eb) = (elems(a, la), elems(b, lb));
    let batch: usize = la.dims()[..nd - 2].iter().product();
    let mut out = vec![0.0; batch * m * n];
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                out[(bi * m + i) * n + j] = (0..k).map(|p| ea[(bi * m + i) * k + p] * eb[(bi * k + p) * n + j]).sum();
            }
        }
    }
    out
}

#[test]
fn matmul_matches_reference() {
    let v = vals(40_000);
    let t = |shape: &[usize]| {
        let mut perm: Vec<usize> = (0..shape.len()).collect();
        perm.swap(shape.len() - 1, shape.len() - 2);
        Layout::contiguous(shape).permute(&perm)
    };
    let cases: Vec<(Layout, Layout)> = vec![
        (Layout::contiguous([3, 4]), Layout::contiguous([4, 5])),
        (t(&[4, 3]), t(&[5, 4])),
        (Layout::contiguous([2, 3, 4]), Layout::contiguous([2, 4, 5])),
        (Layout::contiguous([2, 3, 4]), Layout::contiguous([4, 5]).broadcast_to(&Shape::from([2, 4, 5]))),
        (t(&[2, 4, 3]), Layout::contiguous([4, 5]).broadcast_to(&Shape::from([2, 4, 5]))),
        (Layout::contiguous([3, 4]).broadcast_to(&Shape::from([2, 3, 4])), t(&[2, 5, 4])),
        (Layout::contiguous([2, 1, 3, 4]).broadcast_to(&Shape::from([2, 3, 3, 4])), Layout::contiguous([2, 3, 4, 5])),
        (
            Layout::contiguous([5, 3, 4]).slice(0, 1, 5, 2),
            Layout::contiguous([4, 5]).broadcast_to(&Shape::from([2, 4, 5])),
        ),
        (Layout::contiguous([256, 8, 9]), Layout::contiguous([256, 9, 7])),
        (Layout::contiguous([64, 8, 9]), Layout::contiguous([9, 7]).broadcast_to(&Shape::from([64, 9, 7]))),
        (t(&[150, 120]), Layout::contiguous([150, 130])),
        (Layout::contiguous([1, 4]), Layout::contiguous([4, 1])),
        // Rank-1 products (k = 1), written directly: contiguous, and batched
        // with strided rows and columns.
        (Layout::contiguous([64, 1]), Layout::contiguous([1, 300])),
        (t(&[3, 1, 40]), t(&[3, 50, 1])),
        // A batch too short to share as tasks, of products large enough to
        // be split into row blocks.
        (Layout::contiguous([2, 100, 110]), Layout::contiguous([2, 110, 100])),
        (Layout::contiguous([4, 20, 30]), Layout::contiguous([30, 25]).broadcast_to(&Shape::from([4, 30, 25]))),
        (t(&[3, 30, 20]), Layout::contiguous([3, 30, 25])),
        (Layout::contiguous([1, 30]).broadcast_to(&Shape::from([20, 30])), t(&[25, 30])),
        (Layout::contiguous([0, 4]), Layout::contiguous([4, 5])),
        (Layout::contiguous([3, 0]), Layout::contiguous([0, 5])),
        (Layout::contiguous([3, 4]), Layout::contiguous([4, 0])),
        (Layout::contiguous([0, 3, 4]), Layout::contiguous([0, 4, 5])),
    ];
    for dt in FLOATS {
        let (s, r) = (st(&v, dt), rounded(&v, dt));
        for (la, lb) in &cases {
            let got = host(&Cpu.matmul(&s, la, &s, lb).unwrap());
            let tol = if dt == DType::F32 { 1e-4 } else { 1e-10 };
            assert!(close(&got, &naive_matmul(&r, la, &r, lb), tol), "{dt} {la:?} {lb:?}");
        }
    }
    let i = st(&v[..20], DType::I64);
    assert!(Cpu.matmul(&i, &Layout::contiguous([4, 5]), &i, &Layout::contiguous([5, 4])).is_err());
    let f = st(&v[..20], DType::F32);
    assert!(Cpu.matmul(&f, &Layout::contiguous([4, 5]), &f, &Layout::contiguous([4, 5])).is_err());
}

#[test]
fn cast_copy_write_full_random() {
    let v = vec![1.7, -2.5, 0.0, f64::NAN, 3.0, -0.2];
    let l = Layout::contiguous([3, 2]).permute(&[1, 0]);
    let s = st(&v, DType::F64);
    let e = elems(&v, &l);
    for dt in [DType::F32, DType::F64, DType::I64, DType::Bool] {
        let got = Cpu.to_host(&Cpu.cast(&s, &l, dt).unwrap(), &Layout::contiguous([6])).unwrap();
        assert!(same(&got.to_f64_vec(), &HostData::from_f64(&e, dt).to_f64_vec()), "{dt}");
    }
    let big = Cpu.from_host(HostData::I64(vec![9_007_199_254_740_993])).unwrap();
    assert_eq!(Cpu.cast(&big, &Layout::contiguous([1]), DType::I64).unwrap(), big);

    let mut dst = st(&[0.0; 12], DType::F32);
    let dl = Layout::contiguous([4, 3]).slice(0, 1, 4, 2).permute(&[1, 0]);
    Cpu.write_strided(&mut dst, &dl, &st(&v, DType::F32), &Layout::contiguous([3, 2])).unwrap();
    let want = rounded(&[0.0, 0.0, 0.0, 1.7, 0.0, 3.0, 0.0, 0.0, 0.0, -2.5, f64::NAN, -0.2], DType::F32);
    assert!(same(&host(&dst), &want));
    let mut whole = st(&[0.0; 6], DType::F64);
    Cpu.write_strided(&mut whole, &Layout::contiguous([2, 3]), &s, &l).unwrap();
    assert!(same(&host(&whole), &e));
    assert!(Cpu.write_strided(&mut whole, &Layout::new([2, 3], &[0, 1], 0), &s, &l).is_err());
    assert!(Cpu.write_strided(&mut dst, &Layout::contiguous([2, 3]), &s, &l).is_err());

    assert_eq!(Cpu.full(2.9, DType::I64, 2).unwrap(), CpuStorage::I64(vec![2, 2]));
    assert_eq!(Cpu.full(0.5, DType::Bool, 1).unwrap(), CpuStorage::Bool(vec![true]));
    let d = Distribution::Normal { mean: 1.0, std: 2.0 };
    let r = Cpu.random(d, DType::F32, 5, 42).unwrap();
    assert_eq!(r, Cpu.from_host(func_core::random::sample(d, DType::F32, 5, 42).unwrap()).unwrap());
    assert!(Cpu.to_host(&s, &Layout::contiguous([7])).is_err());
    assert!(Cpu.unary(UnaryOp::Exp, &s, &Layout::new([2], &[5], 1)).is_err());
    assert_eq!(Cpu.copy_strided(&s, &Layout::contiguous([0, 2])).unwrap().len(), 0);
    // Empty views may carry any offset, even past an empty storage.
    let (e, el) = (CpuStorage::F64(vec![]), Layout::new([1, 0, 2], &[0, 2, 1], 1));
    assert_eq!(Cpu.to_host(&e, &el).unwrap(), HostData::F64(vec![]));
    assert_eq!(Cpu.binary(BinaryOp::Add, &e, &el, &e, &el).unwrap().len(), 0);
    assert_eq!(Cpu.cumsum(&e, &el, 2).unwrap().len(), 0);
    assert_eq!(Cpu.reduce(ReduceOp::Sum, &e, &el, &[1]).unwrap(), CpuStorage::F64(vec![0.0; 2]));
    Cpu.write_strided(&mut e.clone(), &el, &e, &el).unwrap();
}

#[test]
fn concat_pad_flip() {
    let v = vals(100);
    for dt in [DType::F32, DType::I64, DType::Bool] {
        let r = rounded(&v, dt);
        let s = st(&r, dt);
        let ls = layouts();
        for axis in 0..3 {
            let mut d = [4, 3, 2];
            d[2 - axis] = 5;
            let other = Layout::contiguous(d).permute(&[2, 1, 0]);
            let parts = [(&s, &ls[2]), (&s, &other), (&s, &ls[3])];
            let got = host(&Cpu.concat(&parts, axis).unwrap());
            let mut dims = ls[2].dims().to_vec();
            dims[axis] = parts.iter().map(|p| p.1.dims()[axis]).sum();
            let mut want = vec![0.0; dims.iter().product()];
            let mut at = 0;
            for (_, l) in parts {
                for (idx, x) in indices(l.dims()).iter().zip(elems(&r, l)) {
                    let mut k = idx.clone();
                    k[axis] += at;
                    want[flat(&k, &dims)] = x;
                }
                at += l.dims()[axis];
            }
            assert_eq!(got, want, "{dt} {axis}");
        }
        let l = &ls[1];
        let pads = [(1, 0), (0, 2), (2, 1)];
        let got = host(&Cpu.pad(&s, l, &pads, -7.0).unwrap());
        let dims = [3, 5, 7];
        let fill = rounded(&[-7.0], dt)[0];
        let mut want = vec![fill; 105];
        for (idx, x) in indices(l.dims()).iter().zip(elems(&r, l)) {
            want[flat(&[idx[0] + 1, idx[1], idx[2] + 2], &dims)] = x;
        }
        assert_eq!(got, want);
        for axes in [vec![], vec![0], vec![2], vec![0, 2], vec![0, 1, 2]] {
            for l in &ls {
                let got = host(&Cpu.flip(&s, l, &axes).unwrap());
                let e = elems(&r, l);
                let want: Vec<f64> = indices(l.dims())
                    .iter()
                    .map(|idx| {
                        let k: Vec<usize> =
                            (0..3).map(|d| if axes.contains(&d) { l.dims()[d] - 1 - idx[d] } else { idx[d] }).collect();
                        e[flat(&k, l.dims())]
                    })
                    .collect();
                assert_eq!(got, want);
            }
        }
    }
    let s = st(&v, DType::F32);
    let z = Layout::contiguous([2, 0]);
    assert_eq!(Cpu.flip(&s, &z, &[1]).unwrap().len(), 0);
    assert_eq!(Cpu.pad(&s, &z, &[(0, 0), (1, 1)], 1.0).unwrap(), CpuStorage::F32(vec![1.0; 4]));
    let c = Layout::contiguous([2, 3]);
    assert!(Cpu.concat(&[(&s, &c), (&st(&v, DType::F64), &c)], 0).is_err());
    assert!(Cpu.concat(&[(&s, &c), (&s, &Layout::contiguous([3, 3]))], 1).is_err());
    assert!(Cpu.concat(&[], 0).is_err());
}

#[test]
fn gather_and_scatter_add() {
    let v = vals(100);
    let l = Layout::contiguous([4, 3, 2]).permute(&[2, 1, 0]); // [2, 3, 4]
    for dt in [DType::F32, DType::F64, DType::I64] {
        let r = rounded(&v, dt);
        let s = st(&r, dt);
        for axis in 0..3 {
            let mut idims = vec![2, 3, 4];
            idims[axis] = 5;
            let n = l.dims()[axis];
            let iv: Vec<i64> = (0..idims.iter().product::<usize>()).map(|i| ((i * 7) % n) as i64).collect();
            let il_full = Layout::contiguous(&idims);
            let idx = Cpu.from_host(HostData::I64(iv.clone())).unwrap();
            let got = host(&Cpu.gather(&s, &l, axis, &idx, &il_full).unwrap());
            let e = elems(&r, &l);
            let want: Vec<f64> = indices(&idims)
                .iter()
                .zip(&iv)
                .map(|(k, &i)| {
                    let mut k = k.clone();
                    k[axis] = i as usize;
                    e[flat(&k, l.dims())]
                })
                .collect();
            assert_eq!(got, want);

            let src = st(&vals(300)[..iv.len()], dt);
            let rs = rounded(&vals(300)[..iv.len()], dt);
            let got = host(&Cpu.scatter_add(&s, &l, axis, &idx, &il_full, &src, &il_full).unwrap());
            let mut want = e.clone();
            for ((k, &i), x) in indices(&idims).iter().zip(&iv).zip(&rs) {
                let mut k = k.clone();
                k[axis] = i as usize;
                let t = flat(&k, l.dims());
                want[t] = rounded(&[want[t] + x], dt)[0];
            }
            assert!(close(&got, &want, 1e-6), "{dt} {axis}");
        }
        // A transposed, smaller index.
        let idx = Cpu.from_host(HostData::I64(vec![1, 0, 2, 1])).unwrap();
        let il = Layout::contiguous([2, 2]).permute(&[1, 0]);
        let l2 = Layout::contiguous([3, 2]);
        let got = host(&Cpu.gather(&s, &l2, 0, &idx, &il).unwrap());
        assert_eq!(got, vec![r[2], r[5], r[0], r[3]]);
        let bad = Cpu.from_host(HostData::I64(vec![1, 3, -1, 0])).unwrap();
        assert!(Cpu.gather(&s, &l2, 0, &bad, &il).is_err());
        assert!(Cpu.scatter_add(&s, &l2, 0, &bad, &il, &s, &il).is_err());
        assert!(Cpu.gather(&s, &l2, 0, &s, &il).is_err() || dt == DType::I64);
    }
    // Big enough for the parallel gather.
    let n = 50_000;
    let xv = vals(n);
    let x = st(&xv, DType::F64);
    let iv: Vec<i64> = (0..n as i64).map(|i| (i * 13) % n as i64).collect();
    let idx = Cpu.from_host(HostData::I64(iv.clone())).unwrap();
    let l = Layout::contiguous([n]);
    let got = host(&Cpu.gather(&x, &l, 0, &idx, &l).unwrap());
    assert_eq!(got, iv.iter().map(|&i| xv[i as usize]).collect::<Vec<_>>());
}

fn naive_im2col(x: &[f64], l: &Layout, g: &ConvGeom) -> Vec<f64> {
    let e = elems(x, l);
    let &[nb, c, h, w] = l.dims() else { panic!() };
    let ((kh, kw), (oh, ow)) = (g.kernel, (g.out_h(), g.out_w()));
    let mut out = vec![0.0; nb * c * kh * kw * oh * ow];
    for (ni, ci, i, j, oy, ox) in (0..nb).flat_map(|n| {
        (0..c).flat_map(move |c| {
            (0..kh).flat_map(move |i| {
                (0..kw).flat_map(move |j| (0..oh).flat_map(move |oy| (0..ow).map(move |ox| (n, c, i, j, oy, ox))))
            })
        })
    }) {
        let iy = (oy * g.stride.0 + i * g.dilation.0) as isize - g.padding.0 as isize;
        let ix = (ox * g.stride.1 + j * g.dilation.1) as isize - g.padding.1 as isize;
        if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
            let row = (ci * kh + i) * kw + j;
            out[((ni * c * kh * kw) + row) * oh * ow + oy * ow + ox] =
                e[flat(&[ni, ci, iy as usize, ix as usize], l.dims())];
        }
    }
    out
}

#[test]
fn im2col_matches_reference_and_col2im_is_its_adjoint() {
    let geoms = [
        ConvGeom { h: 5, w: 6, kernel: (3, 3), stride: (1, 1), padding: (1, 1), dilation: (1, 1) },
        ConvGeom { h: 5, w: 6, kernel: (2, 3), stride: (2, 1), padding: (0, 2), dilation: (2, 1) },
        ConvGeom { h: 7, w: 7, kernel: (3, 2), stride: (2, 3), padding: (3, 1), dilation: (1, 2) },
        ConvGeom { h: 2, w: 2, kernel: (5, 5), stride: (1, 1), padding: (0, 0), dilation: (1, 1) },
        ConvGeom { h: 32, w: 32, kernel: (3, 3), stride: (1, 1), padding: (1, 1), dilation: (1, 1) },
    ];
    for g in geoms {
        let (nb, c) = (2, 3);
        let strided = Layout::contiguous([nb, g.w, c, g.h]).permute(&[0, 2, 3, 1]); // [N, C, H, W]
        for xl in [Layout::contiguous([nb, c, g.h, g.w]), strided] {
            let n = nb * c * g.h * g.w;
            let rows = c * g.kernel.0 * g.kernel.1;
            let cols_n = nb * rows * g.out_h() * g.out_w();
            for dt in FLOATS {
                let xv = rounded(&vals(n), dt);
                let x = st(&xv, dt);
                let cols = host(&Cpu.im2col(&x, &xl, &g).unwrap());
                assert_eq!(cols, naive_im2col(&xv, &xl, &g), "{g:?}");
                let yv = rounded(&vals(cols_n + 3)[3..], dt);
                let y = st(&yv, dt);
                let yl = Layout::contiguous([nb, rows, g.out_h() * g.out_w()]);
                let back = host(&Cpu.col2im(&y, &yl, &g).unwrap());
                let lhs: f64 = cols.iter().zip(&yv).map(|(a, b)| a * b).sum();
                let rhs: f64 = elems(&xv, &xl).iter().zip(&back).map(|(a, b)| a * b).sum();
                assert!((lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()), "{g:?} {lhs} {rhs}");
                // col2im of a transposed view of the columns.
                let yt = Layout::contiguous([g.out_h() * g.out_w(), rows, nb]).permute(&[2, 1, 0]);
                let back_t = host(&Cpu.col2im(&y, &yt, &g).unwrap());
                let ycols = st(&elems(&yv, &yt), dt);
                assert!(close(&back_t, &host(&Cpu.col2im(&ycols, &yl, &g).unwrap()), 1e-5));
            }
        }
    }
    let g = geoms[0];
    let x = st(&vals(60), DType::F32);
    assert!(Cpu.im2col(&x, &Layout::contiguous([2, 6, 5]), &g).is_err());
    assert!(Cpu.im2col(&x, &Layout::contiguous([1, 2, 6, 5]), &g).is_err());
    assert!(Cpu.im2col(&x, &Layout::contiguous([1, 2, 5, 6]), &ConvGeom { stride: (0, 1), ..g }).is_err());
    assert!(Cpu.col2im(&x, &Layout::contiguous([1, 10, 6]), &g).is_err());
}

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
    cache::set_limit(cache::DEFAULT_LIMIT);
    assert_eq!(cache::limit(), cache::DEFAULT_LIMIT);
    // Emptying releases the buffers: the next allocation is a fresh one.
    drop(Cpu.full(0.0, DType::F64, n).unwrap());
    cache::empty();
    assert!(cache::cached_bytes() < n * 8, "empty() releases the cached buffers");
}
