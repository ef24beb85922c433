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
            let mut full = Shape::from([it.size]);
            full.0.extend_from_slice(shape);
            let value = bind(Primitive::Random { dist: *dist, shape: full, dtype: *dtype, seed: *seed }, &[])?;
            Ok(Out { value, batched: true })
        }
    }
}
