//! Forward mode: the JVP interpreter and one JVP rule per primitive.
//!
//! A JVP tracer is (primal, tangent), both values one level down. Tangents
//! are symbolic zeros (`None`) until something makes them nonzero, and
//! integer/bool results never carry one.

use crate::derivs;
use crate::vjp::{PerOperand, check_shapes};
use func_core::{
    Backend, CustomOpRef, CustomRule, DType, Error, Interpreter, Level, Outputs, Primitive, Result, Tensor, bind,
    bind_multi, check_count, missing_rule, reenter,
};

/// The data of a JVP tracer: (primal, tangent), the tangent `None` for a
/// symbolic zero. An in-place op rebinds the tracer to new data (NOTE:
/// [autodiff in-place rebinds]).
pub(crate) struct Dual<B: Backend> {
    primal: Tensor<B>,
    tangent: Option<Tensor<B>>,
}

pub(crate) struct JvpInterp {
    pub(crate) level: Level,
}

impl JvpInterp {
    /// A tracer for (primal, tangent); a value without tangent stays a plain
    /// value unless `keep` (it aliases or was made by a tracer of this level,
    /// so in-place writes of traced values into it must be tracked).
    pub(crate) fn wrap<B: Backend>(&self, primal: Tensor<B>, tangent: Option<Tensor<B>>, keep: bool) -> Tensor<B> {
        if !primal.dtype().is_float() || (tangent.is_none() && !keep) {
            return primal;
        }
        let (shape, dtype) = (primal.shape().clone(), primal.dtype());
        Tensor::new_tracer(&self.level, shape, dtype, Dual { primal, tangent })
    }

    /// (primal, tangent) of `t` at this level.
    pub(crate) fn unwrap<B: Backend>(&self, t: &Tensor<B>) -> (Tensor<B>, Option<Tensor<B>>) {
        t.with_tracer_data(&self.level, |d: &Dual<B>| (d.primal.clone(), d.tangent.clone()))
            .unwrap_or_else(|| (t.clone(), None))
    }
}

fn zeros_for<B: Backend>(t: Option<&Tensor<B>>, like: &Tensor<B>) -> Tensor<B> {
    t.cloned().unwrap_or_else(|| like.zeros_like())
}

fn add_opt<B: Backend>(a: Option<Tensor<B>>, b: Option<Tensor<B>>) -> Result<Option<Tensor<B>>> {
    Ok(match (a, b) {
        (Some(a), Some(b)) => Some(a.try_add(&b)?),
        (a, None) => a,
        (None, b) => b,
    })
}

/// Apply a linear single-operand primitive to the tangent.
fn linear1<B: Backend>(prim: &Primitive, t: &Option<Tensor<B>>) -> Result<Option<Tensor<B>>> {
    t.as_ref().map(|t| bind(prim.clone(), &[t])).transpose()
}

/// The tangent of `prim` applied to `primals` (with tangents `tans`), given
/// its primal output `y`.
pub(crate) fn jvp_rule<B: Backend>(
    prim: &Primitive,
    primals: &[Tensor<B>],
    tans: &[Option<Tensor<B>>],
    y: &Tensor<B>,
) -> Result<Option<Tensor<B>>> {
    if !y.dtype().is_float() {
        return Ok(None);
    }
    match prim {
        Primitive::Full { .. } | Primitive::Arange { .. } | Primitive::Random { .. } => Ok(None),
        Primitive::Unary(op) => match &tans[0] {
            Some(t) => derivs::unary(*op, &primals[0], y)?.scale(t),
            None => Ok(None),
        },
        Primitive::Binary(op) => {
            let (da, db) = derivs::binary(*op, &primals[0], &primals[1], y)?;
            let ta = tans[0].as_ref().map(|t| da.scale(t)).transpose()?.flatten();
            let tb = tans[1].as_ref().map(|t| db.scale(t)).transpose()?.flatten();
            add_opt(ta, tb)
        }
        Primitive::Compare(_) | Primitive::ArgReduce { .. } => Ok(None),
        Primitive::Select => {
            if tans[1].is_none() && tans[2].is_none() {
                return Ok(None);
            }
            let ta = zeros_for(tans[1].as_ref(), &primals[1]);
            let tb = zeros_for(tans[2].as_ref(), &primals[2]);
            Ok(Some(bind(Primitive::Select, &[&primals[0], &ta, &tb])?))
        }
        Primitive::Cast(d) => match (&tans[0], d) {
            (Some(t), DType::F32 | DType::F64) => Ok(Some(t.try_to_dtype(*d)?)),
            _ => Ok(None),
        },
        Primitive::Copy
        | Primitive::Cumsum { .. }
        | Primitive::Reshape { .. }
        | Primitive::Permute { .. }
        | Primitive::BroadcastTo { .. }
        | Primitive::Slice { .. }
        | Primitive::Diagonal { .. }
        | Primitive::Flip { .. }
        | Primitive::Im2col(_)
        | Primitive::Col2im(_) => linear1(prim, &tans[0]),
        Primitive::Reduce { op, axes, keepdim } => {
            let Some(t) = &tans[0] else { return Ok(None) };
            let x = &primals[0];
            let sum = |v: &Tensor<B>| {
                bind(Primitive::Reduce { op: func_core::ReduceOp::Sum, axes: axes.clone(), keepdim: *keepdim }, &[v])
            };
            match op {
                func_core::ReduceOp::Sum => Ok(Some(sum(t)?)),
                func_core::ReduceOp::Max | func_core::ReduceOp::Min => {
                    let w = derivs::extreme_weights(x, y, axes, *keepdim)?;
                    Ok(Some(sum(&t.try_mul(&w)?)?))
                }
                func_core::ReduceOp::Prod => {
                    let p = derivs::prod_partials(x, y, axes, *keepdim)?;
                    Ok(Some(sum(&t.try_mul(&p)?)?))
                }
            }
        }
        Primitive::Matmul => {
            let ta = tans[0].as_ref().map(|t| t.try_matmul(&primals[1])).transpose()?;
            let tb = tans[1].as_ref().map(|t| primals[0].try_matmul(t)).transpose()?;
            add_opt(ta, tb)
        }
        Primitive::Conv2d { .. } | Primitive::ConvTranspose2d { .. } => {
            // Bilinear: `conv(tx, w) + conv(x, tw)`.
            let tx = tans[0].as_ref().map(|t| bind(prim.clone(), &[t, &primals[1]])).transpose()?;
            let tw = tans[1].as_ref().map(|t| bind(prim.clone(), &[&primals[0], t])).transpose()?;
            add_opt(tx, tw)
        }
        Primitive::Addmm => {
            let (a, b) = (&primals[1], &primals[2]);
            let tb = tans[2].as_ref().map(|t| a.try_matmul(t)).transpose()?;
            // `tc + ta @ b` in one product when both are there.
            let ta = match (&tans[0], &tans[1]) {
                (Some(tc), Some(ta)) => Some(tc.try_addmm(ta, b)?),
                (Some(tc), None) if tb.is_none() => Some(tc.try_broadcast_to(y.shape().clone())?),
                (Some(tc), None) => Some(tc.clone()),
                (None, Some(ta)) => Some(ta.try_matmul(b)?),
                (None, None) => None,
            };
            add_opt(ta, tb)
        }
        Primitive::Concat { .. } => {
            if tans.iter().all(Option::is_none) {
                return Ok(None);
            }
            let ts: Vec<Tensor<B>> = tans.iter().zip(primals).map(|(t, p)| zeros_for(t.as_ref(), p)).collect();
            let refs: Vec<&Tensor<B>> = ts.iter().collect();
            Ok(Some(bind(prim.clone(), &refs)?))
        }
        Primitive::Pad { pads, .. } => {
            tans[0].as_ref().map(|t| bind(Primitive::Pad { pads: pads.clone(), value: 0.0 }, &[t])).transpose()
        }
        Primitive::Gather { .. } => tans[0].as_ref().map(|t| bind(prim.clone(), &[t, &primals[1]])).transpose(),
        Primitive::ScatterAdd { .. } => {
            if tans[0].is_none() && tans[2].is_none() {
                return Ok(None);
            }
            let tb = zeros_for(tans[0].as_ref(), &primals[0]);
            let ts = zeros_for(tans[2].as_ref(), &primals[2]);
            Ok(Some(bind(prim.clone(), &[&tb, &primals[1], &ts])?))
        }
        Primitive::StopGradient => Ok(None),
        // NOTE: [view copies] (func-core): linear, like the view itself.
        Primitive::ViewCopy(view) => {
            if view.stops_gradient() {
                Ok(None)
            } else {
                linear1(prim, &tans[0])
            }
        }
        Primitive::Custom(c) => {
            Err(Error::invalid(c.name(), "internal: custom ops have several outputs; see JvpInterp::custom"))
        }
    }
}

impl JvpInterp {
    /// A custom op (NOTE: [custom op rules] in func-core): its JVP rule, else
    /// forward mode through its forward.
    fn custom<B: Backend>(&self, c: &CustomOpRef, args: &[&Tensor<B>]) -> Result<Outputs<B>> {
        let op = c.typed::<B>()?;
        if !op.has_rule(CustomRule::Jvp) {
            if !op.forward_is_traceable() {
                return Err(missing_rule(c.name(), CustomRule::Jvp));
            }
            let inputs: Vec<Tensor<B>> = args.iter().map(|a| (*a).clone()).collect();
            return Ok(reenter::<B, _>(|| op.forward(&inputs))?.into());
        }
        let (primals, tans): (Vec<_>, Vec<_>) = args.iter().map(|a| self.unwrap(a)).unzip();
        let refs: Vec<&Tensor<B>> = primals.iter().collect();
        let ys: Vec<Tensor<B>> = bind_multi(Primitive::Custom(c.clone()), &refs)?.into_vec();
        let touts = op.jvp(&primals, &ys, &tans)?;
        check_count(c.name(), "jvp", "JVP rule", touts.len(), ys.len())?;
        check_shapes(c.name(), "jvp", "JVP rule's tangent", &touts, &ys)?;
        Ok(ys.into_iter().zip(touts).map(|(y, t)| self.wrap(y, t, false)).collect())
    }
}

impl<B: Backend> Interpreter<B> for JvpInterp {
    fn level(&self) -> &Level {
        &self.level
    }

    fn process(&self, prim: &Primitive, args: &[&Tensor<B>]) -> Result<Outputs<B>> {
        if let Primitive::Custom(c) = prim {
            return self.custom(c, args);
        }
        // Operands inline (most primitives have one to three): a dispatch
        // allocates nothing of its own.
        let (primals, tans): (PerOperand<_>, PerOperand<_>) = args.iter().map(|a| self.unwrap(a)).unzip();
        let refs: PerOperand<&Tensor<B>> = primals.iter().collect();
        let y = bind(prim.clone(), &refs)?;
        let t = jvp_rule(prim, &primals, &tans, &y)?;
        // NOTE: [factories belong to the transform] A factory output, or any
        // value computed from this level's tracers, stays a tracer even with
        // a zero tangent, so traced values can be written into it.
        let keep = prim.is_factory() || args.iter().any(|a| a.level() == Some(&self.level));
        Ok([self.wrap(y, t, keep)].into())
    }

    fn copy_into(&self, dst: &Tensor<B>, src: &Tensor<B>, op: &str) -> Result<()> {
        let (sp, st) = self.unwrap(src);
        if dst.level() != Some(&self.level) {
            // A value with a zero tangent (from stop_gradient results and
            // constants) is written into the captured tensor one level down.
            if st.is_none() {
                return dst.try_copy_(&sp);
            }
            return Err(captured_mutation("jvp", op, dst));
        }
        // NOTE: [autodiff in-place rebinds]
        dst.rebind_tracer(&self.wrap(sp, st, true))
    }

    fn lower_for_read(&self, t: &Tensor<B>, _op: &str) -> Result<Tensor<B>> {
        Ok(self.unwrap(t).0)
    }
}

/// torch.func's error for an in-place op that would mutate a tensor the
/// transform does not track.
pub(crate) fn captured_mutation<B: Backend>(transform: &str, op: &str, dst: &Tensor<B>) -> Error {
    Error::transform(
        transform,
        format!(
            "the function being transformed attempted to call the in-place operation {op} that would mutate a \
             captured Tensor (shape {}) with a value that depends on the transformed inputs. This is not \
             supported: rewrite the function to take the mutated Tensor as an input, or use the out-of-place \
             operation.",
            dst.shape()
        ),
    )
}
