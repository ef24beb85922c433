//! Custom ops under vmap (NOTE: [custom op rules] in func-core): the op's
//! batching rule, or else its forward run on the batch tracers, so that the
//! forward's Tensor operations are batched by their own rules (torch's
//! `generate_vmap_rule=True`).

use crate::interp::{Arg, BatchInterp};
use func_core::{Backend, CustomOpRef, CustomRule, Error, Outputs, Result, Tensor, check_count, missing_rule, reenter};

pub(crate) fn custom<B: Backend>(it: &BatchInterp, c: &CustomOpRef, args: &[Arg<B>]) -> Result<Outputs<B>> {
    let op = c.typed::<B>()?;
    if op.has_rule(CustomRule::Batch) {
        let values: Vec<Tensor<B>> = args.iter().map(|a| a.value.clone()).collect();
        let flags: Vec<bool> = args.iter().map(|a| a.batched).collect();
        let (outs, out_batched) = op.batch(&values, &flags, it.size)?;
        check_count(c.name(), "vmap", "batching rule's out_batched", out_batched.len(), outs.len())?;
        return outs
            .into_iter()
            .zip(out_batched)
            .map(|(v, b)| {
                if b && v.dims().first() != Some(&it.size) {
                    return Err(Error::transform(
                        "vmap",
                        format!(
                            "custom op `{}`: its batching rule marked an output of shape {} as batched, but a \
                             batched output needs the batch of {} at dimension 0",
                            c.name(),
                            v.shape(),
                            it.size
                        ),
                    ));
                }
                Ok(if b { it.wrap(v) } else { v })
            })
            .collect();
    }
    if !op.forward_is_traceable() {
        return Err(missing_rule(c.name(), CustomRule::Batch));
    }
    // Run the forward on this level's tracers: its operations come back here.
    let tracers: Vec<Tensor<B>> =
        args.iter().map(|a| if a.batched { it.wrap(a.value.clone()) } else { a.value.clone() }).collect();
    Ok(reenter::<B, _>(|| op.forward(&tracers))?.into())
}
