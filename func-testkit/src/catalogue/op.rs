//! The [`Op`] enum: one operation of the catalogue with its fixed
//! parameters (evaluated by [`Op::apply`](super::Op::apply), in `eval.rs`).

use func_core::{ArgReduceOp, BinaryOp, CmpOp, DType, Distribution, ReduceOp, UnaryOp};

/// One operation of the catalogue, with its fixed parameters.
///
/// The arguments [`apply`](Op::apply) takes are listed per variant: `x`, `a`,
/// `b`, ... are data tensors; `dims`, `params` and such are i64 parameter
/// tensors (1-D, or 0-D for a single value) built with [`ArgSpec::ints`](crate::ArgSpec::ints);
/// `like` is a tensor whose shape and dtype (not values) a factory uses.
/// Negative dims count from the end, as in the `Tensor` API.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    // ----- elementwise ---------------------------------------------------------------------
    /// `x.try_unary(op)`: `[x]`.
    Unary(UnaryOp),
    /// `a.try_binary(op, b)` with broadcasting and promotion: `[a, b]`.
    Binary(BinaryOp),
    /// `x.try_binary_scalar(op, value)` (scalar right operand): `[x]`.
    BinaryScalar(BinaryOp, f64),
    /// `value op x` (scalar left operand, as `2.0 - &x`): `[x]`.
    ScalarBinary(BinaryOp, f64),
    /// `a.try_compare(op, b)` with broadcasting: `[a, b]`.
    Compare(CmpOp),
    /// `x` compared with a scalar (`x.gt_scalar(value)`, ...): `[x]`.
    CompareScalar(CmpOp, f64),
    /// `Tensor::where_(cond, a, b)`: `[cond (bool), a, b]`.
    Where,
    /// `x.to_dtype(dtype)`: `[x]`.
    Cast(DType),
    /// `x.deep_copy()`: `[x]`.
    DeepCopy,
    /// `x.contiguous()`: `[x]`.
    Contiguous,
    /// `x.clamp(min, max)`: `[x]`.
    Clamp {
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
    },
    // ----- reductions ----------------------------------------------------------------------
    /// `x.sum_dims(dims, keepdim)` (and `prod_dims`, `max_dims`,
    /// `min_dims`): `[x, dims]`.
    Reduce {
        /// The reduction.
        op: ReduceOp,
        /// Keep reduced dims as size 1.
        keepdim: bool,
    },
    /// `x.sum()` (and `prod`, `max`, `min`) over all elements: `[x]`.
    ReduceAll(ReduceOp),
    /// `x.argmax(dim, keepdim)` / `argmin`: `[x, dim (0-D)]`.
    ArgReduce {
        /// The reduction.
        op: ArgReduceOp,
        /// Keep the dim as size 1.
        keepdim: bool,
    },
    /// `x.cumsum(dim)`: `[x, dim (0-D)]`.
    Cumsum,
    /// `x.mean_dims(dims, keepdim)` (empty `dims`: all): `[x, dims]`.
    Mean {
        /// Keep reduced dims as size 1.
        keepdim: bool,
    },
    /// `x.mean()`: `[x]`.
    MeanAll,
    /// `x.var_dims(dims, correction, keepdim)`: `[x, dims]`.
    Var {
        /// Bessel's correction.
        correction: usize,
        /// Keep reduced dims as size 1.
        keepdim: bool,
    },
    /// `x.norm()` (L2 of all elements): `[x]`.
    Norm,
    /// `x.norm_dims(p, dims, keepdim)`: `[x, dims]`.
    NormDims {
        /// The order of the norm.
        p: f64,
        /// Keep reduced dims as size 1.
        keepdim: bool,
    },
    /// `x.logsumexp(dims, keepdim)`: `[x, dims]`.
    Logsumexp {
        /// Keep reduced dims as size 1.
        keepdim: bool,
    },
    // ----- linear algebra ------------------------------------------------------------------
    /// `a.matmul(b)`: `[a, b]`.
    Matmul,
    /// `a.dot(b)`: `[a, b]`.
    Dot,
    /// `a.outer(b)`: `[a, b]`.
    Outer,
    /// `c.addmm(a, b)`: `[c, a, b]`.
    Addmm,
    /// `x.linear(weight, bias)`: `[x, weight]` or `[x, weight, bias]`.
    Linear {
        /// Whether a bias argument is passed.
        bias: bool,
    },
    // ----- shape ---------------------------------------------------------------------------
    /// `x.reshape(shape)` (`-1` infers): `[x, shape]`.
    Reshape,
    /// `x.permute(perm)`: `[x, perm]`.
    Permute,
    /// `x.transpose(d0, d1)`: `[x, (d0, d1)]`.
    Transpose,
    /// `x.t()`: `[x]`.
    T,
    /// `x.movedim(src, dst)`: `[x, (src, dst)]`.
    Movedim,
    /// `x.broadcast_to(shape)`: `[x, shape]`.
    BroadcastTo,
    /// `x.expand(sizes)` (`-1` keeps a size): `[x, sizes]`.
    Expand,
    /// `x.slice(dim, start, stop, step)`: `[x, (dim, start, stop, step)]`.
    Slice,
    /// `x.select(dim, index)`: `[x, (dim, index)]`.
    Select,
    /// `x.narrow(dim, start, length)`: `[x, (dim, start, length)]`.
    Narrow,
    /// `x.squeeze()`: `[x]`.
    Squeeze,
    /// `x.squeeze_dim(dim)`: `[x, dim (0-D)]`.
    SqueezeDim,
    /// `x.unsqueeze(dim)`: `[x, dim (0-D)]`.
    Unsqueeze,
    /// `x.flatten(start, end)`: `[x, (start, end)]`.
    Flatten,
    /// `x.diagonal(offset, d1, d2)`: `[x, (offset, d1, d2)]`.
    Diagonal,
    /// `Tensor::cat(parts, dim)`: `[part_0, ..., part_k, dim (0-D)]`.
    Cat,
    /// `Tensor::stack(parts, dim)`: `[part_0, ..., part_k, dim (0-D)]`.
    Stack,
    /// `x.split(size, dim)`, the pieces flattened and concatenated:
    /// `[x, (size, dim)]`.
    Split,
    /// `x.chunk(chunks, dim)`, the pieces flattened and concatenated:
    /// `[x, (chunks, dim)]`.
    Chunk,
    /// `x.pad(pads, value)`: `[x, (before_0, after_0, before_1, ...)]`.
    Pad {
        /// Fill value.
        value: f64,
    },
    /// `x.flip(dims)`: `[x, dims]`.
    Flip,
    // ----- indexing ------------------------------------------------------------------------
    /// `x.gather(dim, index)`: `[x, index (i64), dim (0-D)]`.
    Gather,
    /// `x.index_select(dim, index)`: `[x, index (1-D i64), dim (0-D)]`.
    IndexSelect,
    /// `x.scatter_add(dim, index, src)`: `[x, index (i64), src, dim (0-D)]`.
    ScatterAdd,
    /// `x.one_hot(classes, dtype)`: `[x (i64), classes (0-D)]`.
    OneHot {
        /// Output dtype.
        dtype: DType,
    },
    // ----- windows -------------------------------------------------------------------------
    /// `x.try_unfold(kernel, stride, padding, dilation)` (im2col):
    /// `[x, (kh, kw, sh, sw, ph, pw, dh, dw)]`.
    Unfold,
    /// `x.try_fold(out, kernel, stride, padding, dilation)` (col2im):
    /// `[cols, (h, w, kh, kw, sh, sw, ph, pw, dh, dw)]`.
    Fold,
    /// `x.conv2d(weight, bias, opts)`: `[x, weight, (bias,) (sh, sw, ph, pw, dh, dw, groups)]`.
    Conv2d {
        /// Whether a bias argument is passed.
        bias: bool,
    },
    /// `x.conv_transpose2d(weight, bias, opts)`: `[x, weight, (bias,) (sh,
    /// sw, ph, pw, oph, opw, dh, dw, groups)]`.
    ConvTranspose2d {
        /// Whether a bias argument is passed.
        bias: bool,
    },
    /// `x.max_pool2d(kernel, stride, padding)`: `[x, (kh, kw, sh, sw, ph, pw)]`.
    MaxPool2d,
    /// `x.avg_pool2d(kernel, stride, padding)`: `[x, (kh, kw, sh, sw, ph, pw)]`.
    AvgPool2d,
    // ----- activations and losses ----------------------------------------------------------
    /// `x.gelu()`: `[x]`.
    Gelu,
    /// `x.softmax(dim)`: `[x, dim (0-D)]`.
    Softmax,
    /// `x.log_softmax(dim)`: `[x, dim (0-D)]`.
    LogSoftmax,
    /// `logits.cross_entropy(target)` (class indices or probabilities, by
    /// the target's dtype): `[logits, target]`.
    CrossEntropy,
    /// `logp.nll_loss(target)`: `[logp, target (i64)]`.
    NllLoss,
    /// `a.mse_loss(b)`: `[a, b]`.
    MseLoss,
    // ----- factories -----------------------------------------------------------------------
    /// `Tensor::arange(like.numel(), like.dtype())`: `[like]`.
    Arange,
    /// `Tensor::try_arange(start, end, step, like.dtype())`:
    /// `[(start, end, step) (f64), like]`.
    ArangeRange,
    /// `Tensor::full(like.shape(), value, like.dtype())`: `[like]`.
    Full {
        /// Fill value.
        value: f64,
    },
    /// `Tensor::eye(like.numel(), like.dtype())`: `[like]`.
    Eye,
    /// `Tensor::linspace(start, end, like.numel(), like.dtype())`:
    /// `[(start, end) (f64), like]`.
    Linspace,
    /// `Tensor::rand(like.shape(), like.dtype(), Generator::new(seed))`:
    /// `[like, seed (0-D)]`.
    Rand,
    /// `Tensor::randn(like.shape(), like.dtype(), Generator::new(seed))`:
    /// `[like, seed (0-D)]`.
    Randn,
    /// `Tensor::random(dist, like.shape(), like.dtype(), seed)`: `[like, seed (0-D)]`.
    Random(Distribution),
    // ----- in place (on a deep copy of the first argument, which is returned) --------------
    /// `base.add_(y)`: `[x, y]`.
    AddInplace,
    /// `base.sub_(y)`: `[x, y]`.
    SubInplace,
    /// `base.mul_(y)`: `[x, y]`.
    MulInplace,
    /// `base.div_(y)`: `[x, y]`.
    DivInplace,
    /// `base.add_scalar_(value)`: `[x]`.
    AddScalarInplace(f64),
    /// `base.mul_scalar_(value)`: `[x]`.
    MulScalarInplace(f64),
    /// `base.fill_(value)`: `[x]`.
    FillInplace(f64),
    /// `base.zero_()`: `[x]`.
    ZeroInplace,
    /// `base.slice(dim, start, stop, step).copy_(src)`:
    /// `[x, src, (dim, start, stop, step)]`.
    CopyIntoSlice,
    /// `base.slice_assign_(dim, start, stop, step, src)`:
    /// `[x, src, (dim, start, stop, step)]`.
    SliceAssign,
    /// `base.t().add_(y)` (writes through a transposed view): `[x, y]`.
    AddIntoTransposed,
    /// `base.select(dim, index).mul_(y)`: `[x, y, (dim, index)]`.
    MulIntoSelect,
    /// `base.diagonal(offset, d1, d2).fill_(value)`: `[x, (offset, d1, d2)]`.
    FillDiagonal(f64),
    /// `base.slice(0, 1, n, 1).copy_(&base.slice(0, 0, n - 1, 1))`: a copy
    /// between overlapping views of one storage: `[x]`.
    CopyOverlapping,
    // ----- derivative control and custom ops -----------------------------------------------
    /// `x.detach()` (`stop_gradient`): `[x]`.
    StopGradient,
    /// The custom op [`log1pexp`](crate::custom_examples::log1pexp) (custom
    /// JVP): `[x]`.
    Log1pExp,
    /// The custom op [`round_ste`](crate::custom_examples::round_ste)
    /// (straight-through estimator): `[x]`.
    RoundSte,
    /// The custom op [`clip_gradient(lo, hi)`](crate::custom_examples::clip_gradient)
    /// (custom VJP): `[x]`.
    ClipGradient {
        /// Lower clip of the cotangent.
        lo: f64,
        /// Upper clip of the cotangent.
        hi: f64,
    },
}
