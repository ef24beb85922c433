//! Reductions over every set of axes and on every parallel path,
//! arg-reductions and cumsum.

use super::*;

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

/// Column sums of rows of a multiple of 8 outputs (up to 64) fold in
/// register blocks (NOTE: [lane blocks] in kernels.rs): even and odd row
/// counts (the odd one ends in a single row), one to eight blocks, rows
/// inside a batch, and NaN in one column.
#[test]
fn column_sums_of_narrow_rows_fold_in_lane_blocks() {
    let v = vals(40_000);
    let cases: Vec<(Layout, Vec<usize>)> = vec![
        (Layout::contiguous([1000, 16]), vec![0]),
        (Layout::contiguous([999, 16]), vec![0]),
        (Layout::contiguous([1, 8]), vec![0]),
        (Layout::contiguous([7, 8]), vec![0]),
        (Layout::contiguous([50, 24]), vec![0]),
        (Layout::contiguous([3, 64]), vec![0]),
        (Layout::contiguous([4, 20, 40]), vec![1]),
        (Layout::contiguous([2, 501, 32]), vec![1]),
        // Not lane blocks: 72 outputs, and 20 (not a multiple of 8).
        (Layout::contiguous([30, 72]), vec![0]),
        (Layout::contiguous([30, 20]), vec![0]),
    ];
    for (l, axes) in cases {
        check_reduce(&v, &l, &axes);
    }
    let mut with_nan = vals(99 * 16);
    with_nan[37 * 16 + 5] = f64::NAN;
    for op in [ReduceOp::Max, ReduceOp::Min, ReduceOp::Sum] {
        let got = host(&Cpu.reduce(op, &st(&with_nan, DType::F32), &Layout::contiguous([99, 16]), &[0]).unwrap());
        let nans: Vec<usize> = (0..16).filter(|&j| got[j].is_nan()).collect();
        assert_eq!(nans, [5], "{op:?}");
    }
}

#[test]
fn large_reductions_take_every_path() {
    // Most cases hold more elements than the parallel threshold
    // (`PAR_MIN`, 512K).
    let v = vals(700_000);
    let cases: Vec<(Layout, Vec<usize>)> = vec![
        (Layout::contiguous([1000, 600]), vec![0]),
        (Layout::contiguous([1000, 600]), vec![1]),
        (Layout::contiguous([1000, 600]), vec![0, 1]),
        (Layout::contiguous([600, 1000]).permute(&[1, 0]), vec![1]),
        (Layout::contiguous([600, 1000]).permute(&[1, 0]), vec![0]),
        (Layout::contiguous([200000, 3]), vec![0]),
        (Layout::contiguous([3, 200000]), vec![1]),
        (Layout::contiguous([100, 100, 60]), vec![1]),
        (Layout::contiguous([100, 100, 60]), vec![0, 2]),
        (Layout::contiguous([2, 80000, 4]), vec![1]),
        (Layout::contiguous([20, 50, 4]), vec![1]),
        (Layout::contiguous([20, 50, 4]), vec![0, 1]),
        (Layout::contiguous([5000, 4]), vec![1]),
        (Layout::contiguous([1000, 1]).broadcast_to(&Shape::from([1000, 600])), vec![0]),
        // Only size-1 axes reduced (a per-sample batch of one): a strided map.
        (Layout::contiguous([200, 1, 3000]), vec![1]),
        (Layout::contiguous([30000, 1, 20]).permute(&[2, 1, 0]), vec![1]),
        (Layout::contiguous([1, 1000, 1, 600]), vec![0, 2]),
        (Layout::contiguous([200000, 3]), vec![]),
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

/// Arg-reductions whose outputs read neighbouring elements take blocks of
/// columns at a time (`arg_rows`); against a naive search down each column
/// (first extreme on ties, first NaN wins), with many ties and scattered
/// NaNs, on blocks with and without a remainder, length-1 axes, offsets and
/// gaps, and a transposed layout for contrast.
#[test]
fn arg_reduce_over_neighbouring_columns_matches_a_naive_search() {
    let n = 4000;
    let v: Vec<f64> = (0..n)
        .map(|i| if i % 97 == 13 || i % 211 == 5 { f64::NAN } else { ((i * 7 + i / 3) % 4) as f64 - 1.0 })
        .collect();
    let cases = [
        (Layout::contiguous([3, 5, 35]), 1),
        (Layout::contiguous([6, 16]), 0),
        (Layout::contiguous([4, 1, 40]), 1),
        (Layout::new([4, 33], &[40, 1], 3), 0),
        (Layout::new([2, 9, 48], &[1000, 50, 1], 7), 1),
        (Layout::contiguous([20, 18]).permute(&[1, 0]), 1),
    ];
    let mut checked = 0;
    for dt in [DType::F32, DType::F64, DType::I64] {
        let r: Vec<f64> =
            if dt == DType::I64 { v.iter().map(|x| if x.is_nan() { 3.0 } else { *x }).collect() } else { v.clone() };
        let s = st(&r, dt);
        for (l, axis) in &cases {
            for op in [ArgReduceOp::ArgMax, ArgReduceOp::ArgMin] {
                let got = host(&Cpu.arg_reduce(op, &s, l, *axis).unwrap());
                let e = elems(&r, l);
                let mut out_dims = l.dims().to_vec();
                out_dims[*axis] = 1;
                let want: Vec<f64> = indices(&out_dims)
                    .iter()
                    .map(|idx| {
                        let at = |i: usize| {
                            let mut p = idx.clone();
                            p[*axis] = i;
                            e[flat(&p, l.dims())]
                        };
                        let mut best = 0;
                        for i in 0..l.dims()[*axis] {
                            let (x, b) = (at(i), at(best));
                            if b.is_nan() {
                                break;
                            }
                            let better = if op == ArgReduceOp::ArgMax { x > b } else { x < b };
                            if x.is_nan() || better {
                                best = i;
                            }
                        }
                        best as f64
                    })
                    .collect();
                assert_eq!(got, want, "{op:?} {dt} {l:?} axis {axis}");
                checked += got.len();
            }
        }
    }
    assert_eq!(checked, 3 * 2 * (105 + 16 + 160 + 33 + 96 + 18));
}
