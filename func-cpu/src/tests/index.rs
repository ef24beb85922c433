//! Gather and scatter_add, including the parallel gather.

use super::*;

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
    let n = crate::strided::PAR_MIN + 20_000;
    let xv = vals(n);
    let x = st(&xv, DType::F64);
    let iv: Vec<i64> = (0..n as i64).map(|i| (i * 13) % n as i64).collect();
    let idx = Cpu.from_host(HostData::I64(iv.clone())).unwrap();
    let l = Layout::contiguous([n]);
    let got = host(&Cpu.gather(&x, &l, 0, &idx, &l).unwrap());
    assert_eq!(got, iv.iter().map(|&i| xv[i as usize]).collect::<Vec<_>>());
}

/// scatter_add large enough to fill the output's leading blocks in
/// parallel: along an inner axis with one and with several indices per
/// output fiber (which add up), with a smaller and permuted index, over a
/// strided base, against a naive serial scatter; and an out-of-range index
/// in one block is an error.
#[test]
fn large_scatter_add_fills_leading_blocks_in_parallel() {
    let mut checked = 0;
    for dt in [DType::F64, DType::F32] {
        // (base dims, axis, index dims, index layout permuted?)
        let cases: [(&[usize], usize, &[usize], bool); 3] = [
            (&[8, 16, 4, 1200], 2, &[8, 16, 1, 1200], false),
            (&[9, 5, 3000], 1, &[7, 9, 3000], false),
            (&[1000, 4, 40], 2, &[40, 4, 1000], true),
        ];
        for (bdims, axis, idims, permuted) in cases {
            let bn: usize = bdims.iter().product();
            let (bv, base) = (rounded(&vals(bn + 3), dt), bdims.to_vec());
            let bs = st(&bv, dt);
            // A base read at offset 3 (not the storage's first element).
            let bl = Layout::new(base.clone(), &Shape::from(base.clone()).contiguous_strides(), 3);
            let ni: usize = idims.iter().product();
            let n = bdims[axis];
            let iv: Vec<i64> = (0..ni).map(|i| ((i * 7 + i / 13) % n) as i64).collect();
            let idx = Cpu.from_host(HostData::I64(iv.clone())).unwrap();
            let (il, sl) = if permuted {
                let rev: Vec<usize> = idims.iter().rev().copied().collect();
                let p = Layout::contiguous(&rev[..]).permute(&[2, 1, 0]);
                (p.clone(), p)
            } else {
                (Layout::contiguous(idims), Layout::contiguous(idims))
            };
            let sv = rounded(&vals(ni + 50)[50..], dt);
            let src = st(&sv, dt);
            let got = host(&Cpu.scatter_add(&bs, &bl, axis, &idx, &il, &src, &sl).unwrap());
            let mut want = elems(&bv, &bl);
            let (ie, se) = (elems(&iv.iter().map(|&i| i as f64).collect::<Vec<_>>(), &il), elems(&sv, &sl));
            for ((k, &i), &x) in indices(il.dims()).iter().zip(&ie).zip(&se) {
                let mut k = k.clone();
                k[axis] = i as usize;
                let t = flat(&k, bdims);
                want[t] = rounded(&[want[t] + x], dt)[0];
            }
            assert!(same(&got, &want), "{dt} {bdims:?} axis {axis} index {idims:?}");
            checked += got.len();
            // One index out of range, in a late block.
            let mut badv = iv.clone();
            badv[ni - 5] = n as i64;
            let bad = Cpu.from_host(HostData::I64(badv)).unwrap();
            assert!(Cpu.scatter_add(&bs, &bl, axis, &bad, &il, &src, &sl).is_err());
        }
    }
    assert_eq!(checked, 2 * (8 * 16 * 4 * 1200 + 9 * 5 * 3000 + 1000 * 4 * 40));
}
