//! Views of tracers and writes through them, shared by every transform.
//!
//! NOTE: [view or copy] Whether an operation returns a view is decided from
//! the operand's [`Tensor::layout`], the real layout of concrete data and
//! the virtual layout of a tracer (NOTE: [traced views]), by the same rule
//! as torch: `reshape` is a view when the layout allows one and a copy
//! otherwise, and `contiguous()` returns its operand when the layout is
//! contiguous. [`bind`](crate::bind) makes the decision for `Reshape` at
//! every level (a `Copy` goes first when no view exists), so
//! `Primitive::Reshape` is always a view, and a program makes the same
//! views, hence the same mutations of its inputs, with and without any
//! transform.
//!
//! NOTE: [writes through traced views] A write into a view tracer `v` of a
//! root `r` is expressed out of place, with ordinary tensor operations
//! through `bind`, so every enclosing transform differentiates or batches it:
//! the positions of `v`'s elements in `r` come from `v`'s virtual layout (a
//! constant index tensor and mask, with no dependence on data), and
//! `r_new = where(mask, gather(src), r)`. The whole root is then written
//! (a write into a root, which the owning interpreter's `copy_into`
//! expresses: autodiff rebinds the root, vmap writes the batched value one
//! level down, reaching real storage), and every live view of the root,
//! `v` and its siblings, is re-derived from the new root by replaying its
//! chain of view primitives and rebinding it. The writes and re-derivations
//! happen at the level that owns the root, so they reach the root and its
//! views at that level and, through the interpreters' own writes, at every
//! level below.

use crate::interp::{bind, bind_copy};
use crate::tensor::Alias;
use crate::{Backend, Error, Layout, Primitive, Result, Shape, Tensor};

/// Whether `prim` makes a view of its (first) operand.
pub(crate) fn is_view_prim(prim: &Primitive) -> bool {
    prim.is_view()
}

/// The layout of `prim` applied to an operand of layout `l` (`None` for a
/// primitive that is not a view, or a reshape that cannot be one).
pub(crate) fn view_layout(prim: &Primitive, l: &Layout) -> Option<Layout> {
    match prim {
        Primitive::Reshape { shape } => l.reshape(shape),
        Primitive::Permute { perm } => Some(l.permute(perm)),
        Primitive::BroadcastTo { shape } => Some(l.broadcast_to(shape)),
        Primitive::Slice { axis, start, stop, step } => {
            let stop = (*stop).min(l.dims()[*axis]);
            Some(l.slice(*axis, (*start).min(stop), stop, *step))
        }
        Primitive::Diagonal { offset, dim1, dim2 } => Some(l.diagonal(*offset, *dim1, *dim2)),
        // The same elements, with a zero derivative: a write into the base
        // reaches a detached view, as on concrete tensors.
        Primitive::StopGradient => Some(l.clone()),
        _ => None,
    }
}

/// After `out = prim(x)` ran at the level with id `level`: when `prim` is a
/// view and both are tracers of that level, record `out` as a view of `x`'s
/// root (NOTE: [traced views]).
pub(crate) fn attach<B: Backend>(prim: &Primitive, x: &Tensor<B>, out: &Tensor<B>, level: u64) {
    if !is_view_prim(prim) || x.level_id() != Some(level) || out.level_id() != Some(level) || out.same_handle(x) {
        return;
    }
    let Some(layout) = view_layout(prim, &x.layout()) else { return };
    let (root, prev) = match x.alias() {
        Some(a) => (a.root.clone(), Some(a.clone())),
        None => (x.clone(), None),
    };
    out.set_alias(Alias::new(root, prev, prim.clone(), layout));
}

/// The error for a write into a broadcast or otherwise overlapping view,
/// whose elements share memory: the write would lose values silently.
pub(crate) fn check_writable(layout: &Layout, op: &str) -> Result<()> {
    if layout.numel() > 0 && layout.dims().iter().zip(layout.strides()).any(|(&d, &s)| d > 1 && s == 0) {
        return Err(Error::invalid(
            op,
            format!(
                "unsupported operation: the destination (shape {}) is a broadcast view (expand/broadcast_to) in which \
                 several elements share one memory location; writing to it would be silently lost. \
                 Call .contiguous() (or deep_copy()) on the view before writing to it.",
                layout.shape()
            ),
        ));
    }
    if layout.overlaps() {
        return Err(Error::invalid(
            op,
            format!(
                "unsupported operation: the destination (shape {}, strides {:?}) is an overlapping view in which \
                 several elements share one memory location; writing to it would silently keep only one of the \
                 values written to each location. Call .contiguous() (or deep_copy()) on the view before writing \
                 to it.",
                layout.shape(),
                layout.strides()
            ),
        ));
    }
    Ok(())
}

/// `dst.copy_(src)` where `dst` is a view tracer: compute the root's new
/// value out of place and write the whole root (NOTE: [writes through traced
/// views]).
pub(crate) fn write_through_view<B: Backend>(
    dst: &Tensor<B>,
    alias: &Alias<B>,
    src: &Tensor<B>,
    op: &str,
) -> Result<()> {
    let layout = &alias.layout;
    check_writable(layout, op)?;
    if layout.numel() == 0 {
        return Ok(());
    }
    let root = &alias.root;
    let n = root.numel();
    // Where each root element comes from: `pick[p]` is the index in `dst` of
    // root position `p` (when `mask[p]`).
    let mut pick = vec![0i64; n];
    let mut mask = vec![false; n];
    for (i, p) in layout.offsets().enumerate() {
        pick[p] = i as i64;
        mask[p] = true;
    }
    let pick = Tensor::<B>::try_from_vec(pick, [n])?;
    let mask = Tensor::<B>::try_from_vec(mask, [n])?;
    let src_flat = src.try_reshape_to(Shape::from([dst.numel()]))?;
    let root_flat = root.try_reshape_to(Shape::from([n]))?;
    let placed = src_flat.try_gather(0, &pick)?;
    let new_root = Tensor::try_where_(&mask, &placed, &root_flat)?.try_reshape_to(root.shape().clone())?;
    bind_copy(root, &new_root, op)
}

/// Re-derive every live view of the root tracer `root` from its current
/// value (NOTE: [writes through traced views]).
pub(crate) fn refresh_views<B: Backend>(root: &Tensor<B>) -> Result<()> {
    for v in root.live_views() {
        let Some(a) = v.alias() else { continue };
        let mut t = root.clone();
        for p in a.chain() {
            t = bind(p.clone(), &[&t])?;
        }
        if t.level_id() == v.level_id() {
            v.rebind_tracer(&t)?;
        } else {
            return Err(Error::invalid(
                "copy_",
                format!(
                    "internal: re-deriving a view (shape {}) of a written tensor (shape {}) gave a value of another \
                     level",
                    v.shape(),
                    root.shape()
                ),
            ));
        }
    }
    Ok(())
}
