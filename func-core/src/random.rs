//! The reference random stream: what every backend's
//! [`random`](crate::Backend::random) produces for a given seed.
//!
//! The stream is `rand`'s [`rand::rngs::StdRng`] seeded with
//! `seed_from_u64(seed)`, at the version this workspace pins, with
//! `rand_distr` for the normal distribution (`rand`/`rand_distr` rather than
//! a hand-written generator: well-tested and seedable). Backends that call
//! [`sample`] agree with each other bit for bit.

use crate::{DType, Distribution, HostData, Result, Shape};
use rand::SeedableRng;
use rand_distr::Distribution as _;

/// Draw `numel` samples of `dist` as `dtype`, determined by `seed`. Each
/// sample is drawn in `f64` and converted as [`HostData::from_f64`] does,
/// straight into the output buffer (no `f64` scratch buffer).
///
/// # Errors
///
/// [`Error::OutOfMemory`](crate::Error::OutOfMemory) when the output
/// cannot be allocated.
pub fn sample(dist: Distribution, dtype: DType, numel: usize, seed: u64) -> Result<HostData> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let shape = Shape::from([numel]);
    match dist {
        Distribution::Uniform { low, high } => {
            let u = rand_distr::Uniform::new(0.0f64, 1.0).expect("valid range");
            HostData::try_from_fn("random", &shape, dtype, numel, |_| low + (high - low) * u.sample(&mut rng))
        }
        Distribution::Normal { mean, std } => {
            let n = rand_distr::StandardNormal;
            HostData::try_from_fn("random", &shape, dtype, numel, |_| {
                let z: f64 = n.sample(&mut rng);
                mean + std * z
            })
        }
    }
}
