//! Reduction rules: reduce the same axes, shifted past the batch dimension.

use super::{Out, batched, shift};
use crate::interp::Arg;
use func_core::{ArgReduceOp, Backend, Primitive, ReduceOp, Result, bind};

pub(crate) fn reduce<B: Backend>(op: ReduceOp, axes: &[usize], keepdim: bool, a: &Arg<B>) -> Result<Out<B>> {
    let axes = axes.iter().map(|&x| x + 1).collect();
    batched(bind(Primitive::Reduce { op, axes, keepdim }, &[&a.value])?)
}

pub(crate) fn arg_reduce<B: Backend>(op: ArgReduceOp, axis: usize, keepdim: bool, a: &Arg<B>) -> Result<Out<B>> {
    batched(bind(Primitive::ArgReduce { op, axis: axis + 1, keepdim }, &[&a.value])?)
}

pub(crate) fn cumsum<B: Backend>(axis: usize, a: &Arg<B>) -> Result<Out<B>> {
    batched(a.value.cumsum(shift(&[axis])[0]))
}
