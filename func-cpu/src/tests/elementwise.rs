//! Unary, binary, comparison and select kernels, and their parallel paths.

use super::*;

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
                // f32 sin, cos, exp, tanh and sigmoid are the vectorized
                // functions (see `vmath`), within an ulp of the correctly
                // rounded value, as the library's are: two ulps apart at most.
                let vectorized = dt == DType::F32
                    && matches!(op, UnaryOp::Sin | UnaryOp::Cos | UnaryOp::Exp | UnaryOp::Tanh | UnaryOp::Sigmoid);
                let ok = if vectorized { within_ulps_f32(&got, &want, 2) } else { same(&got, &want) };
                assert!(ok, "{op:?} {dt} {l:?}: {got:?} vs {want:?}");
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

/// `op` of the elements `ea` and `eb` (values of dtype `dt`, held as f64)
/// by func-core's reference definitions.
fn binary_reference(op: BinaryOp, dt: DType, ea: &[f64], eb: &[f64]) -> Vec<f64> {
    ea.iter()
        .zip(eb)
        .map(|(&x, &y)| match dt {
            DType::F32 => op.apply_f32(x as f32, y as f32) as f64,
            DType::F64 => op.apply_f64(x, y),
            _ => op.apply_i64(x as i64, y as i64) as f64,
        })
        .collect()
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
                    let want = binary_reference(op, dt, &ea, &eb);
                    assert!(same(&got, &want), "{op:?} {dt} {la:?} {lb:?}");
                }
                for op in CmpOp::ALL {
                    let got = host(&Cpu.compare(op, &a, &la, &b, &lb).unwrap());
                    let want: Vec<f64> = ea.iter().zip(&eb).map(|(&x, &y)| op.apply(x, y) as u8 as f64).collect();
                    assert_eq!(got, want, "{op:?} {dt}");
                }
                // A contiguous mask (with contiguous or broadcast-scalar
                // branches: the slice loops) and a strided one.
                for lc in [&layouts()[0], &layouts()[2]] {
                    let got = host(&Cpu.select(&c, lc, &a, &la, &b, &lb).unwrap());
                    let m = lc.offsets().map(|o| mask[o]);
                    let want: Vec<f64> = m.zip(ea.iter().zip(&eb)).map(|(m, (&x, &y))| if m { x } else { y }).collect();
                    assert_eq!(got, want, "select {dt} mask {lc:?} a {la:?} b {lb:?}");
                }
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
    let n = crate::strided::PAR_MIN.isqrt() + 30;
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
        // Transposed blocks smaller and larger than the parallel threshold
        // (tiles within a block, and blocks split across threads), and a
        // small one (serial).
        for l in [
            Layout::contiguous([15, 100, 100]).permute(&[0, 2, 1]),
            Layout::contiguous([1, 380, 380]).permute(&[0, 2, 1]),
            Layout::contiguous([64, 64]).permute(&[1, 0]),
            // Columns 256 elements apart: the narrow tiles of a conflict stride.
            Layout::contiguous([300, 256]).permute(&[1, 0]),
            Layout::contiguous([2, 256, 260]).slice(2, 0, 256, 1).permute(&[0, 2, 1]),
        ] {
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

/// Whether f32 values (held in f64) are at most `n` units in the last place
/// apart, element by element (NaN matching NaN).
fn within_ulps_f32(a: &[f64], b: &[f64], n: u32) -> bool {
    let key = |v: f64| {
        let b = (v as f32).to_bits() as i64;
        if b < 0x8000_0000 { b } else { 0x8000_0000 - b }
    };
    a.len() == b.len()
        && a.iter().zip(b).all(|(&x, &y)| (x.is_nan() && y.is_nan()) || (key(x) - key(y)).unsigned_abs() <= n as u64)
}

/// A dense operand against one row repeated over the outer positions (a
/// bias across a batch) takes a row loop (`map2_rows`); in either operand
/// order, at a nonzero offset, with size-1 dimensions, and beside layouts
/// that look alike but must take the general path (a transposed dense
/// operand, a row with a stride, a repeat over only some outer dims).
#[test]
fn a_row_repeated_over_a_dense_operand() {
    let v = vals(4000);
    let mut checked = 0;
    for dt in FLOATS {
        let (s, r) = (st(&v, dt), rounded(&v, dt));
        let cases = [
            (Layout::contiguous([50, 16]), Layout::new([50, 16], &[0, 1], 0)),
            (Layout::new([7, 3, 16], &[48, 16, 1], 5), Layout::new([7, 3, 16], &[0, 0, 1], 100)),
            (Layout::contiguous([9, 1, 4, 1, 6]), Layout::new([9, 1, 4, 1, 6], &[0, 5, 6, 9, 1], 33)),
            // Repeated over one outer dim only: general path.
            (Layout::contiguous([5, 4, 8]), Layout::new([5, 4, 8], &[0, 8, 1], 3)),
            // The row strided: general path.
            (Layout::contiguous([6, 10]), Layout::new([6, 10], &[0, 2], 1)),
            // The "dense" operand transposed: general path.
            (Layout::contiguous([16, 12]).permute(&[1, 0]), Layout::new([12, 16], &[0, 1], 2)),
            // One row only (no outer dims).
            (Layout::contiguous([1, 16]), Layout::new([1, 16], &[0, 1], 40)),
            // More rows than one repeated pattern holds, of a width that
            // does not divide it (the last pattern partly used), and a
            // row longer than a pattern.
            (Layout::contiguous([300, 7]), Layout::new([300, 7], &[0, 1], 11)),
            (Layout::new([3, 1100], &[1100, 1], 600), Layout::new([3, 1100], &[0, 1], 9)),
        ];
        for (dense, row) in &cases {
            for (la, lb) in [(dense, row), (row, dense)] {
                for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Div] {
                    let got = host(&Cpu.binary(op, &s, la, &s, lb).unwrap());
                    let want: Vec<f64> = elems(&r, la)
                        .iter()
                        .zip(elems(&r, lb))
                        .map(|(&x, y)| match dt {
                            DType::F32 => op.apply_f32(x as f32, y as f32) as f64,
                            _ => op.apply_f64(x, y),
                        })
                        .collect();
                    assert!(same(&got, &want), "{op:?} {dt} {la:?} {lb:?}");
                    checked += got.len();
                }
            }
        }
    }
    assert_eq!(checked, 2 * 3 * 2 * (800 + 336 + 216 + 160 + 60 + 192 + 16 + 2100 + 3300));
}

/// `Plan::walk_lines` hands out every element of any range exactly once,
/// at its own offsets, with groups of several rows only of whole runs.
#[test]
fn grouped_runs_cover_every_element_at_its_offsets() {
    use crate::strided::Plan;
    // (dims, strides of two operands): broadcast inner runs, a transposed
    // operand, size-1 and merged dimensions, negative strides (flips).
    /// Dimensions, the strides of two operands, their base offsets.
    type Case<'a> = (&'a [usize], [&'a [isize]; 2], [isize; 2]);
    let cases: [Case; 5] = [
        (&[3, 4, 5, 7], [&[140, 35, 0, 1], &[0, 0, 7, 1]], [0, 0]),
        (&[3, 4, 5, 7], [&[140, 35, 7, 1], &[0, 1, 4, 0]], [0, 2]),
        (&[2, 1, 6, 3], [&[18, 18, 3, 1], &[0, 0, -3, 1]], [0, 15]),
        (&[5, 9], [&[9, 1], &[1, 5]], [0, 0]),
        (&[11], [&[1], &[0]], [3, 4]),
    ];
    let mut checked = 0;
    for (dims, strides, base) in cases {
        let p = Plan::new(dims, strides, base);
        let n: usize = dims.iter().product();
        let want: Vec<[isize; 2]> = indices(dims)
            .iter()
            .map(|idx| {
                std::array::from_fn(|k| {
                    base[k] + idx.iter().zip(strides[k]).map(|(&i, &s)| i as isize * s).sum::<isize>()
                })
            })
            .collect();
        for e0 in 0..=n {
            for e1 in e0..=n {
                let mut got = vec![None; n];
                p.walk_lines(e0, e1, |e, rows, len, off, step| {
                    assert!(rows >= 1 && len >= 1, "{dims:?} {e0}..{e1}: an empty group");
                    assert!(rows == 1 || len == p.inner, "{dims:?} {e0}..{e1}: several partial runs in one group");
                    for r in 0..rows {
                        for j in 0..len {
                            let at = e + r * len + j;
                            assert!(got[at].is_none(), "{dims:?} {e0}..{e1}: element {at} visited twice");
                            got[at] =
                                Some(std::array::from_fn(|k| off[k] + r as isize * step[k] + j as isize * p.istr[k]));
                        }
                    }
                });
                for (at, g) in got.iter().enumerate() {
                    let expect = (e0..e1).contains(&at).then_some(want[at]);
                    assert_eq!(*g, expect, "{dims:?} {e0}..{e1}: element {at}");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100_000, "only {checked} element positions checked");
}

/// Short inner runs under broadcasting (the shapes of a batched Hessian's
/// products), serial and parallel, with runs that do not divide the
/// parallel chunks: every unary, binary and select kernel path against a
/// naive evaluation.
#[test]
fn short_broadcast_runs_match_a_naive_evaluation() {
    let mut checked = 0;
    for (b0, w) in [(3, 13), (150, 13), (120, 16)] {
        let dims = [b0, 8, 9, w];
        let shape = Shape::from(dims);
        let n = shape.numel();
        let v = vals(b0 * 8 * 9 * w + 50);
        let mask: Vec<bool> = (0..v.len()).map(|i| i % 5 < 2).collect();
        let c = Cpu.from_host(HostData::Bool(mask.clone())).unwrap();
        let layouts = [
            Layout::new(dims, &[8 * w, w, 0, 1], 0),
            Layout::contiguous([9, w]).broadcast_to(&shape),
            Layout::new(dims, &[72, 9, 1, 0], 0),
            Layout::contiguous([w, 9, 8, b0]).permute(&[3, 2, 1, 0]),
            Layout::new(dims, &[8 * 9 * w, 9 * w, w, 1], 50),
        ];
        for dt in FLOATS {
            let (s, r) = (st(&v, dt), rounded(&v, dt));
            for la in &layouts {
                let ea = elems(&r, la);
                assert_eq!(host(&Cpu.unary(UnaryOp::Neg, &s, la).unwrap()), ea.iter().map(|x| -x).collect::<Vec<_>>());
                for lb in &layouts {
                    let eb = elems(&r, lb);
                    let got = host(&Cpu.binary(BinaryOp::Mul, &s, la, &s, lb).unwrap());
                    let want: Vec<f64> = ea.iter().zip(&eb).map(|(x, y)| rounded(&[x * y], dt)[0]).collect();
                    assert!(same(&got, &want), "mul {dt} {la:?} {lb:?} (n = {n})");
                    let lc = &layouts[(checked / n) % layouts.len()];
                    let got = host(&Cpu.select(&c, lc, &s, la, &s, lb).unwrap());
                    let m = lc.offsets().map(|o| mask[o]);
                    let want: Vec<f64> = m.zip(ea.iter().zip(&eb)).map(|(m, (&x, &y))| if m { x } else { y }).collect();
                    assert_eq!(got, want, "select {dt} {lc:?} {la:?} {lb:?}");
                    checked += n;
                }
            }
        }
    }
    assert!(checked > 1_000_000, "only {checked} elements checked");
}

/// A stack of transposed matrices paired with a dense operand, a broadcast
/// row or a broadcast column (NOTE: [one operand transposed] in
/// strided.rs), either way round, at sizes around
/// the transposing copy's 8 x 8 blocks, with an offset, for every binary
/// and comparison op in f32, f64 and i64: exactly the reference.
#[test]
fn a_transposed_operand_with_one_read_in_order() {
    let mut checked = 0;
    for dims in [[3, 20, 13], [1, 8, 8], [2, 16, 9], [2, 7, 30]] {
        let [b, r, c] = dims;
        let n = b * r * c;
        let dense = Layout::contiguous(dims);
        let transposed = Layout::contiguous([b, c, r]).permute(&[0, 2, 1]);
        let shifted = Layout::new(dims, &[r * c, 1, r], 3);
        // Operands that read in the output's order without being dense: a
        // broadcast row and a broadcast column.
        let row = Layout::contiguous([1, 1, c]).broadcast_to(&Shape::from(dims));
        let col = Layout::contiguous([b, r, 1]).broadcast_to(&Shape::from(dims));
        for dt in [DType::F32, DType::F64, DType::I64] {
            let (v, w) =
                if dt == DType::I64 { (ints(n + 3), ints(n + 10)[7..].to_vec()) } else { (vals(n + 3), vals(n + 3)) };
            let (a, bs, ra, rb) = (st(&v, dt), st(&w, dt), rounded(&v, dt), rounded(&w, dt));
            for lt in [&transposed, &shifted] {
                let pairs = [(&dense, lt), (lt, &dense), (&row, lt), (lt, &col)];
                for (la, lb) in pairs {
                    let (ea, eb) = (elems(&ra, la), elems(&rb, lb));
                    for op in BinaryOp::ALL {
                        let got = host(&Cpu.binary(op, &a, la, &bs, lb).unwrap());
                        let want = binary_reference(op, dt, &ea, &eb);
                        assert!(same(&got, &want), "{op:?} {dt} {la:?} {lb:?}");
                        checked += 1;
                    }
                    for op in CmpOp::ALL {
                        let got = host(&Cpu.compare(op, &a, la, &bs, lb).unwrap());
                        let want: Vec<f64> = ea.iter().zip(&eb).map(|(&x, &y)| op.apply(x, y) as u8 as f64).collect();
                        assert_eq!(got, want, "{op:?} {dt} {la:?} {lb:?}");
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 4 * 3 * 2 * 4 * (BinaryOp::ALL.len() + CmpOp::ALL.len()));
}

#[test]
fn maps_of_a_split_output_match_the_reference() {
    // An output split over two threads lowers the threshold from which the
    // kernels reading it split too (NOTE: [work where its data is] in
    // par.rs): maps of 3 * 2^14 elements, between `PAR_NEAR` and `PAR_MIN`,
    // read such an output as dense, transposed and broadcast operands, and
    // must give the same elements as the naive loops.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let (rows, cols) = (192, 256);
    let n = rows * cols;
    let big = 1 << 18;
    let mut checked = 0;
    pool.install(|| {
        for dt in [DType::F32, DType::F64] {
            let v = vals(big);
            let w = vals(big + 7)[7..].to_vec();
            let whole = Layout::contiguous([big]);
            // `v + w` over 2^18 elements: split by `par::chunks`.
            let src = Cpu.binary(BinaryOp::Add, &st(&v, dt), &whole, &st(&w, dt), &whole).unwrap();
            let sums = host(&src);
            let other = st(&vals(n), dt);
            let ro = rounded(&vals(n), dt);
            let dense = Layout::contiguous([rows, cols]);
            let transposed = Layout::contiguous([cols, rows]).permute(&[1, 0]);
            let row = Layout::contiguous([1, cols]).broadcast_to(&Shape::from([rows, cols]));
            for l in [&dense, &transposed, &row] {
                let e = elems(&sums, l);
                let got = host(&Cpu.copy_strided(&src, l).unwrap());
                assert!(same(&got, &e), "copy {dt} {l:?}");
                let got = host(&Cpu.unary(UnaryOp::Neg, &src, l).unwrap());
                assert!(same(&got, &e.iter().map(|x| -x).collect::<Vec<_>>()), "neg {dt} {l:?}");
                let eo = elems(&ro, &dense);
                for op in [BinaryOp::Mul, BinaryOp::Sub] {
                    let got = host(&Cpu.binary(op, &src, l, &other, &dense).unwrap());
                    assert!(same(&got, &binary_reference(op, dt, &e, &eo)), "{op:?} {dt} {l:?}");
                    let got = host(&Cpu.binary(op, &other, &dense, &src, l).unwrap());
                    assert!(same(&got, &binary_reference(op, dt, &eo, &e)), "{op:?} {dt} {l:?} swapped");
                }
                let got = host(&Cpu.compare(CmpOp::Lt, &src, l, &other, &dense).unwrap());
                let want: Vec<f64> = e.iter().zip(&eo).map(|(x, y)| f64::from(u8::from(x < y))).collect();
                assert_eq!(got, want, "lt {dt} {l:?}");
                // Seven comparisons of `n` elements each.
                checked += 7 * n;
            }
        }
    });
    assert_eq!(checked, 2 * 3 * 7 * n);
}
