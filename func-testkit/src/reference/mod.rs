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

// After the helpers and `ensure!`, which the kernels use.
mod backend;
#[cfg(test)]
mod tests;
