//! [`RefBackend`]: the naive, obviously correct oracle backend.
//!
//! NOTE: [reference semantics] Every element is held as an `f64` next to a
//! dtype tag: f32 values exactly, bool as 0/1, and i64 values exactly as long
//! as their magnitude is at most 2^53. An i64 result outside that range is an
//! error, never a silently rounded value: the oracle refuses rather than lies.
//!
//! Every kernel is a loop over the multi-indices of its output shape in
//! row-major order; each input element is read with [`Layout::index_of`].
//! A value is computed and then rounded to the output dtype once:
//! - elementwise f32 ops call the `apply_f32` functions on f32 values, so they
//!   match an f32 kernel bit for bit; f64 ops call `apply_f64`, i64 ops
//!   `apply_i64` (wrapping arithmetic, as the core defines it);
//! - accumulations (sum, prod, cumsum, matmul, scatter_add, col2im) run in f64
//!   for both float dtypes and round to f32 only at the end, so an f32 kernel
//!   that accumulates in f32 agrees only up to a tolerance;
//! - i64 accumulations use `BinaryOp::apply_i64` step by step.
//!
//! Bad arguments (shapes, dtypes, layouts reaching past the storage, indices
//! out of range) give [`Error::Backend`] from `"ref"`; no input panics.

use std::collections::HashSet;

use func_core::{
    ArgReduceOp, Backend, BinaryOp, CmpOp, ConvGeom, DType, Distribution, Error, HostData, Layout, ReduceOp, Result,
    UnaryOp,
};

const NAME: &str = "ref";

/// Every integer of magnitude at most 2^53 is exactly an f64.
const EXACT_INT: u64 = 1 << 53;

/// The reference backend: naive multi-index loops over `f64` values, the
/// oracle every optimized backend is tested against.
/// See NOTE: [reference semantics].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefBackend;

/// Storage of [`RefBackend`]: a dtype tag and every element as an `f64`.
#[derive(Clone, Debug, PartialEq)]
pub struct RefStorage {
    dtype: DType,
    data: Vec<f64>,
}

impl RefStorage {
    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The elements in storage order, as `f64` (bool as 0/1).
    pub fn values(&self) -> &[f64] {
        &self.data
    }
}

fn err(op: &str, why: impl Into<String>) -> Error {
    Error::backend(NAME, op, why)
}

/// Return a backend error of `op` with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $op:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(err($op, format!($($msg)+)));
        }
    };
}

/// `v` as an exact f64, or an error when `|v| > 2^53`.
fn exact(op: &str, v: i64) -> Result<f64> {
    ensure!(v.unsigned_abs() <= EXACT_INT, op, "i64 value {v} is beyond 2^53, not held exactly");
    Ok(v as f64)
}

/// `x` rounded to a value of `dtype` (float to i64 truncates toward zero,
/// nonzero is `true`).
fn to_dtype(op: &str, dtype: DType, x: f64) -> Result<f64> {
    Ok(match dtype {
        DType::F32 => x as f32 as f64,
        DType::F64 => x,
        DType::I64 => exact(op, x as i64)?,
        DType::Bool => f64::from(u8::from(x != 0.0)),
        other => return Err(Error::dtype(op, other, "the reference backend has no such dtype")),
    })
}

/// `a bop b` in the accumulation arithmetic of `dtype`: i64 for I64, f64 otherwise.
fn combine(op: &str, dtype: DType, bop: BinaryOp, a: f64, b: f64) -> Result<f64> {
    match dtype {
        DType::I64 => exact(op, bop.apply_i64(a as i64, b as i64)),
        _ => Ok(bop.apply_f64(a, b)),
    }
}

/// Checked element count of a shape.
fn numel(op: &str, dims: &[usize]) -> Result<usize> {
    if dims.contains(&0) {
        return Ok(0);
    }
    let n = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    n.ok_or_else(|| err(op, "element count overflows usize"))
}

/// All multi-indices of `dims` in row-major order (last axis fastest); none
/// when a dimension is 0. Call [`numel`] on `dims` first.
fn indices(dims: &[usize]) -> impl Iterator<Item = Vec<usize>> + '_ {
    let n = if dims.contains(&0) { 0 } else { dims.iter().product() };
    (0..n).map(move |mut k: usize| {
        let mut idx = vec![0; dims.len()];
        for d in (0..dims.len()).rev() {
            idx[d] = k % dims[d];
            k /= dims[d];
        }
        idx
    })
}

/// Every element of `l` lies inside `s`.
fn check(op: &str, s: &RefStorage, l: &Layout) -> Result<()> {
    if numel(op, l.dims())? == 0 {
        return Ok(());
    }
    let mut last = Some(l.offset());
    for (&d, &st) in l.dims().iter().zip(l.strides()) {
        last = last.and_then(|acc| (d - 1).checked_mul(st)?.checked_add(acc));
    }
    let len = s.data.len();
    ensure!(last.is_some_and(|i| i < len), op, "layout {l:?} reaches past {len} elements");
    debug_assert!(l.storage_span() <= len);
    Ok(())
}

/// The element of `(s, l)` at multi-index `idx` (after [`check`]).
fn at(s: &RefStorage, l: &Layout, idx: &[usize]) -> f64 {
    s.data[l.index_of(idx)]
}

/// A storage of `dtype` and shape `dims` whose element at `idx` is `f(idx)`
/// rounded to `dtype`.
fn build(op: &str, dtype: DType, dims: &[usize], mut f: impl FnMut(&[usize]) -> Result<f64>) -> Result<RefStorage> {
    let mut data = try_vec(op, dims)?;
    for idx in indices(dims) {
        data.push(to_dtype(op, dtype, f(&idx)?)?);
    }
    Ok(RefStorage { dtype, data })
}

/// An empty buffer with room for the elements of `dims`, allocated
/// fallibly ([`Error::OutOfMemory`] instead of an abort).
fn try_vec(op: &str, dims: &[usize]) -> Result<Vec<f64>> {
    func_core::alloc::try_vec(op, &dims.into(), numel(op, dims)?)
}

/// Round accumulated values to `dtype`.
fn finish(op: &str, dtype: DType, acc: Vec<f64>) -> Result<RefStorage> {
    let data = acc.into_iter().map(|x| to_dtype(op, dtype, x)).collect::<Result<_>>()?;
    Ok(RefStorage { dtype, data })
}

/// Both operands are in bounds and have one dtype and one shape.
fn same(op: &str, a: &RefStorage, la: &Layout, b: &RefStorage, lb: &Layout) -> Result<()> {
    check(op, a, la)?;
    check(op, b, lb)?;
    ensure!(a.dtype == b.dtype, op, "dtypes {} and {} differ", a.dtype, b.dtype);
    ensure!(la.dims() == lb.dims(), op, "shapes {} and {} differ", la.shape(), lb.shape());
    Ok(())
}

fn check_axis(op: &str, axis: usize, ndim: usize) -> Result<()> {
    ensure!(axis < ndim, op, "axis {axis} out of range for rank {ndim}");
    Ok(())
}

fn not_bool(op: &str, dtype: DType) -> Result<()> {
    ensure!(dtype != DType::Bool, op, "not defined for bool");
    Ok(())
}

fn storage_of_host(op: &str, data: HostData) -> Result<RefStorage> {
    let dtype = data.dtype();
    let data = match data {
        HostData::I64(v) => v.iter().map(|&x| exact(op, x)).collect::<Result<_>>()?,
        other => other.to_f64_vec(),
    };
    Ok(RefStorage { dtype, data })
}

/// Validate `geom` and return `(oh, ow)`.
fn conv_out(op: &str, g: &ConvGeom) -> Result<(usize, usize)> {
    let (kh, kw) = g.kernel;
    let positive = ![kh, kw, g.stride.0, g.stride.1, g.dilation.0, g.dilation.1].contains(&0);
    ensure!(positive, op, "kernel, stride and dilation must be positive in {g:?}");
    // Keep the arithmetic of `out_h`/`out_w` (and of window positions) in range.
    let fits = |n: usize, k: usize, p: usize, d: usize| {
        p.checked_mul(2).and_then(|p2| n.checked_add(p2)).is_some()
            && (k - 1).checked_mul(d).and_then(|x| x.checked_add(1)).is_some()
    };
    let ok = fits(g.h, kh, g.padding.0, g.dilation.0) && fits(g.w, kw, g.padding.1, g.dilation.1);
    ensure!(ok, op, "sizes overflow in {g:?}");
    Ok((g.out_h(), g.out_w()))
}

/// For column row `row` and column `col` of image `n`: the `[n, c, y, x]`
/// position the window reads, or `None` in the zero padding.
fn window(g: &ConvGeom, n: usize, row: usize, col: usize, ow: usize) -> Option<[usize; 4]> {
    let (kh, kw) = g.kernel;
    let (c, i, j) = (row / (kh * kw), row / kw % kh, row % kw);
    let (oy, ox) = (col / ow, col % ow);
    let y = (oy * g.stride.0 + i * g.dilation.0).checked_sub(g.padding.0).filter(|&y| y < g.h)?;
    let x = (ox * g.stride.1 + j * g.dilation.1).checked_sub(g.padding.1).filter(|&x| x < g.w)?;
    Some([n, c, y, x])
}

/// The index operand is i64 of the base's rank and shape except along `axis`.
fn check_index_shape(op: &str, l: &Layout, axis: usize, idx: &RefStorage, il: &Layout) -> Result<()> {
    check(op, idx, il)?;
    check_axis(op, axis, l.ndim())?;
    let off_axis_equal = il.ndim() == l.ndim() && (0..l.ndim()).all(|d| d == axis || il.dims()[d] == l.dims()[d]);
    let ok = idx.dtype == DType::I64 && off_axis_equal;
    ensure!(ok, op, "index must be i64 of shape {} except along axis {axis}", l.shape());
    Ok(())
}

/// The index at `o`, checked to lie in `0..len`.
fn index_at(op: &str, idx: &RefStorage, il: &Layout, o: &[usize], len: usize) -> Result<usize> {
    let t = at(idx, il, o);
    ensure!(t >= 0.0 && t < len as f64, op, "index {t} out of range 0..{len}");
    Ok(t as usize)
}

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

    fn random(&self, dist: Distribution, dtype: DType, numel: usize, seed: u64) -> Result<RefStorage> {
        storage_of_host("random", func_core::random::sample(dist, dtype, numel, seed)?)
    }
}

#[cfg(test)]
mod tests {
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
        is(
            B.binary(BinaryOp::Add, &a, &la, &row, &Layout::new([2, 3], &[0, 1], 0)),
            F64,
            &[11., 22., 33., 14., 25., 36.],
        );
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
        is(
            B.scatter_add(&x, &lx.permute(&[1, 0]), 0, &i0, &c(&[1, 2]), &src, &c(&[1, 2])),
            F64,
            &[1., 6., 2., 5., 4., 6.],
        );
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
}
