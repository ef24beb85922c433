//! Evaluation of primitives on concrete tensors: the bottom of the
//! interpreter stack. Views become new layouts over shared storage (NOTE:
//! [views are metadata]); everything else is one backend call, made with
//! the operands' storages locked together in one global order (NOTE: [lock
//! order]).

use crate::tensor::StorageCell;
use crate::{Backend, BinaryOp, DType, DimVec, Error, HostData, Layout, Primitive, Result, Shape, Tensor};
use smallvec::SmallVec;
use std::sync::Arc;

fn parts<'a, B: Backend>(t: &'a Tensor<B>, op: &str) -> Result<(&'a Arc<StorageCell<B>>, &'a Layout)> {
    t.concrete().ok_or_else(|| Error::invalid(op, "internal: a tracer reached the backend"))
}

#[inline]
fn fresh<B: Backend>(be: &B, s: B::Storage, shape: Shape) -> Result<Tensor<B>> {
    Tensor::from_contiguous_storage(be.clone(), s, shape)
}

// NOTE: [output layout] An elementwise result is laid out in the memory
// order of its operands, as PyTorch's TensorIterator lays it out: the first
// operand that covers the whole result densely (no broadcast dimension, no
// gap) sets the order, and the backend runs over the permuted operands, so
// `relu(x^T)` and `x^T + y^T` are passes in memory order that return
// transposed tensors, not transpositions into row-major order element by
// element. The result is row-major when that operand is (the common case)
// or when no operand qualifies. Values are the same either way; only the
// strides differ, and `contiguous()` or a reshape that cannot be a view
// copies as before. Weight gradients read through `w^T` come out transposed
// (NOTE: [gradient layout] in func-autodiff), and this keeps the updates
// and sums built from them in their layout. A product of two column-major
// matrices (`x^T @ w^T`) is computed as `(w x)^T`: the backend multiplies
// row-major operands, its fast case, and the result is the transposed
// view. `[64,128]^T @ [128,128]^T` through the gemm crate: 23 -> 20 us;
// `[64,128]^T @ [128,10]^T`: 3.4 -> 1.7 us.

/// The order of dimensions, outermost first, in which `l` is contiguous,
/// when it covers its shape densely but not in row-major order.
fn memory_order(l: &Layout) -> Option<DimVec<usize>> {
    let (d, s) = (l.dims(), l.strides());
    // A broadcast dimension is not dense (checked first: it is the common
    // non-contiguous operand, and cheap to reject).
    if d.len() < 2 || d.iter().zip(s).any(|(&n, &st)| n > 1 && st == 0) || l.is_contiguous() {
        return None;
    }
    let mut perm: DimVec<usize> = (0..d.len()).collect();
    // Stable: dimensions of equal stride (size 1) keep their order.
    perm.sort_by(|&i, &j| s[j].cmp(&s[i]));
    // Dense in that order: each stride is the number of elements inside it.
    let mut inside = 1usize;
    for &p in perm.iter().rev().filter(|&&p| d[p] != 1) {
        if s[p] != inside {
            return None;
        }
        inside = inside.checked_mul(d[p])?;
    }
    Some(perm)
}

/// An elementwise primitive over operands of one shape: `run` is given the
/// operands' layouts, permuted into the memory order of the result (NOTE:
/// [output layout]), and returns the result's storage in that order.
#[inline(always)]
fn elementwise<B: Backend>(
    be: &B,
    layouts: &[&Layout],
    run: impl FnOnce(&[&Layout]) -> Result<B::Storage>,
) -> Result<Tensor<B>> {
    // The first operand that is dense, if it is row-major, keeps row-major order.
    if layouts[0].is_contiguous() {
        return fresh(be, run(layouts)?, layouts[0].shape().clone());
    }
    match output_order(layouts) {
        None => fresh(be, run(layouts)?, layouts[0].shape().clone()),
        Some(perm) => permuted(be, layouts, &perm, run),
    }
}

/// The memory order of the first dense operand when it is not row-major
/// (NOTE: [output layout]); `None` for row-major.
#[inline(never)]
fn output_order(layouts: &[&Layout]) -> Option<DimVec<usize>> {
    layouts.iter().find_map(|l| if l.is_contiguous() { Some(None) } else { memory_order(l).map(Some) }).flatten()
}

/// [`elementwise`] over the operands permuted by `perm`, with the result
/// permuted back.
fn permuted<B: Backend>(
    be: &B,
    layouts: &[&Layout],
    perm: &[usize],
    run: impl FnOnce(&[&Layout]) -> Result<B::Storage>,
) -> Result<Tensor<B>> {
    let permuted: SmallVec<[Layout; 3]> = layouts.iter().map(|l| l.permute(perm)).collect();
    let refs: SmallVec<[&Layout; 3]> = permuted.iter().collect();
    let out = run(&refs)?;
    let mut inverse: DimVec<usize> = DimVec::from_elem(0, perm.len());
    perm.iter().enumerate().for_each(|(i, &p)| inverse[p] = i);
    let layout = Layout::try_contiguous(permuted[0].shape().clone())?.permute(&inverse);
    Tensor::from_backend_storage(be.clone(), out, layout)
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

/// The output shape `[N, O, oh, ow]` of a convolution of `x [N, C, H, W]`
/// with `w [O, C / groups, kh, kw]`, after checking the operands against
/// the geometry and the groups (NOTE: the conventions of
/// [`Primitive::Conv2d`]).
fn conv2d_shape(lx: &Layout, lw: &Layout, g: &crate::ConvGeom, groups: usize) -> Result<Shape> {
    let (x, w) = (lx.dims(), lw.dims());
    let fits = x.len() == 4
        && w.len() == 4
        && groups > 0
        && x[1].is_multiple_of(groups)
        && w[0].is_multiple_of(groups)
        && w[1] == x[1] / groups
        && (w[2], w[3]) == g.kernel
        && (x[2], x[3]) == (g.h, g.w);
    if !fits {
        return Err(Error::shape_mismatch(
            "conv2d",
            lx.shape(),
            lw.shape(),
            format!(
                "(input, weight) with groups={groups} and geometry {g:?}: expected input [N, C, {}, {}] and weight \
                 [O, C/groups, {}, {}], C and O multiples of groups",
                g.h, g.w, g.kernel.0, g.kernel.1
            ),
        ));
    }
    g.check("conv2d", lx.shape())?;
    if g.stride.0 == 0 || g.stride.1 == 0 || g.dilation.0 == 0 || g.dilation.1 == 0 {
        return Err(Error::invalid(
            "conv2d",
            format!("stride {:?} and dilation {:?} must be positive", g.stride, g.dilation),
        ));
    }
    Ok(Shape::from([x[0], w[0], g.out_h(), g.out_w()]))
}

/// The output shape `[N, C, H, W]` of a transposed convolution of `y [N,
/// O, oh, ow]` with `w [O, C / groups, kh, kw]`, after checking them against
/// the geometry and the groups.
fn conv_transpose2d_shape(ly: &Layout, lw: &Layout, g: &crate::ConvGeom, groups: usize) -> Result<Shape> {
    let (y, w) = (ly.dims(), lw.dims());
    g.check("conv_transpose2d", ly.shape())?;
    let fits = y.len() == 4
        && w.len() == 4
        && groups > 0
        && w[0].is_multiple_of(groups)
        && y[1] == w[0]
        && (w[2], w[3]) == g.kernel
        && (y[2], y[3]) == (g.out_h(), g.out_w())
        && g.stride.0 > 0
        && g.stride.1 > 0
        && g.dilation.0 > 0
        && g.dilation.1 > 0;
    let c = w.get(1).and_then(|&cg| cg.checked_mul(groups));
    match c {
        Some(c) if fits => Ok(Shape::from([y[0], c, g.h, g.w])),
        _ => Err(Error::shape_mismatch(
            "conv_transpose2d",
            ly.shape(),
            lw.shape(),
            format!(
                "(input, weight) with groups={groups} and geometry {g:?}: expected input [N, O, {}, {}] and weight \
                 [O, C/groups, {}, {}], O a multiple of groups",
                g.out_h(),
                g.out_w(),
                g.kernel.0,
                g.kernel.1
            ),
        )),
    }
}

fn view<B: Backend>(t: &Tensor<B>, storage: &Arc<StorageCell<B>>, layout: Layout) -> Tensor<B> {
    Tensor::from_storage(storage.clone(), layout, t.dtype())
}

/// Evaluate `prim` on concrete operands.
pub(crate) fn eval<B: Backend>(prim: &Primitive, args: &[&Tensor<B>]) -> Result<Tensor<B>> {
    let op = prim.name();
    // NOTE: [backend instances] The first operand's instance, or the
    // default one for a factory.
    let default;
    let be: &B = match args.first() {
        Some(t) => parts(t, op)?.0.backend(),
        None => {
            default = crate::default_backend::<B>()?;
            &default
        }
    };
    let arg = |i: usize| -> Result<(&Arc<StorageCell<B>>, &Layout)> {
        let t = args.get(i).ok_or_else(|| Error::invalid(op, format!("missing operand {i}")))?;
        parts(t, op)
    };
    match prim {
        Primitive::Full { shape, value, dtype } => {
            let numel = crate::alloc::check_alloc(op, shape, *dtype)?;
            fresh(be, be.full(*value, *dtype, numel).map_err(|e| name_oom(e, op, shape))?, shape.clone())
        }
        Primitive::Arange { start, step, len, dtype } => {
            let shape = Shape::from([*len]);
            crate::alloc::check_alloc(op, &shape, *dtype)?;
            let host = HostData::try_from_fn(op, &shape, *dtype, *len, |i| start + step * i as f64)?;
            fresh(be, be.from_host(host).map_err(|e| name_oom(e, op, &shape))?, shape)
        }
        Primitive::Random { dist, shape, dtype, seed } => {
            let numel = crate::alloc::check_alloc(op, shape, *dtype)?;
            fresh(be, be.random(*dist, *dtype, numel, *seed).map_err(|e| name_oom(e, op, shape))?, shape.clone())
        }
        Primitive::Unary(u) => {
            let (s, l) = arg(0)?;
            elementwise(be, &[l], |ls| be.unary(*u, &*s.read(op)?, ls[0]))
        }
        Primitive::Binary(b) => {
            let ((sa, la), (sb, lb)) = (arg(0)?, arg(1)?);
            elementwise(be, &[la, lb], |ls| with_reads(&[sa, sb], op, |r| be.binary(*b, r[0], ls[0], r[1], ls[1])))
        }
        Primitive::Compare(c) => {
            let ((sa, la), (sb, lb)) = (arg(0)?, arg(1)?);
            elementwise(be, &[la, lb], |ls| with_reads(&[sa, sb], op, |r| be.compare(*c, r[0], ls[0], r[1], ls[1])))
        }
        Primitive::Select => {
            let ((sc, lc), (sa, la), (sb, lb)) = (arg(0)?, arg(1)?, arg(2)?);
            elementwise(be, &[lc, la, lb], |ls| {
                with_reads(&[sc, sa, sb], op, |r| be.select(r[0], ls[0], r[1], ls[1], r[2], ls[2]))
            })
        }
        Primitive::Cast(d) => {
            let (s, l) = arg(0)?;
            elementwise(be, &[l], |ls| be.cast(&*s.read(op)?, ls[0], *d))
        }
        Primitive::Copy => {
            let (s, l) = arg(0)?;
            fresh(be, be.copy_strided(&*s.read(op)?, l)?, l.shape().clone())
        }
        Primitive::Reduce { op: r, axes, keepdim } => {
            let (s, l) = arg(0)?;
            let out = be.reduce(*r, &*s.read(op)?, l, axes)?;
            fresh(be, out, reduced_shape(l.shape(), axes, *keepdim))
        }
        Primitive::ArgReduce { op: r, axis, keepdim } => {
            let (s, l) = arg(0)?;
            let out = be.arg_reduce(*r, &*s.read(op)?, l, *axis)?;
            fresh(be, out, reduced_shape(l.shape(), &[*axis], *keepdim))
        }
        Primitive::Cumsum { axis } => {
            let (s, l) = arg(0)?;
            fresh(be, be.cumsum(&*s.read(op)?, l, *axis)?, l.shape().clone())
        }
        Primitive::Matmul => product(be, op, (arg(0)?, arg(1)?), None),
        Primitive::Addmm => product(be, op, (arg(1)?, arg(2)?), Some(arg(0)?)),
        Primitive::Reshape { shape } => {
            let (s, l) = arg(0)?;
            if shape.try_numel()? != l.numel() {
                return Err(Error::shape_mismatch("reshape", l.shape(), shape, "hold different numbers of elements"));
            }
            // NOTE: [view or copy] `bind` copies first when no view exists.
            match l.reshape(shape) {
                Some(nl) => Ok(view(args[0], s, nl)),
                None => Err(Error::invalid(
                    "reshape",
                    format!(
                        "internal: a layout of shape {} with strides {:?} cannot be viewed as shape {shape}; \
                         reshape must go through bind, which copies first",
                        l.shape(),
                        l.strides()
                    ),
                )),
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
            let out = with_reads(&cells, op, |r| {
                let list: Vec<(&B::Storage, &Layout)> = r.iter().zip(&ops).map(|(s, (_, l))| (*s, *l)).collect();
                be.concat(&list, *axis)
            })?;
            let mut shape = ops[0].1.shape().clone();
            shape.0[*axis] = ops
                .iter()
                .try_fold(0usize, |acc, (_, l)| acc.checked_add(l.dims()[*axis]))
                .ok_or_else(|| Error::invalid_shape("cat", &shape, "the total size along the axis overflows usize"))?;
            fresh(be, out, shape)
        }
        Primitive::Pad { pads, value } => {
            let (s, l) = arg(0)?;
            let shape = crate::ops::padded_shape(l.shape(), pads)?;
            fresh(be, be.pad(&*s.read(op)?, l, pads, *value)?, shape)
        }
        Primitive::Flip { axes } => {
            let (s, l) = arg(0)?;
            fresh(be, be.flip(&*s.read(op)?, l, axes)?, l.shape().clone())
        }
        Primitive::Gather { axis } => {
            let ((s, l), (si, li)) = (arg(0)?, arg(1)?);
            let out = with_reads(&[s, si], op, |r| be.gather(r[0], l, *axis, r[1], li))?;
            fresh(be, out, li.shape().clone())
        }
        Primitive::ScatterAdd { axis } => {
            let ((sb, lb), (si, li), (ss, ls)) = (arg(0)?, arg(1)?, arg(2)?);
            let out = with_reads(&[sb, si, ss], op, |r| be.scatter_add(r[0], lb, *axis, r[1], li, r[2], ls))?;
            fresh(be, out, lb.shape().clone())
        }
        Primitive::Im2col(g) => {
            let (s, l) = arg(0)?;
            let d = l.dims();
            g.check(op, l.shape())?;
            let shape = Shape::from([d[0], mul(op, mul(op, d[1], g.kernel.0)?, g.kernel.1)?, g.out_h() * g.out_w()]);
            fresh(be, be.im2col(&*s.read(op)?, l, g)?, shape)
        }
        Primitive::Col2im(g) => {
            let (s, l) = arg(0)?;
            let d = l.dims();
            g.check(op, l.shape())?;
            let kk = mul(op, g.kernel.0, g.kernel.1)?.max(1);
            let shape = Shape::from([d[0], d[1] / kk, g.h, g.w]);
            fresh(be, be.col2im(&*s.read(op)?, l, g)?, shape)
        }
        Primitive::Conv2d { geom, groups } => {
            let ((sx, lx), (sw, lw)) = (arg(0)?, arg(1)?);
            let shape = conv2d_shape(lx, lw, geom, *groups)?;
            let out = with_reads(&[sx, sw], op, |r| be.conv2d(r[0], lx, r[1], lw, geom, *groups))?;
            fresh(be, out, shape)
        }
        Primitive::ConvTranspose2d { geom, groups } => {
            let ((sy, ly), (sw, lw)) = (arg(0)?, arg(1)?);
            let shape = conv_transpose2d_shape(ly, lw, geom, *groups)?;
            let out = with_reads(&[sy, sw], op, |r| be.conv_transpose2d(r[0], ly, r[1], lw, geom, *groups))?;
            fresh(be, out, shape)
        }
        Primitive::StopGradient => {
            // A new handle on the same storage and layout (torch's detach).
            let (s, l) = arg(0)?;
            Ok(view(args[0], s, l.clone()))
        }
        Primitive::Custom(c) => {
            Err(Error::invalid(c.name(), "internal: a custom op reached the backend; its forward runs in bind_multi"))
        }
        Primitive::ViewCopy(inner) => {
            // NOTE: [view copies] The view, then a copy into fresh storage; a
            // reshape with no view of this layout copies first instead.
            let (_, l) = arg(0)?;
            match &**inner {
                Primitive::Reshape { shape } if l.reshape(shape).is_none() => {
                    let c = eval(&Primitive::Copy, args)?;
                    eval(inner, &[&c])
                }
                _ => {
                    let v = eval(inner, args)?;
                    eval(&Primitive::Copy, &[&v])
                }
            }
        }
    }
}

// NOTE: [lock order] An operation that locks several storages locks them
// all before calling the backend, in increasing `StorageCell::id` order,
// each distinct storage once, and releases them all afterwards; no other
// lock is taken while they are held. A cycle of threads each waiting for a
// lock another holds would need some thread to lock a smaller id after a
// larger one, so none forms: `b.copy_(&a)` against `a.copy_(&b)`, or
// `a + b` against writers of `a` and of `b`, cannot deadlock (also with a
// writer-preferring lock, where a waiting writer blocks new readers). An
// in-place operation holds the destination's write lock from reading its
// operands to writing the result, so it is atomic with respect to every
// other operation on that storage.

type Operand<'a, B> = (&'a Arc<StorageCell<B>>, &'a Layout);

/// `Matmul` and `Addmm`: `a @ b`, with `c` (broadcast to the product's
/// shape) added by the backend when given.
fn product<B: Backend>(
    be: &B,
    op: &str,
    ((sa, la), (sb, lb)): (Operand<'_, B>, Operand<'_, B>),
    c: Option<Operand<'_, B>>,
) -> Result<Tensor<B>> {
    // A 1-D operand is a row (`a`) or a column (`b`) vector: a view
    // as a matrix here, and its dimension dropped from the result.
    let as_matrix = |l: &Layout, dims: [usize; 2]| {
        l.reshape(&Shape::from(dims)).ok_or_else(|| {
            Error::invalid("matmul", format!("internal: a vector of shape {} is not a matrix view", l.shape()))
        })
    };
    if la.ndim() == 0 || lb.ndim() == 0 {
        return Err(Error::shape_mismatch("matmul", la.shape(), lb.shape(), "need to be at least 1D"));
    }
    let (va, vb) = (la.ndim() == 1, lb.ndim() == 1);
    if c.is_some() && (va || vb) {
        return Err(Error::shape_mismatch(op, la.shape(), lb.shape(), "need at least 2 dimensions"));
    }
    let (la, lb) = (
        &if va { as_matrix(la, [1, la.numel()])? } else { la.clone() },
        &if vb { as_matrix(lb, [lb.numel(), 1])? } else { lb.clone() },
    );
    // The product's tensor, with the vectors' dimensions dropped.
    let product = |out: B::Storage, l: Layout| -> Result<Tensor<B>> {
        let l = if va || vb {
            let (dims, nd) = (l.dims(), l.ndim());
            let mut shape = Shape::from(&dims[..nd - 2]);
            shape.extend((!va).then_some(dims[nd - 2]).into_iter().chain((!vb).then_some(dims[nd - 1])));
            l.reshape(&shape).ok_or_else(|| {
                Error::invalid("matmul", format!("internal: a product of shape {} is not a view as {shape}", l.shape()))
            })?
        } else {
            l
        };
        Tensor::from_backend_storage(be.clone(), out, l)
    };
    let (ra, rb) = (la.ndim(), lb.ndim());
    let batch = Shape::broadcast(&la.dims()[..ra - 2], &lb.dims()[..rb - 2]).ok_or_else(|| {
        Error::shape_mismatch(op, la.shape(), lb.shape(), "have batch dimensions that do not broadcast")
    })?;
    let (m, k, n) = (la.dims()[ra - 2], la.dims()[ra - 1], lb.dims()[rb - 1]);
    let mut sa_shape = batch.clone();
    sa_shape.0.extend([m, k]);
    let mut sb_shape = batch.clone();
    sb_shape.0.extend([k, n]);
    let mut out_shape = batch.clone();
    out_shape.0.extend([m, n]);
    let (la2, lb2) = (la.try_broadcast_to(&sa_shape)?, lb.try_broadcast_to(&sb_shape)?);
    let c = c.map(|(sc, lc)| Ok::<_, Error>((sc, lc.try_broadcast_to(&out_shape)?))).transpose()?;
    if la2.is_column_major() && lb2.is_column_major() {
        // `(b^T a^T)^T` over row-major operands (NOTE: [output layout]).
        let mut swap: DimVec<usize> = (0..la2.ndim()).collect();
        let nd = swap.len();
        swap.swap(nd - 2, nd - 1);
        let (at, bt) = (la2.permute(&swap), lb2.permute(&swap));
        let out = match &c {
            None => with_reads(&[sa, sb], op, |r| be.matmul(r[1], &bt, r[0], &at))?,
            Some((sc, lc)) => {
                let ct = lc.permute(&swap);
                with_reads(&[sc, sa, sb], op, |r| be.addmm(r[0], &ct, r[2], &bt, r[1], &at))?
            }
        };
        let mut t_shape = batch;
        t_shape.0.extend([n, m]);
        return product(out, Layout::try_contiguous(t_shape)?.permute(&swap));
    }
    let out = match &c {
        None => with_reads(&[sa, sb], op, |r| be.matmul(r[0], &la2, r[1], &lb2))?,
        Some((sc, lc)) => with_reads(&[sc, sa, sb], op, |r| be.addmm(r[0], lc, r[1], &la2, r[2], &lb2))?,
    };
    product(out, Layout::try_contiguous(out_shape)?)
}

/// Run `f` with read access to every storage in `cells` (operands may alias:
/// each distinct storage is locked once), locked in the global order.
fn with_reads<B: Backend, R>(
    cells: &[&Arc<StorageCell<B>>],
    op: &str,
    f: impl FnOnce(&[&B::Storage]) -> Result<R>,
) -> Result<R> {
    // One and two operands (nearly every eager operation) without the
    // general bookkeeping: the same order, each distinct storage once.
    match cells {
        [a] => return f(&[&*a.read(op)?]),
        [a, b] if a.id() == b.id() => {
            let g = a.read(op)?;
            return f(&[&*g, &*g]);
        }
        [a, b] => {
            let (lo, hi) = if a.id() < b.id() { (a, b) } else { (b, a) };
            let g_lo = lo.read(op)?;
            let g_hi = hi.read(op)?;
            let (ra, rb) = if a.id() < b.id() { (&*g_lo, &*g_hi) } else { (&*g_hi, &*g_lo) };
            return f(&[ra, rb]);
        }
        _ => {}
    }
    // Inline buffers: an op has a handful of operands, and this runs on
    // every eager operation.
    let mut order: SmallVec<[usize; 4]> = (0..cells.len()).collect();
    order.sort_by_key(|&i| cells[i].id());
    let mut slot: SmallVec<[usize; 4]> = SmallVec::from_elem(0, cells.len());
    let mut guards: SmallVec<[_; 4]> = SmallVec::new();
    let mut last = None;
    for &i in &order {
        let id = cells[i].id();
        if last != Some(id) {
            guards.push(cells[i].read(op)?);
            last = Some(id);
        }
        slot[i] = guards.len() - 1;
    }
    let refs: SmallVec<[&B::Storage; 4]> = slot.iter().map(|&g| &*guards[g]).collect();
    f(&refs)
}

/// Run `f` with write access to `dst` and read access to every storage in
/// `srcs`, all locked at once in the global order and held until `f`
/// returns. `f` gets `None` for a source that is `dst`'s own storage (to be
/// read through the mutable reference).
fn with_write<B: Backend, R>(
    dst: &Arc<StorageCell<B>>,
    srcs: &[&Arc<StorageCell<B>>],
    op: &str,
    f: impl FnOnce(&mut B::Storage, &[Option<&B::Storage>]) -> Result<R>,
) -> Result<R> {
    let mut order: SmallVec<[usize; 4]> = (0..srcs.len()).collect();
    order.sort_by_key(|&i| srcs[i].id());
    let mut slot: SmallVec<[Option<usize>; 4]> = SmallVec::from_elem(None, srcs.len());
    let mut reads: SmallVec<[_; 4]> = SmallVec::new();
    let mut write = None;
    let mut last = None;
    for &i in &order {
        let id = srcs[i].id();
        if write.is_none() && dst.id() <= id {
            write = Some(dst.write(op)?);
        }
        if id == dst.id() {
            continue;
        }
        if last != Some(id) {
            reads.push(srcs[i].read(op)?);
            last = Some(id);
        }
        slot[i] = Some(reads.len() - 1);
    }
    let mut write = match write {
        Some(w) => w,
        None => dst.write(op)?,
    };
    let views: SmallVec<[Option<&B::Storage>; 4]> = slot.iter().map(|s| s.map(|g| &*reads[g])).collect();
    f(&mut write, &views)
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
/// seen by every view that shares it. Both storages are locked together
/// (NOTE: [lock order]).
pub(crate) fn write_concrete<B: Backend>(dst: &Tensor<B>, src: &Tensor<B>, op: &str) -> Result<()> {
    let (ds, dl) = parts(dst, op)?;
    let be = ds.backend();
    crate::alias::check_writable(dl, op)?;
    if src.dtype() != dst.dtype() {
        return Err(Error::dtype(
            op,
            src.dtype(),
            format!("source dtype must equal the destination's {}", dst.dtype()),
        ));
    }
    if dl.numel() == 0 {
        return Ok(());
    }
    let (ss, sl) = parts(src, op)?;
    with_write(ds, &[ss], op, |d, s| match s[0] {
        Some(s) => be.write_strided(d, dl, s, sl),
        None => {
            // Source and destination share storage and may overlap:
            // materialise the source first.
            let tmp = be.copy_strided(d, sl)?;
            be.write_strided(d, dl, &tmp, &Layout::contiguous(sl.shape().clone()))
        }
    })
}

/// `dst = op(dst, other)` on concrete tensors, where `other` already has
/// `dst`'s shape: both are cast to `dtype`, combined, and the result cast
/// back to `dst`'s dtype and written into `dst`'s storage, all while holding
/// the destination's write lock (NOTE: [lock order]). No other operation on
/// that storage can run between the read and the write, so concurrent
/// in-place updates of one tensor are never lost.
pub(crate) fn binary_inplace_concrete<B: Backend>(
    dst: &Tensor<B>,
    op: BinaryOp,
    other: &Tensor<B>,
    dtype: DType,
    name: &str,
) -> Result<()> {
    let (ds, dl) = parts(dst, name)?;
    let be = ds.backend();
    crate::alias::check_writable(dl, name)?;
    let (os, ol) = parts(other, name)?;
    if ol.shape() != dl.shape() {
        return Err(Error::shape_mismatch(name, dl.shape(), ol.shape(), "internal: operand not broadcast"));
    }
    let out = Layout::contiguous(dl.shape().clone());
    with_write(ds, &[os], name, |d, s| {
        let result = {
            let a: &B::Storage = d;
            let b = s[0].unwrap_or(a);
            let ca = if dst.dtype() != dtype { Some(be.cast(a, dl, dtype)?) } else { None };
            let cb = if other.dtype() != dtype { Some(be.cast(b, ol, dtype)?) } else { None };
            let (a, la) = match &ca {
                Some(c) => (c, &out),
                None => (a, dl),
            };
            let (b, lb) = match &cb {
                Some(c) => (c, &out),
                None => (b, ol),
            };
            let r = be.binary(op, a, la, b, lb)?;
            if dtype != dst.dtype() { be.cast(&r, &out, dst.dtype())? } else { r }
        };
        be.write_strided(d, dl, &result, &out)
    })
}

/// A scalar constant of `dtype`, bound as a `Full` factory.
///
/// NOTE: [constants go through bind] Every scalar operand (`x * 2.0`,
/// `fill_`, the bounds of `clamp`, ...) is a primitive that interpreters see,
/// so a graph capture records whole programs and a transform that owns the
/// tensors created inside it (functionalize) owns constants too.
pub(crate) fn constant<B: Backend>(value: f64, dtype: DType) -> Result<Tensor<B>> {
    crate::interp::bind(Primitive::Full { shape: Shape::scalar(), value, dtype }, &[])
}
