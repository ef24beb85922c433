//! The [`Backend`] implementation of [`RefBackend`]: one naive loop per kernel.

use super::*;

impl Backend for RefBackend {
    type Storage = RefStorage;

    fn default_instance() -> func_core::Result<Self> {
        Ok(RefBackend)
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn storage_dtype(&self, s: &RefStorage) -> DType {
        s.dtype
    }

    fn storage_len(&self, s: &RefStorage) -> usize {
        s.data.len()
    }

    fn from_host(&self, data: HostData) -> Result<RefStorage> {
        storage_of_host("from_host", data)
    }

    fn to_host(&self, s: &RefStorage, l: &Layout) -> Result<HostData> {
        check("to_host", s, l)?;
        let mut values = try_vec("to_host", l.dims())?;
        values.extend(indices(l.dims()).map(|i| at(s, l, &i)));
        Ok(HostData::from_f64(&values, s.dtype))
    }

    fn full(&self, value: f64, dtype: DType, numel: usize) -> Result<RefStorage> {
        let v = to_dtype("full", dtype, value)?;
        Ok(RefStorage { dtype, data: func_core::alloc::try_filled("full", &[numel].into(), numel, v)? })
    }

    fn unary(&self, op: UnaryOp, s: &RefStorage, l: &Layout) -> Result<RefStorage> {
        let name = op.name();
        check(name, s, l)?;
        let x = |i: &[usize]| at(s, l, i);
        match s.dtype {
            DType::F32 => build(name, DType::F32, l.dims(), |i| Ok(op.apply_f32(x(i) as f32) as f64)),
            DType::F64 => build(name, DType::F64, l.dims(), |i| Ok(op.apply_f64(x(i)))),
            DType::I64 if op.supports_int() => {
                build(name, DType::I64, l.dims(), |i| exact(name, op.apply_i64(x(i) as i64)))
            }
            d => Err(err(name, format!("not defined for {d}"))),
        }
    }

    fn binary(&self, op: BinaryOp, a: &RefStorage, la: &Layout, b: &RefStorage, lb: &Layout) -> Result<RefStorage> {
        let name = op.name();
        same(name, a, la, b, lb)?;
        let (x, y) = (|i: &[usize]| at(a, la, i), |i: &[usize]| at(b, lb, i));
        match a.dtype {
            DType::F32 => build(name, DType::F32, la.dims(), |i| Ok(op.apply_f32(x(i) as f32, y(i) as f32) as f64)),
            DType::F64 => build(name, DType::F64, la.dims(), |i| Ok(op.apply_f64(x(i), y(i)))),
            DType::I64 => build(name, DType::I64, la.dims(), |i| exact(name, op.apply_i64(x(i) as i64, y(i) as i64))),
            DType::Bool => Err(err(name, "not defined for bool")),
            other => Err(Error::dtype(name, other, "the reference backend has no such dtype")),
        }
    }

    fn compare(&self, op: CmpOp, a: &RefStorage, la: &Layout, b: &RefStorage, lb: &Layout) -> Result<RefStorage> {
        let name = op.name();
        same(name, a, la, b, lb)?;
        // f64 comparison is exact for every dtype held here.
        build(name, DType::Bool, la.dims(), |i| Ok(f64::from(u8::from(op.apply(at(a, la, i), at(b, lb, i))))))
    }

    fn select(
        &self,
        cond: &RefStorage,
        lc: &Layout,
        a: &RefStorage,
        la: &Layout,
        b: &RefStorage,
        lb: &Layout,
    ) -> Result<RefStorage> {
        same("select", a, la, b, lb)?;
        check("select", cond, lc)?;
        let ok = cond.dtype == DType::Bool && lc.dims() == la.dims();
        ensure!(ok, "select", "condition must be bool of shape {}", la.shape());
        build("select", a.dtype, la.dims(), |i| Ok(if at(cond, lc, i) != 0.0 { at(a, la, i) } else { at(b, lb, i) }))
    }

    fn reduce(&self, op: ReduceOp, s: &RefStorage, l: &Layout, axes: &[usize]) -> Result<RefStorage> {
        let (name, dims) = (op.name(), l.dims());
        check(name, s, l)?;
        let ok = axes.windows(2).all(|w| w[0] < w[1]) && axes.iter().all(|&a| a < dims.len());
        ensure!(ok, name, "axes {axes:?} must be sorted, distinct and below rank {}", dims.len());
        let (bop, init) = match op {
            ReduceOp::Sum => (BinaryOp::Add, 0.0),
            ReduceOp::Prod => (BinaryOp::Mul, 1.0),
            ReduceOp::Max => (BinaryOp::Maximum, f64::NEG_INFINITY),
            ReduceOp::Min => (BinaryOp::Minimum, f64::INFINITY),
        };
        let red_dims: Vec<usize> = axes.iter().map(|&a| dims[a]).collect();
        let extreme = matches!(op, ReduceOp::Max | ReduceOp::Min);
        ensure!(extreme || s.dtype != DType::Bool, name, "not defined for bool (cast first)");
        let empty_ok = s.dtype.is_float() || !extreme || !red_dims.contains(&0);
        ensure!(empty_ok, name, "an empty {} reduction has no value", s.dtype);
        let mut out_dims = dims.to_vec();
        for &a in axes {
            out_dims[a] = 1;
        }
        build(name, s.dtype, &out_dims, |o| {
            let mut idx = o.to_vec();
            let mut acc = init;
            for r in indices(&red_dims) {
                for (&a, &v) in axes.iter().zip(&r) {
                    idx[a] = v;
                }
                acc = combine(name, s.dtype, bop, acc, at(s, l, &idx))?;
            }
            Ok(acc)
        })
    }

    fn arg_reduce(&self, op: ArgReduceOp, s: &RefStorage, l: &Layout, axis: usize) -> Result<RefStorage> {
        let name = op.name();
        check(name, s, l)?;
        check_axis(name, axis, l.ndim())?;
        let len = l.dims()[axis];
        ensure!(len > 0, name, "an empty axis has no extreme");
        let mut out_dims = l.dims().to_vec();
        out_dims[axis] = 1;
        build(name, DType::I64, &out_dims, |o| {
            let mut idx = o.to_vec();
            let (mut best_j, mut best) = (0, at(s, l, o));
            for j in 1..len {
                idx[axis] = j;
                let v = at(s, l, &idx);
                let better = match op {
                    ArgReduceOp::ArgMax => v > best,
                    ArgReduceOp::ArgMin => v < best,
                };
                // The first NaN is the extreme and nothing beats it.
                if !best.is_nan() && (v.is_nan() || better) {
                    (best_j, best) = (j, v);
                }
            }
            Ok(best_j as f64)
        })
    }

    fn cumsum(&self, s: &RefStorage, l: &Layout, axis: usize) -> Result<RefStorage> {
        check("cumsum", s, l)?;
        check_axis("cumsum", axis, l.ndim())?;
        not_bool("cumsum", s.dtype)?;
        build("cumsum", s.dtype, l.dims(), |o| {
            let mut idx = o.to_vec();
            let mut acc = 0.0;
            for j in 0..=o[axis] {
                idx[axis] = j;
                acc = combine("cumsum", s.dtype, BinaryOp::Add, acc, at(s, l, &idx))?;
            }
            Ok(acc)
        })
    }

    fn matmul(&self, a: &RefStorage, la: &Layout, b: &RefStorage, lb: &Layout) -> Result<RefStorage> {
        check("matmul", a, la)?;
        check("matmul", b, lb)?;
        let (da, db, r) = (la.dims(), lb.dims(), la.ndim());
        let float = a.dtype == b.dtype && a.dtype.is_float();
        ensure!(float, "matmul", "operands must share a float dtype, got {} and {}", a.dtype, b.dtype);
        let ok = r >= 2 && db.len() == r && da[..r - 2] == db[..r - 2] && da[r - 1] == db[r - 2];
        ensure!(ok, "matmul", "shapes {} and {} are not [.., m, k] and [.., k, n]", la.shape(), lb.shape());
        let k = da[r - 1];
        let mut out_dims = da.to_vec();
        out_dims[r - 1] = db[r - 1];
        // Products of f32 values are exact in f64; the f64 sum is rounded once.
        build("matmul", a.dtype, &out_dims, |o| {
            let (mut ia, mut ib) = (o.to_vec(), o.to_vec());
            let mut acc = 0.0;
            for p in 0..k {
                ia[r - 1] = p;
                ib[r - 2] = p;
                acc += at(a, la, &ia) * at(b, lb, &ib);
            }
            Ok(acc)
        })
    }

    fn cast(&self, s: &RefStorage, l: &Layout, dtype: DType) -> Result<RefStorage> {
        check("cast", s, l)?;
        build("cast", dtype, l.dims(), |i| Ok(at(s, l, i)))
    }

    fn copy_strided(&self, s: &RefStorage, l: &Layout) -> Result<RefStorage> {
        check("copy_strided", s, l)?;
        build("copy_strided", s.dtype, l.dims(), |i| Ok(at(s, l, i)))
    }

    fn write_strided(&self, dst: &mut RefStorage, dl: &Layout, src: &RefStorage, sl: &Layout) -> Result<()> {
        same("write_strided", dst, dl, src, sl)?;
        let mut seen = HashSet::new();
        let distinct = indices(dl.dims()).all(|i| seen.insert(dl.index_of(&i)));
        ensure!(distinct, "write_strided", "destination layout {dl:?} overlaps itself");
        for i in indices(dl.dims()) {
            dst.data[dl.index_of(&i)] = at(src, sl, &i);
        }
        Ok(())
    }

    fn concat(&self, parts: &[(&RefStorage, &Layout)], axis: usize) -> Result<RefStorage> {
        let Some(&(s0, l0)) = parts.first() else {
            return Err(err("concat", "no operands"));
        };
        check_axis("concat", axis, l0.ndim())?;
        let mut out_dims = l0.dims().to_vec();
        out_dims[axis] = 0;
        for &(s, l) in parts {
            check("concat", s, l)?;
            ensure!(s.dtype == s0.dtype, "concat", "dtypes {} and {} differ", s0.dtype, s.dtype);
            let mut d = l.dims().to_vec();
            ensure!(d.len() == out_dims.len(), "concat", "ranks of {} and {} differ", l0.shape(), l.shape());
            let total = out_dims[axis].checked_add(d[axis]);
            out_dims[axis] = total.ok_or_else(|| err("concat", "size overflows"))?;
            d[axis] = out_dims[axis];
            ensure!(d == out_dims, "concat", "shapes {} and {} differ off axis {axis}", l0.shape(), l.shape());
        }
        build("concat", s0.dtype, &out_dims, |o| {
            let mut idx = o.to_vec();
            for &(s, l) in parts {
                if idx[axis] < l.dims()[axis] {
                    return Ok(at(s, l, &idx));
                }
                idx[axis] -= l.dims()[axis];
            }
            Err(err("concat", "index past the last operand"))
        })
    }

    fn pad(&self, s: &RefStorage, l: &Layout, pads: &[(usize, usize)], value: f64) -> Result<RefStorage> {
        check("pad", s, l)?;
        ensure!(pads.len() == l.ndim(), "pad", "{} pads for rank {}", pads.len(), l.ndim());
        let out_dims: Option<Vec<usize>> =
            l.dims().iter().zip(pads).map(|(&d, &(lo, hi))| d.checked_add(lo)?.checked_add(hi)).collect();
        let out_dims = out_dims.ok_or_else(|| err("pad", "size overflows"))?;
        build("pad", s.dtype, &out_dims, |o| {
            let inner: Option<Vec<usize>> = o
                .iter()
                .zip(pads)
                .zip(l.dims())
                .map(|((&i, &(lo, _)), &d)| i.checked_sub(lo).filter(|&j| j < d))
                .collect();
            Ok(inner.map_or(value, |i| at(s, l, &i)))
        })
    }

    fn flip(&self, s: &RefStorage, l: &Layout, axes: &[usize]) -> Result<RefStorage> {
        check("flip", s, l)?;
        for (n, &a) in axes.iter().enumerate() {
            check_axis("flip", a, l.ndim())?;
            ensure!(!axes[..n].contains(&a), "flip", "axis {a} repeated");
        }
        build("flip", s.dtype, l.dims(), |o| {
            let mut idx = o.to_vec();
            for &a in axes {
                idx[a] = l.dims()[a] - 1 - o[a];
            }
            Ok(at(s, l, &idx))
        })
    }

    fn gather(&self, s: &RefStorage, l: &Layout, axis: usize, idx: &RefStorage, il: &Layout) -> Result<RefStorage> {
        check("gather", s, l)?;
        check_index_shape("gather", l, axis, idx, il)?;
        build("gather", s.dtype, il.dims(), |o| {
            let mut i = o.to_vec();
            i[axis] = index_at("gather", idx, il, o, l.dims()[axis])?;
            Ok(at(s, l, &i))
        })
    }

    fn scatter_add(
        &self,
        base: &RefStorage,
        bl: &Layout,
        axis: usize,
        idx: &RefStorage,
        il: &Layout,
        src: &RefStorage,
        sl: &Layout,
    ) -> Result<RefStorage> {
        let op = "scatter_add";
        check(op, base, bl)?;
        check(op, src, sl)?;
        check_index_shape(op, bl, axis, idx, il)?;
        ensure!(il.dims() == sl.dims(), op, "index shape {} differs from src shape {}", il.shape(), sl.shape());
        ensure!(src.dtype == base.dtype, op, "src dtype {} differs from base dtype {}", src.dtype, base.dtype);
        not_bool(op, base.dtype)?;
        let out_l = Layout::contiguous(bl.dims());
        let mut acc = try_vec(op, bl.dims())?;
        acc.extend(indices(bl.dims()).map(|i| at(base, bl, &i)));
        for o in indices(il.dims()) {
            let mut t = o.clone();
            t[axis] = index_at(op, idx, il, &o, bl.dims()[axis])?;
            let p = out_l.index_of(&t);
            acc[p] = combine(op, base.dtype, BinaryOp::Add, acc[p], at(src, sl, &o))?;
        }
        finish(op, base.dtype, acc)
    }

    fn im2col(&self, s: &RefStorage, l: &Layout, geom: &ConvGeom) -> Result<RefStorage> {
        check("im2col", s, l)?;
        let (oh, ow) = conv_out("im2col", geom)?;
        let &[n, c, h, w] = l.dims() else {
            return Err(err("im2col", format!("input {} is not [N, C, H, W]", l.shape())));
        };
        ensure!((h, w) == (geom.h, geom.w), "im2col", "input {} does not match {geom:?}", l.shape());
        let rows = numel("im2col", &[c, geom.kernel.0, geom.kernel.1])?;
        let cols = numel("im2col", &[oh, ow])?;
        build("im2col", s.dtype, &[n, rows, cols], |o| {
            Ok(window(geom, o[0], o[1], o[2], ow).map_or(0.0, |p| at(s, l, &p)))
        })
    }

    fn col2im(&self, s: &RefStorage, l: &Layout, geom: &ConvGeom) -> Result<RefStorage> {
        check("col2im", s, l)?;
        not_bool("col2im", s.dtype)?;
        let (oh, ow) = conv_out("col2im", geom)?;
        let &[n, rows, cols] = l.dims() else {
            return Err(err("col2im", format!("input {} is not [N, C*kh*kw, oh*ow]", l.shape())));
        };
        let k = geom.kernel.0.checked_mul(geom.kernel.1).ok_or_else(|| err("col2im", "kernel size overflows"))?;
        let ok = rows % k == 0 && Some(cols) == oh.checked_mul(ow);
        ensure!(ok, "col2im", "input {} does not match {geom:?}", l.shape());
        let out_dims = [n, rows / k, geom.h, geom.w];
        let out_l = Layout::contiguous(out_dims);
        let mut acc = try_vec("col2im", &out_dims)?;
        acc.resize(numel("col2im", &out_dims)?, 0.0);
        for o in indices(l.dims()) {
            if let Some(p) = window(geom, o[0], o[1], o[2], ow) {
                let p = out_l.index_of(&p);
                acc[p] = combine("col2im", s.dtype, BinaryOp::Add, acc[p], at(s, l, &o))?;
            }
        }
        finish("col2im", s.dtype, acc)
    }

    /// A direct sum over each output's window, in f64 (products of f32
    /// values are exact in f64), sharing nothing with `im2col` or `matmul`.
    fn conv2d(
        &self,
        x: &RefStorage,
        xl: &Layout,
        w: &RefStorage,
        wl: &Layout,
        geom: &ConvGeom,
        groups: usize,
    ) -> Result<RefStorage> {
        check("conv2d", x, xl)?;
        check("conv2d", w, wl)?;
        let (oh, ow) = conv_out("conv2d", geom)?;
        let (&[n, c, h, wd], &[o, cg, kh, kw]) = (xl.dims(), wl.dims()) else {
            return Err(err("conv2d", format!("input {} and weight {} are not 4-D", xl.shape(), wl.shape())));
        };
        let float = x.dtype == w.dtype && x.dtype.is_float();
        ensure!(float, "conv2d", "operands must share a float dtype, got {} and {}", x.dtype, w.dtype);
        let ok = groups > 0
            && c % groups == 0
            && o % groups == 0
            && cg * groups == c
            && (kh, kw) == geom.kernel
            && (h, wd) == (geom.h, geom.w);
        ensure!(ok, "conv2d", "input {} and weight {} do not match {geom:?}, groups {groups}", xl.shape(), wl.shape());
        let og = o / groups;
        build("conv2d", x.dtype, &[n, o, oh, ow], |i| {
            let (b, oc, oy, ox) = (i[0], i[1], i[2], i[3]);
            let c0 = oc / og * cg;
            let mut acc = 0.0;
            for ci in 0..cg {
                for ki in 0..kh {
                    for kj in 0..kw {
                        let y = (oy * geom.stride.0 + ki * geom.dilation.0).checked_sub(geom.padding.0);
                        let xx = (ox * geom.stride.1 + kj * geom.dilation.1).checked_sub(geom.padding.1);
                        if let (Some(y), Some(xx)) = (y.filter(|&y| y < h), xx.filter(|&v| v < wd)) {
                            acc += at(x, xl, &[b, c0 + ci, y, xx]) * at(w, wl, &[oc, ci, ki, kj]);
                        }
                    }
                }
            }
            Ok(acc)
        })
    }

    /// Each output element gathers the products of the input positions
    /// whose windows cover it, in f64, sharing nothing with `col2im` or
    /// `matmul`.
    fn conv_transpose2d(
        &self,
        y: &RefStorage,
        yl: &Layout,
        w: &RefStorage,
        wl: &Layout,
        geom: &ConvGeom,
        groups: usize,
    ) -> Result<RefStorage> {
        check("conv_transpose2d", y, yl)?;
        check("conv_transpose2d", w, wl)?;
        let (oh, ow) = conv_out("conv_transpose2d", geom)?;
        let (&[n, o, yh, yw], &[wo, cg, kh, kw]) = (yl.dims(), wl.dims()) else {
            return Err(err("conv_transpose2d", format!("input {} and weight {} are not 4-D", yl.shape(), wl.shape())));
        };
        let float = y.dtype == w.dtype && y.dtype.is_float();
        ensure!(float, "conv_transpose2d", "operands must share a float dtype, got {} and {}", y.dtype, w.dtype);
        let ok = groups > 0 && o == wo && o % groups == 0 && (kh, kw) == geom.kernel && (yh, yw) == (oh, ow);
        ensure!(ok, "conv_transpose2d", "input {} and weight {} do not match {geom:?}", yl.shape(), wl.shape());
        let og = o / groups;
        build("conv_transpose2d", y.dtype, &[n, cg * groups, geom.h, geom.w], |i| {
            let (b, ch, py, px) = (i[0], i[1], i[2], i[3]);
            let (gi, ci) = (ch / cg, ch % cg);
            let mut acc = 0.0;
            for (ki, kj) in (0..kh).flat_map(|a| (0..kw).map(move |b| (a, b))) {
                // Output position (oy, ox) reads (py, px) through tap (ki, kj)
                // when oy * stride + ki * dilation - padding == py.
                let ty = (py + geom.padding.0).checked_sub(ki * geom.dilation.0);
                let tx = (px + geom.padding.1).checked_sub(kj * geom.dilation.1);
                let (Some(ty), Some(tx)) = (ty, tx) else { continue };
                if ty % geom.stride.0 != 0 || tx % geom.stride.1 != 0 {
                    continue;
                }
                let (oy, ox) = (ty / geom.stride.0, tx / geom.stride.1);
                if oy >= oh || ox >= ow {
                    continue;
                }
                for oc in gi * og..(gi + 1) * og {
                    acc += at(y, yl, &[b, oc, oy, ox]) * at(w, wl, &[oc, ci, ki, kj]);
                }
            }
            Ok(acc)
        })
    }

    fn random(&self, dist: Distribution, dtype: DType, numel: usize, seed: u64) -> Result<RefStorage> {
        storage_of_host("random", func_core::random::sample(dist, dtype, numel, seed)?)
    }
}
