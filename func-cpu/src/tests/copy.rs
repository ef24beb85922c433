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
