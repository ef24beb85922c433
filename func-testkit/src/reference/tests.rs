use super::*;
use DType::{Bool, F32, F64, I64};

const B: RefBackend = RefBackend;
const NAN: f64 = f64::NAN;

fn st(dtype: DType, v: &[f64]) -> RefStorage {
    RefStorage { dtype, data: v.to_vec() }
}

fn c(dims: &[usize]) -> Layout {
    Layout::contiguous(dims)
}

/// `[[1, 2, 3], [4, 5, 6]]` as f64.
fn x23() -> (RefStorage, Layout) {
    (st(F64, &[1., 2., 3., 4., 5., 6.]), c(&[2, 3]))
}

/// Equality that treats NaN as equal to NaN.
fn same_vals(got: &[f64], want: &[f64]) -> bool {
    got.len() == want.len() && got.iter().zip(want).all(|(a, b)| a == b || (a.is_nan() && b.is_nan()))
}

#[track_caller]
fn is(got: Result<RefStorage>, dtype: DType, want: &[f64]) {
    let got = got.unwrap();
    assert_eq!(got.dtype(), dtype);
    assert!(same_vals(got.values(), want), "got {:?}, want {want:?}", got.values());
}

#[test]
fn host_round_trip_and_strided_reads() {
    let s = B.from_host(HostData::F32(vec![1.0, 2.5, -3.0, 0.1, 5.0, 6.0])).unwrap();
    assert_eq!((B.name(), B.storage_dtype(&s), B.storage_len(&s)), ("ref", F32, 6));
    let t = c(&[2, 3]).permute(&[1, 0]);
    assert_eq!(B.to_host(&s, &t).unwrap(), HostData::F32(vec![1.0, 0.1, 2.5, 5.0, -3.0, 6.0]));
    let bcast = Layout::new([2, 3], &[0, 1], 3);
    assert_eq!(B.to_host(&s, &bcast).unwrap(), HostData::F32(vec![0.1, 5.0, 6.0, 0.1, 5.0, 6.0]));
    for h in [HostData::F64(vec![1.5, -2.0]), HostData::I64(vec![-7, 1 << 53]), HostData::Bool(vec![true, false])] {
        assert_eq!(B.to_host(&B.from_host(h.clone()).unwrap(), &c(&[2])).unwrap(), h);
    }
    assert_eq!(B.to_host(&s, &Layout::new([0, 3], &[3, 1], 100)).unwrap(), HostData::F32(vec![]));
    assert!(B.from_host(HostData::I64(vec![(1 << 53) + 1])).is_err());
    assert!(B.to_host(&s, &c(&[7])).is_err());
    // A stride whose span overflows is refused when the layout is made.
    assert!(Layout::try_new([2], &[usize::MAX], 0).is_err());
    assert!(B.to_host(&s, &Layout::new([2], &[6], 0)).is_err());
}

#[test]
fn full_rounds_to_dtype() {
    is(B.full(0.1, F32, 2), F32, &[0.1f32 as f64; 2]);
    is(B.full(-2.7, I64, 1), I64, &[-2.0]);
    is(B.full(0.5, Bool, 1), Bool, &[1.0]);
    is(B.full(3.0, F64, 0), F64, &[]);
    assert!(B.full(1e300, I64, 1).is_err());
}

#[test]
fn unary_per_dtype() {
    let x = st(F32, &[0.5, -1.0, 2.0]);
    is(B.unary(UnaryOp::Exp, &x, &c(&[3])), F32, &[0.5f32.exp() as f64, (-1f32).exp() as f64, 2f32.exp() as f64]);
    let t = c(&[2, 2]).permute(&[1, 0]);
    is(B.unary(UnaryOp::Neg, &st(F64, &[0., 1., 2., 3.]), &t), F64, &[-0., -2., -1., -3.]);
    is(B.unary(UnaryOp::Round, &st(F64, &[0.5, 1.5, 2.5, -0.5]), &c(&[4])), F64, &[0., 2., 2., -0.]);
    let i = st(I64, &[-3., 0., 4.]);
    is(B.unary(UnaryOp::Neg, &i, &c(&[3])), I64, &[3., 0., -4.]);
    is(B.unary(UnaryOp::Abs, &i, &c(&[3])), I64, &[3., 0., 4.]);
    is(B.unary(UnaryOp::Sign, &i, &c(&[3])), I64, &[-1., 0., 1.]);
    is(B.unary(UnaryOp::Exp, &st(F64, &[]), &c(&[0, 3])), F64, &[]);
}

#[test]
fn unary_rejects_int_and_bool() {
    assert!(B.unary(UnaryOp::Exp, &st(I64, &[1.]), &c(&[1])).is_err());
    assert!(B.unary(UnaryOp::Neg, &st(Bool, &[1.]), &c(&[1])).is_err());
}

#[test]
fn binary_with_transpose_and_broadcast() {
    let (a, la) = x23();
    let row = st(F64, &[10., 20., 30.]);
    is(B.binary(BinaryOp::Add, &a, &la, &row, &Layout::new([2, 3], &[0, 1], 0)), F64, &[11., 22., 33., 14., 25., 36.]);
    let ones = st(F64, &[1.; 6]);
    let t = la.permute(&[1, 0]);
    is(B.binary(BinaryOp::Sub, &a, &t, &ones, &c(&[3, 2])), F64, &[0., 3., 1., 4., 2., 5.]);
    let (p, q) = (st(I64, &[7., -7., 7., -7., 5.]), st(I64, &[2., 2., -2., -2., 0.]));
    is(B.binary(BinaryOp::Div, &p, &c(&[5]), &q, &c(&[5])), I64, &[3., -4., -4., 3., 0.]);
    let (f, g) = (st(F32, &[0.1f32 as f64, 1.0]), st(F32, &[0.2f32 as f64, NAN]));
    is(B.binary(BinaryOp::Add, &f, &c(&[2]), &g, &c(&[2])), F32, &[(0.1f32 + 0.2f32) as f64, NAN]);
    is(B.binary(BinaryOp::Maximum, &f, &c(&[2]), &g, &c(&[2])), F32, &[0.2f32 as f64, NAN]);
    assert!(B.binary(BinaryOp::Add, &a, &la, &p, &c(&[2, 3])).is_err());
    assert!(B.binary(BinaryOp::Add, &a, &la, &a, &c(&[3, 2])).is_err());
    assert!(B.binary(BinaryOp::Add, &st(Bool, &[1.]), &c(&[1]), &st(Bool, &[1.]), &c(&[1])).is_err());
}

#[test]
fn compare_and_select() {
    let (a, b) = (st(F64, &[1., NAN, 3.]), st(F64, &[1., NAN, 2.]));
    let l = c(&[3]);
    is(B.compare(CmpOp::Eq, &a, &l, &b, &l), Bool, &[1., 0., 0.]);
    is(B.compare(CmpOp::Ne, &a, &l, &b, &l), Bool, &[0., 1., 1.]);
    is(B.compare(CmpOp::Gt, &a, &l, &b, &l), Bool, &[0., 0., 1.]);
    let cond = st(Bool, &[1., 0., 1.]);
    let nine = st(F64, &[9.]);
    is(B.select(&cond, &l, &a, &l, &nine, &Layout::new([3], &[0], 0)), F64, &[1., 9., 3.]);
    assert!(B.select(&a, &l, &a, &l, &b, &l).is_err());
}

#[test]
fn cast_truncates_and_tests_nonzero() {
    let x = st(F64, &[-1.7, 2.9, 0.0, NAN]);
    let l = c(&[4]);
    is(B.cast(&x, &l, I64), I64, &[-1., 2., 0., 0.]);
    is(B.cast(&x, &l, Bool), Bool, &[1., 1., 0., 1.]);
    is(B.cast(&st(Bool, &[1., 0.]), &c(&[2]), F32), F32, &[1., 0.]);
    is(B.cast(&st(F64, &[0.1]), &c(&[1]), F32), F32, &[0.1f32 as f64]);
    assert!(B.cast(&st(F64, &[1e300]), &c(&[1]), I64).is_err());
}

#[test]
fn copy_and_write_strided() {
    let (a, la) = x23();
    let t = la.permute(&[1, 0]);
    is(B.copy_strided(&a, &t), F64, &[1., 4., 2., 5., 3., 6.]);
    let mut dst = st(F64, &[0.; 6]);
    B.write_strided(&mut dst, &t, &a, &c(&[3, 2])).unwrap();
    assert_eq!(dst.values(), &[1., 3., 5., 2., 4., 6.]);
    let src = st(F64, &[1., 2., 3., 4.]);
    assert!(B.write_strided(&mut dst, &Layout::new([2], &[0], 0), &src, &c(&[2])).is_err());
    assert!(B.write_strided(&mut dst, &Layout::new([2, 2], &[1, 1], 0), &src, &c(&[2, 2])).is_err());
    assert!(B.write_strided(&mut dst, &c(&[2, 2]), &st(F32, &[0.; 4]), &c(&[2, 2])).is_err());
    assert_eq!(dst.values(), &[1., 3., 5., 2., 4., 6.]);
}

#[test]
fn reduce_over_axes() {
    let (a, la) = x23();
    is(B.reduce(ReduceOp::Sum, &a, &la, &[0]), F64, &[5., 7., 9.]);
    is(B.reduce(ReduceOp::Sum, &a, &la, &[1]), F64, &[6., 15.]);
    is(B.reduce(ReduceOp::Sum, &a, &la, &[0, 1]), F64, &[21.]);
    is(B.reduce(ReduceOp::Prod, &a, &la, &[1]), F64, &[6., 120.]);
    is(B.reduce(ReduceOp::Min, &a, &la, &[1]), F64, &[1., 4.]);
    is(B.reduce(ReduceOp::Max, &a, &la.permute(&[1, 0]), &[0]), F64, &[3., 6.]);
    is(B.reduce(ReduceOp::Max, &st(F64, &[1., NAN, 3.]), &c(&[3]), &[0]), F64, &[NAN]);
    is(
        B.reduce(ReduceOp::Sum, &st(F32, &[0.1f32 as f64, 0.2f32 as f64]), &c(&[2]), &[0]),
        F32,
        &[(0.1f32 as f64 + 0.2f32 as f64) as f32 as f64],
    );
    let (e, le) = (st(F64, &[]), c(&[2, 0]));
    is(B.reduce(ReduceOp::Sum, &e, &le, &[1]), F64, &[0., 0.]);
    is(B.reduce(ReduceOp::Max, &e, &le, &[1]), F64, &[f64::NEG_INFINITY; 2]);
    is(B.reduce(ReduceOp::Min, &e, &le, &[1]), F64, &[f64::INFINITY; 2]);
    is(B.reduce(ReduceOp::Prod, &e, &le, &[1]), F64, &[1., 1.]);
    is(B.reduce(ReduceOp::Sum, &e, &le, &[0]), F64, &[]);
    assert!(B.reduce(ReduceOp::Max, &st(I64, &[]), &le, &[1]).is_err());
    assert!(B.reduce(ReduceOp::Sum, &a, &la, &[1, 0]).is_err());
    assert!(B.reduce(ReduceOp::Sum, &a, &la, &[2]).is_err());
    assert!(B.reduce(ReduceOp::Sum, &st(Bool, &[1.]), &c(&[1]), &[0]).is_err());
    assert!(B.reduce(ReduceOp::Sum, &st(I64, &[(1u64 << 53) as f64, 1.]), &c(&[2]), &[0]).is_err());
}

#[test]
fn arg_reduce_first_extreme_and_nan() {
    let s = st(F64, &[1., 3., 3., 2., NAN, NAN]);
    is(B.arg_reduce(ArgReduceOp::ArgMax, &s, &c(&[2, 3]), 1), I64, &[1., 1.]);
    let s = st(F64, &[3., 1., 1., 0., NAN, NAN]);
    is(B.arg_reduce(ArgReduceOp::ArgMin, &s, &c(&[2, 3]), 1), I64, &[1., 1.]);
    let s = st(I64, &[1., 5., 2., 4., 5., 1.]);
    is(B.arg_reduce(ArgReduceOp::ArgMax, &s, &c(&[2, 3]), 0), I64, &[1., 0., 0.]);
    assert!(B.arg_reduce(ArgReduceOp::ArgMax, &st(F64, &[]), &c(&[2, 0]), 1).is_err());
    assert!(B.arg_reduce(ArgReduceOp::ArgMax, &s, &c(&[2, 3]), 2).is_err());
}

#[test]
fn cumsum_inclusive() {
    let (a, la) = x23();
    is(B.cumsum(&a, &la, 1), F64, &[1., 3., 6., 4., 9., 15.]);
    is(B.cumsum(&a, &la, 0), F64, &[1., 2., 3., 5., 7., 9.]);
    is(B.cumsum(&a, &la.permute(&[1, 0]), 1), F64, &[1., 5., 2., 7., 3., 9.]);
    is(B.cumsum(&st(I64, &[]), &c(&[0, 2]), 1), I64, &[]);
    assert!(B.cumsum(&st(Bool, &[1.]), &c(&[1]), 0).is_err());
}

#[test]
fn matmul_plain_transposed_batched_and_empty() {
    let (a, la) = x23();
    let b = st(F64, &[7., 8., 9., 10., 11., 12.]);
    let want = [58., 64., 139., 154.];
    is(B.matmul(&a, &la, &b, &c(&[3, 2])), F64, &want);
    let bt = st(F64, &[7., 9., 11., 8., 10., 12.]);
    is(B.matmul(&a, &la, &bt, &c(&[2, 3]).permute(&[1, 0])), F64, &want);
    // Batch of two: `a` broadcast (stride 0); the second right factor picks columns 0 and 1.
    let bb = st(F64, &[7., 8., 9., 10., 11., 12., 1., 0., 0., 1., 0., 0.]);
    let la3 = Layout::new([2, 2, 3], &[0, 3, 1], 0);
    is(B.matmul(&a, &la3, &bb, &c(&[2, 3, 2])), F64, &[58., 64., 139., 154., 1., 2., 4., 5.]);
    is(B.matmul(&st(F32, &[]), &c(&[2, 0]), &st(F32, &[]), &c(&[0, 3])), F32, &[0.; 6]);
    assert!(B.matmul(&a, &la, &b, &c(&[2, 3])).is_err());
    assert!(B.matmul(&a, &la, &b, &c(&[1, 3, 2])).is_err());
    assert!(B.matmul(&st(I64, &[1.]), &c(&[1, 1]), &st(I64, &[1.]), &c(&[1, 1])).is_err());
}

#[test]
fn concat_pad_flip() {
    let a = st(F64, &[1., 2., 3., 4.]);
    let (b, e) = (st(F64, &[5., 6.]), st(F64, &[]));
    let (la, lb) = (c(&[2, 2]), c(&[2, 1]));
    is(B.concat(&[(&a, &la), (&b, &lb), (&e, &c(&[2, 0]))], 1), F64, &[1., 2., 5., 3., 4., 6.]);
    is(B.concat(&[(&a, &la.permute(&[1, 0])), (&b, &c(&[1, 2]))], 0), F64, &[1., 3., 2., 4., 5., 6.]);
    assert!(B.concat(&[(&a, &la), (&b, &lb)], 0).is_err());
    assert!(B.concat(&[], 0).is_err());

    is(B.pad(&a, &la, &[(1, 0), (0, 2)], -1.), F64, &[-1., -1., -1., -1., 1., 2., -1., -1., 3., 4., -1., -1.]);
    is(B.pad(&st(I64, &[1.]), &c(&[1]), &[(1, 1)], 2.7), I64, &[2., 1., 2.]);
    is(B.pad(&e, &c(&[0]), &[(0, 2)], 0.5), F64, &[0.5, 0.5]);
    assert!(B.pad(&a, &la, &[(1, 1)], 0.).is_err());

    let (x, lx) = x23();
    is(B.flip(&x, &lx, &[1]), F64, &[3., 2., 1., 6., 5., 4.]);
    is(B.flip(&x, &lx, &[0, 1]), F64, &[6., 5., 4., 3., 2., 1.]);
    is(B.flip(&x, &lx, &[]), F64, &[1., 2., 3., 4., 5., 6.]);
    assert!(B.flip(&x, &lx, &[1, 1]).is_err());
    assert!(B.flip(&x, &lx, &[2]).is_err());
}

#[test]
fn gather_and_scatter_add() {
    let (x, lx) = x23();
    let idx = st(I64, &[2., 0., 1., 1.]);
    is(B.gather(&x, &lx, 1, &idx, &c(&[2, 2])), F64, &[3., 1., 5., 5.]);
    is(B.gather(&x, &lx, 0, &st(I64, &[1., 0., 1.]), &c(&[1, 3])), F64, &[4., 2., 6.]);
    assert!(B.gather(&x, &lx, 1, &st(I64, &[3., 0., 0., 0.]), &c(&[2, 2])).is_err());
    assert!(B.gather(&x, &lx, 1, &st(I64, &[-1., 0., 0., 0.]), &c(&[2, 2])).is_err());
    assert!(B.gather(&x, &lx, 1, &st(F64, &[0.; 4]), &c(&[2, 2])).is_err());
    assert!(B.gather(&x, &lx, 1, &idx, &c(&[1, 4])).is_err());

    let base = st(F64, &[0.; 6]);
    let idx = st(I64, &[0., 0., 2., 1.]);
    let src = st(F64, &[1., 2., 3., 4.]);
    let l22 = c(&[2, 2]);
    is(B.scatter_add(&base, &lx, 1, &idx, &l22, &src, &l22), F64, &[3., 0., 0., 0., 4., 3.]);
    // Base read through a transposed layout: [[1, 4], [2, 5], [3, 6]].
    let i0 = st(I64, &[2., 0.]);
    is(B.scatter_add(&x, &lx.permute(&[1, 0]), 0, &i0, &c(&[1, 2]), &src, &c(&[1, 2])), F64, &[1., 6., 2., 5., 4., 6.]);
    let bad = st(I64, &[0., 0., 3., 1.]);
    assert!(B.scatter_add(&base, &lx, 1, &bad, &l22, &src, &l22).is_err());
    assert!(B.scatter_add(&base, &lx, 1, &idx, &l22, &src, &c(&[4])).is_err());
}

fn geom(h: usize, w: usize, k: usize, s: usize, p: usize, d: usize) -> ConvGeom {
    ConvGeom { h, w, kernel: (k, k), stride: (s, s), padding: (p, p), dilation: (d, d) }
}

#[test]
fn im2col_3x3_kernel_2_padding_1() {
    let x = st(F64, &[1., 2., 3., 4., 5., 6., 7., 8., 9.]);
    let g = geom(3, 3, 2, 1, 1, 1);
    let cols = B.im2col(&x, &c(&[1, 1, 3, 3]), &g).unwrap();
    #[rustfmt::skip]
    let want = [
        0., 0., 0., 0.,  0., 1., 2., 3.,  0., 4., 5., 6.,  0., 7., 8., 9.,
        0., 0., 0., 0.,  1., 2., 3., 0.,  4., 5., 6., 0.,  7., 8., 9., 0.,
        0., 1., 2., 3.,  0., 4., 5., 6.,  0., 7., 8., 9.,  0., 0., 0., 0.,
        1., 2., 3., 0.,  4., 5., 6., 0.,  7., 8., 9., 0.,  0., 0., 0., 0.,
    ];
    assert_eq!(cols.values(), &want);
    // Every pixel lies in four windows.
    is(B.col2im(&st(F64, &[1.; 64]), &c(&[1, 4, 16]), &g), F64, &[4.; 9]);
    is(B.col2im(&cols, &c(&[1, 4, 16]), &g), F64, &[4., 8., 12., 16., 20., 24., 28., 32., 36.]);
}

#[test]
fn im2col_stride_dilation_and_errors() {
    let x = st(F64, &(1..=16).map(f64::from).collect::<Vec<_>>());
    is(
        B.im2col(&x, &c(&[1, 1, 4, 4]), &geom(4, 4, 2, 2, 0, 1)),
        F64,
        &[1., 3., 9., 11., 2., 4., 10., 12., 5., 7., 13., 15., 6., 8., 14., 16.],
    );
    is(B.im2col(&x, &c(&[1, 1, 3, 3]), &geom(3, 3, 2, 1, 0, 2)), F64, &[1., 3., 7., 9.]);
    is(B.im2col(&x, &c(&[1, 1, 1, 1]), &geom(1, 1, 2, 1, 0, 1)), F64, &[]);
    assert!(B.im2col(&x, &c(&[1, 1, 4, 4]), &geom(4, 4, 2, 0, 0, 1)).is_err());
    assert!(B.im2col(&x, &c(&[1, 1, 4, 4]), &geom(3, 3, 2, 1, 0, 1)).is_err());
    assert!(B.im2col(&x, &c(&[16]), &geom(4, 4, 2, 1, 0, 1)).is_err());
    assert!(B.col2im(&x, &c(&[1, 3, 4]), &geom(3, 3, 2, 1, 0, 1)).is_err());
}

#[test]
fn col2im_is_the_adjoint_of_im2col() {
    let g = ConvGeom { h: 4, w: 5, kernel: (2, 3), stride: (2, 1), padding: (1, 2), dilation: (1, 2) };
    let (oh, ow) = (g.out_h(), g.out_w());
    assert_eq!((oh, ow), (3, 5));
    let x: Vec<f64> = (0..2 * 2 * 4 * 5).map(|i| f64::from(i * 7 % 11) - 5.).collect();
    let y: Vec<f64> = (0..2 * 12 * 15).map(|i| f64::from(i * 5 % 13) - 6.).collect();
    let cols = B.im2col(&st(F64, &x), &c(&[2, 2, 4, 5]), &g).unwrap();
    let img = B.col2im(&st(F64, &y), &c(&[2, 12, oh * ow]), &g).unwrap();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    assert_eq!(dot(cols.values(), &y), dot(&x, img.values()));
    assert_ne!(dot(&x, img.values()), 0.0);
}

#[test]
fn random_is_the_core_stream() {
    for (dist, dtype) in
        [(Distribution::Uniform { low: -1., high: 2. }, F32), (Distribution::Normal { mean: 1., std: 3. }, F64)]
    {
        let r = B.random(dist, dtype, 5, 42).unwrap();
        assert_eq!(r.dtype(), dtype);
        assert_eq!(r.values(), func_core::random::sample(dist, dtype, 5, 42).unwrap().to_f64_vec());
        assert_eq!(r, B.random(dist, dtype, 5, 42).unwrap());
        assert_ne!(r, B.random(dist, dtype, 5, 43).unwrap());
    }
}
