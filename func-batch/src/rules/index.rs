//! Indexing rules: gather/scatter with a batched index, a batched source, or
//! both; im2col/col2im with the batch folded into the image batch N, so a
//! vmapped convolution is one larger im2col + matmul.

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
