//! Evaluation of primitives on concrete tensors: the bottom of the
//! interpreter stack. Views become new layouts over shared storage (NOTE:
//! [views are metadata]); everything else is one backend call.

use crate::tensor::StorageCell;
use crate::{Backend, DType, Error, HostData, Layout, Primitive, Result, Shape, Tensor};
use std::sync::Arc;

fn parts<'a, B: Backend>(t: &'a Tensor<B>, op: &str) -> Result<(&'a Arc<StorageCell<B>>, &'a Layout)> {
    t.concrete().ok_or_else(|| Error::invalid(op, "internal: a tracer reached the backend"))
}

fn fresh<B: Backend>(s: B::Storage, shape: Shape) -> Result<Tensor<B>> {
    Tensor::from_backend_storage(s, Layout::try_contiguous(shape)?)
}

/// A backend reports allocation failures for a flat buffer; name the
/// operation and the tensor's shape instead.
fn name_oom(e: Error, op: &str, shape: &Shape) -> Error {
    match e {
        Error::OutOfMemory { bytes, .. } => Error::OutOfMemory { op: op.to_string(), shape: shape.clone(), bytes },
        e => e,
    }
}

/// `a * b` for sizes, or an error naming the operation.
fn mul(op: &str, a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| Error::invalid(op, format!("size {a} * {b} overflows usize")))
}

fn view<B: Backend>(t: &Tensor<B>, storage: &Arc<StorageCell<B>>, layout: Layout) -> Tensor<B> {
    Tensor::from_storage(storage.clone(), layout, t.dtype())
}

/// Evaluate `prim` on concrete operands.
pub(crate) fn eval<B: Backend>(prim: &Primitive, args: &[&Tensor<B>]) -> Result<Tensor<B>> {
    let be = B::default();
    let op = prim.name();
    let arg = |i: usize| -> Result<(&Arc<StorageCell<B>>, &Layout)> {
        let t = args.get(i).ok_or_else(|| Error::invalid(op, format!("missing operand {i}")))?;
        parts(t, op)
    };
    match prim {
        Primitive::Full { shape, value, dtype } => {
            let numel = crate::alloc::check_alloc(op, shape, *dtype)?;
            fresh(be.full(*value, *dtype, numel).map_err(|e| name_oom(e, op, shape))?, shape.clone())
        }
        Primitive::Arange { start, step, len, dtype } => {
            let shape = Shape::from([*len]);
            crate::alloc::check_alloc(op, &shape, *dtype)?;
            let host = HostData::try_from_fn(op, &shape, *dtype, *len, |i| start + step * i as f64)?;
            fresh(be.from_host(host).map_err(|e| name_oom(e, op, &shape))?, shape)
        }
        Primitive::Random { dist, shape, dtype, seed } => {
            let numel = crate::alloc::check_alloc(op, shape, *dtype)?;
            fresh(be.random(*dist, *dtype, numel, *seed).map_err(|e| name_oom(e, op, shape))?, shape.clone())
        }
        Primitive::Unary(u) => {
            let (s, l) = arg(0)?;
            fresh(be.unary(*u, &s.read(), l)?, l.shape().clone())
        }
        Primitive::Binary(b) => {
            let ((sa, la), (sb, lb)) = (arg(0)?, arg(1)?);
            let out = if Arc::ptr_eq(sa, sb) {
                let g = sa.read();
                be.binary(*b, &g, la, &g, lb)?
            } else {
                be.binary(*b, &sa.read(), la, &sb.read(), lb)?
            };
            fresh(out, la.shape().clone())
        }
        Primitive::Compare(c) => {
            let ((sa, la), (sb, lb)) = (arg(0)?, arg(1)?);
            let out = if Arc::ptr_eq(sa, sb) {
                let g = sa.read();
                be.compare(*c, &g, la, &g, lb)?
            } else {
                be.compare(*c, &sa.read(), la, &sb.read(), lb)?
            };
            fresh(out, la.shape().clone())
        }
        Primitive::Select => {
            let ((sc, lc), (sa, la), (sb, lb)) = (arg(0)?, arg(1)?, arg(2)?);
            let out = with_reads(&[sc, sa, sb], |r| be.select(r[0], lc, r[1], la, r[2], lb))?;
            fresh(out, la.shape().clone())
        }
        Primitive::Cast(d) => {
            let (s, l) = arg(0)?;
            fresh(be.cast(&s.read(), l, *d)?, l.shape().clone())
        }
        Primitive::Copy => {
            let (s, l) = arg(0)?;
            fresh(be.copy_strided(&s.read(), l)?, l.shape().clone())
        }
        Primitive::Reduce { op: r, axes, keepdim } => {
            let (s, l) = arg(0)?;
            let out = be.reduce(*r, &s.read(), l, axes)?;
            fresh(out, reduced_shape(l.shape(), axes, *keepdim))
        }
        Primitive::ArgReduce { op: r, axis, keepdim } => {
            let (s, l) = arg(0)?;
            let out = be.arg_reduce(*r, &s.read(), l, *axis)?;
            fresh(out, reduced_shape(l.shape(), &[*axis], *keepdim))
        }
        Primitive::Cumsum { axis } => {
            let (s, l) = arg(0)?;
            fresh(be.cumsum(&s.read(), l, *axis)?, l.shape().clone())
        }
        Primitive::Matmul => {
            let ((sa, la), (sb, lb)) = (arg(0)?, arg(1)?);
            let (ra, rb) = (la.ndim(), lb.ndim());
            let batch = Shape::broadcast(&la.dims()[..ra - 2], &lb.dims()[..rb - 2]).ok_or_else(|| {
                Error::shape_mismatch("matmul", la.shape(), lb.shape(), "have batch dimensions that do not broadcast")
            })?;
            let (m, k, n) = (la.dims()[ra - 2], la.dims()[ra - 1], lb.dims()[rb - 1]);
            let mut sa_shape = batch.clone();
            sa_shape.0.extend([m, k]);
            let mut sb_shape = batch.clone();
            sb_shape.0.extend([k, n]);
            let (la2, lb2) = (la.try_broadcast_to(&sa_shape)?, lb.try_broadcast_to(&sb_shape)?);
            let out = if Arc::ptr_eq(sa, sb) {
                let g = sa.read();
                be.matmul(&g, &la2, &g, &lb2)?
            } else {
                be.matmul(&sa.read(), &la2, &sb.read(), &lb2)?
            };
            let mut out_shape = batch;
            out_shape.0.extend([m, n]);
            fresh(out, out_shape)
        }
        Primitive::Reshape { shape } => {
            let (s, l) = arg(0)?;
            if shape.try_numel()? != l.numel() {
                return Err(Error::shape_mismatch("reshape", l.shape(), shape, "hold different numbers of elements"));
            }
            match l.reshape(shape) {
                Some(nl) => Ok(view(args[0], s, nl)),
                None => fresh(be.copy_strided(&s.read(), l)?, shape.clone()),
            }
        }
        Primitive::Permute { perm } => {
            let (s, l) = arg(0)?;
            Ok(view(args[0], s, l.permute(perm)))
        }
        Primitive::BroadcastTo { shape } => {
            let (s, l) = arg(0)?;
            Ok(view(args[0], s, l.try_broadcast_to(shape)?))
        }
        Primitive::Slice { axis, start, stop, step } => {
            let (s, l) = arg(0)?;
            let n = l.dims().get(*axis).copied().unwrap_or(0);
            let stop = (*stop).min(n);
            Ok(view(args[0], s, l.try_slice(*axis, (*start).min(stop), stop, *step)?))
        }
        Primitive::Diagonal { offset, dim1, dim2 } => {
            let (s, l) = arg(0)?;
            if *dim1 >= l.ndim() || *dim2 >= l.ndim() || dim1 == dim2 {
                return Err(Error::invalid(op, format!("dimensions {dim1} and {dim2} of shape {}", l.shape())));
            }
            Ok(view(args[0], s, l.diagonal(*offset, *dim1, *dim2)))
        }
        Primitive::Concat { axis } => {
            let ops: Vec<_> = args.iter().map(|t| parts(t, op)).collect::<Result<_>>()?;
            let cells: Vec<_> = ops.iter().map(|(s, _)| *s).collect();
            let out = with_reads(&cells, |r| {
                let list: Vec<(&B::Storage, &Layout)> = r.iter().zip(&ops).map(|(s, (_, l))| (*s, *l)).collect();
                be.concat(&list, *axis)
            })?;
            let mut shape = ops[0].1.shape().clone();
            shape.0[*axis] = ops
                .iter()
                .try_fold(0usize, |acc, (_, l)| acc.checked_add(l.dims()[*axis]))
                .ok_or_else(|| Error::invalid_shape("cat", &shape, "the total size along the axis overflows usize"))?;
            fresh(out, shape)
        }
        Primitive::Pad { pads, value } => {
            let (s, l) = arg(0)?;
            let shape = crate::ops::padded_shape(l.shape(), pads)?;
            fresh(be.pad(&s.read(), l, pads, *value)?, shape)
        }
        Primitive::Flip { axes } => {
            let (s, l) = arg(0)?;
            fresh(be.flip(&s.read(), l, axes)?, l.shape().clone())
        }
        Primitive::Gather { axis } => {
            let ((s, l), (si, li)) = (arg(0)?, arg(1)?);
            fresh(be.gather(&s.read(), l, *axis, &si.read(), li)?, li.shape().clone())
        }
        Primitive::ScatterAdd { axis } => {
            let ((sb, lb), (si, li), (ss, ls)) = (arg(0)?, arg(1)?, arg(2)?);
            let out = with_reads(&[sb, si, ss], |r| be.scatter_add(r[0], lb, *axis, r[1], li, r[2], ls))?;
            fresh(out, lb.shape().clone())
        }
        Primitive::Im2col(g) => {
            let (s, l) = arg(0)?;
            let d = l.dims();
            g.check(op, l.shape())?;
            let shape = Shape::from([d[0], mul(op, mul(op, d[1], g.kernel.0)?, g.kernel.1)?, g.out_h() * g.out_w()]);
            fresh(be.im2col(&s.read(), l, g)?, shape)
        }
        Primitive::Col2im(g) => {
            let (s, l) = arg(0)?;
            let d = l.dims();
            g.check(op, l.shape())?;
            let kk = mul(op, g.kernel.0, g.kernel.1)?.max(1);
            let shape = Shape::from([d[0], d[1] / kk, g.h, g.w]);
            fresh(be.col2im(&s.read(), l, g)?, shape)
        }
    }
}

/// Run `f` with read access to every storage in `cells`, locking each
/// distinct storage once (operands may alias).
fn with_reads<B: Backend, R>(cells: &[&Arc<StorageCell<B>>], f: impl FnOnce(&[&B::Storage]) -> R) -> R {
    let mut distinct: Vec<&Arc<StorageCell<B>>> = Vec::with_capacity(cells.len());
    let map: Vec<usize> = cells
        .iter()
        .map(|c| match distinct.iter().position(|d| Arc::ptr_eq(d, c)) {
            Some(i) => i,
            None => {
                distinct.push(c);
                distinct.len() - 1
            }
        })
        .collect();
    let guards: Vec<_> = distinct.iter().map(|c| c.read()).collect();
    let refs: Vec<&B::Storage> = map.iter().map(|&i| &*guards[i]).collect();
    f(&refs)
}

/// Shape after reducing `axes`, kept as size 1 or removed.
pub(crate) fn reduced_shape(shape: &Shape, axes: &[usize], keepdim: bool) -> Shape {
    if keepdim {
        Shape(shape.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect())
    } else {
        Shape(shape.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect())
    }
}

/// `dst.copy_(src)` on concrete tensors: a real write into `dst`'s storage,
/// seen by every view that shares it.
pub(crate) fn write_concrete<B: Backend>(dst: &Tensor<B>, src: &Tensor<B>, op: &str) -> Result<()> {
    let be = B::default();
    let (ds, dl) = parts(dst, op)?;
    if dl.numel() > 0 && dl.dims().iter().zip(dl.strides()).any(|(&d, &s)| d > 1 && s == 0) {
        return Err(Error::invalid(
            op,
            format!(
                "unsupported operation: the destination (shape {}) is a broadcast view (expand/broadcast_to) in which \
                 several elements share one memory location; writing to it would be silently lost. \
                 Call .contiguous() (or deep_copy()) on the view before writing to it.",
                dl.shape()
            ),
        ));
    }
    if src.dtype() != dst.dtype() {
        return Err(Error::dtype(
            op,
            src.dtype(),
            format!("source dtype must equal the destination's {}", dst.dtype()),
        ));
    }
    let (ss, sl) = parts(src, op)?;
    if Arc::ptr_eq(ds, ss) {
        // Source and destination overlap: materialise the source first.
        let tmp = be.copy_strided(&ss.read(), sl)?;
        let tl = Layout::contiguous(sl.shape().clone());
        return be.write_strided(&mut ds.write(), dl, &tmp, &tl);
    }
    be.write_strided(&mut ds.write(), dl, &ss.read(), sl)
}

/// A concrete scalar constant of `dtype` (not traced: constants are the same
/// at every level).
pub(crate) fn constant<B: Backend>(value: f64, dtype: DType) -> Result<Tensor<B>> {
    let be = B::default();
    fresh(be.full(value, dtype, 1)?, Shape::scalar())
}
