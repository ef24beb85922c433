//! The vmap interpreter: batch tracers and the dispatch into the rules.
//!
//! NOTE: [batch dim canonical at 0] A batch tracer holds the value one level
//! down with the batch dimension at position 0. Inputs are moved there on
//! entry (`movedim`, a free view) and outputs moved to their `out_dims` on
//! exit, so every rule can assume dimension 0 is the batch and shift the
//! primitive's own axes by one.

use crate::Randomness;
use crate::basis::{self, Basis, Force, Value};
use crate::rules;
use func_core::{Backend, Error, Interpreter, Level, Outputs, Primitive, Result, Shape, Tensor};
use smallvec::SmallVec;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The data of a batch tracer: the value one level down, batch at dim 0,
/// and what is known of its structure (NOTE: [one-hot bases]).
pub(crate) struct Batched<B: Backend>(pub(crate) Value<B>, pub(crate) Option<Basis<B>>);

/// One operand as a rule sees it: the value one level down, and whether it
/// carries the batch dimension at 0.
#[derive(Clone)]
pub(crate) struct Arg<B: Backend> {
    pub(crate) value: Tensor<B>,
    pub(crate) batched: bool,
}

/// One operand as the one-hot shortcuts see it: the value possibly not
/// computed yet, and its one-hot structure while it is known.
pub(crate) struct Peek<B: Backend> {
    pub(crate) value: Value<B>,
    pub(crate) batched: bool,
    pub(crate) basis: Option<Basis<B>>,
}

pub(crate) struct BatchInterp {
    pub(crate) level: Level,
    pub(crate) size: usize,
    /// Index of this batch's first element in the whole batch (non-zero
    /// for the later chunks of a chunked vmap): random draws under
    /// `Randomness::Different` take the rows `offset..offset + size` of the
    /// draw for the whole batch, so chunking does not change the values.
    pub(crate) offset: usize,
    pub(crate) randomness: Randomness,
    /// Set by the first in-place write at this level: from then on no
    /// one-hot structure is relied on (a write may have changed the values).
    pub(crate) written: AtomicBool,
    /// Whether this level's inputs are one-hot bases (NOTE: [one-hot
    /// bases]): only then are the shortcuts tried.
    pub(crate) one_hot: bool,
    /// The lazy values made at this level, computed before its first write.
    lazy: Mutex<Vec<Weak<dyn Force>>>,
}

impl BatchInterp {
    pub(crate) fn new(size: usize, offset: usize, randomness: Randomness, one_hot: bool) -> BatchInterp {
        BatchInterp {
            level: Level::new("vmap"),
            size,
            offset,
            randomness,
            written: AtomicBool::new(false),
            one_hot,
            lazy: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn wrap<B: Backend>(&self, value: Tensor<B>) -> Tensor<B> {
        let shape = Shape::from(&value.dims()[1..]);
        Tensor::new_tracer(&self.level, shape, value.dtype(), Batched(Value::Dense(value), None))
    }

    /// A batch tracer of `value` (maybe lazy) with the one-hot structure
    /// `basis`.
    pub(crate) fn wrap_value<B: Backend>(&self, value: Value<B>, basis: Option<Basis<B>>) -> Tensor<B> {
        if let Value::Lazy(view) = &value {
            let node: Arc<dyn Force> = view.0.clone();
            let mut lazy = self.lazy.lock().unwrap_or_else(|p| p.into_inner());
            // Dropped values are pruned each time the list reaches a power
            // of two (from 64).
            if lazy.len() >= 64 && lazy.len().is_power_of_two() {
                lazy.retain(|w| w.strong_count() > 0);
            }
            lazy.push(Arc::downgrade(&node));
        }
        let (shape, dtype) = (Shape::from(&value.dims()[1..]), value.dtype());
        Tensor::new_tracer(&self.level, shape, dtype, Batched(value, basis))
    }

    /// `t` as a rule sees it, its value computed if it was lazy.
    ///
    /// # Errors
    ///
    /// What computing a lazy value reports.
    pub(crate) fn unwrap<B: Backend>(&self, t: &Tensor<B>) -> Result<Arg<B>> {
        // The value is copied out and computed after the tracer's data is
        // released (computing a lazy value runs operations).
        Ok(match t.with_tracer_data(&self.level, |b: &Batched<B>| b.0.clone()) {
            Some(v) => Arg { value: v.into_tensor()?, batched: true },
            None => Arg { value: t.clone(), batched: false },
        })
    }

    /// `t` as the one-hot shortcuts see it.
    fn peek<B: Backend>(&self, t: &Tensor<B>) -> Peek<B> {
        let written = self.written.load(Ordering::Relaxed);
        t.with_tracer_data(&self.level, |b: &Batched<B>| Peek {
            value: b.0.clone(),
            batched: true,
            basis: if written { None } else { b.1.clone() },
        })
        .unwrap_or_else(|| Peek { value: Value::Dense(t.clone()), batched: false, basis: None })
    }

    /// Compute every lazy value of this level that is still held (before
    /// a write: NOTE: [one-hot bases]).
    fn force_lazy(&self) -> Result<()> {
        let lazy = std::mem::take(&mut *self.lazy.lock().unwrap_or_else(|p| p.into_inner()));
        lazy.iter().filter_map(Weak::upgrade).try_for_each(|n| n.force())
    }

    /// `a`'s value with the batch dimension, broadcasting an unbatched value
    /// (a view: no copy).
    pub(crate) fn materialize<B: Backend>(&self, a: &Arg<B>) -> Result<Tensor<B>> {
        if a.batched {
            return Ok(a.value.clone());
        }
        // Broadcasting prepends the batch dimension: one view, no reshape.
        let mut shape = Shape::from([self.size]);
        shape.extend_from_slice(a.value.dims());
        a.value.try_broadcast_to(shape)
    }
}

impl<B: Backend> Interpreter<B> for BatchInterp {
    fn level(&self) -> &Level {
        &self.level
    }

    fn process(&self, prim: &Primitive, args: &[&Tensor<B>]) -> Result<Outputs<B>> {
        // Up to four operands inline (more go to the heap): no allocation
        // per rule dispatch for almost every primitive.
        let args: SmallVec<[Arg<B>; 4]> = if self.one_hot && !matches!(prim, Primitive::Custom(_)) {
            let peeks: SmallVec<[Peek<B>; 4]> = args.iter().map(|t| self.peek(t)).collect();
            if peeks.iter().any(|a| a.basis.is_some())
                && let Some(t) = basis::shortcut(self, prim, &peeks)?
            {
                return Ok([t].into());
            }
            peeks
                .into_iter()
                .map(|p| Ok(Arg { value: p.value.into_tensor()?, batched: p.batched }))
                .collect::<Result<_>>()?
        } else {
            args.iter().map(|t| self.unwrap(t)).collect::<Result<_>>()?
        };
        rules::apply(self, prim, &args)
    }

    fn copy_into(&self, dst: &Tensor<B>, src: &Tensor<B>, op: &str) -> Result<()> {
        let (d, s) = (self.unwrap(dst)?, self.unwrap(src)?);
        if !d.batched {
            return Err(Error::transform(
                "vmap",
                format!(
                    "{op}(self, other): the in-place operation is impossible because `other` (shape {}) is being \
                     vmapped over at level {}, but `self` (shape {}) is not: the result would need a batch \
                     dimension that `self` does not have. Use the out-of-place operation instead (for example \
                     `a + b` rather than `a.add_(&b)`), create `self` batched, or wrap the function in \
                     `functionalize`.",
                    src.shape(),
                    self.level.id(),
                    dst.shape(),
                ),
            ));
        }
        // NOTE: [in-place through views] The batched value one level down is
        // written in place, reaching real storage at the bottom of the stack.
        // NOTE: [one-hot bases] The written storage may be a basis, or an
        // operand of a lazy value.
        self.written.store(true, Ordering::Relaxed);
        self.force_lazy()?;
        let s = self.materialize(&s)?;
        d.value.try_copy_(&s)
    }

    fn lower_for_read(&self, t: &Tensor<B>, op: &str) -> Result<Tensor<B>> {
        Err(Error::transform(
            "vmap",
            format!(
                "it looks like you're calling {op}() on a batched Tensor (shape {} per example, batch of {} at level \
                 {}). vmap does not support {op}() or data-dependent control flow: the value differs across the \
                 batch, so there is no single value to return. Rewrite the function without it, e.g. with \
                 Tensor::where_ instead of an `if` on a tensor's value, or call {op}() outside of vmap.",
                t.shape(),
                self.size,
                self.level.id()
            ),
        ))
    }
}
