//! Cast, copy, strided write, full and random; empty views.

use super::*;

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

/// Copies of transposed matrices (NOTE: [transposing copy] in `strided.rs`:
/// 8 x 8 blocks in AVX registers for 4- and 8-byte elements, scalar for the
/// rest and for the edges) against a naive gather: every element, in
/// every dtype, with batch dimensions, offsets, padded strides, rows and
/// columns that are not multiples of 8, and sizes that take the parallel
/// path.
#[test]
fn transposed_copies_match_a_naive_gather() {
    let t = |rows: usize, cols: usize| Layout::contiguous([cols, rows]).permute(&[1, 0]);
    let layouts = [
        t(8, 8),
        t(9, 13),
        t(16, 7),
        t(7, 16),
        t(32, 2048),
        t(2048, 32),
        t(17, 8),
        // Parallel (at least 2^19 elements): whole bands, and whole matrices when rows % 8 != 0.
        t(1024, 1024),
        t(1001, 600),
        // A batch of transposes, and one with an offset and padded strides.
        Layout::contiguous([3, 20, 12]).permute(&[0, 2, 1]),
        Layout::new([3, 16, 9], &[400, 1, 20], 7),
        // Batch dimensions that are themselves permuted.
        Layout::contiguous([5, 2, 11, 10]).permute(&[1, 0, 3, 2]),
        // A broadcast row and every third column of a transpose: the general path.
        Layout::new([10, 12], &[1, 0], 3),
        Layout::contiguous([12, 10]).permute(&[1, 0]).slice(1, 0, 12, 3),
    ];
    let mut checked = 0;
    for l in &layouts {
        let n = l.storage_span();
        let mut v = vals(n);
        v[n / 2] = f64::NAN;
        for dt in [DType::F32, DType::F64, DType::I64, DType::Bool] {
            let v = if dt == DType::F32 || dt == DType::F64 { v.clone() } else { ints(n) };
            let got = host(&Cpu.copy_strided(&st(&v, dt), l).unwrap());
            let want = rounded(&elems(&v, l), dt);
            assert!(same(&got, &want), "{dt} copy of {l:?}");
            checked += got.len();
        }
    }
    // Every element of every layout, in four dtypes: 1.78M per dtype.
    let per_dtype: usize = layouts.iter().map(Layout::numel).sum();
    assert_eq!((checked, per_dtype), (4 * per_dtype, 1_783_201));
}
