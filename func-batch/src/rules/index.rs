//! Indexing rules: gather/scatter with a batched index, a batched source, or
//! both; im2col/col2im with the batch folded into the image batch N; and
//! convolution, whose batched input folds into N the same way.

use super::{Out, batched};
use crate::interp::{Arg, BatchInterp};
use func_core::{Backend, ConvGeom, Primitive, Result, Shape, bind};

pub(crate) fn gather<B: Backend>(it: &BatchInterp, axis: usize, x: &Arg<B>, idx: &Arg<B>) -> Result<Out<B>> {
    let (x, idx) = (it.materialize(x)?, it.materialize(idx)?);
    batched(bind(Primitive::Gather { axis: axis + 1 }, &[&x, &idx])?)
}

pub(crate) fn scatter_add<B: Backend>(it: &BatchInterp, axis: usize, args: &[Arg<B>]) -> Result<Out<B>> {
    let v: Vec<_> = args.iter().map(|a| it.materialize(a)).collect::<Result<_>>()?;
    batched(bind(Primitive::ScatterAdd { axis: axis + 1 }, &[&v[0], &v[1], &v[2]])?)
}

/// Fold the batch dim into the next one: `[B, N, ..]` to `[B*N, ..]`.
fn fold<B: Backend>(t: &func_core::Tensor<B>) -> Result<func_core::Tensor<B>> {
    let d = t.dims();
    let mut shape = Shape::from([d[0] * d[1]]);
    shape.extend_from_slice(&d[2..]);
    t.try_reshape_to(shape)
}

fn unfold_batch<B: Backend>(t: &func_core::Tensor<B>, b: usize) -> Result<func_core::Tensor<B>> {
    let d = t.dims();
    let mut shape = Shape::from([b, d[0] / b.max(1)]);
    shape.extend_from_slice(&d[1..]);
    t.try_reshape_to(shape)
}

pub(crate) fn im2col<B: Backend>(geom: &ConvGeom, x: &Arg<B>) -> Result<Out<B>> {
    let b = x.value.dims()[0];
    let cols = bind(Primitive::Im2col(*geom), &[&fold(&x.value)?])?;
    batched(unfold_batch(&cols, b)?)
}

pub(crate) fn col2im<B: Backend>(geom: &ConvGeom, x: &Arg<B>) -> Result<Out<B>> {
    let b = x.value.dims()[0];
    let img = bind(Primitive::Col2im(*geom), &[&fold(&x.value)?])?;
    batched(unfold_batch(&img, b)?)
}

/// A convolution `prim` (either direction) of `x` with an unbatched
/// weight: a batched `x` folds into N.
fn weight_unbatched<B: Backend>(prim: Primitive, x: &Arg<B>, w: &Arg<B>) -> Result<Out<B>> {
    if !x.batched {
        return Ok(Out { value: bind(prim, &[&x.value, &w.value])?, batched: false });
    }
    let b = x.value.dims()[0];
    let y = bind(prim, &[&fold(&x.value)?, &w.value])?;
    batched(unfold_batch(&y, b)?)
}

/// A convolution of `x [N, C, H, W]` with `w [O, C / groups, kh, kw]`.
///
/// - Only the input batched: the batch folds into N, one convolution of
///   `B * N` images.
/// - The weight batched: the columns of the input (batched or not) times
///   each weight, per group, as one batched matmul: `[B, 1, G, O/G, K] @
///   [B or 1, N, G, K, L]`. The columns of an unbatched input are made once
///   for all the weights (an NTK's tangents of the weights meet one input).
pub(crate) fn conv2d<B: Backend>(geom: &ConvGeom, groups: usize, x: &Arg<B>, w: &Arg<B>) -> Result<Out<B>> {
    if !w.batched {
        return weight_unbatched(Primitive::Conv2d { geom: *geom, groups }, x, w);
    }
    let wd = w.value.dims();
    let (b, o, gs) = (wd[0], wd[1], groups.max(1));
    let (og, k) = (o / gs, wd[2] * wd[3] * wd[4]);
    let (oh, ow) = (geom.out_h(), geom.out_w());
    let (cols, xb, n) = if x.batched {
        let n = x.value.dims()[1];
        (bind(Primitive::Im2col(*geom), &[&fold(&x.value)?])?, b, n)
    } else {
        (bind(Primitive::Im2col(*geom), &[&x.value])?, 1, x.value.dims()[0])
    };
    let cols = cols.try_reshape_to([xb, n, gs, k, oh * ow])?;
    let y = w.value.try_reshape_to([b, 1, gs, og, k])?.try_matmul(&cols)?;
    batched(y.try_reshape_to([b, n, o, oh, ow])?)
}

/// A transposed convolution of `y [N, O, oh, ow]` with `w [O, C / groups,
/// kh, kw]`: as [`conv2d`], the batch of `y` alone folds into N; batched
/// weights give one batched matmul of the transposed weights with `y`
/// (batched or not), `[B, 1, G, K, O/G] @ [B or 1, N, G, O/G, L]`, and one
/// fold of the columns.
pub(crate) fn conv_transpose2d<B: Backend>(geom: &ConvGeom, groups: usize, y: &Arg<B>, w: &Arg<B>) -> Result<Out<B>> {
    if !w.batched {
        return weight_unbatched(Primitive::ConvTranspose2d { geom: *geom, groups }, y, w);
    }
    let wd = w.value.dims();
    let (b, o, gs) = (wd[0], wd[1], groups.max(1));
    let (og, k) = (o / gs, wd[2] * wd[3] * wd[4]);
    let l = geom.out_h() * geom.out_w();
    let (yb, n) = if y.batched { (b, y.value.dims()[1]) } else { (1, y.value.dims()[0]) };
    let yr = y.value.try_reshape_to([yb, n, gs, og, l])?;
    let cols = w.value.try_reshape_to([b, 1, gs, og, k])?.t().try_matmul(&yr)?;
    let x = bind(Primitive::Col2im(*geom), &[&cols.try_reshape_to([b * n, gs * k, l])?])?;
    batched(unfold_batch(&x, b)?)
}
