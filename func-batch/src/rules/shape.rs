//! Shape rules: the same view or layout change with axes shifted past the
//! batch dimension.

use super::{Out, batched};
use crate::interp::{Arg, BatchInterp};
use func_core::{Backend, DimVec, Primitive, Result, Shape, bind};

fn with_batch(b: usize, s: &[usize]) -> Shape {
    let mut out = Shape::from([b]);
    out.extend_from_slice(s);
    out
}

pub(crate) fn reshape<B: Backend>(shape: &Shape, a: &Arg<B>) -> Result<Out<B>> {
    batched(a.value.try_reshape_to(with_batch(a.value.dims()[0], shape))?)
}

pub(crate) fn permute<B: Backend>(perm: &[usize], a: &Arg<B>) -> Result<Out<B>> {
    let perm: DimVec<usize> = std::iter::once(0).chain(perm.iter().map(|&p| p + 1)).collect();
    batched(bind(Primitive::Permute { perm }, &[&a.value])?)
}

pub(crate) fn broadcast_to<B: Backend>(shape: &Shape, a: &Arg<B>) -> Result<Out<B>> {
    let b = a.value.dims()[0];
    let logical = &a.value.dims()[1..];
    let mut padded = Shape::from([b]);
    padded.extend(std::iter::repeat_n(1, shape.ndim() - logical.len()));
    padded.extend_from_slice(logical);
    batched(a.value.try_reshape_to(padded)?.try_broadcast_to(with_batch(b, shape))?)
}

pub(crate) fn slice<B: Backend>(axis: usize, start: usize, stop: usize, step: usize, a: &Arg<B>) -> Result<Out<B>> {
    batched(bind(Primitive::Slice { axis: axis + 1, start, stop, step }, &[&a.value])?)
}

pub(crate) fn diagonal<B: Backend>(offset: isize, dim1: usize, dim2: usize, a: &Arg<B>) -> Result<Out<B>> {
    batched(bind(Primitive::Diagonal { offset, dim1: dim1 + 1, dim2: dim2 + 1 }, &[&a.value])?)
}

pub(crate) fn concat<B: Backend>(it: &BatchInterp, axis: usize, args: &[Arg<B>]) -> Result<Out<B>> {
    let values: Vec<_> = args.iter().map(|a| it.materialize(a)).collect::<Result<_>>()?;
    let refs: Vec<_> = values.iter().collect();
    batched(bind(Primitive::Concat { axis: axis + 1 }, &refs)?)
}

pub(crate) fn pad<B: Backend>(pads: &[(usize, usize)], value: f64, a: &Arg<B>) -> Result<Out<B>> {
    let pads = std::iter::once((0, 0)).chain(pads.iter().copied()).collect();
    batched(bind(Primitive::Pad { pads, value }, &[&a.value])?)
}

pub(crate) fn flip<B: Backend>(axes: &[usize], a: &Arg<B>) -> Result<Out<B>> {
    let axes = axes.iter().map(|&x| x + 1).collect();
    batched(bind(Primitive::Flip { axes }, &[&a.value])?)
}
