//! Derivative formulas shared by the forward (JVP) and reverse (VJP) rules.
//! All are written in Tensor operations, so they are themselves
//! differentiable and batchable (NOTE: [rules are tensor programs]).

use func_core::{Backend, Primitive, ReduceOp};
use func_core::{BinaryOp, CmpOp, DType, Error, Result, Shape, Tensor, UnaryOp};

/// A partial derivative of an elementwise op: often a constant, kept
/// symbolic so that no multiplication by one is ever run.
pub(crate) enum Partial<B: Backend> {
    /// d = 1.
    One,
    /// d = -1.
    NegOne,
    /// d = 0 (floor, sign, comparisons...).
    Zero,
    /// A tensor of the operand's shape.
    T(Tensor<B>),
    /// `v op t` for a fused backward op (`tanh_backward(v, y)`): the
    /// product with the partial in one pass, without forming it.
    Fused(BinaryOp, Tensor<B>),
    /// The product `a c`, applied as `a (c v)`: `c` and `v` first, then the
    /// factor `a` (a fused backward's incoming gradient, often the largest
    /// operand: batched over a Jacobian's basis) in one product.
    Prod(Tensor<B>, Tensor<B>),
}

impl<B: Backend> Partial<B> {
    /// `v * d` (a tangent times the partial, or a cotangent times it).
    pub(crate) fn scale(&self, v: &Tensor<B>) -> Result<Option<Tensor<B>>> {
        Ok(match self {
            Partial::One => Some(v.clone()),
            Partial::NegOne => Some(v.try_unary(UnaryOp::Neg)?),
            Partial::Zero => None,
            Partial::T(d) => Some(v.try_mul(d)?),
            Partial::Fused(op, t) => Some(v.try_binary(*op, t)?),
            Partial::Prod(a, c) => Some(a.try_mul(&v.try_mul(c)?)?),
        })
    }
}

/// `dy/dx` of a unary op at `x`, with `y = op(x)` already computed.
pub(crate) fn unary<B: Backend>(op: UnaryOp, x: &Tensor<B>, y: &Tensor<B>) -> Result<Partial<B>> {
    Ok(match op {
        UnaryOp::Neg => Partial::NegOne,
        UnaryOp::Exp => Partial::T(y.clone()),
        UnaryOp::Log => Partial::T(x.recip()),
        UnaryOp::Sin => Partial::T(x.cos()),
        UnaryOp::Cos => Partial::T(x.sin().neg()),
        UnaryOp::Tanh => Partial::Fused(BinaryOp::TanhBackward, y.clone()),
        // `v` where `y > 0` (or is NaN), else 0: the derivative at 0 is 0, as torch.
        UnaryOp::Relu => Partial::Fused(BinaryOp::ReluBackward, y.clone()),
        UnaryOp::Sqrt => Partial::T((y * 2.0).recip()),
        UnaryOp::Abs => Partial::T(x.sign()),
        UnaryOp::Sigmoid => Partial::Fused(BinaryOp::SigmoidBackward, y.clone()),
        UnaryOp::Log1p => Partial::T((x + 1.0).recip()),
        UnaryOp::Expm1 => Partial::T(y + 1.0),
        UnaryOp::Erf => Partial::T(x.square().neg().exp() * std::f64::consts::FRAC_2_SQRT_PI),
        UnaryOp::Sign | UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round => Partial::Zero,
    })
}

/// `(dy/da, dy/db)` of a binary op, with `y = op(a, b)`.
pub(crate) fn binary<B: Backend>(
    op: BinaryOp,
    a: &Tensor<B>,
    b: &Tensor<B>,
    y: &Tensor<B>,
) -> Result<(Partial<B>, Partial<B>)> {
    Ok(match op {
        BinaryOp::Add => (Partial::One, Partial::One),
        BinaryOp::Sub => (Partial::One, Partial::NegOne),
        BinaryOp::Mul => (Partial::T(b.clone()), Partial::T(a.clone())),
        BinaryOp::Div => {
            let rb = b.recip();
            let db = (y * &rb).neg();
            (Partial::T(rb), Partial::T(db))
        }
        BinaryOp::Pow => {
            // d/da = b a^(b-1); d/db = y ln a, taken as 0 where a == 0 (as torch).
            let da = b * &a.pow(&(b - 1.0));
            let zero = a.zeros_like();
            let safe_a = Tensor::where_(&a.eq_scalar(0.0), &a.ones_like(), a);
            let db = Tensor::where_(&a.eq_scalar(0.0), &zero, &(y * &safe_a.log()));
            (Partial::T(da), Partial::T(db))
        }
        BinaryOp::Maximum | BinaryOp::Minimum => {
            // The winner gets the derivative; ties split it evenly. As torch,
            // an operand gets 1 unless it loses (so both get 1 where a NaN is
            // involved): d/da = 1 - [a loses] - [tie] / 2.
            let (lose_a, lose_b) = if op == BinaryOp::Maximum { (a.lt(b), a.gt(b)) } else { (a.gt(b), a.lt(b)) };
            let tie = a.eq(b).to_dtype(a.dtype()) * 0.5;
            let da = (lose_a.to_dtype(a.dtype()) + &tie).neg() + 1.0;
            let db = (lose_b.to_dtype(a.dtype()) + &tie).neg() + 1.0;
            (Partial::T(da), Partial::T(db))
        }
        // y = (b <= 0 ? 0 : a): dy/da is the same mask (fused), dy/db = 0
        // (almost everywhere).
        BinaryOp::ReluBackward => (Partial::Fused(op, b.clone()), Partial::Zero),
        // y = a (1 - b^2): dy/da = 1 - b^2 (applied fused), dy/db = a (-2 b).
        BinaryOp::TanhBackward => (Partial::Fused(op, b.clone()), Partial::Prod(a.clone(), b * -2.0)),
        // y = a b (1 - b): dy/da = b (1 - b) (fused), dy/db = a (1 - 2 b).
        BinaryOp::SigmoidBackward => (Partial::Fused(op, b.clone()), Partial::Prod(a.clone(), b * -2.0 + 1.0)),
    })
}

// NOTE: [gradient layout] A matmul's right operand is often a transposed
// view: `linear` computes `x @ w^T`. Its gradient `a^T g` is then computed
// row-major in `b`'s shape, so the weight's own gradient (its transpose)
// comes out permuted, and reshaping or flattening it (a Jacobian's rows, an
// optimizer's flat view) copies it with a strided pass. When `b` is
// column-major the rule computes `(g^T a)^T` instead: the same sums, with the
// gradient laid out as `b` is, so the weight's gradient is contiguous (as
// PyTorch lays gradients out like their parameters).

/// Whether a tensor of rank >= 2 is laid out column-major in its last two
/// dims (a transposed view): a concrete tensor's layout, or a traced view's
/// virtual layout into its root (so a weight transposed inside a
/// higher-order transform is recognized as it is outside); `false` for
/// vectors.
pub(crate) fn column_major<B: Backend>(t: &Tensor<B>) -> bool {
    match t.concrete() {
        Some((_, l)) => l.is_column_major(),
        None => t.layout().is_column_major(),
    }
}

/// The cotangents of `a @ b` (`torch.matmul`: a 1-D `a` is a row, a 1-D
/// `b` a column) for the product's cotangent `g`, each only if `need`ed.
///
/// A vector times a matrix, or a matrix times a vector, has a vector's
/// cotangent that is again such a product (`g @ b^T`, `a^T @ g`), taken as
/// it is. Otherwise the vectors are viewed as a row and a column, `g` with
/// their dimensions restored, and the matrix cotangents are summed over
/// broadcast batch dimensions and viewed back. With `b_col_major` (a
/// column-major `b`), `b`'s cotangent is `(g^T a)^T`, laid out as `b` is
/// (NOTE: [gradient layout]).
pub(crate) fn matmul_cotangents<B: Backend>(
    g: &Tensor<B>,
    (a, b): (&Tensor<B>, &Tensor<B>),
    (na, nb): (bool, bool),
    b_col_major: bool,
) -> Result<[Option<Tensor<B>>; 2]> {
    let (va, vb) = (a.ndim() == 1, b.ndim() == 1);
    let fast_a = va && b.ndim() == 2;
    let fast_b = vb && a.ndim() == 2;
    // The general case's matrices (views), made only when it is taken: the
    // vectors as a row and a column, `g` with their dimensions restored.
    let general = (na && !fast_a) || (nb && !fast_b);
    let [a2, b2, g2] = if general {
        let g2 = if vb { g.unsqueeze(-1) } else { g.clone() };
        [
            if va { a.unsqueeze(0) } else { a.clone() },
            if vb { b.unsqueeze(1) } else { b.clone() },
            if va { g2.unsqueeze(-2) } else { g2 },
        ]
    } else {
        [a.clone(), b.clone(), g.clone()]
    };
    // `t` summed down to `m`'s shape, then viewed as `x` (a vector) if
    // `m` stands for it.
    let back = |t: &Tensor<B>, m: &Tensor<B>, x: &Tensor<B>| -> Result<Tensor<B>> {
        let t = unbroadcast(t, m.shape())?;
        if x.ndim() == 1 { t.try_reshape_to(x.shape().clone()) } else { Ok(t) }
    };
    let ga = match (na, fast_a) {
        (false, _) => None,
        (true, true) => Some(g.try_matmul(&b.t())?),
        (true, false) => Some(back(&g2.try_matmul(&b2.t())?, &a2, a)?),
    };
    let gb = match (nb, fast_b) {
        (false, _) => None,
        (true, true) => Some(a.t().try_matmul(g)?),
        (true, false) => {
            let p = if b_col_major && !vb { g2.t().try_matmul(&a2)?.t() } else { a2.t().try_matmul(&g2)? };
            Some(back(&p, &b2, b)?)
        }
    };
    Ok([ga, gb])
}

/// The cotangents of a convolution `y = conv(x, w)` for the output
/// cotangent `g`, those asked for by `(nx, nw)`: `Primitive::Conv2d`, or
/// `Primitive::ConvTranspose2d` when `transposed`. The input's is the
/// convolution of `g` in the other direction; the weight's is
/// [`conv2d_weight_grad`], with the roles of input and output exchanged for
/// the transposed convolution.
pub(crate) fn conv_cotangents<B: Backend>(
    g: &Tensor<B>,
    (x, w): (&Tensor<B>, &Tensor<B>),
    (geom, groups, transposed): (func_core::ConvGeom, usize, bool),
    (nx, nw): (bool, bool),
) -> Result<[Option<Tensor<B>>; 2]> {
    let other =
        if transposed { Primitive::Conv2d { geom, groups } } else { Primitive::ConvTranspose2d { geom, groups } };
    let gx = if nx { Some(func_core::bind(other, &[g, w])?) } else { None };
    let (out_ct, input) = if transposed { (x, g) } else { (g, x) };
    let gw = if nw { Some(conv2d_weight_grad(out_ct, input, &geom, groups, w.shape())?) } else { None };
    Ok([gx, gw])
}

/// The weight's cotangent of `y = conv2d(x, w)` for `g [N, O, oh, ow]`:
/// per group, `g unfold(x)^T` summed over N, as `w_shape`.
fn conv2d_weight_grad<B: Backend>(
    g: &Tensor<B>,
    x: &Tensor<B>,
    geom: &func_core::ConvGeom,
    groups: usize,
    w_shape: &Shape,
) -> Result<Tensor<B>> {
    let (n, o) = (g.dims()[0], g.dims()[1]);
    let gs = groups.max(1);
    let (og, k) = (o / gs, w_shape.numel() / o.max(1));
    let l = g.dims()[2] * g.dims()[3];
    let gr = g.try_reshape_to([n, gs, og, l])?;
    let cols = x.try_unfold(geom.kernel, geom.stride, geom.padding, geom.dilation)?;
    let cols = cols.try_reshape_to([n, gs, k, l])?;
    let p = unbroadcast(&gr.try_matmul(&cols.t())?, &Shape::from([gs, og, k]))?;
    p.try_reshape_to(w_shape.clone())
}

/// Sum `t` down to `shape` (the adjoint of broadcasting `shape` to
/// `t.shape()`).
pub(crate) fn unbroadcast<B: Backend>(t: &Tensor<B>, shape: &Shape) -> Result<Tensor<B>> {
    if t.shape() == shape {
        return Ok(t.clone());
    }
    let lead = t.ndim() - shape.ndim();
    // The axes broadcast (the leading ones, and those of size 1 in `shape`),
    // except those of size 1 in `t`: a size-1 axis sums to itself, and
    // leaving it to the reshape below makes a view instead of a copy (the
    // weight gradient of a convolution on one sample, `[1, O, K]` down to
    // `[O, K]`, was a full pass).
    let axes: Vec<isize> = (0..t.ndim())
        .filter(|&i| t.dims()[i] != 1 && (i < lead || shape.dims()[i - lead] == 1))
        .map(|i| i as isize)
        .collect();
    let s = if axes.is_empty() { t.clone() } else { t.try_reduce(ReduceOp::Sum, &axes, true)? };
    s.try_reshape_to(shape.clone())
}

/// `g` reshaped to keep the reduced `axes` as size 1, then broadcast to
/// `shape` (the adjoint of a sum over `axes`).
pub(crate) fn expand_reduced<B: Backend>(
    g: &Tensor<B>,
    axes: &[usize],
    keepdim: bool,
    shape: &Shape,
) -> Result<Tensor<B>> {
    let g = if keepdim { g.clone() } else { g.try_reshape_to(keep_shape(shape, axes))? };
    g.try_broadcast_to(shape.clone())
}

/// `shape` with `axes` set to 1.
pub(crate) fn keep_shape(shape: &Shape, axes: &[usize]) -> Shape {
    shape.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect()
}

fn isize_axes(axes: &[usize]) -> Vec<isize> {
    axes.iter().map(|&a| a as isize).collect()
}

/// Where `x` attains the reduced extreme `y` (keepdim), each position's share
/// of the derivative: 1 / (number of ties).
pub(crate) fn extreme_weights<B: Backend>(
    x: &Tensor<B>,
    y: &Tensor<B>,
    axes: &[usize],
    keepdim: bool,
) -> Result<Tensor<B>> {
    let yk = if keepdim { y.clone() } else { y.try_reshape_to(keep_shape(x.shape(), axes))? };
    // Where the extreme is NaN, the NaN positions attain it (`x == y` is false
    // there), as torch's max/min gradients give.
    let equal = x.try_compare(CmpOp::Eq, &yk)?.try_to_dtype(x.dtype())?;
    let both_nan = x
        .try_compare(CmpOp::Ne, x)?
        .try_to_dtype(x.dtype())?
        .try_mul(&yk.try_compare(CmpOp::Ne, &yk)?.try_to_dtype(x.dtype())?)?;
    let mask = equal.try_binary(BinaryOp::Maximum, &both_nan)?;
    let count = mask.sum_dims(&isize_axes(axes), true);
    mask.try_div(&count)
}

/// `d prod(x over axes) / d x` at every position, correct with zeros: the
/// product of the other elements.
pub(crate) fn prod_partials<B: Backend>(
    x: &Tensor<B>,
    y: &Tensor<B>,
    axes: &[usize],
    keepdim: bool,
) -> Result<Tensor<B>> {
    let ax = isize_axes(axes);
    let yk = if keepdim { y.clone() } else { y.try_reshape_to(keep_shape(x.shape(), axes))? };
    let is_zero = x.eq_scalar(0.0);
    let zeros_here = is_zero.to_dtype(DType::I64).sum_dims(&ax, true);
    let nonzero_x = Tensor::where_(&is_zero, &x.ones_like(), x);
    let prod_nonzero = nonzero_x.prod_dims(&ax, true);
    let no_zero = zeros_here.eq_scalar(0.0);
    let one_zero_here = &zeros_here.eq_scalar(1.0).to_dtype(x.dtype()) * &is_zero.to_dtype(x.dtype());
    let general = yk.try_div(&nonzero_x)?;
    let with_zero = &one_zero_here * &prod_nonzero;
    Tensor::try_where_(&no_zero, &general, &with_zero)
}

/// The adjoint of `slice(axis, start, start + len*step, step)` on a
/// dimension of size `n`: `g` spread back with zeros.
///
/// Only `(len - 1) * step + 1 <= n - start` positions are built (each
/// element but the last followed by `step - 1` zeros, then the last), never
/// `len * step`: a step far larger than the dimension costs nothing.
pub(crate) fn unslice<B: Backend>(
    g: &Tensor<B>,
    axis: usize,
    start: usize,
    step: usize,
    n: usize,
) -> Result<Tensor<B>> {
    let len = g.dims()[axis];
    let spread = if step == 1 || len <= 1 {
        g.clone()
    } else {
        // [.., len-1, ..] -> [.., len-1, step, ..] (zeros after each) -> [.., (len-1)*step, ..], then the last.
        let head = g.try_slice(axis as isize, 0, len as isize - 1, 1)?;
        let x = head.unsqueeze(axis as isize + 1);
        let mut pads = vec![(0, 0); x.ndim()];
        pads[axis + 1] = (0, step - 1);
        let x = x.try_pad(&pads, 0.0)?;
        let mut shape = g.shape().clone();
        shape.dims_mut()[axis] = (len - 1) * step;
        let last = g.try_slice(axis as isize, len as isize - 1, len as isize, 1)?;
        Tensor::try_cat(&[x.try_reshape_to(shape)?, last], axis as isize)?
    };
    let covered = spread.dims()[axis];
    let mut pads = vec![(0, 0); g.ndim()];
    // The slice's elements lie in start..n, so start + covered <= n (an
    // empty slice may start anywhere).
    let start = if covered == 0 { start.min(n) } else { start };
    let end = start.checked_add(covered).filter(|&e| e <= n).ok_or_else(|| {
        Error::invalid("slice backward", format!("{len} elements from {start} by step {step} exceed size {n}"))
    })?;
    pads[axis] = (start, n - end);
    spread.try_pad(&pads, 0.0)
}

/// The adjoint of `diagonal(offset, d1, d2)` of an input of `shape`: `g`
/// (diagonal last) placed on that diagonal of zeros.
pub(crate) fn undiagonal<B: Backend>(
    g: &Tensor<B>,
    shape: &Shape,
    offset: isize,
    d1: usize,
    d2: usize,
) -> Result<Tensor<B>> {
    let len = g.dims()[g.ndim() - 1];
    if len == 0 {
        return Ok(Tensor::zeros(shape.clone(), g.dtype()));
    }
    let (n1, n2) = (shape[d1], shape[d2]);
    // [.., L] -> [.., L, L] diagonal matrices.
    let eye = Tensor::<B>::eye(len, g.dtype());
    let mat = g.unsqueeze(-1).try_mul(&eye)?;
    let nd = mat.ndim();
    let mut pads = vec![(0, 0); nd];
    if offset >= 0 {
        let o = offset as usize;
        pads[nd - 2] = (0, n1 - len);
        pads[nd - 1] = (o, n2 - o - len);
    } else {
        let o = (-offset) as usize;
        pads[nd - 2] = (o, n1 - o - len);
        pads[nd - 1] = (0, n2 - len);
    }
    let full = mat.try_pad(&pads, 0.0)?;
    // Dims are now [others.., d1, d2]; put d1 and d2 back in place.
    let n = shape.ndim();
    let others: Vec<usize> = (0..n).filter(|&i| i != d1 && i != d2).collect();
    let mut perm = vec![0isize; n];
    for (pos, &orig) in others.iter().enumerate() {
        perm[orig] = pos as isize;
    }
    perm[d1] = (n - 2) as isize;
    perm[d2] = (n - 1) as isize;
    full.try_permute(&perm)
}

/// Inverse of a permutation.
pub(crate) fn inverse_perm(perm: &[usize]) -> Vec<isize> {
    let mut inv = vec![0isize; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i as isize;
    }
    inv
}
