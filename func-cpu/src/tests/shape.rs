//! Concat, pad and flip.

use super::*;

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
