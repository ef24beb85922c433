//! im2col against a naive unfold, and col2im as its adjoint.

use super::*;

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

/// col2im the naive way: every column element added to the image element
/// its tap and position read (none for a position in the padding), in f64.
fn naive_col2im(y: &[f64], l: &Layout, g: &ConvGeom) -> Vec<f64> {
    let e = elems(y, l);
    let &[nb, rows, _] = l.dims() else { panic!() };
    let ((kh, kw), (oh, ow)) = (g.kernel, (g.out_h(), g.out_w()));
    let c = rows / (kh * kw);
    let mut out = vec![0.0; nb * c * g.h * g.w];
    for ni in 0..nb {
        for ci in 0..c {
            for (i, j) in (0..kh).flat_map(|i| (0..kw).map(move |j| (i, j))) {
                for (oy, ox) in (0..oh).flat_map(|oy| (0..ow).map(move |ox| (oy, ox))) {
                    let iy = (oy * g.stride.0 + i * g.dilation.0) as isize - g.padding.0 as isize;
                    let ix = (ox * g.stride.1 + j * g.dilation.1) as isize - g.padding.1 as isize;
                    if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                        let row = (ci * kh + i) * kw + j;
                        out[flat(&[ni, ci, iy as usize, ix as usize], &[nb, c, g.h, g.w])] +=
                            e[flat(&[ni, row, oy * ow + ox], &[nb, rows, oh * ow])];
                    }
                }
            }
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
        // No padding: every tap covers every output position, and the
        // columns are written without a zero-fill first.
        ConvGeom { h: 32, w: 32, kernel: (3, 3), stride: (1, 1), padding: (0, 0), dilation: (1, 1) },
        ConvGeom { h: 9, w: 11, kernel: (3, 2), stride: (2, 3), padding: (0, 0), dilation: (2, 1) },
    ];
    // Twice over: the second pass takes the first pass's freed buffers from
    // the buffer cache, so stale values left anywhere would show.
    let mut checked = 0usize;
    for g in geoms.iter().chain(&geoms).copied() {
        // The 32x32 images give more columns than the parallel threshold.
        let (nb, c) = (if g.h == 32 { 6 } else { 2 }, 3);
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
                // Element by element: each sums at most kh * kw terms, in
                // the same tap order as the naive loop.
                let want = naive_col2im(&yv, &yl, &g);
                let tol = if dt == DType::F32 { 1e-6 } else { 1e-14 };
                assert!(close(&back, &want, tol), "col2im {g:?} {dt}");
                checked += back.len();
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
    assert!(checked > 100_000, "{checked} col2im elements compared");
    let g = geoms[0];
    let x = st(&vals(60), DType::F32);
    assert!(Cpu.im2col(&x, &Layout::contiguous([2, 6, 5]), &g).is_err());
    assert!(Cpu.im2col(&x, &Layout::contiguous([1, 2, 6, 5]), &g).is_err());
    assert!(Cpu.im2col(&x, &Layout::contiguous([1, 2, 5, 6]), &ConvGeom { stride: (0, 1), ..g }).is_err());
    assert!(Cpu.col2im(&x, &Layout::contiguous([1, 10, 6]), &g).is_err());
}

/// Columns past the streaming threshold (NOTE: [streamed columns] in
/// conv.rs): written plane by plane into a scratch buffer and streamed out,
/// with padding (zero-filled planes) and without, from a contiguous and a
/// strided input, f32 and f64: exactly the naive unfold.
#[test]
fn columns_larger_than_the_cache_are_streamed_exactly() {
    let threshold = crate::stream::stream_threshold();
    let mut checked = 0;
    for padding in [(1, 1), (0, 0)] {
        let g = ConvGeom { h: 20, w: 23, kernel: (3, 3), stride: (1, 1), padding, dilation: (1, 1) };
        let c = 2;
        let plane = 9 * g.out_h() * g.out_w();
        for dt in FLOATS {
            // Enough images that the f32 or f64 columns pass the threshold.
            let nb = (threshold / (c * plane * dt.size_in_bytes())) + 1;
            let n = nb * c * g.h * g.w;
            let xv = rounded(&vals(n), dt);
            let x = st(&xv, dt);
            let strided = Layout::contiguous([nb, g.w, c, g.h]).permute(&[0, 2, 3, 1]);
            for xl in [Layout::contiguous([nb, c, g.h, g.w]), strided] {
                let cols = host(&Cpu.im2col(&x, &xl, &g).unwrap());
                assert!(cols.len() * dt.size_in_bytes() >= threshold);
                assert!(cols == naive_im2col(&xv, &xl, &g), "{g:?} {dt} {xl:?}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 8);
}
