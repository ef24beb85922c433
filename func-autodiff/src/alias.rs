//! NOTE: [autodiff in-place rebinds] Under jvp/vjp/grad an in-place
//! operation rebinds the traced tensor to its new (primal, derivative) and
//! leaves the old primal storage alone, so values that earlier rules
//! captured stay valid. A rebinding cannot reach other views of the same
//! data, so a write through a view of a traced tensor, or into a traced
//! tensor that has views, would silently leave those views stale. Tracers
//! therefore remember whether they are a view of a traced tensor or have
//! views taken from them, and such writes are refused with an error that
//! says how to rewrite them, instead of computing a wrong derivative.

use func_core::{Error, Primitive, Result, Shape};
use std::sync::atomic::{AtomicBool, Ordering};

/// View bookkeeping of one tracer.
#[derive(Debug, Default)]
pub(crate) struct Aliasing {
    is_view: bool,
    has_views: AtomicBool,
}

impl Aliasing {
    pub(crate) fn new(is_view: bool) -> Aliasing {
        Aliasing { is_view, has_views: AtomicBool::new(false) }
    }

    pub(crate) fn mark_viewed(&self) {
        self.has_views.store(true, Ordering::Relaxed);
    }

    /// Refuse an in-place write that rebinding cannot express.
    pub(crate) fn check_write(&self, transform: &str, op: &str, shape: &Shape) -> Result<()> {
        let what = if self.is_view {
            "is a view (reshape, permute/transpose, slice/select/narrow, expand or diagonal) of another tensor"
        } else if self.has_views.load(Ordering::Relaxed) {
            "has views (reshape, transpose, slice, ...) taken from it"
        } else {
            return Ok(());
        };
        Err(Error::transform(
            transform,
            format!(
                "{op}: the in-place operation writes to a Tensor (shape {shape}) being differentiated that {what}. \
                 Derivatives through writes into aliased memory are not supported by the autodiff transforms: \
                 compute the new value out of place (e.g. with Tensor::cat, Tensor::where_ or scatter_add) and \
                 use it instead of the mutated tensor."
            ),
        ))
    }
}

/// Whether `prim` makes a view of its operand on concrete tensors.
pub(crate) fn is_view_prim(prim: &Primitive) -> bool {
    prim.is_view() || matches!(prim, Primitive::Reshape { .. })
}
