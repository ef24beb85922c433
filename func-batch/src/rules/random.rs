//! Factories: constants are unbatched; random draws follow the randomness
//! mode.

use super::Out;
use crate::Randomness;
use crate::interp::BatchInterp;
use func_core::{Backend, Error, Primitive, Result, Shape, bind};

/// `full`/`arange`: the same for every batch element, so unbatched.
pub(crate) fn unbatched_factory<B: Backend>(prim: &Primitive) -> Result<Out<B>> {
    Ok(Out { value: bind(prim.clone(), &[])?, batched: false })
}

/// Random draws: `Error` refuses, `Same` draws once for the whole batch,
/// `Different` draws a batch of independent samples in one call.
pub(crate) fn random<B: Backend>(it: &BatchInterp, prim: &Primitive) -> Result<Out<B>> {
    let Primitive::Random { dist, shape, dtype, seed } = prim else {
        return Err(Error::invalid("vmap", "internal: random rule called on another primitive"));
    };
    match it.randomness {
        Randomness::Error => Err(Error::transform(
            "vmap",
            format!(
                "called a random operation (shape {shape}) while in randomness error mode. Please either use the \
                 'same' or 'different' randomness flags on vmap (VmapOptions::randomness(Randomness::Same or \
                 Randomness::Different)) or perform the randomness operation out of vmap"
            ),
        )),
        Randomness::Same => Ok(Out { value: bind(prim.clone(), &[])?, batched: false }),
        Randomness::Different => {
            // Batch element `i` (counted over the whole batch) gets row `i` of
            // one draw of shape `[batch, ..shape]`. A chunk starting at
            // `offset` draws the rows up to its end and keeps its own, so each
            // chunk gets its own numbers and chunking does not change them
            // (the reference stream is sequential: a shorter draw is a prefix).
            let mut full = Shape::from([it.offset + it.size]);
            full.extend_from_slice(shape);
            let value = bind(Primitive::Random { dist: *dist, shape: full, dtype: *dtype, seed: *seed }, &[])?;
            let value = if it.offset == 0 {
                value
            } else {
                value.try_slice(0, it.offset as isize, (it.offset + it.size) as isize, 1)?
            };
            Ok(Out { value, batched: true })
        }
    }
}
