//! Evaluation of an [`Op`] on tensors of any backend.

use super::Op;
use func_core::{
    ArgReduceOp, Backend, BinaryOp, CmpOp, Conv2dOptions, ConvTranspose2dOptions, DType, Generator, ReduceOp, Result,
    Tensor,
};

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
                BinaryOp::Pow
                | BinaryOp::Maximum
                | BinaryOp::Minimum
                | BinaryOp::TanhBackward
                | BinaryOp::SigmoidBackward
                | BinaryOp::ReluBackward => ok(scalar(*v, a(0)).try_binary(*b, a(0))),
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
            Op::Addmm => a(0).addmm(a(1), a(2)),
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
            Op::ConvTranspose2d { bias } => {
                let (b, p) = if *bias { (Some(a(2)), usizes(a(3))) } else { (None, usizes(a(2))) };
                let opts = ConvTranspose2dOptions {
                    stride: (p[0], p[1]),
                    padding: (p[2], p[3]),
                    output_padding: (p[4], p[5]),
                    dilation: (p[6], p[7]),
                    groups: p[8],
                };
                a(0).conv_transpose2d(a(1), b, opts)
            }
            Op::MaxPool2d => {
                let p = usizes(a(1));
                a(0).max_pool2d((p[0], p[1]), (p[2], p[3]), (p[4], p[5]))
            }
            Op::AvgPool2d => {
                let p = usizes(a(1));
                a(0).avg_pool2d((p[0], p[1]), (p[2], p[3]), (p[4], p[5]))
            }
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
