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

/// A convolution the naive way, in f64: each output the sum over its
/// window, and the sum of the products' magnitudes (for a tolerance scaled
/// to each element).
fn naive_conv2d(x: &[f64], xl: &Layout, w: &[f64], wl: &Layout, g: &ConvGeom, groups: usize) -> (Vec<f64>, Vec<f64>) {
    let (xe, we) = (elems(x, xl), elems(w, wl));
    let (&[nb, c, h, wd], &[o, cg, kh, kw]) = (xl.dims(), wl.dims()) else { panic!() };
    let (oh, ow, og) = (g.out_h(), g.out_w(), o / groups);
    let (mut out, mut mag) = (vec![0.0; nb * o * oh * ow], vec![0.0; nb * o * oh * ow]);
    for (ni, oc, oy, ox) in (0..nb)
        .flat_map(|n| (0..o).flat_map(move |oc| (0..oh).flat_map(move |oy| (0..ow).map(move |ox| (n, oc, oy, ox)))))
    {
        let at = flat(&[ni, oc, oy, ox], &[nb, o, oh, ow]);
        for (ci, i, j) in (0..cg).flat_map(|ci| (0..kh).flat_map(move |i| (0..kw).map(move |j| (ci, i, j)))) {
            let iy = (oy * g.stride.0 + i * g.dilation.0) as isize - g.padding.0 as isize;
            let ix = (ox * g.stride.1 + j * g.dilation.1) as isize - g.padding.1 as isize;
            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wd {
                let xv = xe[flat(&[ni, oc / og * cg + ci, iy as usize, ix as usize], &[nb, c, h, wd])];
                let p = xv * we[flat(&[oc, ci, i, j], &[o, cg, kh, kw])];
                out[at] += p;
                mag[at] += p.abs();
            }
        }
    }
    (out, mag)
}

/// The convolution by samples (NOTE: [convolution by samples] in conv.rs)
/// and through the batch's columns, for batches below and above the
/// threshold, with groups, padding, strides and dilation, a strided input
/// and a transposed weight, f32 and f64: each element within rounding of
/// the naive sum, scaled to that element's products.
#[test]
fn conv2d_by_samples_matches_the_naive_sum() {
    let geoms = [
        ConvGeom { h: 10, w: 12, kernel: (3, 3), stride: (1, 1), padding: (0, 0), dilation: (1, 1) },
        ConvGeom { h: 9, w: 7, kernel: (3, 2), stride: (2, 1), padding: (1, 2), dilation: (1, 2) },
        ConvGeom { h: 16, w: 16, kernel: (3, 3), stride: (1, 1), padding: (1, 1), dilation: (1, 1) },
    ];
    let threads = rayon::current_num_threads();
    let (mut checked, mut by_samples) = (0usize, 0usize);
    // Twice over: the second pass reuses the first pass's cached buffers.
    for g in geoms.iter().chain(&geoms).copied() {
        for (groups, cg, og) in [(1, 3, 5), (2, 2, 3), (4, 1, 8)] {
            let (c, o) = (groups * cg, groups * og);
            for nb in [1, 3, 4 * threads + 1] {
                let strided = Layout::contiguous([nb, g.w, c, g.h]).permute(&[0, 2, 3, 1]);
                let wt = Layout::contiguous([g.kernel.1, g.kernel.0, cg, o]).permute(&[3, 2, 1, 0]);
                for (xl, wl) in [
                    (Layout::contiguous([nb, c, g.h, g.w]), Layout::contiguous([o, cg, g.kernel.0, g.kernel.1])),
                    (strided, wt),
                ] {
                    for dt in FLOATS {
                        let xv = rounded(&vals(xl.numel()), dt);
                        let wv = rounded(&vals(wl.numel() + 5)[5..], dt);
                        let (x, w) = (st(&xv, dt), st(&wv, dt));
                        let got = host(&Cpu.conv2d(&x, &xl, &w, &wl, &g, groups).unwrap());
                        let (want, mag) = naive_conv2d(&xv, &xl, &wv, &wl, &g, groups);
                        let eps = if dt == DType::F32 { 1e-6 } else { 1e-14 };
                        assert_eq!(got.len(), want.len());
                        for (i, ((a, b), m)) in got.iter().zip(&want).zip(&mag).enumerate() {
                            assert!(
                                (a - b).abs() <= eps * (m + 1e-30),
                                "{g:?} groups {groups} n {nb} {dt} at {i}: {a} vs {b}"
                            );
                        }
                        checked += got.len();
                        if dt == DType::F64 {
                            let xs: Vec<f64> = xv.clone();
                            let ws: Vec<f64> = wv.clone();
                            by_samples +=
                                crate::conv::conv2d(&xs, &xl, &ws, &wl, &g, groups).unwrap().is_some() as usize;
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 50_000, "{checked} elements compared");
    // The batches of `4 * threads + 1` samples (and any small enough to run
    // on one thread) took the samples' path: at least one per geometry,
    // groups and layout, twice over.
    assert!(by_samples >= 2 * 3 * 3 * 2, "{by_samples} convolutions by samples");
    // Mismatched operands are errors, not panics.
    let g = geoms[0];
    let x = st(&vals(3 * 120), DType::F32);
    let w = st(&vals(5 * 3 * 9), DType::F32);
    let (xl, wl) = (Layout::contiguous([1, 3, 10, 12]), Layout::contiguous([5, 3, 3, 3]));
    assert!(Cpu.conv2d(&x, &xl, &w, &wl, &g, 2).is_err());
    assert!(Cpu.conv2d(&x, &Layout::contiguous([1, 3, 12, 10]), &w, &wl, &g, 1).is_err());
    assert!(Cpu.conv2d(&x, &xl, &st(&vals(5 * 27), DType::F64), &wl, &g, 1).is_err());
}

/// A transposed convolution the naive way, in f64: every input element's
/// products with the weight scattered over its window; also the sum of the
/// products' magnitudes at each output.
fn naive_conv_transpose2d(
    y: &[f64],
    yl: &Layout,
    w: &[f64],
    wl: &Layout,
    g: &ConvGeom,
    groups: usize,
) -> (Vec<f64>, Vec<f64>) {
    let (ye, we) = (elems(y, yl), elems(w, wl));
    let (&[nb, o, oh, ow], &[_, cg, kh, kw]) = (yl.dims(), wl.dims()) else { panic!() };
    let (c, og) = (cg * groups, o / groups);
    let (mut out, mut mag) = (vec![0.0; nb * c * g.h * g.w], vec![0.0; nb * c * g.h * g.w]);
    for (ni, oc, oy, ox) in (0..nb)
        .flat_map(|n| (0..o).flat_map(move |oc| (0..oh).flat_map(move |oy| (0..ow).map(move |ox| (n, oc, oy, ox)))))
    {
        let v = ye[flat(&[ni, oc, oy, ox], &[nb, o, oh, ow])];
        for (ci, i, j) in (0..cg).flat_map(|ci| (0..kh).flat_map(move |i| (0..kw).map(move |j| (ci, i, j)))) {
            let iy = (oy * g.stride.0 + i * g.dilation.0) as isize - g.padding.0 as isize;
            let ix = (ox * g.stride.1 + j * g.dilation.1) as isize - g.padding.1 as isize;
            if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                let at = flat(&[ni, oc / og * cg + ci, iy as usize, ix as usize], &[nb, c, g.h, g.w]);
                let p = v * we[flat(&[oc, ci, i, j], &[o, cg, kh, kw])];
                out[at] += p;
                mag[at] += p.abs();
            }
        }
    }
    (out, mag)
}

/// The transposed convolution by samples and through the batch's columns
/// against the naive scatter, as `conv2d_by_samples_matches_the_naive_sum`.
#[test]
fn conv_transpose2d_by_samples_matches_the_naive_scatter() {
    let geoms = [
        ConvGeom { h: 10, w: 12, kernel: (3, 3), stride: (1, 1), padding: (0, 0), dilation: (1, 1) },
        ConvGeom { h: 9, w: 7, kernel: (3, 2), stride: (2, 1), padding: (1, 2), dilation: (1, 2) },
        ConvGeom { h: 16, w: 16, kernel: (3, 3), stride: (2, 2), padding: (1, 1), dilation: (1, 1) },
    ];
    let threads = rayon::current_num_threads();
    let (mut checked, mut by_samples) = (0usize, 0usize);
    for g in geoms.iter().chain(&geoms).copied() {
        let (oh, ow) = (g.out_h(), g.out_w());
        for (groups, cg, og) in [(1, 3, 5), (2, 2, 3), (4, 1, 8)] {
            let o = groups * og;
            for nb in [1, 3, 4 * threads + 1] {
                let strided = Layout::contiguous([nb, ow, o, oh]).permute(&[0, 2, 3, 1]);
                let wt = Layout::contiguous([g.kernel.1, g.kernel.0, cg, o]).permute(&[3, 2, 1, 0]);
                let dense = (Layout::contiguous([nb, o, oh, ow]), Layout::contiguous([o, cg, g.kernel.0, g.kernel.1]));
                for (yl, wl) in [dense, (strided, wt)] {
                    for dt in FLOATS {
                        let yv = rounded(&vals(yl.numel()), dt);
                        let wv = rounded(&vals(wl.numel() + 7)[7..], dt);
                        let (y, w) = (st(&yv, dt), st(&wv, dt));
                        let got = host(&Cpu.conv_transpose2d(&y, &yl, &w, &wl, &g, groups).unwrap());
                        let (want, mag) = naive_conv_transpose2d(&yv, &yl, &wv, &wl, &g, groups);
                        let eps = if dt == DType::F32 { 1e-6 } else { 1e-14 };
                        assert_eq!(got.len(), want.len());
                        for (i, ((a, b), m)) in got.iter().zip(&want).zip(&mag).enumerate() {
                            let ok = (a - b).abs() <= eps * (m + 1e-30);
                            assert!(ok, "{g:?} groups {groups} n {nb} {dt} at {i}: {a} vs {b}");
                        }
                        checked += got.len();
                        if dt == DType::F64 {
                            let r = crate::conv::conv_transpose2d(&yv, &yl, &wv, &wl, &g, groups).unwrap();
                            by_samples += r.is_some() as usize;
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 50_000, "{checked} elements compared");
    assert!(by_samples >= 2 * 3 * 3 * 2, "{by_samples} transposed convolutions by samples");
    let g = geoms[0];
    let y = st(&vals(5 * 80), DType::F32);
    let w = st(&vals(5 * 3 * 9), DType::F32);
    let (yl, wl) = (Layout::contiguous([1, 5, 8, 10]), Layout::contiguous([5, 3, 3, 3]));
    assert!(Cpu.conv_transpose2d(&y, &yl, &w, &wl, &g, 2).is_err());
    assert!(Cpu.conv_transpose2d(&y, &Layout::contiguous([1, 5, 10, 8]), &w, &wl, &g, 1).is_err());
    assert!(Cpu.conv_transpose2d(&y, &yl, &st(&vals(5 * 27), DType::F64), &wl, &g, 1).is_err());
}
