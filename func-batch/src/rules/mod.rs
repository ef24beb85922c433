//! One batching rule per primitive, grouped by family.
//!
//! [`apply`] matches on [`Primitive`] exhaustively with no catch-all arm: a
//! new primitive does not compile until it has a rule here. Every rule
//! follows NOTE: [batch dim canonical at 0].

mod custom;
mod elementwise;
mod index;
mod linalg;
mod random;
mod reduce;
mod shape;

use crate::interp::{Arg, BatchInterp};
use func_core::{Backend, Outputs, Primitive, Result, Tensor};

/// A rule's result: the value one level down and whether it is batched.
pub(crate) struct Out<B: Backend> {
    pub(crate) value: Tensor<B>,
    pub(crate) batched: bool,
}

pub(crate) fn batched<B: Backend>(value: Tensor<B>) -> Result<Out<B>> {
    Ok(Out { value, batched: true })
}

/// The batching rule of `prim`: the outputs, as this level's tracers where
/// batched.
pub(crate) fn apply<B: Backend>(it: &BatchInterp, prim: &Primitive, args: &[Arg<B>]) -> Result<Outputs<B>> {
    if let Primitive::Custom(c) = prim {
        return custom::custom(it, c, args);
    }
    let out = one(it, prim, args)?;
    Ok([if out.batched { it.wrap(out.value) } else { out.value }].into())
}

/// The batching rule of a primitive with one output.
fn one<B: Backend>(it: &BatchInterp, prim: &Primitive, args: &[Arg<B>]) -> Result<Out<B>> {
    match prim {
        Primitive::Full { .. } | Primitive::Arange { .. } => random::unbatched_factory(prim),
        Primitive::Random { .. } => random::random(it, prim),
        Primitive::Unary(_) | Primitive::Cast(_) | Primitive::Copy | Primitive::StopGradient => {
            elementwise::unary(prim, &args[0])
        }
        Primitive::Binary(_) | Primitive::Compare(_) | Primitive::Select => elementwise::nary(it, prim, args),
        Primitive::Reduce { op, axes, keepdim } => reduce::reduce(*op, axes, *keepdim, &args[0]),
        Primitive::ArgReduce { op, axis, keepdim } => reduce::arg_reduce(*op, *axis, *keepdim, &args[0]),
        Primitive::Cumsum { axis } => reduce::cumsum(*axis, &args[0]),
        Primitive::Matmul => linalg::matmul(it, &args[0], &args[1]),
        Primitive::Addmm => linalg::addmm(&args[0], &args[1], &args[2]),
        Primitive::Reshape { shape } => shape::reshape(shape, &args[0]),
        Primitive::Permute { perm } => shape::permute(perm, &args[0]),
        Primitive::BroadcastTo { shape } => shape::broadcast_to(shape, &args[0]),
        Primitive::Slice { axis, start, stop, step } => shape::slice(*axis, *start, *stop, *step, &args[0]),
        Primitive::Diagonal { offset, dim1, dim2 } => shape::diagonal(*offset, *dim1, *dim2, &args[0]),
        Primitive::Concat { axis } => shape::concat(it, *axis, args),
        Primitive::Pad { pads, value } => shape::pad(pads, *value, &args[0]),
        Primitive::Flip { axes } => shape::flip(axes, &args[0]),
        Primitive::Gather { axis } => index::gather(it, *axis, &args[0], &args[1]),
        Primitive::ScatterAdd { axis } => index::scatter_add(it, *axis, args),
        Primitive::Im2col(geom) => index::im2col(geom, &args[0]),
        Primitive::Col2im(geom) => index::col2im(geom, &args[0]),
        Primitive::Conv2d { geom, groups } => index::conv2d(geom, *groups, &args[0], &args[1]),
        Primitive::ConvTranspose2d { geom, groups } => index::conv_transpose2d(geom, *groups, &args[0], &args[1]),
        Primitive::Custom(c) => {
            Err(func_core::Error::invalid(c.name(), "internal: custom ops have several outputs; see rules::custom"))
        }
        Primitive::ViewCopy(view) => {
            // NOTE: [view copies] (func-core): the view's rule, materialised.
            let out = one(it, view, args)?;
            Ok(Out { value: func_core::bind(Primitive::Copy, &[&out.value])?, batched: out.batched })
        }
    }
}

/// Shift axes by one for the batch dimension at 0.
pub(crate) fn shift(axes: &[usize]) -> Vec<isize> {
    axes.iter().map(|&a| a as isize + 1).collect()
}
