//! The table: every entry of the catalogue.

use super::samples::*;
use super::{HostParams, Law, Op, OpInfo, Scale};
use crate::strategies::{Domain, any_dtype, float_dtype, numeric_dtype, shape};
use func_core::{ArgReduceOp, BinaryOp, CmpOp, DType, Distribution, ReduceOp, UnaryOp};
use proptest::prelude::*;

/// Why `clip_gradient` is exempt from the laws that compare forward and
/// reverse mode.
const CLIP_GRADIENT_WHY: &str = "its VJP clips the cotangent while forward mode is the identity: reverse mode is not \
                                 the transpose of forward mode by design";

fn unary_domain(op: UnaryOp) -> Domain {
    match op {
        UnaryOp::Log | UnaryOp::Sqrt => Domain::Positive,
        UnaryOp::Log1p => Domain::AboveMinusOne,
        _ => Domain::Any,
    }
}

pub(crate) fn reduce_name(op: ReduceOp, keepdim: bool) -> &'static str {
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

pub(crate) fn cmp_scalar_name(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "eq_scalar",
        CmpOp::Ne => "ne_scalar",
        CmpOp::Lt => "lt_scalar",
        CmpOp::Le => "le_scalar",
        CmpOp::Gt => "gt_scalar",
        CmpOp::Ge => "ge_scalar",
    }
}

pub(crate) fn cast_name(d: DType) -> &'static str {
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
    c.push(OpInfo::new("where", Op::Where, true, Ew, s_where).index_arg(0));
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
    c.push(
        OpInfo::new("contiguous", Op::Contiguous, true, Ew, || unary_sample(shape(0, 4), any_dtype(), Domain::Any))
            .view(),
    );
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
            c.push(
                OpInfo::new(reduce_name(op, keepdim), Op::Reduce { op, keepdim }, true, scale, move || s_reduce(op))
                    .host(HostParams::At(1)),
            );
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
        c.push(
            OpInfo::new(name, Op::ArgReduce { op, keepdim }, false, Ew, || {
                with_params(shape(0, 4).prop_map(some_nonzero).boxed(), numeric_dtype(), Domain::Coarse, |s| {
                    param(axis_of(s, true))
                })
            })
            .host(HostParams::At(1)),
        );
    }
    c.push(
        OpInfo::new("cumsum", Op::Cumsum, true, AbsOp, || {
            with_params(shape(0, 4), numeric_dtype(), Domain::Any, |s| param(axis_of(s, false)))
        })
        .host(HostParams::At(1)),
    );
    for keepdim in [false, true] {
        let name = if keepdim { "mean_dims_keepdim" } else { "mean_dims" };
        c.push(
            OpInfo::new(name, Op::Mean { keepdim }, true, AbsOp, || {
                with_params(shape(0, 4), numeric_dtype(), Domain::Finite, |s| params(dims_of(s, false, 0)))
            })
            .host(HostParams::At(1)),
        );
        let name = if keepdim { "logsumexp_keepdim" } else { "logsumexp" };
        c.push(
            OpInfo::new(name, Op::Logsumexp { keepdim }, true, Rows, || {
                with_params(shape(0, 4).prop_map(some_nonzero).boxed(), float_dtype(), Domain::Any, max_dims_of)
            })
            .host(HostParams::At(1)),
        );
    }
    c.push(OpInfo::new("mean", Op::MeanAll, true, AbsOp, || unary_sample(shape(0, 4), numeric_dtype(), Domain::Any)));
    let vars: [(&'static str, usize, bool); 3] =
        [("var", 1, false), ("var_keepdim", 1, true), ("var_correction0", 0, false)];
    for (name, correction, keepdim) in vars {
        c.push(
            OpInfo::new(name, Op::Var { correction, keepdim }, true, Rows, || {
                with_params(shape(0, 4), float_dtype(), Domain::Finite, |s| params(dims_of(s, false, 0)))
            })
            .host(HostParams::At(1)),
        );
    }
    c.push(OpInfo::new("norm", Op::Norm, true, Relative, || unary_sample(shape(0, 4), float_dtype(), Domain::Finite)));
    let norms: [(&'static str, f64, bool); 4] = [
        ("norm_l1", 1.0, false),
        ("norm_l2_keepdim", 2.0, true),
        ("norm_l3", 3.0, false),
        ("norm_inf", f64::INFINITY, true),
    ];
    for (name, p, keepdim) in norms {
        c.push(
            OpInfo::new(name, Op::NormDims { p, keepdim }, true, Relative, move || {
                if p.is_infinite() {
                    with_params(shape(0, 4).prop_map(some_nonzero).boxed(), float_dtype(), Domain::Finite, max_dims_of)
                } else {
                    with_params(shape(0, 4), float_dtype(), Domain::Finite, |s| params(dims_of(s, false, 0)))
                }
            })
            .host(HostParams::At(1)),
        );
    }

    // Linear algebra.
    c.push(OpInfo::new("matmul", Op::Matmul, true, AbsOp, || s_matmul(0)));
    c.push(OpInfo::new("matmul_batched", Op::Matmul, true, AbsOp, || s_matmul(1)));
    c.push(OpInfo::new("matmul_vector", Op::Matmul, true, AbsOp, || s_matmul(2)));
    c.push(OpInfo::new("addmm", Op::Addmm, true, AbsOp, s_addmm));
    c.push(OpInfo::new("dot", Op::Dot, true, AbsOp, || s_vectors(true)));
    c.push(OpInfo::new("outer", Op::Outer, true, Ew, || s_vectors(false)));
    c.push(OpInfo::new("linear", Op::Linear { bias: false }, true, AbsOp, || s_linear(false)));
    c.push(OpInfo::new("linear_bias", Op::Linear { bias: true }, true, AbsOp, || s_linear(true)));

    // Shape operations.
    c.push(
        OpInfo::new("reshape", Op::Reshape, true, Ew, || {
            with_params(shape(0, 4), any_dtype(), Domain::Any, |s| params(reshape_target(s)))
        })
        .host(HostParams::At(1))
        .view(),
    );
    c.push(OpInfo::new("permute", Op::Permute, true, Ew, s_permute).host(HostParams::At(1)).view());
    c.push(OpInfo::new("transpose", Op::Transpose, true, Ew, s_dim_pair).host(HostParams::At(1)).view());
    c.push(OpInfo::new("t", Op::T, true, Ew, || unary_sample(shape(0, 4), any_dtype(), Domain::Any)).view());
    c.push(OpInfo::new("movedim", Op::Movedim, true, Ew, s_dim_pair).host(HostParams::At(1)).view());
    c.push(
        OpInfo::new("broadcast_to", Op::BroadcastTo, true, Ew, || {
            with_params(shape(0, 3), any_dtype(), Domain::Any, |s| params(broadcast_target(s, false)))
        })
        .host(HostParams::At(1))
        .view(),
    );
    c.push(
        OpInfo::new("expand", Op::Expand, true, Ew, || {
            with_params(shape(0, 3), any_dtype(), Domain::Any, |s| params(broadcast_target(s, true)))
        })
        .host(HostParams::At(1))
        .view(),
    );
    c.push(OpInfo::new("slice", Op::Slice, true, Ew, s_slice).host(HostParams::At(1)).view());
    c.push(OpInfo::new("select", Op::Select, true, Ew, s_select).host(HostParams::At(1)).view());
    c.push(OpInfo::new("narrow", Op::Narrow, true, Ew, s_narrow).host(HostParams::At(1)).view());
    c.push(
        OpInfo::new("squeeze", Op::Squeeze, true, Ew, || unary_sample(shape(0, 4), any_dtype(), Domain::Any)).view(),
    );
    c.push(
        OpInfo::new("squeeze_dim", Op::SqueezeDim, true, Ew, || {
            with_params(shape(1, 4), any_dtype(), Domain::Any, |s| param(axis_of(s, false)))
        })
        .host(HostParams::At(1))
        .view(),
    );
    c.push(
        OpInfo::new("unsqueeze", Op::Unsqueeze, true, Ew, || {
            with_params(shape(0, 3), any_dtype(), Domain::Any, |s| {
                let r = s.len() as i64;
                param((-(r + 1)..=r).boxed())
            })
        })
        .host(HostParams::At(1))
        .view(),
    );
    c.push(OpInfo::new("flatten", Op::Flatten, true, Ew, s_flatten).host(HostParams::At(1)).view());
    c.push(OpInfo::new("diagonal", Op::Diagonal, true, Ew, || s_diagonal(shape(2, 4))).host(HostParams::At(1)).view());
    c.push(OpInfo::new("cat", Op::Cat, true, Ew, || s_cat(false)).host(HostParams::Last));
    c.push(OpInfo::new("stack", Op::Stack, true, Ew, || s_cat(true)).host(HostParams::Last));
    c.push(OpInfo::new("split", Op::Split, true, Ew, || s_split(false)).host(HostParams::At(1)));
    c.push(OpInfo::new("chunk", Op::Chunk, true, Ew, || s_split(true)).host(HostParams::At(1)));
    c.push(OpInfo::new("pad", Op::Pad { value: 0.0 }, true, Ew, s_pad).host(HostParams::At(1)));
    c.push(OpInfo::new("pad_value", Op::Pad { value: -1.5 }, true, Ew, s_pad).host(HostParams::At(1)));
    c.push(
        OpInfo::new("flip", Op::Flip, true, Ew, || {
            with_params(shape(0, 4), any_dtype(), Domain::Any, |s| params(dims_of(s, false, 0)))
        })
        .host(HostParams::At(1)),
    );

    // Indexing.
    c.push(OpInfo::new("gather", Op::Gather, true, Ew, s_gather).host(HostParams::At(2)).index_arg(1));
    c.push(OpInfo::new("index_select", Op::IndexSelect, true, Ew, s_index_select).host(HostParams::At(2)).index_arg(1));
    c.push(OpInfo::new("scatter_add", Op::ScatterAdd, true, AbsOp, s_scatter_add).host(HostParams::At(3)).index_arg(1));
    c.push(
        OpInfo::new("one_hot", Op::OneHot { dtype: DType::F32 }, false, Ew, s_one_hot)
            .host(HostParams::At(1))
            .index_arg(0),
    );

    // Sliding windows.
    c.push(OpInfo::new("unfold", Op::Unfold, true, Ew, s_unfold).host(HostParams::At(1)));
    c.push(OpInfo::new("fold", Op::Fold, true, AbsOp, s_fold).host(HostParams::At(1)));
    c.push(OpInfo::new("conv2d", Op::Conv2d { bias: false }, true, AbsOp, || s_conv2d(false)).host(HostParams::At(2)));
    c.push(
        OpInfo::new("conv2d_bias", Op::Conv2d { bias: true }, true, AbsOp, || s_conv2d(true)).host(HostParams::At(3)),
    );
    c.push(
        OpInfo::new("conv_transpose2d", Op::ConvTranspose2d { bias: false }, true, AbsOp, || s_conv_transpose2d(false))
            .host(HostParams::At(2)),
    );
    c.push(
        OpInfo::new("conv_transpose2d_bias", Op::ConvTranspose2d { bias: true }, true, AbsOp, || {
            s_conv_transpose2d(true)
        })
        .host(HostParams::At(3)),
    );
    c.push(OpInfo::new("max_pool2d", Op::MaxPool2d, true, Ew, || s_pool(Domain::Any)).host(HostParams::At(1)));
    c.push(OpInfo::new("avg_pool2d", Op::AvgPool2d, true, AbsOp, || s_pool(Domain::Finite)).host(HostParams::At(1)));

    // Activations and losses.
    c.push(OpInfo::new("gelu", Op::Gelu, true, Ew, || unary_sample(shape(0, 4), float_dtype(), Domain::Any)));
    c.push(
        OpInfo::new("softmax", Op::Softmax, true, Rows, || {
            with_params(shape(0, 4).prop_map(some_nonzero).boxed(), float_dtype(), Domain::Any, |s| {
                param(axis_of(s, true))
            })
        })
        .host(HostParams::At(1)),
    );
    c.push(
        OpInfo::new("log_softmax", Op::LogSoftmax, true, Rows, || {
            with_params(shape(0, 4).prop_map(some_nonzero).boxed(), float_dtype(), Domain::Any, |s| {
                param(axis_of(s, true))
            })
        })
        .host(HostParams::At(1)),
    );
    c.push(OpInfo::new("cross_entropy", Op::CrossEntropy, true, Rows, s_class_targets).index_arg(1));
    c.push(OpInfo::new("cross_entropy_probs", Op::CrossEntropy, true, Rows, s_prob_targets).index_arg(1));
    c.push(OpInfo::new("nll_loss", Op::NllLoss, true, AbsOp, s_class_targets).index_arg(1));
    c.push(OpInfo::new("mse_loss", Op::MseLoss, true, Relative, || s_pair(Domain::Finite)));

    // Factories.
    c.push(
        OpInfo::new("arange", Op::Arange, false, Ew, || sample(vec![len_like(20, numeric_dtype())]))
            .host(HostParams::All),
    );
    c.push(OpInfo::new("arange_range", Op::ArangeRange, false, Ew, s_arange_range).host(HostParams::All));
    c.push(
        OpInfo::new("full", Op::Full { value: 2.5 }, false, Ew, || sample(vec![like(shape(0, 3), any_dtype())]))
            .host(HostParams::All),
    );
    c.push(OpInfo::new("eye", Op::Eye, false, Ew, || sample(vec![len_like(8, any_dtype())])).host(HostParams::All));
    c.push(OpInfo::new("linspace", Op::Linspace, false, Ew, s_linspace).host(HostParams::All));
    c.push(OpInfo::new("rand", Op::Rand, false, Ew, s_random).host(HostParams::All).random());
    c.push(OpInfo::new("randn", Op::Randn, false, Ew, s_random).host(HostParams::All).random());
    c.push(
        OpInfo::new("random_uniform", Op::Random(Distribution::Uniform { low: -2.0, high: 3.0 }), false, Ew, s_random)
            .host(HostParams::All)
            .random(),
    );
    c.push(
        OpInfo::new("random_normal", Op::Random(Distribution::Normal { mean: 1.5, std: 0.5 }), false, Ew, s_random)
            .host(HostParams::All)
            .random(),
    );

    // Large samples: the parallel, tiled and blocked paths of optimized kernels.
    c.push(OpInfo::new("exp_large", Op::Unary(UnaryOp::Exp), true, Ew, || s_large(float_dtype, Domain::Finite)));
    c.push(OpInfo::new("add_large", Op::Binary(BinaryOp::Add), true, Ew, || s_large_pair(false)));
    c.push(OpInfo::new("where_large", Op::Where, true, Ew, s_large_where).index_arg(0));
    c.push(OpInfo::new("cast_f32_large", Op::Cast(DType::F32), true, Ew, || s_large(any_dtype, Domain::Finite)));
    c.push(OpInfo::new("deep_copy_large", Op::DeepCopy, true, Ew, || s_large(any_dtype, Domain::Finite)));
    c.push(
        OpInfo::new("sum_dims_large", Op::Reduce { op: ReduceOp::Sum, keepdim: false }, true, AbsOp, || {
            s_large_with(numeric_dtype, Domain::Finite, |s| params(dims_of(s, false, 1)))
        })
        .host(HostParams::At(1)),
    );
    c.push(OpInfo::new("sum_large", Op::ReduceAll(ReduceOp::Sum), true, AbsOp, || {
        s_large(float_dtype, Domain::Finite)
    }));
    c.push(
        OpInfo::new("max_dims_large", Op::Reduce { op: ReduceOp::Max, keepdim: true }, true, Ew, || {
            s_large_with(numeric_dtype, Domain::Finite, |s| params(dims_of(s, false, 1)))
        })
        .host(HostParams::At(1)),
    );
    c.push(
        OpInfo::new("argmax_large", Op::ArgReduce { op: ArgReduceOp::ArgMax, keepdim: false }, false, Ew, || {
            s_large_with(numeric_dtype, Domain::Coarse, |s| param(axis_of(s, true)))
        })
        .host(HostParams::At(1)),
    );
    c.push(
        OpInfo::new("softmax_large", Op::Softmax, true, Rows, || {
            s_large_with(float_dtype, Domain::Finite, |s| param(axis_of(s, true)))
        })
        .host(HostParams::At(1)),
    );
    c.push(OpInfo::new("matmul_large", Op::Matmul, true, AbsOp, || s_large_matmul(false)));
    c.push(OpInfo::new("matmul_batched_large", Op::Matmul, true, AbsOp, || s_large_matmul(true)));
    c.push(OpInfo::new("conv2d_large", Op::Conv2d { bias: true }, true, AbsOp, s_large_conv2d).host(HostParams::At(3)));
    c.push(
        OpInfo::new("add_into_transposed_large", Op::AddIntoTransposed, true, Ew, || s_large_pair(true)).writes_first(),
    );

    // In place.
    c.push(
        OpInfo::new("add_", Op::AddInplace, true, Ew, || s_inplace(numeric_dtype, Domain::Finite, 0)).writes_first(),
    );
    c.push(
        OpInfo::new("sub_", Op::SubInplace, true, Ew, || s_inplace(numeric_dtype, Domain::Finite, 0)).writes_first(),
    );
    c.push(
        OpInfo::new("mul_", Op::MulInplace, true, Ew, || s_inplace(numeric_dtype, Domain::Finite, 0)).writes_first(),
    );
    c.push(OpInfo::new("div_", Op::DivInplace, true, Ew, || s_inplace(float_dtype, Domain::NonZero, 0)).writes_first());
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
    c.push(
        OpInfo::new("copy_into_slice", Op::CopyIntoSlice, true, Ew, s_copy_into_slice)
            .host(HostParams::At(2))
            .writes_first(),
    );
    c.push(
        OpInfo::new("slice_assign_", Op::SliceAssign, true, Ew, s_copy_into_slice)
            .host(HostParams::At(2))
            .writes_first(),
    );
    c.push(
        OpInfo::new("add_into_transposed", Op::AddIntoTransposed, true, Ew, || {
            s_inplace(numeric_dtype, Domain::Finite, 2)
        })
        .writes_first(),
    );
    c.push(
        OpInfo::new("mul_into_select", Op::MulIntoSelect, true, Ew, s_mul_into_select)
            .host(HostParams::At(2))
            .writes_first(),
    );
    c.push(
        OpInfo::new("fill_diagonal", Op::FillDiagonal(-4.5), true, Ew, || s_diagonal(inplace_shape(2)))
            .host(HostParams::At(1)),
    );
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
