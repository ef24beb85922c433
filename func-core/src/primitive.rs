//! [`Primitive`]: the closed set of operations every transform understands.
//!
//! Every [`Tensor`](crate::Tensor) operation is either one primitive, handed
//! to [`bind`](crate::bind), or a composite written in primitives (softmax,
//! conv2d, ...), so transforms see through composites. Each transform crate
//! matches on `Primitive` exhaustively, with no catch-all arm: adding a
//! variant breaks the build of every transform until it has a rule there.
//!
//! The argument conventions are in [`Primitive`]'s docs.

use crate::{
    ArgReduceOp, BinaryOp, CmpOp, ConvGeom, CustomOpRef, DType, DimVec, Distribution, ReduceOp, Shape, UnaryOp,
};

/// One primitive operation with its parameters inline.
///
/// Argument conventions (checked by the `Tensor` methods before binding, so a
/// rule may rely on them):
/// - `Binary`, `Compare`: two operands of equal shape and dtype.
/// - `Select`: `(cond: bool, a, b)`, all of one shape; `a`, `b` of one dtype.
/// - `Matmul`: `(a [.., m, k], b [.., k, n])`, batch dimensions
///   broadcastable (not necessarily equal); either may be 1-D, as in
///   `torch.matmul`: `a [k]` is a row and `b [k]` a column, and their
///   dimension (`m` or `n`) is absent from the result.
/// - `Addmm`: `(c, a [.., m, k], b [.., k, n])`, `a` and `b` at least 2-D
///   with broadcastable batch dimensions, `c` broadcastable to the product's
///   shape (it does not enlarge it), all of one float dtype.
/// - `Concat`: one or more operands, equal except along `axis`.
/// - `Gather`: `(input, index: i64)`; index shape equals the input's except
///   along `axis`. `ScatterAdd`: `(base, index, src)`, index and src of one
///   shape, equal to the base's except along `axis`.
/// - `Im2col`: `[N, C, H, W]` in; `Col2im`: `[N, C*kh*kw, oh*ow]` in.
/// - `Conv2d`: `(input [N, C, H, W], weight [O, C / groups, kh, kw])`, of
///   one float dtype, `C` and `O` multiples of `groups`, the kernel and the
///   input's `H, W` those of the geometry; output `[N, O, oh, ow]`.
/// - `ConvTranspose2d`: `(input [N, O, oh, ow], weight [O, C / groups, kh,
///   kw])`, the sizes of `Conv2d`'s output and weight; output `[N, C, H,
///   W]`, the geometry's input size.
/// - Factories (`Full`, `Arange`, `Random`) take no operands.
/// - `Custom`: any number of operands, any number of outputs (the only
///   primitive with several outputs: bind it with
///   [`bind_multi`](crate::bind_multi)).
#[derive(Clone, Debug, PartialEq)]
pub enum Primitive {
    /// A tensor of `shape` filled with `value`.
    Full {
        /// Output shape.
        shape: Shape,
        /// Fill value.
        value: f64,
        /// Output dtype.
        dtype: DType,
    },
    /// `start, start + step, ...`, `len` elements.
    Arange {
        /// First value.
        start: f64,
        /// Increment.
        step: f64,
        /// Number of elements.
        len: usize,
        /// Output dtype.
        dtype: DType,
    },
    /// Samples of `dist`, determined by `seed`.
    Random {
        /// The distribution.
        dist: Distribution,
        /// Output shape.
        shape: Shape,
        /// Output dtype (float).
        dtype: DType,
        /// The seed.
        seed: u64,
    },
    /// Elementwise unary op.
    Unary(UnaryOp),
    /// Elementwise binary op.
    Binary(BinaryOp),
    /// Elementwise comparison, bool result.
    Compare(CmpOp),
    /// `where(cond, a, b)`.
    Select,
    /// Convert to a dtype.
    Cast(DType),
    /// A fresh copy (torch's `clone()`): same values, new storage.
    Copy,
    /// Reduction over `axes` (sorted, distinct).
    Reduce {
        /// The reduction.
        op: ReduceOp,
        /// Axes reduced.
        axes: DimVec<usize>,
        /// Keep reduced axes as size 1.
        keepdim: bool,
    },
    /// argmax/argmin along one axis.
    ArgReduce {
        /// The reduction.
        op: ArgReduceOp,
        /// Axis reduced.
        axis: usize,
        /// Keep the axis as size 1.
        keepdim: bool,
    },
    /// Inclusive cumulative sum along `axis`.
    Cumsum {
        /// The axis.
        axis: usize,
    },
    /// Matrix product with broadcast batch dimensions.
    Matmul,
    /// `c + a @ b` (torch's `addmm`, batched): the product with `c`
    /// broadcast over it and added as the product is written (a linear
    /// layer's bias), one pass over the output instead of two.
    Addmm,
    /// A new shape with the same number of elements (a view when possible).
    Reshape {
        /// Output shape.
        shape: Shape,
    },
    /// Reorder dimensions (a view).
    Permute {
        /// Output dim `i` is input dim `perm[i]`.
        perm: DimVec<usize>,
    },
    /// NumPy-style broadcast to a larger shape (a view, stride 0).
    BroadcastTo {
        /// Output shape.
        shape: Shape,
    },
    /// `start..stop` by `step` along `axis` (a view).
    Slice {
        /// The axis.
        axis: usize,
        /// First index.
        start: usize,
        /// One past the last index (clamped to the size).
        stop: usize,
        /// Step, at least 1.
        step: usize,
    },
    /// Diagonal of two dimensions, appended last (a view).
    Diagonal {
        /// Offset from the main diagonal.
        offset: isize,
        /// First dimension.
        dim1: usize,
        /// Second dimension.
        dim2: usize,
    },
    /// Join operands along `axis`.
    Concat {
        /// The axis.
        axis: usize,
    },
    /// Constant padding, `(before, after)` per dimension.
    Pad {
        /// Padding per dimension.
        pads: DimVec<(usize, usize)>,
        /// Fill value.
        value: f64,
    },
    /// Reverse along `axes`.
    Flip {
        /// The axes.
        axes: DimVec<usize>,
    },
    /// `torch.gather` along `axis`.
    Gather {
        /// The axis.
        axis: usize,
    },
    /// `torch.scatter_add` along `axis` (out of place).
    ScatterAdd {
        /// The axis.
        axis: usize,
    },
    /// Unfold sliding windows into columns.
    Im2col(ConvGeom),
    /// Fold columns back, summing overlaps (adjoint of `Im2col`).
    Col2im(ConvGeom),
    /// 2-D convolution (cross-correlation) without bias: the product of the
    /// weight with the input's columns (`Im2col`), per group, without the
    /// columns of the whole batch in memory at once (see
    /// [`Backend::conv2d`](crate::Backend::conv2d)).
    Conv2d {
        /// The sliding window over the input.
        geom: ConvGeom,
        /// Channel groups: input channel block `i` meets only output block `i`.
        groups: usize,
    },
    /// The transpose of [`Conv2d`](Primitive::Conv2d) in its input (torch's
    /// `conv_transpose2d`): each input position spreads its products with
    /// the weight over its window, overlaps summed. The columns of the
    /// transposed weight times the input, folded (`Col2im`), per group.
    ConvTranspose2d {
        /// The window of the convolution this one transposes: its input
        /// size is this primitive's output size.
        geom: ConvGeom,
        /// Channel groups, as [`Conv2d`](Primitive::Conv2d)'s.
        groups: usize,
    },
    /// The operand's value with a zero derivative (torch's `detach`, JAX's
    /// `stop_gradient`). A view: on concrete tensors it shares storage.
    StopGradient,
    /// A user-defined operation with its own rules: several operands,
    /// several outputs (see [`CustomOp`](crate::CustomOp)).
    Custom(CustomOpRef),
    /// The view primitive inside (`Reshape`, `Permute`, `BroadcastTo`,
    /// `Slice`, `Diagonal` or `StopGradient`), materialised into fresh
    /// storage: torch's `view_copy`, `permute_copy`, `slice_copy`, ...
    /// Not a view: the result shares nothing with its operand. functionalize
    /// with views removed binds it in place of each view (NOTE: [view
    /// copies]). Build it with [`Primitive::view_copy`].
    ///
    /// NOTE: [view copies] A view copy has the values of its view, so every
    /// transform's rule is the view's rule followed by a copy: the same
    /// tangent map (jvp), pullback (vjp) and batched view (vmap), with the
    /// result materialised.
    ViewCopy(Box<Primitive>),
}

impl Primitive {
    /// The name used in messages and graph printing.
    pub fn name(&self) -> &'static str {
        match self {
            Primitive::Full { .. } => "full",
            Primitive::Arange { .. } => "arange",
            Primitive::Random { .. } => "random",
            Primitive::Unary(op) => op.name(),
            Primitive::Binary(op) => op.name(),
            Primitive::Compare(op) => op.name(),
            Primitive::Select => "where",
            Primitive::Cast(_) => "cast",
            Primitive::Copy => "copy",
            Primitive::Reduce { op, .. } => op.name(),
            Primitive::ArgReduce { op, .. } => op.name(),
            Primitive::Cumsum { .. } => "cumsum",
            Primitive::Matmul => "matmul",
            Primitive::Addmm => "addmm",
            Primitive::Reshape { .. } => "reshape",
            Primitive::Permute { .. } => "permute",
            Primitive::BroadcastTo { .. } => "broadcast_to",
            Primitive::Slice { .. } => "slice",
            Primitive::Diagonal { .. } => "diagonal",
            Primitive::Concat { .. } => "concat",
            Primitive::Pad { .. } => "pad",
            Primitive::Flip { .. } => "flip",
            Primitive::Gather { .. } => "gather",
            Primitive::ScatterAdd { .. } => "scatter_add",
            Primitive::Im2col(_) => "im2col",
            Primitive::Col2im(_) => "col2im",
            Primitive::Conv2d { .. } => "conv2d",
            Primitive::ConvTranspose2d { .. } => "conv_transpose2d",
            Primitive::StopGradient => "stop_gradient",
            Primitive::Custom(c) => c.name(),
            Primitive::ViewCopy(view) => match **view {
                Primitive::Reshape { .. } => "reshape_copy",
                Primitive::Permute { .. } => "permute_copy",
                Primitive::BroadcastTo { .. } => "broadcast_to_copy",
                Primitive::Slice { .. } => "slice_copy",
                Primitive::Diagonal { .. } => "diagonal_copy",
                Primitive::StopGradient => "detach_copy",
                _ => "view_copy",
            },
        }
    }

    /// The copying form of a view primitive ([`Primitive::ViewCopy`]);
    /// `None` when `view` is not a view ([`is_view`](Self::is_view)).
    ///
    /// # Examples
    ///
    /// ```
    /// use func_core::Primitive;
    /// let p = Primitive::view_copy(Primitive::Slice { axis: 0, start: 0, stop: 2, step: 1 }).unwrap();
    /// assert_eq!(p.name(), "slice_copy");
    /// assert!(!p.is_view());
    /// assert!(Primitive::view_copy(Primitive::Matmul).is_none());
    /// ```
    pub fn view_copy(view: Primitive) -> Option<Primitive> {
        view.is_view().then(|| Primitive::ViewCopy(Box::new(view)))
    }

    /// Whether the primitive's result has a zero derivative by definition:
    /// `StopGradient` and its copying form.
    pub fn stops_gradient(&self) -> bool {
        match self {
            Primitive::StopGradient => true,
            Primitive::ViewCopy(view) => view.stops_gradient(),
            _ => false,
        }
    }

    /// Whether the primitive creates a tensor from nothing (no operands).
    /// Factories go to the current interpreter even though no operand is one
    /// of its tracers, so vmap can apply its randomness mode.
    pub fn is_factory(&self) -> bool {
        matches!(self, Primitive::Full { .. } | Primitive::Arange { .. } | Primitive::Random { .. })
    }

    /// Whether the primitive is a view of its operand (shares storage on
    /// concrete tensors, no kernel runs; aliases its operand under
    /// transforms). `Reshape` is one: [`bind`](crate::bind) copies first when
    /// no view exists (NOTE: [view or copy]).
    pub fn is_view(&self) -> bool {
        matches!(
            self,
            Primitive::Reshape { .. }
                | Primitive::Permute { .. }
                | Primitive::BroadcastTo { .. }
                | Primitive::Slice { .. }
                | Primitive::Diagonal { .. }
                | Primitive::StopGradient
        )
    }
}
