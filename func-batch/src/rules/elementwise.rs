//! Elementwise rules: apply to the batched value; align unbatched operands by
//! broadcasting (a view).

use super::{Out, batched};
use crate::interp::{Arg, BatchInterp};
use func_core::{Backend, Primitive, Result, bind};
use smallvec::SmallVec;

/// Unary ops, casts and copies: the same op on the batched value.
pub(crate) fn unary<B: Backend>(prim: &Primitive, a: &Arg<B>) -> Result<Out<B>> {
    batched(bind(prim.clone(), &[&a.value])?)
}

/// Binary ops, comparisons and select: operands of one logical shape; the
/// unbatched ones are broadcast along the batch dimension.
pub(crate) fn nary<B: Backend>(it: &BatchInterp, prim: &Primitive, args: &[Arg<B>]) -> Result<Out<B>> {
    let values: SmallVec<[_; 4]> = args.iter().map(|a| it.materialize(a)).collect::<Result<_>>()?;
    let refs: SmallVec<[_; 4]> = values.iter().collect();
    batched(bind(prim.clone(), &refs)?)
}
