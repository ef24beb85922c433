//! The op catalogue (PyTorch's `OpInfo`): every primitive and composite
//! operation of the `Tensor` API, with a proptest strategy for its sample
//! inputs.
//!
//! An [`Op`] is evaluated with [`Op::apply`] on tensors of any backend; an
//! [`OpInfo`] names it and generates [`Sample`]s that respect its domain.
//! [`catalogue`] lists every entry. The backend-agreement law
//! ([`check_backend`](crate::check_backend)) runs each entry on a backend and
//! on [`RefBackend`](crate::RefBackend) and compares; transform laws can use
//! the same entries (those marked [`differentiable`](OpInfo::differentiable)
//! for gradient checks).
//!
//! Parameters that depend on the sampled shapes (dims, sizes, indices) are
//! passed as extra i64 (or f64) tensor arguments, built with
//! [`ArgSpec::ints`]; each variant of [`Op`] documents its arguments.

use crate::strategies::{
    ArgSpec, Domain, Sample, any_dtype, arg, broadcast_shapes, broadcastable_to, bulk_arg, dim_size, float_dtype,
    index_arg, large_shape, nonempty_shape, numeric_dtype, shape,
};
use func_core::{
    ArgReduceOp, Backend, BinaryOp, CmpOp, Conv2dOptions, DType, Distribution, Generator, ReduceOp, Result, Tensor,
    UnaryOp,
};
use proptest::collection::vec;
use proptest::prelude::*;
use std::fmt;
use std::sync::Arc;

/// One operation of the catalogue, with its fixed parameters.
///
/// The arguments [`apply`](Op::apply) takes are listed per variant: `x`, `a`,
/// `b`, ... are data tensors; `dims`, `params` and such are i64 parameter
/// tensors (1-D, or 0-D for a single value) built with [`ArgSpec::ints`];
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
    /// `x.max_pool2d(kernel, stride, padding)`: `[x, (kh, kw, sh, sw, ph, pw)]`.
    MaxPool2d,
    /// `x.avg_pool2d(kernel, stride, padding)`: `[x, (kh, kw, sh, sw, ph, pw)]`.
    AvgPool2d,
    // ----- activations and losses ----------------------------------------------------------
    /// `x.relu()`: `[x]`.
    Relu,
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

/// Panic with an error's message (the panicking form of a `try_` method).
fn ok<T>(r: Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn ints<B: Backend>(t: &Tensor<B>) -> Vec<isize> {
    t.to_vec::<i64>().into_iter().map(|v| v as isize).collect()
}

fn usizes<B: Backend>(t: &Tensor<B>) -> Vec<usize> {
    t.to_vec::<i64>().into_iter().map(|v| usize::try_from(v).expect("a non-negative size parameter")).collect()
}

fn int<B: Backend>(t: &Tensor<B>) -> isize {
    t.item::<i64>() as isize
}

fn scalar<B: Backend>(value: f64, like: &Tensor<B>) -> Tensor<B> {
    let dtype = if like.dtype().is_float() { like.dtype() } else { DType::F32 };
    Tensor::full(Vec::<usize>::new(), value, dtype)
}

/// The pieces of a split, flattened and concatenated into one tensor.
fn joined<B: Backend>(pieces: Vec<Tensor<B>>) -> Tensor<B> {
    let flat: Vec<Tensor<B>> = pieces.iter().map(|p| p.reshape(&[-1])).collect();
    Tensor::cat(&flat, 0)
}

impl Op {
    /// Evaluate the op on `args` (see each variant for the arguments).
    ///
    /// # Panics
    ///
    /// When the arguments do not fit the op, with the `Tensor` API's message.
    pub fn apply<B: Backend>(&self, args: &[Tensor<B>]) -> Tensor<B> {
        let a = |i: usize| -> &Tensor<B> {
            args.get(i).unwrap_or_else(|| panic!("{self:?}: missing argument {i} (got {})", args.len()))
        };
        let base = || a(0).deep_copy();
        match self {
            Op::Unary(u) => ok(a(0).try_unary(*u)),
            Op::Binary(b) => ok(a(0).try_binary(*b, a(1))),
            Op::BinaryScalar(b, v) => ok(a(0).try_binary_scalar(*b, *v)),
            Op::ScalarBinary(b, v) => match b {
                BinaryOp::Add => *v + a(0),
                BinaryOp::Sub => *v - a(0),
                BinaryOp::Mul => *v * a(0),
                BinaryOp::Div => *v / a(0),
                BinaryOp::Pow | BinaryOp::Maximum | BinaryOp::Minimum => ok(scalar(*v, a(0)).try_binary(*b, a(0))),
            },
            Op::Compare(c) => ok(a(0).try_compare(*c, a(1))),
            Op::CompareScalar(c, v) => match c {
                CmpOp::Eq => a(0).eq_scalar(*v),
                CmpOp::Gt => a(0).gt_scalar(*v),
                CmpOp::Ge => a(0).ge_scalar(*v),
                CmpOp::Lt => a(0).lt_scalar(*v),
                CmpOp::Le => a(0).le_scalar(*v),
                CmpOp::Ne => a(0).ne(&scalar(*v, a(0))),
            },
            Op::Where => Tensor::where_(a(0), a(1), a(2)),
            Op::Cast(d) => a(0).to_dtype(*d),
            Op::DeepCopy => a(0).deep_copy(),
            Op::Contiguous => a(0).contiguous(),
            Op::Clamp { min, max } => a(0).clamp(*min, *max),
            Op::Reduce { op, keepdim } => {
                let dims = ints(a(1));
                match op {
                    ReduceOp::Sum => a(0).sum_dims(&dims, *keepdim),
                    ReduceOp::Prod => a(0).prod_dims(&dims, *keepdim),
                    ReduceOp::Max => a(0).max_dims(&dims, *keepdim),
                    ReduceOp::Min => a(0).min_dims(&dims, *keepdim),
                }
            }
            Op::ReduceAll(op) => match op {
                ReduceOp::Sum => a(0).sum(),
                ReduceOp::Prod => a(0).prod(),
                ReduceOp::Max => a(0).max(),
                ReduceOp::Min => a(0).min(),
            },
            Op::ArgReduce { op, keepdim } => match op {
                ArgReduceOp::ArgMax => a(0).argmax(int(a(1)), *keepdim),
                ArgReduceOp::ArgMin => a(0).argmin(int(a(1)), *keepdim),
            },
            Op::Cumsum => a(0).cumsum(int(a(1))),
            Op::Mean { keepdim } => a(0).mean_dims(&ints(a(1)), *keepdim),
            Op::MeanAll => a(0).mean(),
            Op::Var { correction, keepdim } => a(0).var_dims(&ints(a(1)), *correction, *keepdim),
            Op::Norm => a(0).norm(),
            Op::NormDims { p, keepdim } => a(0).norm_dims(*p, &ints(a(1)), *keepdim),
            Op::Logsumexp { keepdim } => a(0).logsumexp(&ints(a(1)), *keepdim),
            Op::Matmul => a(0).matmul(a(1)),
            Op::Dot => a(0).dot(a(1)),
            Op::Outer => a(0).outer(a(1)),
            Op::Linear { bias } => a(0).linear(a(1), if *bias { Some(a(2)) } else { None }),
            Op::Reshape => a(0).reshape(&ints(a(1))),
            Op::Permute => a(0).permute(&ints(a(1))),
            Op::Transpose => {
                let p = ints(a(1));
                a(0).transpose(p[0], p[1])
            }
            Op::T => a(0).t(),
            Op::Movedim => {
                let p = ints(a(1));
                a(0).movedim(p[0], p[1])
            }
            Op::BroadcastTo => a(0).broadcast_to(usizes(a(1))),
            Op::Expand => a(0).expand(&ints(a(1))),
            Op::Slice => {
                let p = ints(a(1));
                a(0).slice(p[0], p[1], p[2], p[3] as usize)
            }
            Op::Select => {
                let p = ints(a(1));
                a(0).select(p[0], p[1])
            }
            Op::Narrow => {
                let p = ints(a(1));
                a(0).narrow(p[0], p[1] as usize, p[2] as usize)
            }
            Op::Squeeze => a(0).squeeze(),
            Op::SqueezeDim => a(0).squeeze_dim(int(a(1))),
            Op::Unsqueeze => a(0).unsqueeze(int(a(1))),
            Op::Flatten => {
                let p = ints(a(1));
                a(0).flatten(p[0], p[1])
            }
            Op::Diagonal => {
                let p = ints(a(1));
                a(0).diagonal(p[0], p[1], p[2])
            }
            Op::Cat => {
                let (parts, dim) = args.split_at(args.len() - 1);
                Tensor::cat(parts, int(&dim[0]))
            }
            Op::Stack => {
                let (parts, dim) = args.split_at(args.len() - 1);
                Tensor::stack(parts, int(&dim[0]))
            }
            Op::Split => {
                let p = ints(a(1));
                joined(a(0).split(p[0] as usize, p[1]))
            }
            Op::Chunk => {
                let p = ints(a(1));
                joined(a(0).chunk(p[0] as usize, p[1]))
            }
            Op::Pad { value } => {
                let p = usizes(a(1));
                let pads: Vec<(usize, usize)> = p.chunks(2).map(|c| (c[0], c[1])).collect();
                a(0).pad(&pads, *value)
            }
            Op::Flip => a(0).flip(&ints(a(1))),
            Op::Gather => a(0).gather(int(a(2)), a(1)),
            Op::IndexSelect => a(0).index_select(int(a(2)), a(1)),
            Op::ScatterAdd => a(0).scatter_add(int(a(3)), a(1), a(2)),
            Op::OneHot { dtype } => a(0).one_hot(int(a(1)) as usize, *dtype),
            Op::Unfold => {
                let p = usizes(a(1));
                ok(a(0).try_unfold((p[0], p[1]), (p[2], p[3]), (p[4], p[5]), (p[6], p[7])))
            }
            Op::Fold => {
                let p = usizes(a(1));
                ok(a(0).try_fold((p[0], p[1]), (p[2], p[3]), (p[4], p[5]), (p[6], p[7]), (p[8], p[9])))
            }
            Op::Conv2d { bias } => {
                let (b, p) = if *bias { (Some(a(2)), usizes(a(3))) } else { (None, usizes(a(2))) };
                let opts =
                    Conv2dOptions { stride: (p[0], p[1]), padding: (p[2], p[3]), dilation: (p[4], p[5]), groups: p[6] };
                a(0).conv2d(a(1), b, opts)
            }
            Op::MaxPool2d => {
                let p = usizes(a(1));
                a(0).max_pool2d((p[0], p[1]), (p[2], p[3]), (p[4], p[5]))
            }
            Op::AvgPool2d => {
                let p = usizes(a(1));
                a(0).avg_pool2d((p[0], p[1]), (p[2], p[3]), (p[4], p[5]))
            }
            Op::Relu => a(0).relu(),
            Op::Gelu => a(0).gelu(),
            Op::Softmax => a(0).softmax(int(a(1))),
            Op::LogSoftmax => a(0).log_softmax(int(a(1))),
            Op::CrossEntropy => a(0).cross_entropy(a(1)),
            Op::NllLoss => a(0).nll_loss(a(1)),
            Op::MseLoss => a(0).mse_loss(a(1)),
            Op::Arange => Tensor::arange(a(0).numel(), a(0).dtype()),
            Op::ArangeRange => {
                let f = a(0).to_vec::<f64>();
                ok(Tensor::try_arange(f[0], f[1], f[2], a(1).dtype()))
            }
            Op::Full { value } => Tensor::full(a(0).shape().clone(), *value, a(0).dtype()),
            Op::Eye => Tensor::eye(a(0).numel(), a(0).dtype()),
            Op::Linspace => {
                let f = a(0).to_vec::<f64>();
                Tensor::linspace(f[0], f[1], a(1).numel(), a(1).dtype())
            }
            Op::Rand => Tensor::rand(a(0).shape().clone(), a(0).dtype(), &mut Generator::new(int(a(1)) as u64)),
            Op::Randn => Tensor::randn(a(0).shape().clone(), a(0).dtype(), &mut Generator::new(int(a(1)) as u64)),
            Op::Random(dist) => Tensor::random(*dist, a(0).shape().clone(), a(0).dtype(), int(a(1)) as u64),
            Op::AddInplace => {
                let t = base();
                t.add_(a(1));
                t
            }
            Op::SubInplace => {
                let t = base();
                t.sub_(a(1));
                t
            }
            Op::MulInplace => {
                let t = base();
                t.mul_(a(1));
                t
            }
            Op::DivInplace => {
                let t = base();
                t.div_(a(1));
                t
            }
            Op::AddScalarInplace(v) => {
                let t = base();
                t.add_scalar_(*v);
                t
            }
            Op::MulScalarInplace(v) => {
                let t = base();
                t.mul_scalar_(*v);
                t
            }
            Op::FillInplace(v) => {
                let t = base();
                t.fill_(*v);
                t
            }
            Op::ZeroInplace => {
                let t = base();
                t.zero_();
                t
            }
            Op::CopyIntoSlice => {
                let t = base();
                let p = ints(a(2));
                t.slice(p[0], p[1], p[2], p[3] as usize).copy_(a(1));
                t
            }
            Op::SliceAssign => {
                let t = base();
                let p = ints(a(2));
                t.slice_assign_(p[0], p[1], p[2], p[3] as usize, a(1));
                t
            }
            Op::AddIntoTransposed => {
                let t = base();
                t.t().add_(a(1));
                t
            }
            Op::MulIntoSelect => {
                let t = base();
                let p = ints(a(2));
                t.select(p[0], p[1]).mul_(a(1));
                t
            }
            Op::FillDiagonal(v) => {
                let t = base();
                let p = ints(a(1));
                t.diagonal(p[0], p[1], p[2]).fill_(*v);
                t
            }
            Op::CopyOverlapping => {
                let t = base();
                let n = t.dims()[0] as isize;
                t.slice(0, 1, n, 1).copy_(&t.slice(0, 0, n - 1, 1));
                t
            }
            Op::StopGradient => a(0).detach(),
            Op::Log1pExp => crate::custom_examples::log1pexp().call(&[a(0)]).remove(0),
            Op::RoundSte => crate::custom_examples::round_ste().call(&[a(0)]).remove(0),
            Op::ClipGradient { lo, hi } => crate::custom_examples::clip_gradient(*lo, *hi).call(&[a(0)]).remove(0),
        }
    }
}

/// How the comparison tolerance of an op grows with its inputs: the
/// magnitude `m` of each output element, in the tolerance
/// `rtol * (1 + |expected| + m)` (see [`check_backend`](crate::check_backend)
/// for the whole comparison). Every rule is per element, or per reduced row
/// broadcast to the row's elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scale {
    /// No accumulation (`m = 0`): the tolerance is relative to the expected
    /// value only.
    Elementwise,
    /// Each output element is a sum of products of inputs (sum, matmul,
    /// conv, ...): the magnitude of an element is that element of the op
    /// applied (in f64) to the absolute values of the float arguments.
    AbsOp,
    /// A sum (or mean) of non-negative terms, possibly under a root (norms,
    /// mse): rounding errors are relative to the result, `m = |expected|`.
    Relative,
    /// A nonlinear function of reductions along the op's dims (softmax,
    /// log-softmax, logsumexp, var, cross entropy): `m` is computed from the
    /// absolute values of the elements of the same reduced row, per op (see
    /// [`check_backend`](crate::check_backend)).
    Rows,
}

type Sampler = Arc<dyn Fn() -> BoxedStrategy<Sample> + Send + Sync>;

/// A strategy of dtypes, such as `float_dtype`.
type DTypes = fn() -> BoxedStrategy<DType>;

/// One catalogue entry: an op, its name, properties and sample strategy.
#[derive(Clone)]
pub struct OpInfo {
    /// Unique name, e.g. `"matmul_batched"`.
    pub name: &'static str,
    /// The operation.
    pub op: Op,
    /// Whether the output depends differentiably (almost everywhere) on the
    /// float arguments, so gradient laws apply (for float samples). False for
    /// piecewise-constant ops (floor, sign, comparisons, argmax, casts to
    /// integers), factories and fills.
    pub differentiable: bool,
    /// How the agreement tolerance scales.
    pub scale: Scale,
    /// Laws that do not hold for this op by design, or that cannot check it
    /// meaningfully, each with the reason (set with
    /// [`exempt`](OpInfo::exempt)); the transform laws skip them for it.
    pub exemptions: Vec<(Law, &'static str)>,
    sampler: Sampler,
}

/// One of the laws [`check_transforms`](crate::check_transforms) checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Law {
    /// `vmap(f)` equals stacking `f` over slices.
    Vmap,
    /// Chunked vmap equals unchunked vmap.
    ChunkedVmap,
    /// Two nested vmap levels equal a double loop.
    NestedVmap,
    /// jvp equals central finite differences.
    JvpFiniteDifferences,
    /// `<u, J v> = <J^T u, v>` between vjp and jvp.
    VjpJvp,
    /// jacfwd equals jacrev.
    JacfwdJacrev,
    /// The Hessian of a scalar function is symmetric.
    HessianSymmetry,
    /// `<w, H v> = <H^T w, v>` for jvp and vjp of a vjp.
    SecondOrder,
}

impl Law {
    /// Every law.
    pub const ALL: [Law; 8] = [
        Law::Vmap,
        Law::ChunkedVmap,
        Law::NestedVmap,
        Law::JvpFiniteDifferences,
        Law::VjpJvp,
        Law::JacfwdJacrev,
        Law::HessianSymmetry,
        Law::SecondOrder,
    ];

    /// A short description.
    pub fn name(self) -> &'static str {
        match self {
            Law::Vmap => "vmap vs a loop",
            Law::ChunkedVmap => "chunked vmap vs vmap",
            Law::NestedVmap => "nested vmap vs a double loop",
            Law::JvpFiniteDifferences => "jvp vs finite differences",
            Law::VjpJvp => "<u, J v> = <J^T u, v>",
            Law::JacfwdJacrev => "jacfwd vs jacrev",
            Law::HessianSymmetry => "symmetric Hessian",
            Law::SecondOrder => "second-order inner products",
        }
    }

    /// Whether the law differentiates.
    pub fn is_derivative(self) -> bool {
        !matches!(self, Law::Vmap | Law::ChunkedVmap | Law::NestedVmap)
    }
}

impl fmt::Debug for OpInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpInfo")
            .field("name", &self.name)
            .field("op", &self.op)
            .field("differentiable", &self.differentiable)
            .field("scale", &self.scale)
            .field("exemptions", &self.exemptions)
            .finish_non_exhaustive()
    }
}

impl OpInfo {
    /// An entry from its parts.
    pub fn new(
        name: &'static str,
        op: Op,
        differentiable: bool,
        scale: Scale,
        sampler: impl Fn() -> BoxedStrategy<Sample> + Send + Sync + 'static,
    ) -> OpInfo {
        OpInfo { name, op, differentiable, scale, exemptions: Vec::new(), sampler: Arc::new(sampler) }
    }

    /// Exempt the op from `law`, for `reason` (an op whose custom derivative
    /// intentionally differs from its forward's, such as a straight-through
    /// estimator).
    pub fn exempt(mut self, law: Law, reason: &'static str) -> OpInfo {
        self.exemptions.push((law, reason));
        self
    }

    /// Whether the op is exempt from `law`.
    pub fn is_exempt(&self, law: Law) -> bool {
        self.exemptions.iter().any(|(l, _)| *l == law)
    }

    /// The strategy generating this op's sample inputs.
    pub fn sample(&self) -> BoxedStrategy<Sample> {
        (self.sampler)()
    }
}

/// Why `clip_gradient` is exempt from the laws that compare forward and
/// reverse mode.
const CLIP_GRADIENT_WHY: &str = "its VJP clips the cotangent while forward mode is the identity: reverse mode is not \
                                 the transpose of forward mode by design";

// ----- sample strategies ---------------------------------------------------------------------

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

fn sample(args: Vec<BoxedStrategy<ArgSpec>>) -> BoxedStrategy<Sample> {
    args.prop_map(Sample::new).boxed()
}

/// Concatenate strategies of argument lists.
fn join(parts: Vec<BoxedStrategy<Vec<ArgSpec>>>) -> BoxedStrategy<Sample> {
    parts.prop_map(|ps| Sample::new(ps.into_iter().flatten().collect())).boxed()
}

fn single(a: BoxedStrategy<ArgSpec>) -> BoxedStrategy<Vec<ArgSpec>> {
    a.prop_map(|x| vec![x]).boxed()
}

fn params(p: BoxedStrategy<Vec<i64>>) -> BoxedStrategy<Vec<ArgSpec>> {
    p.prop_map(|v| vec![ArgSpec::ints(&v)]).boxed()
}

fn param(p: BoxedStrategy<i64>) -> BoxedStrategy<Vec<ArgSpec>> {
    p.prop_map(|v| vec![ArgSpec::int(v)]).boxed()
}

/// One data argument of a random shape, dtype and view.
fn unary_sample(
    shapes: BoxedStrategy<Vec<usize>>,
    dtypes: BoxedStrategy<DType>,
    domain: Domain,
) -> BoxedStrategy<Sample> {
    (shapes, dtypes).prop_flat_map(move |(s, d)| sample(vec![arg(s, d, domain)])).boxed()
}

/// One data argument plus parameters depending on its shape.
fn with_params(
    shapes: BoxedStrategy<Vec<usize>>,
    dtypes: BoxedStrategy<DType>,
    domain: Domain,
    p: impl Fn(&[usize]) -> BoxedStrategy<Vec<ArgSpec>> + Send + Sync + 'static,
) -> BoxedStrategy<Sample> {
    (shapes, dtypes).prop_flat_map(move |(s, d)| join(vec![single(arg(s.clone(), d, domain)), p(&s)])).boxed()
}

/// `a` as a dim of a rank-`r` tensor, half the time negative.
fn signed(a: usize, r: usize) -> BoxedStrategy<i64> {
    any::<bool>().prop_map(move |neg| if neg && r > 0 { a as i64 - r as i64 } else { a as i64 }).boxed()
}

/// One dim of `s` (of size > 0 if `nonzero`; `s` must have one); for rank 0,
/// 0 or -1.
fn axis_of(s: &[usize], nonzero: bool) -> BoxedStrategy<i64> {
    let r = s.len();
    if r == 0 {
        return prop::sample::select(vec![0i64, -1]).boxed();
    }
    let cand: Vec<usize> = (0..r).filter(|&a| !nonzero || s[a] > 0).collect();
    assert!(!cand.is_empty(), "axis_of: no dim of size > 0 in {s:?}");
    prop::sample::select(cand).prop_flat_map(move |a| signed(a, r)).boxed()
}

/// A subset of at least `min` dims of `s` (of size > 0 if `nonzero`), some
/// negative.
fn dims_of(s: &[usize], nonzero: bool, min: usize) -> BoxedStrategy<Vec<i64>> {
    let r = s.len();
    let cand: Vec<usize> = (0..r).filter(|&a| !nonzero || s[a] > 0).collect();
    let len = cand.len();
    if len == 0 {
        return Just(vec![]).boxed();
    }
    (prop::sample::subsequence(cand, min.min(len)..=len), vec(any::<bool>(), len))
        .prop_map(move |(sub, neg)| {
            sub.iter().zip(neg).map(|(&a, n)| if n { a as i64 - r as i64 } else { a as i64 }).collect()
        })
        .boxed()
}

/// `s` with its first dim set to 1 if every dim is 0 (so some dim can be
/// reduced by max/min).
fn some_nonzero(mut s: Vec<usize>) -> Vec<usize> {
    if !s.is_empty() && s.iter().all(|&d| d == 0) {
        s[0] = 1;
    }
    s
}

fn same_or_mixed(dtypes: DTypes) -> BoxedStrategy<(DType, DType)> {
    prop_oneof![3 => dtypes().prop_map(|d| (d, d)), 1 => (dtypes(), dtypes())].boxed()
}

fn s_binary(op: BinaryOp) -> BoxedStrategy<Sample> {
    let (da, db) = match op {
        BinaryOp::Pow => (Domain::Positive, Domain::Finite),
        BinaryOp::Div => (Domain::Any, Domain::NonZero),
        _ => (Domain::Any, Domain::Any),
    };
    let dtypes = match op {
        BinaryOp::Pow => float_dtype().prop_map(|d| (d, d)).boxed(),
        _ => same_or_mixed(numeric_dtype),
    };
    (broadcast_shapes(2, 4), dtypes)
        .prop_flat_map(move |(s, (ta, tb))| sample(vec![arg(s[0].clone(), ta, da), arg(s[1].clone(), tb, db)]))
        .boxed()
}

fn s_compare() -> BoxedStrategy<Sample> {
    let dtypes = prop_oneof![3 => any_dtype().prop_map(|d| (d, d)), 1 => (numeric_dtype(), numeric_dtype())];
    (broadcast_shapes(2, 4), dtypes)
        .prop_flat_map(|(s, (ta, tb))| {
            sample(vec![arg(s[0].clone(), ta, Domain::Coarse), arg(s[1].clone(), tb, Domain::Coarse)])
        })
        .boxed()
}

fn s_where() -> BoxedStrategy<Sample> {
    (broadcast_shapes(3, 4), same_or_mixed(numeric_dtype))
        .prop_flat_map(|(s, (ta, tb))| {
            sample(vec![
                arg(s[0].clone(), DType::Bool, Domain::Any),
                arg(s[1].clone(), ta, Domain::Any),
                arg(s[2].clone(), tb, Domain::Any),
            ])
        })
        .boxed()
}

fn s_reduce(op: ReduceOp) -> BoxedStrategy<Sample> {
    let (domain, dtypes) = match op {
        ReduceOp::Prod => (Domain::NearOne, numeric_dtype()),
        _ => (Domain::Any, any_dtype()),
    };
    let nonzero = matches!(op, ReduceOp::Max | ReduceOp::Min);
    with_params(shape(0, 4).prop_map(some_nonzero).boxed(), dtypes, domain, move |s| params(dims_of(s, nonzero, 1)))
}

fn s_reduce_all(op: ReduceOp) -> BoxedStrategy<Sample> {
    match op {
        ReduceOp::Sum => unary_sample(shape(0, 4), any_dtype(), Domain::Any),
        ReduceOp::Prod => unary_sample(shape(0, 4), numeric_dtype(), Domain::NearOne),
        ReduceOp::Max | ReduceOp::Min => unary_sample(nonempty_shape(0, 4), any_dtype(), Domain::Any),
    }
}

/// Dims to reduce with max-type composites (logsumexp, inf-norm): any
/// subset of non-empty dims, all dims (empty list) only if none is empty.
fn max_dims_of(s: &[usize]) -> BoxedStrategy<Vec<ArgSpec>> {
    let min = if s.contains(&0) { 1 } else { 0 };
    params(dims_of(s, true, min))
}

/// A 2-D or batched matmul pair, or one with a vector operand.
fn s_matmul(kind: u8) -> BoxedStrategy<Sample> {
    let m = || dim_size(5);
    let pairs: BoxedStrategy<(Vec<usize>, Vec<usize>)> = match kind {
        0 => (m(), m(), m()).prop_map(|(a, k, b)| (vec![a, k], vec![k, b])).boxed(),
        1 => {
            let batch = (1usize..=2)
                .prop_flat_map(|r| vec(0usize..=3, r))
                .prop_flat_map(|out| (broadcastable_to(out.clone()), broadcastable_to(out)));
            (batch, 0usize..=4, 0usize..=4, 0usize..=4)
                .prop_map(|((ba, bb), a, k, b)| {
                    let mut x = ba;
                    x.extend([a, k]);
                    let mut y = bb;
                    y.extend([k, b]);
                    (x, y)
                })
                .boxed()
        }
        _ => (m(), m(), m(), 0usize..=3, 0u8..5)
            .prop_map(|(a, k, b, n, case)| match case {
                0 => (vec![k], vec![k, b]),
                1 => (vec![a, k], vec![k]),
                2 => (vec![k], vec![k]),
                3 => (vec![k], vec![n, k, b]),
                _ => (vec![n, a, k], vec![k]),
            })
            .boxed(),
    };
    (pairs, float_dtype())
        .prop_flat_map(|((x, y), d)| sample(vec![arg(x, d, Domain::Finite), arg(y, d, Domain::Finite)]))
        .boxed()
}

fn s_vectors(same_len: bool) -> BoxedStrategy<Sample> {
    (0usize..=16, 0usize..=8, float_dtype())
        .prop_flat_map(move |(n, m, d)| {
            let m = if same_len { n } else { m };
            sample(vec![arg(vec![n], d, Domain::Finite), arg(vec![m], d, Domain::Finite)])
        })
        .boxed()
}

fn s_linear(bias: bool) -> BoxedStrategy<Sample> {
    (vec(0usize..=3, 0..=2), 0usize..=5, 0usize..=5, float_dtype())
        .prop_flat_map(move |(lead, i, o, d)| {
            let mut x = lead;
            x.push(i);
            let mut args = vec![arg(x, d, Domain::Finite), arg(vec![o, i], d, Domain::Finite)];
            if bias {
                args.push(arg(vec![o], d, Domain::Finite));
            }
            sample(args)
        })
        .boxed()
}

fn prime_factors(mut n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut p = 2;
    while n > 1 {
        while n % p == 0 {
            out.push(p);
            n /= p;
        }
        p += 1;
    }
    out
}

/// A shape with `numel(s)` elements, sometimes with one `-1`.
fn reshape_target(s: &[usize]) -> BoxedStrategy<Vec<i64>> {
    let n = numel(s);
    if n == 0 {
        return (Just(s.to_vec()).prop_shuffle(), any::<bool>())
            .prop_map(|(mut d, one)| {
                if one {
                    d.push(1);
                }
                d.into_iter().map(|v| v as i64).collect()
            })
            .boxed();
    }
    let primes = prime_factors(n);
    let k = primes.len();
    let general =
        (1usize..=4, vec(0usize..4, k), prop::option::weighted(0.3, 0usize..4)).prop_map(move |(t, slots, infer)| {
            let mut dims = vec![1i64; t];
            for (&p, s) in primes.iter().zip(slots) {
                dims[s % t] *= p as i64;
            }
            if let Some(j) = infer {
                dims[j % t] = -1;
            }
            dims
        });
    if n == 1 { prop_oneof![3 => general, 1 => Just(vec![])].boxed() } else { general.boxed() }
}

fn s_permute() -> BoxedStrategy<Sample> {
    with_params(shape(0, 4), any_dtype(), Domain::Any, |s| {
        let r = s.len();
        params(
            (Just((0..r).collect::<Vec<usize>>()).prop_shuffle(), vec(any::<bool>(), r))
                .prop_map(move |(p, neg)| {
                    p.iter().zip(neg).map(|(&a, n)| if n { a as i64 - r as i64 } else { a as i64 }).collect()
                })
                .boxed(),
        )
    })
}

fn broadcast_target(s: &[usize], expand: bool) -> BoxedStrategy<Vec<i64>> {
    let s = s.to_vec();
    let r = s.len();
    (vec(0usize..=3, 0..=2), vec(0usize..=4, r), vec(any::<bool>(), r))
        .prop_map(move |(lead, grow, keep)| {
            let mut t: Vec<i64> = lead.iter().map(|&d| d as i64).collect();
            for i in 0..r {
                let d = if s[i] == 1 { grow[i] } else { s[i] };
                t.push(if expand && keep[i] && d == s[i] { -1 } else { d as i64 });
            }
            t
        })
        .boxed()
}

/// Python's clamped slice length (as `Tensor::slice`).
fn slice_len(n: usize, start: i64, stop: i64, step: usize) -> usize {
    let n = n as i64;
    let clampi = |i: i64| if i < 0 { (i + n).max(0) } else { i.min(n) };
    let (start, stop) = (clampi(start), clampi(stop));
    let stop = stop.max(start);
    ((stop - start) as usize).div_ceil(step)
}

/// `(dim, start, stop, step)` for a slice of `s` (rank >= 1).
fn slice_params(s: &[usize]) -> BoxedStrategy<(usize, Vec<i64>)> {
    let s = s.to_vec();
    let r = s.len();
    (0..r)
        .prop_flat_map(move |a| {
            let n = s[a] as i64;
            (Just(a), signed(a, r), -(n + 2)..=(n + 2), -(n + 2)..=(n + 2), 1i64..=3)
                .prop_map(|(a, d, start, stop, step)| (a, vec![d, start, stop, step]))
        })
        .boxed()
}

fn s_slice() -> BoxedStrategy<Sample> {
    with_params(shape(1, 4), any_dtype(), Domain::Any, |s| params(slice_params(s).prop_map(|(_, p)| p).boxed()))
}

fn s_select() -> BoxedStrategy<Sample> {
    with_params(shape(1, 4).prop_map(some_nonzero).boxed(), any_dtype(), Domain::Any, |s| {
        let s = s.to_vec();
        let r = s.len();
        let cand: Vec<usize> = (0..r).filter(|&a| s[a] > 0).collect();
        params(
            prop::sample::select(cand)
                .prop_flat_map(move |a| {
                    let n = s[a] as i64;
                    (signed(a, r), -n..n).prop_map(|(d, i)| vec![d, i])
                })
                .boxed(),
        )
    })
}

fn s_narrow() -> BoxedStrategy<Sample> {
    with_params(shape(1, 4), any_dtype(), Domain::Any, |s| {
        let s = s.to_vec();
        let r = s.len();
        params(
            (0..r)
                .prop_flat_map(move |a| {
                    let n = s[a] as i64;
                    (signed(a, r), 0..=n)
                        .prop_flat_map(move |(d, start)| (0..=n - start).prop_map(move |len| vec![d, start, len]))
                })
                .boxed(),
        )
    })
}

fn s_flatten() -> BoxedStrategy<Sample> {
    with_params(shape(0, 4), any_dtype(), Domain::Any, |s| {
        let r = s.len();
        if r == 0 {
            return params(Just(vec![0, 0]).boxed());
        }
        params(
            (0..r, 0..r)
                .prop_flat_map(move |(x, y)| (signed(x.min(y), r), signed(x.max(y), r)).prop_map(|(a, b)| vec![a, b]))
                .boxed(),
        )
    })
}

fn s_diagonal(shapes: BoxedStrategy<Vec<usize>>) -> BoxedStrategy<Sample> {
    with_params(shapes, any_dtype(), Domain::Any, |s| {
        let r = s.len();
        params(
            (Just((0..r).collect::<Vec<usize>>()).prop_shuffle(), -3i64..=3)
                .prop_flat_map(move |(p, off)| {
                    (Just(off), signed(p[0], r), signed(p[1], r)).prop_map(|(o, a, b)| vec![o, a, b])
                })
                .boxed(),
        )
    })
}

fn s_cat(stack: bool) -> BoxedStrategy<Sample> {
    let shapes = if stack { shape(0, 3) } else { shape(1, 3) };
    (shapes, 1usize..=4, same_or_mixed(numeric_dtype))
        .prop_flat_map(move |(s, count, (ta, tb))| {
            let r = s.len();
            let axis: BoxedStrategy<usize> = if stack { (0..=r).boxed() } else { (0..r).boxed() };
            (Just(s), Just(count), Just((ta, tb)), axis, vec(0usize..=3, count))
        })
        .prop_flat_map(move |(s, count, (ta, tb), a, sizes)| {
            let r = s.len();
            let mut args: Vec<BoxedStrategy<Vec<ArgSpec>>> = (0..count)
                .map(|i| {
                    let mut si = s.clone();
                    if !stack {
                        si[a] = sizes[i];
                    }
                    single(arg(si, if i % 2 == 0 { ta } else { tb }, Domain::Any))
                })
                .collect();
            let rank = if stack { r + 1 } else { r };
            args.push(param(signed(a, rank)));
            join(args)
        })
        .boxed()
}

fn s_split(chunk: bool) -> BoxedStrategy<Sample> {
    with_params(shape(1, 4), any_dtype(), Domain::Any, move |s| {
        let s = s.to_vec();
        let r = s.len();
        let n = if chunk { 1i64..=5 } else { 1i64..=4 };
        params((n, (0..r).prop_flat_map(move |a| signed(a, r))).prop_map(|(k, d)| vec![k, d]).boxed())
    })
}

fn s_pad() -> BoxedStrategy<Sample> {
    with_params(shape(0, 4), numeric_dtype(), Domain::Any, |s| {
        let r = s.len();
        let most = if r <= 2 { 2i64 } else { 1 };
        params(vec(0..=most, 2 * r).boxed())
    })
}

/// An index shape for gather along `a` of `s`: any size along `a`, other
/// sizes at most `s`'s (mostly equal).
fn gather_index_shape(s: &[usize], a: usize) -> BoxedStrategy<Vec<usize>> {
    let dims: Vec<BoxedStrategy<usize>> = s
        .iter()
        .enumerate()
        .map(|(i, &d)| if i == a { (0usize..=4).boxed() } else { prop_oneof![2 => Just(d), 1 => 0..=d].boxed() })
        .collect();
    dims.boxed()
}

fn nonzero_axes(s: &[usize]) -> Vec<usize> {
    (0..s.len()).filter(|&a| s[a] > 0).collect()
}

fn s_gather() -> BoxedStrategy<Sample> {
    (shape(1, 3).prop_map(some_nonzero), numeric_dtype())
        .prop_flat_map(|(s, d)| (Just(s.clone()), Just(d), prop::sample::select(nonzero_axes(&s))))
        .prop_flat_map(|(s, d, a)| (Just(s.clone()), Just(d), Just(a), gather_index_shape(&s, a)))
        .prop_flat_map(|(s, d, a, is)| {
            let r = s.len();
            sample(vec![
                arg(s.clone(), d, Domain::Any),
                index_arg(is, s[a]),
                signed(a, r).prop_map(ArgSpec::int).boxed(),
            ])
        })
        .boxed()
}

fn s_index_select() -> BoxedStrategy<Sample> {
    (shape(1, 4).prop_map(some_nonzero), numeric_dtype(), 0usize..=5)
        .prop_flat_map(|(s, d, len)| (Just(s.clone()), Just(d), Just(len), prop::sample::select(nonzero_axes(&s))))
        .prop_flat_map(|(s, d, len, a)| {
            let r = s.len();
            sample(vec![
                arg(s.clone(), d, Domain::Any),
                index_arg(vec![len], s[a]),
                signed(a, r).prop_map(ArgSpec::int).boxed(),
            ])
        })
        .boxed()
}

fn s_scatter_add() -> BoxedStrategy<Sample> {
    (shape(1, 3).prop_map(some_nonzero), same_or_mixed(numeric_dtype))
        .prop_flat_map(|(s, dts)| (Just(s.clone()), Just(dts), prop::sample::select(nonzero_axes(&s)), 0usize..=4))
        .prop_flat_map(|(s, (tb, ts), a, k)| {
            let r = s.len();
            let mut is = s.clone();
            is[a] = k;
            sample(vec![
                arg(s.clone(), tb, Domain::Finite),
                index_arg(is.clone(), s[a]),
                arg(is, ts, Domain::Finite),
                signed(a, r).prop_map(ArgSpec::int).boxed(),
            ])
        })
        .boxed()
}

fn s_one_hot() -> BoxedStrategy<Sample> {
    (shape(0, 3), 1usize..=5)
        .prop_flat_map(|(s, c)| sample(vec![index_arg(s, c), Just(ArgSpec::int(c as i64)).boxed()]))
        .boxed()
}

/// Output size of a sliding window (as `ConvGeom`).
fn out_size(n: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
    let span = d * (k - 1) + 1;
    if n + 2 * p < span { 0 } else { (n + 2 * p - span) / s + 1 }
}

/// An input size for which the window fits at least once.
fn fitting(k: usize, p: usize, d: usize, extra: usize) -> usize {
    (d * (k - 1) + 1).saturating_sub(2 * p).max(1) + extra
}

/// `(kh, kw, sh, sw, ph, pw, dh, dw)` and an input `(h, w)` that fits it.
fn window() -> BoxedStrategy<([usize; 8], (usize, usize))> {
    (
        (1usize..=3, 1usize..=3),
        (1usize..=2, 1usize..=2),
        (0usize..=1, 0usize..=1),
        (1usize..=2, 1usize..=2),
        (0usize..=2, 0usize..=2),
    )
        .prop_map(|((kh, kw), (sh, sw), (ph, pw), (dh, dw), (eh, ew))| {
            ([kh, kw, sh, sw, ph, pw, dh, dw], (fitting(kh, ph, dh, eh), fitting(kw, pw, dw, ew)))
        })
        .boxed()
}

fn ints_of(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

fn s_unfold() -> BoxedStrategy<Sample> {
    (window(), 1usize..=2, 1usize..=2, float_dtype())
        .prop_flat_map(|((g, (h, w)), n, c, d)| {
            sample(vec![arg(vec![n, c, h, w], d, Domain::Finite), Just(ArgSpec::ints(&ints_of(&g))).boxed()])
        })
        .boxed()
}

fn s_fold() -> BoxedStrategy<Sample> {
    (window(), 1usize..=2, 1usize..=2, float_dtype())
        .prop_flat_map(|((g, (h, w)), n, c, d)| {
            let [kh, kw, sh, sw, ph, pw, dh, dw] = g;
            let l = out_size(h, kh, sh, ph, dh) * out_size(w, kw, sw, pw, dw);
            let mut p = vec![h, w];
            p.extend(g);
            sample(vec![arg(vec![n, c * kh * kw, l], d, Domain::Finite), Just(ArgSpec::ints(&ints_of(&p))).boxed()])
        })
        .boxed()
}

fn s_conv2d(bias: bool) -> BoxedStrategy<Sample> {
    (window(), 1usize..=2, (1usize..=3, 1usize..=2, 1usize..=2), any::<bool>(), float_dtype())
        .prop_flat_map(move |((g, (h, w)), n, (groups, cg, og), three_d, d)| {
            let [kh, kw, sh, sw, ph, pw, dh, dw] = g;
            let (cg, og) = if groups == 3 { (1, 1) } else { (cg, og) };
            let (c, o) = (groups * cg, groups * og);
            let x = if three_d { vec![c, h, w] } else { vec![n, c, h, w] };
            let mut args = vec![arg(x, d, Domain::Finite), arg(vec![o, cg, kh, kw], d, Domain::Finite)];
            if bias {
                args.push(arg(vec![o], d, Domain::Finite));
            }
            args.push(Just(ArgSpec::ints(&ints_of(&[sh, sw, ph, pw, dh, dw, groups]))).boxed());
            sample(args)
        })
        .boxed()
}

fn s_pool(domain: Domain) -> BoxedStrategy<Sample> {
    (
        (1usize..=3, 1usize..=3),
        (1usize..=2, 1usize..=2),
        (0usize..=3, 0usize..=3),
        (1usize..=2, 1usize..=3, any::<bool>()),
        float_dtype(),
    )
        .prop_flat_map(move |((kh, kw), (sh, sw), (eh, ew), (n, c, three_d), d)| {
            // Square padding only: func-core's pool_windows pads H with
            // (ph, pw) and W with (ph, pw), so ph != pw panics (reported).
            let p = if eh % 2 == 1 { kh.min(kw) / 2 } else { 0 };
            let (ph, pw) = (p, p);
            let (h, w) = (fitting(kh, ph, 1, eh), fitting(kw, pw, 1, ew));
            let x = if three_d { vec![c, h, w] } else { vec![n, c, h, w] };
            sample(vec![arg(x, d, domain), Just(ArgSpec::ints(&ints_of(&[kh, kw, sh, sw, ph, pw]))).boxed()])
        })
        .boxed()
}

/// Logits `[N, C]` (or `[C]`) and class indices `[N]` (or 0-D).
fn s_class_targets() -> BoxedStrategy<Sample> {
    (prop_oneof![1 => Just(0usize), 6 => 1usize..=5], 1usize..=6, any::<bool>(), float_dtype())
        .prop_flat_map(|(n, c, one_d, d)| {
            let (x, t) = if one_d { (vec![c], vec![]) } else { (vec![n, c], vec![n]) };
            sample(vec![arg(x, d, Domain::Finite), index_arg(t, c)])
        })
        .boxed()
}

/// Logits and class probabilities of the same shape.
fn s_prob_targets() -> BoxedStrategy<Sample> {
    (1usize..=5, 1usize..=6, any::<bool>(), float_dtype())
        .prop_flat_map(|(n, c, one_d, d)| {
            let x = if one_d { vec![c] } else { vec![n, c] };
            sample(vec![arg(x.clone(), d, Domain::Finite), arg(x, d, Domain::Unit)])
        })
        .boxed()
}

fn s_pair(domain: Domain) -> BoxedStrategy<Sample> {
    (broadcast_shapes(2, 4), float_dtype())
        .prop_flat_map(move |(s, d)| sample(vec![arg(s[0].clone(), d, domain), arg(s[1].clone(), d, domain)]))
        .boxed()
}

/// A shape-and-dtype carrier for factories.
fn like(shapes: BoxedStrategy<Vec<usize>>, dtypes: BoxedStrategy<DType>) -> BoxedStrategy<ArgSpec> {
    (shapes, dtypes).prop_map(|(s, d)| ArgSpec::like(s, d)).boxed()
}

fn len_like(max: usize, dtypes: BoxedStrategy<DType>) -> BoxedStrategy<ArgSpec> {
    like((0..=max).prop_map(|n| vec![n]).boxed(), dtypes)
}

fn seed() -> BoxedStrategy<ArgSpec> {
    (0i64..1_000_000).prop_map(ArgSpec::int).boxed()
}

fn s_arange_range() -> BoxedStrategy<Sample> {
    let step = prop::sample::select(vec![0.25, 0.5, 1.0, 1.5, 2.0, 0.3, -0.25, -1.0, -2.0, -0.7]);
    ((-8i32..=8).prop_map(|k| f64::from(k) / 2.0), step, 0.0..10.0f64, numeric_dtype())
        .prop_map(|(start, step, t, d)| {
            Sample::new(vec![ArgSpec::floats(&[start, start + step * t, step]), ArgSpec::like(vec![0], d)])
        })
        .boxed()
}

fn s_linspace() -> BoxedStrategy<Sample> {
    (-4.0..4.0f64, -4.0..4.0f64, len_like(12, numeric_dtype()))
        .prop_map(|(a, b, l)| Sample::new(vec![ArgSpec::floats(&[a, b]), l]))
        .boxed()
}

fn s_random() -> BoxedStrategy<Sample> {
    sample(vec![like(shape(0, 3), float_dtype()), seed()])
}

/// `[x, y]` with `y` broadcasting to `x`.
/// Shapes of the destinations of in-place ops: no size-0 dimensions, since
/// func-core refuses to write into an empty tensor whose contiguous strides
/// contain a 0 (`[2, 0, 3]` has strides `[0, 3, 1]`), taking it for a
/// broadcast view. Empty destinations are still covered by empty slices.
fn inplace_shape(min_rank: usize) -> BoxedStrategy<Vec<usize>> {
    nonempty_shape(min_rank, 4)
}

/// `[x, y]` with `y` (finite, so that it converts to an i64 `x`)
/// broadcasting to `x` (to `x.t()` for `min_rank` 2).
fn s_inplace(xd: DTypes, ydomain: Domain, min_rank: usize) -> BoxedStrategy<Sample> {
    (inplace_shape(min_rank), xd(), numeric_dtype())
        .prop_flat_map(move |(s, tx, ty)| {
            let target = if min_rank >= 2 {
                let mut t = s.clone();
                let r = t.len();
                t.swap(r - 2, r - 1);
                t
            } else {
                s.clone()
            };
            (Just(s), Just(tx), Just(ty), broadcastable_to(target))
        })
        .prop_flat_map(move |(s, tx, ty, ys)| sample(vec![arg(s, tx, Domain::Any), arg(ys, ty, ydomain)]))
        .boxed()
}

fn s_copy_into_slice() -> BoxedStrategy<Sample> {
    (inplace_shape(1), numeric_dtype(), numeric_dtype())
        .prop_flat_map(|(s, tx, ty)| (Just(s.clone()), Just(tx), Just(ty), slice_params(&s)))
        .prop_flat_map(|(s, tx, ty, (a, p))| {
            let mut target = s.clone();
            target[a] = slice_len(s[a], p[1], p[2], p[3] as usize);
            let src = broadcastable_to(target).prop_flat_map(move |ys| arg(ys, ty, Domain::Finite)).boxed();
            sample(vec![arg(s, tx, Domain::Any), src, Just(ArgSpec::ints(&p)).boxed()])
        })
        .boxed()
}

fn s_mul_into_select() -> BoxedStrategy<Sample> {
    (inplace_shape(1), numeric_dtype(), numeric_dtype())
        .prop_flat_map(|(s, tx, ty)| (Just(s.clone()), Just(tx), Just(ty), prop::sample::select(nonzero_axes(&s))))
        .prop_flat_map(|(s, tx, ty, a)| {
            let r = s.len();
            let n = s[a] as i64;
            let mut target = s.clone();
            target.remove(a);
            let y = broadcastable_to(target).prop_flat_map(move |ys| arg(ys, ty, Domain::Finite)).boxed();
            let p = (signed(a, r), -n..n).prop_map(|(d, i)| ArgSpec::ints(&[d, i])).boxed();
            sample(vec![arg(s, tx, Domain::Any), y, p])
        })
        .boxed()
}

// ----- large samples (parallel, tiled and blocked kernel paths) ------------------------------

/// One large argument of `domain`.
fn s_large(dtypes: DTypes, domain: Domain) -> BoxedStrategy<Sample> {
    (large_shape(), dtypes()).prop_flat_map(move |(s, d)| sample(vec![bulk_arg(s, d, domain)])).boxed()
}

/// One large argument plus parameters depending on its shape.
fn s_large_with(
    dtypes: DTypes,
    domain: Domain,
    p: impl Fn(&[usize]) -> BoxedStrategy<Vec<ArgSpec>> + Send + Sync + 'static,
) -> BoxedStrategy<Sample> {
    (large_shape(), dtypes())
        .prop_flat_map(move |(s, d)| join(vec![single(bulk_arg(s.clone(), d, domain)), p(&s)]))
        .boxed()
}

/// Large `[a, b]` (`b` broadcasting to `a`, or to `a.t()` if `transposed`).
fn s_large_pair(transposed: bool) -> BoxedStrategy<Sample> {
    (large_shape(), same_or_mixed(numeric_dtype))
        .prop_flat_map(move |(s, dts)| {
            let mut target = s.clone();
            if transposed && target.len() >= 2 {
                let r = target.len();
                target.swap(r - 2, r - 1);
            }
            (Just(s), Just(dts), broadcastable_to(target))
        })
        .prop_flat_map(|(s, (ta, tb), ys)| {
            sample(vec![bulk_arg(s, ta, Domain::Finite), bulk_arg(ys, tb, Domain::Finite)])
        })
        .boxed()
}

fn s_large_where() -> BoxedStrategy<Sample> {
    (large_shape(), same_or_mixed(float_dtype))
        .prop_flat_map(|(s, dts)| (Just(s.clone()), Just(dts), broadcastable_to(s.clone()), broadcastable_to(s)))
        .prop_flat_map(|(s, (ta, tb), sa, sb)| {
            sample(vec![
                bulk_arg(s, DType::Bool, Domain::Any),
                bulk_arg(sa, ta, Domain::Finite),
                bulk_arg(sb, tb, Domain::Finite),
            ])
        })
        .boxed()
}

/// Matmul pairs above the direct-loop threshold (gemm path), batched with
/// enough work for a parallel batch loop when `batched`.
fn s_large_matmul(batched: bool) -> BoxedStrategy<Sample> {
    let pairs: BoxedStrategy<(Vec<usize>, Vec<usize>)> = if batched {
        let batch = (1usize..=2)
            .prop_flat_map(|r| vec(1usize..=4, r))
            .prop_flat_map(|out| (broadcastable_to(out.clone()), broadcastable_to(out)));
        (batch, 16usize..=32, 16usize..=32, 16usize..=32)
            .prop_map(|((ba, bb), m, k, n)| {
                let (mut x, mut y) = (ba, bb);
                x.extend([m, k]);
                y.extend([k, n]);
                (x, y)
            })
            .boxed()
    } else {
        (8usize..=48, 8usize..=48, 8usize..=48).prop_map(|(m, k, n)| (vec![m, k], vec![k, n])).boxed()
    };
    (pairs, float_dtype())
        .prop_flat_map(|((x, y), d)| sample(vec![bulk_arg(x, d, Domain::Finite), bulk_arg(y, d, Domain::Finite)]))
        .boxed()
}

/// A convolution large enough for gemm and a parallel batch of groups.
fn s_large_conv2d() -> BoxedStrategy<Sample> {
    (1usize..=2, 1usize..=2, 12usize..=16, 12usize..=16, 1usize..=2, float_dtype())
        .prop_flat_map(|(n, groups, h, w, stride, d)| {
            let (c, o) = (4 * groups, 8 * groups);
            sample(vec![
                bulk_arg(vec![n, c, h, w], d, Domain::Finite),
                bulk_arg(vec![o, 4, 3, 3], d, Domain::Finite),
                bulk_arg(vec![o], d, Domain::Finite),
                Just(ArgSpec::ints(&ints_of(&[stride, stride, 1, 1, 1, 1, groups]))).boxed(),
            ])
        })
        .boxed()
}

// ----- the catalogue -------------------------------------------------------------------------

fn unary_domain(op: UnaryOp) -> Domain {
    match op {
        UnaryOp::Log | UnaryOp::Sqrt => Domain::Positive,
        UnaryOp::Log1p => Domain::AboveMinusOne,
        _ => Domain::Any,
    }
}

fn reduce_name(op: ReduceOp, keepdim: bool) -> &'static str {
    match (op, keepdim) {
        (ReduceOp::Sum, false) => "sum_dims",
        (ReduceOp::Sum, true) => "sum_dims_keepdim",
        (ReduceOp::Max, false) => "max_dims",
        (ReduceOp::Max, true) => "max_dims_keepdim",
        (ReduceOp::Min, false) => "min_dims",
        (ReduceOp::Min, true) => "min_dims_keepdim",
        (ReduceOp::Prod, false) => "prod_dims",
        (ReduceOp::Prod, true) => "prod_dims_keepdim",
    }
}

fn cmp_scalar_name(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "eq_scalar",
        CmpOp::Ne => "ne_scalar",
        CmpOp::Lt => "lt_scalar",
        CmpOp::Le => "le_scalar",
        CmpOp::Gt => "gt_scalar",
        CmpOp::Ge => "ge_scalar",
    }
}

fn cast_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "cast_f32",
        DType::F64 => "cast_f64",
        DType::I64 => "cast_i64",
        DType::Bool => "cast_bool",
        other => panic!("the catalogue has no cast entry for dtype {other}"),
    }
}

/// Every entry of the catalogue: each [`UnaryOp`], [`BinaryOp`], [`CmpOp`]
/// and [`ReduceOp`], the other primitives (where, cast, copy, arg-reductions,
/// cumsum, matmul, views, cat, pad, flip, gather, scatter_add, im2col,
/// col2im, factories, random), the composites of the `Tensor` API (softmax
/// family, losses, conv2d, pooling, ...) and in-place operations.
pub fn catalogue() -> Vec<OpInfo> {
    use Scale::{AbsOp, Elementwise as Ew, Relative, Rows};
    let mut c: Vec<OpInfo> = Vec::new();

    for u in UnaryOp::ALL {
        let dtypes = if u.supports_int() { numeric_dtype } else { float_dtype };
        let smooth = !matches!(u, UnaryOp::Sign | UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round);
        c.push(OpInfo::new(u.name(), Op::Unary(u), smooth, Ew, move || {
            unary_sample(shape(0, 4), dtypes(), unary_domain(u))
        }));
    }
    for b in BinaryOp::ALL {
        c.push(OpInfo::new(b.name(), Op::Binary(b), true, Ew, move || s_binary(b)));
    }
    let scalar_ops: [(&'static str, BinaryOp, f64, DTypes, Domain); 7] = [
        ("add_scalar", BinaryOp::Add, 1.5, numeric_dtype, Domain::Any),
        ("sub_scalar", BinaryOp::Sub, 0.75, numeric_dtype, Domain::Any),
        ("mul_scalar", BinaryOp::Mul, -2.0, numeric_dtype, Domain::Any),
        ("div_scalar", BinaryOp::Div, 4.0, numeric_dtype, Domain::Any),
        ("powf", BinaryOp::Pow, 2.5, float_dtype, Domain::Positive),
        ("pow_int_scalar", BinaryOp::Pow, 3.0, float_dtype, Domain::Any),
        ("maximum_scalar", BinaryOp::Maximum, 0.5, numeric_dtype, Domain::Any),
    ];
    for (name, b, v, dtypes, domain) in scalar_ops {
        c.push(OpInfo::new(name, Op::BinaryScalar(b, v), true, Ew, move || {
            unary_sample(shape(0, 4), dtypes(), domain)
        }));
    }
    let lhs_ops: [(&'static str, BinaryOp, f64, Domain); 3] = [
        ("rsub_scalar", BinaryOp::Sub, 2.0, Domain::Any),
        ("rdiv_scalar", BinaryOp::Div, 1.0, Domain::NonZero),
        ("rpow_scalar", BinaryOp::Pow, 1.5, Domain::Finite),
    ];
    for (name, b, v, domain) in lhs_ops {
        c.push(OpInfo::new(name, Op::ScalarBinary(b, v), true, Ew, move || {
            unary_sample(shape(0, 4), numeric_dtype(), domain)
        }));
    }
    for op in CmpOp::ALL {
        c.push(OpInfo::new(op.name(), Op::Compare(op), false, Ew, s_compare));
        c.push(OpInfo::new(cmp_scalar_name(op), Op::CompareScalar(op, 0.5), false, Ew, || {
            unary_sample(shape(0, 4), numeric_dtype(), Domain::Coarse)
        }));
    }
    c.push(OpInfo::new("where", Op::Where, true, Ew, s_where));
    for d in [DType::F32, DType::F64, DType::I64, DType::Bool] {
        let domain = if d == DType::I64 { Domain::Finite } else { Domain::Any };
        let info = OpInfo::new(cast_name(d), Op::Cast(d), d.is_float(), Ew, move || {
            unary_sample(shape(0, 4), any_dtype(), domain)
        });
        c.push(if d == DType::F32 {
            info.exempt(
                Law::JvpFiniteDifferences,
                "the result is rounded to f32, whose steps (about 1e-7 relative) swamp differences at the steps 1e-6 \
                 and 1e-4, so most samples look non-smooth; the derivative is checked to f32 precision by the \
                 vjp-jvp, jacfwd-jacrev, Hessian and second-order laws",
            )
        } else {
            info
        });
    }
    c.push(OpInfo::new("deep_copy", Op::DeepCopy, true, Ew, || unary_sample(shape(0, 4), any_dtype(), Domain::Any)));
    c.push(OpInfo::new("contiguous", Op::Contiguous, true, Ew, || unary_sample(shape(0, 4), any_dtype(), Domain::Any)));
    let clamps: [(&'static str, Option<f64>, Option<f64>); 3] =
        [("clamp", Some(-0.5), Some(1.0)), ("clamp_min", Some(0.0), None), ("clamp_max", None, Some(0.5))];
    for (name, min, max) in clamps {
        c.push(OpInfo::new(name, Op::Clamp { min, max }, true, Ew, || {
            unary_sample(shape(0, 4), numeric_dtype(), Domain::Any)
        }));
    }

    // Reductions.
    for op in ReduceOp::ALL {
        let scale = if op == ReduceOp::Sum { AbsOp } else { Ew };
        for keepdim in [false, true] {
            c.push(OpInfo::new(reduce_name(op, keepdim), Op::Reduce { op, keepdim }, true, scale, move || {
                s_reduce(op)
            }));
        }
        c.push(OpInfo::new(op.name(), Op::ReduceAll(op), true, scale, move || s_reduce_all(op)));
    }
    let args: [(&'static str, ArgReduceOp, bool); 4] = [
        ("argmax", ArgReduceOp::ArgMax, false),
        ("argmax_keepdim", ArgReduceOp::ArgMax, true),
        ("argmin", ArgReduceOp::ArgMin, false),
        ("argmin_keepdim", ArgReduceOp::ArgMin, true),
    ];
    for (name, op, keepdim) in args {
        c.push(OpInfo::new(name, Op::ArgReduce { op, keepdim }, false, Ew, || {
            with_params(shape(0, 4).prop_map(some_nonzero).boxed(), numeric_dtype(), Domain::Coarse, |s| {
                param(axis_of(s, true))
            })
        }));
    }
    c.push(OpInfo::new("cumsum", Op::Cumsum, true, AbsOp, || {
        with_params(shape(0, 4), numeric_dtype(), Domain::Any, |s| param(axis_of(s, false)))
    }));
    for keepdim in [false, true] {
        let name = if keepdim { "mean_dims_keepdim" } else { "mean_dims" };
        c.push(OpInfo::new(name, Op::Mean { keepdim }, true, AbsOp, || {
            with_params(shape(0, 4), numeric_dtype(), Domain::Finite, |s| params(dims_of(s, false, 0)))
        }));
        let name = if keepdim { "logsumexp_keepdim" } else { "logsumexp" };
        c.push(OpInfo::new(name, Op::Logsumexp { keepdim }, true, Rows, || {
            with_params(shape(0, 4).prop_map(some_nonzero).boxed(), float_dtype(), Domain::Any, max_dims_of)
        }));
    }
    c.push(OpInfo::new("mean", Op::MeanAll, true, AbsOp, || unary_sample(shape(0, 4), numeric_dtype(), Domain::Any)));
    let vars: [(&'static str, usize, bool); 3] =
        [("var", 1, false), ("var_keepdim", 1, true), ("var_correction0", 0, false)];
    for (name, correction, keepdim) in vars {
        c.push(OpInfo::new(name, Op::Var { correction, keepdim }, true, Rows, || {
            with_params(shape(0, 4), float_dtype(), Domain::Finite, |s| params(dims_of(s, false, 0)))
        }));
    }
    c.push(OpInfo::new("norm", Op::Norm, true, Relative, || unary_sample(shape(0, 4), float_dtype(), Domain::Finite)));
    let norms: [(&'static str, f64, bool); 4] = [
        ("norm_l1", 1.0, false),
        ("norm_l2_keepdim", 2.0, true),
        ("norm_l3", 3.0, false),
        ("norm_inf", f64::INFINITY, true),
    ];
    for (name, p, keepdim) in norms {
        c.push(OpInfo::new(name, Op::NormDims { p, keepdim }, true, Relative, move || {
            if p.is_infinite() {
                with_params(shape(0, 4).prop_map(some_nonzero).boxed(), float_dtype(), Domain::Finite, max_dims_of)
            } else {
                with_params(shape(0, 4), float_dtype(), Domain::Finite, |s| params(dims_of(s, false, 0)))
            }
        }));
    }

    // Linear algebra.
    c.push(OpInfo::new("matmul", Op::Matmul, true, AbsOp, || s_matmul(0)));
    c.push(OpInfo::new("matmul_batched", Op::Matmul, true, AbsOp, || s_matmul(1)));
    c.push(OpInfo::new("matmul_vector", Op::Matmul, true, AbsOp, || s_matmul(2)));
    c.push(OpInfo::new("dot", Op::Dot, true, AbsOp, || s_vectors(true)));
    c.push(OpInfo::new("outer", Op::Outer, true, Ew, || s_vectors(false)));
    c.push(OpInfo::new("linear", Op::Linear { bias: false }, true, AbsOp, || s_linear(false)));
    c.push(OpInfo::new("linear_bias", Op::Linear { bias: true }, true, AbsOp, || s_linear(true)));

    // Shape operations.
    c.push(OpInfo::new("reshape", Op::Reshape, true, Ew, || {
        with_params(shape(0, 4), any_dtype(), Domain::Any, |s| params(reshape_target(s)))
    }));
    c.push(OpInfo::new("permute", Op::Permute, true, Ew, s_permute));
    c.push(OpInfo::new("transpose", Op::Transpose, true, Ew, || {
        with_params(shape(1, 4), any_dtype(), Domain::Any, |s| {
            let r = s.len();
            params(
                ((0..r).prop_flat_map(move |a| signed(a, r)), (0..r).prop_flat_map(move |a| signed(a, r)))
                    .prop_map(|(a, b)| vec![a, b])
                    .boxed(),
            )
        })
    }));
    c.push(OpInfo::new("t", Op::T, true, Ew, || unary_sample(shape(0, 4), any_dtype(), Domain::Any)));
    c.push(OpInfo::new("movedim", Op::Movedim, true, Ew, || {
        with_params(shape(1, 4), any_dtype(), Domain::Any, |s| {
            let r = s.len();
            params(
                ((0..r).prop_flat_map(move |a| signed(a, r)), (0..r).prop_flat_map(move |a| signed(a, r)))
                    .prop_map(|(a, b)| vec![a, b])
                    .boxed(),
            )
        })
    }));
    c.push(OpInfo::new("broadcast_to", Op::BroadcastTo, true, Ew, || {
        with_params(shape(0, 3), any_dtype(), Domain::Any, |s| params(broadcast_target(s, false)))
    }));
    c.push(OpInfo::new("expand", Op::Expand, true, Ew, || {
        with_params(shape(0, 3), any_dtype(), Domain::Any, |s| params(broadcast_target(s, true)))
    }));
    c.push(OpInfo::new("slice", Op::Slice, true, Ew, s_slice));
    c.push(OpInfo::new("select", Op::Select, true, Ew, s_select));
    c.push(OpInfo::new("narrow", Op::Narrow, true, Ew, s_narrow));
    c.push(OpInfo::new("squeeze", Op::Squeeze, true, Ew, || unary_sample(shape(0, 4), any_dtype(), Domain::Any)));
    c.push(OpInfo::new("squeeze_dim", Op::SqueezeDim, true, Ew, || {
        with_params(shape(1, 4), any_dtype(), Domain::Any, |s| param(axis_of(s, false)))
    }));
    c.push(OpInfo::new("unsqueeze", Op::Unsqueeze, true, Ew, || {
        with_params(shape(0, 3), any_dtype(), Domain::Any, |s| {
            let r = s.len() as i64;
            param((-(r + 1)..=r).boxed())
        })
    }));
    c.push(OpInfo::new("flatten", Op::Flatten, true, Ew, s_flatten));
    c.push(OpInfo::new("diagonal", Op::Diagonal, true, Ew, || s_diagonal(shape(2, 4))));
    c.push(OpInfo::new("cat", Op::Cat, true, Ew, || s_cat(false)));
    c.push(OpInfo::new("stack", Op::Stack, true, Ew, || s_cat(true)));
    c.push(OpInfo::new("split", Op::Split, true, Ew, || s_split(false)));
    c.push(OpInfo::new("chunk", Op::Chunk, true, Ew, || s_split(true)));
    c.push(OpInfo::new("pad", Op::Pad { value: 0.0 }, true, Ew, s_pad));
    c.push(OpInfo::new("pad_value", Op::Pad { value: -1.5 }, true, Ew, s_pad));
    c.push(OpInfo::new("flip", Op::Flip, true, Ew, || {
        with_params(shape(0, 4), any_dtype(), Domain::Any, |s| params(dims_of(s, false, 0)))
    }));

    // Indexing.
    c.push(OpInfo::new("gather", Op::Gather, true, Ew, s_gather));
    c.push(OpInfo::new("index_select", Op::IndexSelect, true, Ew, s_index_select));
    c.push(OpInfo::new("scatter_add", Op::ScatterAdd, true, AbsOp, s_scatter_add));
    c.push(OpInfo::new("one_hot", Op::OneHot { dtype: DType::F32 }, false, Ew, s_one_hot));

    // Sliding windows.
    c.push(OpInfo::new("unfold", Op::Unfold, true, Ew, s_unfold));
    c.push(OpInfo::new("fold", Op::Fold, true, AbsOp, s_fold));
    c.push(OpInfo::new("conv2d", Op::Conv2d { bias: false }, true, AbsOp, || s_conv2d(false)));
    c.push(OpInfo::new("conv2d_bias", Op::Conv2d { bias: true }, true, AbsOp, || s_conv2d(true)));
    c.push(OpInfo::new("max_pool2d", Op::MaxPool2d, true, Ew, || s_pool(Domain::Any)));
    c.push(OpInfo::new("avg_pool2d", Op::AvgPool2d, true, AbsOp, || s_pool(Domain::Finite)));

    // Activations and losses.
    c.push(OpInfo::new("relu", Op::Relu, true, Ew, || unary_sample(shape(0, 4), float_dtype(), Domain::Any)));
    c.push(OpInfo::new("gelu", Op::Gelu, true, Ew, || unary_sample(shape(0, 4), float_dtype(), Domain::Any)));
    c.push(OpInfo::new("softmax", Op::Softmax, true, Rows, || {
        with_params(shape(0, 4).prop_map(some_nonzero).boxed(), float_dtype(), Domain::Any, |s| param(axis_of(s, true)))
    }));
    c.push(OpInfo::new("log_softmax", Op::LogSoftmax, true, Rows, || {
        with_params(shape(0, 4).prop_map(some_nonzero).boxed(), float_dtype(), Domain::Any, |s| param(axis_of(s, true)))
    }));
    c.push(OpInfo::new("cross_entropy", Op::CrossEntropy, true, Rows, s_class_targets));
    c.push(OpInfo::new("cross_entropy_probs", Op::CrossEntropy, true, Rows, s_prob_targets));
    c.push(OpInfo::new("nll_loss", Op::NllLoss, true, AbsOp, s_class_targets));
    c.push(OpInfo::new("mse_loss", Op::MseLoss, true, Relative, || s_pair(Domain::Finite)));

    // Factories.
    c.push(OpInfo::new("arange", Op::Arange, false, Ew, || sample(vec![len_like(20, numeric_dtype())])));
    c.push(OpInfo::new("arange_range", Op::ArangeRange, false, Ew, s_arange_range));
    c.push(OpInfo::new("full", Op::Full { value: 2.5 }, false, Ew, || sample(vec![like(shape(0, 3), any_dtype())])));
    c.push(OpInfo::new("eye", Op::Eye, false, Ew, || sample(vec![len_like(8, any_dtype())])));
    c.push(OpInfo::new("linspace", Op::Linspace, false, Ew, s_linspace));
    c.push(OpInfo::new("rand", Op::Rand, false, Ew, s_random));
    c.push(OpInfo::new("randn", Op::Randn, false, Ew, s_random));
    c.push(OpInfo::new(
        "random_uniform",
        Op::Random(Distribution::Uniform { low: -2.0, high: 3.0 }),
        false,
        Ew,
        s_random,
    ));
    c.push(OpInfo::new("random_normal", Op::Random(Distribution::Normal { mean: 1.5, std: 0.5 }), false, Ew, s_random));

    // Large samples: the parallel, tiled and blocked paths of optimized kernels.
    c.push(OpInfo::new("exp_large", Op::Unary(UnaryOp::Exp), true, Ew, || s_large(float_dtype, Domain::Finite)));
    c.push(OpInfo::new("add_large", Op::Binary(BinaryOp::Add), true, Ew, || s_large_pair(false)));
    c.push(OpInfo::new("where_large", Op::Where, true, Ew, s_large_where));
    c.push(OpInfo::new("cast_f32_large", Op::Cast(DType::F32), true, Ew, || s_large(any_dtype, Domain::Finite)));
    c.push(OpInfo::new("deep_copy_large", Op::DeepCopy, true, Ew, || s_large(any_dtype, Domain::Finite)));
    c.push(OpInfo::new("sum_dims_large", Op::Reduce { op: ReduceOp::Sum, keepdim: false }, true, AbsOp, || {
        s_large_with(numeric_dtype, Domain::Finite, |s| params(dims_of(s, false, 1)))
    }));
    c.push(OpInfo::new("sum_large", Op::ReduceAll(ReduceOp::Sum), true, AbsOp, || {
        s_large(float_dtype, Domain::Finite)
    }));
    c.push(OpInfo::new("max_dims_large", Op::Reduce { op: ReduceOp::Max, keepdim: true }, true, Ew, || {
        s_large_with(numeric_dtype, Domain::Finite, |s| params(dims_of(s, false, 1)))
    }));
    c.push(OpInfo::new("argmax_large", Op::ArgReduce { op: ArgReduceOp::ArgMax, keepdim: false }, false, Ew, || {
        s_large_with(numeric_dtype, Domain::Coarse, |s| param(axis_of(s, true)))
    }));
    c.push(OpInfo::new("softmax_large", Op::Softmax, true, Rows, || {
        s_large_with(float_dtype, Domain::Finite, |s| param(axis_of(s, true)))
    }));
    c.push(OpInfo::new("matmul_large", Op::Matmul, true, AbsOp, || s_large_matmul(false)));
    c.push(OpInfo::new("matmul_batched_large", Op::Matmul, true, AbsOp, || s_large_matmul(true)));
    c.push(OpInfo::new("conv2d_large", Op::Conv2d { bias: true }, true, AbsOp, s_large_conv2d));
    c.push(OpInfo::new("add_into_transposed_large", Op::AddIntoTransposed, true, Ew, || s_large_pair(true)));

    // In place.
    c.push(OpInfo::new("add_", Op::AddInplace, true, Ew, || s_inplace(numeric_dtype, Domain::Finite, 0)));
    c.push(OpInfo::new("sub_", Op::SubInplace, true, Ew, || s_inplace(numeric_dtype, Domain::Finite, 0)));
    c.push(OpInfo::new("mul_", Op::MulInplace, true, Ew, || s_inplace(numeric_dtype, Domain::Finite, 0)));
    c.push(OpInfo::new("div_", Op::DivInplace, true, Ew, || s_inplace(float_dtype, Domain::NonZero, 0)));
    c.push(OpInfo::new("add_scalar_", Op::AddScalarInplace(1.5), true, Ew, || {
        unary_sample(inplace_shape(0), numeric_dtype(), Domain::Any)
    }));
    c.push(OpInfo::new("mul_scalar_", Op::MulScalarInplace(-2.0), true, Ew, || {
        unary_sample(inplace_shape(0), numeric_dtype(), Domain::Any)
    }));
    c.push(OpInfo::new("fill_", Op::FillInplace(3.25), false, Ew, || {
        unary_sample(inplace_shape(0), any_dtype(), Domain::Any)
    }));
    c.push(OpInfo::new("zero_", Op::ZeroInplace, false, Ew, || {
        unary_sample(inplace_shape(0), any_dtype(), Domain::Any)
    }));
    c.push(OpInfo::new("copy_into_slice", Op::CopyIntoSlice, true, Ew, s_copy_into_slice));
    c.push(OpInfo::new("slice_assign_", Op::SliceAssign, true, Ew, s_copy_into_slice));
    c.push(OpInfo::new("add_into_transposed", Op::AddIntoTransposed, true, Ew, || {
        s_inplace(numeric_dtype, Domain::Finite, 2)
    }));
    c.push(OpInfo::new("mul_into_select", Op::MulIntoSelect, true, Ew, s_mul_into_select));
    c.push(OpInfo::new("fill_diagonal", Op::FillDiagonal(-4.5), true, Ew, || s_diagonal(inplace_shape(2))));
    c.push(OpInfo::new("copy_overlapping", Op::CopyOverlapping, true, Ew, || {
        unary_sample(inplace_shape(1), any_dtype(), Domain::Any)
    }));

    // Derivative control and custom ops.
    c.push(
        OpInfo::new("stop_gradient", Op::StopGradient, true, Ew, || {
            unary_sample(shape(0, 4), any_dtype(), Domain::Any)
        })
        .exempt(Law::JvpFiniteDifferences, "its derivative is zero by definition; its forward is the identity"),
    );
    c.push(OpInfo::new("log1pexp", Op::Log1pExp, true, Ew, || unary_sample(shape(0, 4), float_dtype(), Domain::Any)));
    c.push(
        OpInfo::new("round_ste", Op::RoundSte, true, Ew, || unary_sample(shape(0, 4), float_dtype(), Domain::Any))
            .exempt(
                Law::JvpFiniteDifferences,
                "a straight-through estimator: its derivative is the identity, the forward's (round) is zero",
            ),
    );
    c.push(
        OpInfo::new("clip_gradient", Op::ClipGradient { lo: -0.5, hi: 0.5 }, true, Ew, || {
            unary_sample(shape(0, 4), float_dtype(), Domain::Any)
        })
        .exempt(Law::VjpJvp, CLIP_GRADIENT_WHY)
        .exempt(Law::JacfwdJacrev, CLIP_GRADIENT_WHY)
        .exempt(Law::SecondOrder, CLIP_GRADIENT_WHY),
    );
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RefBackend;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique() {
        let mut seen = HashSet::new();
        for info in catalogue() {
            assert!(seen.insert(info.name), "duplicate catalogue name {}", info.name);
        }
    }

    #[test]
    fn samples_evaluate_on_the_reference_backend() {
        let mut runner = TestRunner::deterministic();
        let mut failures = Vec::new();
        for info in catalogue() {
            let strat = info.sample();
            for _ in 0..32 {
                let s = strat.new_tree(&mut runner).unwrap().current();
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    info.op.apply(&s.build::<RefBackend>()).to_vec::<f64>()
                }));
                if let Err(p) = r {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failures.push(format!(
                        "{}: {msg}
{s}",
                        info.name
                    ));
                    break;
                }
            }
        }
        assert!(failures.is_empty(), "{} ops panic on the reference backend:\n{}", failures.len(), failures.join("\n"));
    }
}
