//! NOTE: [autodiff in-place rebinds] Under jvp/vjp/grad an in-place
//! operation on a traced tensor rebinds the tracer to its new (primal,
//! derivative) and leaves the old primal storage alone, so values that
//! earlier rules captured stay valid and derivatives are right.
//!
//! Writes through views need nothing special here: func-core expresses a
//! write into a view tracer as an out-of-place computation of the view's
//! root, differentiated like any other operation, followed by a write into
//! the root (the rebinding above) and the re-derivation of every live view
//! of the root (func-core's NOTE: [writes through traced views]). So
//! `y = x.deep_copy(); y.slice(0, 1, 3, 1).mul_scalar_(2.0)` differentiates
//! as in torch.func, at any depth of views.
//!
//! NOTE: [factories belong to the transform] A tensor made by a factory
//! (`Tensor::zeros`, `arange`, ...) inside the transformed function is a
//! tracer of the transform (a zero tangent, or a leaf of the tape), so
//! traced values can be written into it. Writing a traced value into a
//! tensor captured from outside the function stays an error, as in
//! torch.func.
//!
//! Inputs mutated inside the function: the mutation is seen inside the
//! function, but the caller's tensor is not written (torch.func writes it
//! through).
