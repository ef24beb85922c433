//! Elementwise operations: unary math, binary arithmetic with NumPy
//! broadcasting and dtype promotion, clamp, and casts. Comparisons and
//! `where` are in `compare.rs`, the operator overloads in `operators.rs`.

use super::ok;
use crate::eval::constant;
use crate::interp::bind;
use crate::{Backend, BinaryOp, DType, Error, Primitive, Result, Shape, Tensor, UnaryOp};

macro_rules! unary_methods {
    ($($name:ident => $op:ident, $doc:literal;)*) => {
        $(
            #[doc = $doc]
            ///
            /// # Panics
            ///
            /// If the dtype is not supported (integer or bool input to float math).
            pub fn $name(&self) -> Tensor<B> {
                ok(self.try_unary(UnaryOp::$op))
            }
        )*
    };
}

/// How a binary `op` on operands of dtypes `a` and `b` (shapes `sa`, `sb`,
/// for messages) computes: the primitive op and the dtype both operands are
/// cast to. Their promotion, except that true division and `pow` of
/// integers give floats (as torch's do), and two bools follow torch: `+` and
/// `maximum` are logical or, `*` and `minimum` logical and (run as maximum
/// and minimum of 0/1 values on `i64`; the caller casts back to bool), `/` is
/// true division, and `-` and `pow` are errors. The float-only ops (`/`,
/// `pow`, the tanh and sigmoid backwards) cast integer operands to f32, and
/// so do `/` and those backwards bool ones; the relu backward of bools is
/// their logical and.
pub(crate) fn binary_plan(op: BinaryOp, a: DType, b: DType, sa: &Shape, sb: &Shape) -> Result<(BinaryOp, DType)> {
    let dtype = a.promote(b);
    if dtype == DType::Bool {
        return match op {
            BinaryOp::Add | BinaryOp::Maximum => Ok((BinaryOp::Maximum, DType::I64)),
            BinaryOp::Mul | BinaryOp::Minimum | BinaryOp::ReluBackward => Ok((BinaryOp::Minimum, DType::I64)),
            BinaryOp::Div | BinaryOp::TanhBackward | BinaryOp::SigmoidBackward => Ok((op, DType::F32)),
            BinaryOp::Sub => Err(Error::dtype(
                "sub",
                DType::Bool,
                format!(
                    "subtraction, the `-` operator, with two bool tensors (shapes {sa} and {sb}) is not supported; \
                     use logical xor (`a.ne(&b)`) for the difference, or `x.logical_not()` to invert a mask"
                ),
            )),
            BinaryOp::Pow => Err(Error::dtype(
                "pow",
                DType::Bool,
                format!(
                    "pow is not implemented for two bool tensors (shapes {sa} and {sb}); cast them with \
                     .to_dtype(..) first"
                ),
            )),
        };
    }
    let float_only = matches!(op, BinaryOp::Pow | BinaryOp::Div | BinaryOp::TanhBackward | BinaryOp::SigmoidBackward);
    Ok((op, if float_only && !dtype.is_float() { DType::F32 } else { dtype }))
}

impl<B: Backend> Tensor<B> {
    /// Apply an elementwise unary op.
    ///
    /// # Errors
    ///
    /// For float-only math on an integer or bool tensor.
    pub fn try_unary(&self, op: UnaryOp) -> Result<Tensor<B>> {
        if self.dtype() == DType::Bool && op == UnaryOp::Neg {
            return Err(Error::dtype(
                "neg",
                DType::Bool,
                format!(
                    "negation, the `-` operator, on a bool tensor (shape {}) is not supported; to invert a \
                     mask use `x.logical_not()`",
                    self.shape()
                ),
            ));
        }
        let ok_dtype = self.dtype().is_float() || (self.dtype() == DType::I64 && op.supports_int());
        if !ok_dtype {
            let expected = if op.supports_int() { "a floating point or i64" } else { "a floating point" };
            return Err(Error::dtype(
                op.name(),
                self.dtype(),
                format!("expected {expected} tensor; cast it with .to_dtype(DType::F32) first"),
            ));
        }
        bind(Primitive::Unary(op), &[self])
    }

    unary_methods! {
        neg => Neg, "Elementwise `-x`.";
        exp => Exp, "Elementwise `e^x`.";
        log => Log, "Elementwise natural logarithm.";
        sin => Sin, "Elementwise sine.";
        cos => Cos, "Elementwise cosine.";
        tanh => Tanh, "Elementwise hyperbolic tangent.";
        sqrt => Sqrt, "Elementwise square root.";
        abs => Abs, "Elementwise absolute value.";
        sign => Sign, "Elementwise sign (-1, 0, 1).";
        sigmoid => Sigmoid, "Elementwise logistic sigmoid `1 / (1 + e^-x)`.";
        log1p => Log1p, "Elementwise `ln(1 + x)`.";
        expm1 => Expm1, "Elementwise `e^x - 1`.";
        erf => Erf, "Elementwise error function.";
        floor => Floor, "Elementwise floor (zero derivative).";
        ceil => Ceil, "Elementwise ceiling (zero derivative).";
        round => Round, "Elementwise round half to even (zero derivative).";
    }

    /// Broadcast two tensors to a common shape and dtype for a binary op.
    pub(crate) fn try_broadcast_pair(&self, other: &Tensor<B>, op: &str) -> Result<(Tensor<B>, Tensor<B>)> {
        // Same shape and dtype (the common case): nothing to broadcast or cast.
        if self.dtype() == other.dtype() && self.dims() == other.dims() {
            return Ok((self.clone(), other.clone()));
        }
        let shape = Shape::broadcast(self.dims(), other.dims()).ok_or_else(|| {
            Error::shape_mismatch(
                op,
                self.shape(),
                other.shape(),
                "cannot be broadcast together: the sizes must match or be 1 in each trailing dimension",
            )
        })?;
        let dtype = self.dtype().promote(other.dtype());
        let prep = |t: &Tensor<B>| -> Result<Tensor<B>> {
            let t = if t.dtype() != dtype { t.try_to_dtype(dtype)? } else { t.clone() };
            if t.shape() != &shape { t.try_broadcast_to(shape.clone()) } else { Ok(t) }
        };
        Ok((prep(self)?, prep(other)?))
    }

    /// Apply a binary op with broadcasting and promotion.
    ///
    /// # Errors
    ///
    /// When the shapes do not broadcast, or for `-` and `pow` on two bool
    /// tensors (as torch).
    ///
    /// Two bool operands follow torch: `+` and `maximum` are logical or, `*`
    /// and `minimum` logical and (the result is bool), `/` is true division
    /// (float).
    pub fn try_binary(&self, op: BinaryOp, other: &Tensor<B>) -> Result<Tensor<B>> {
        // Same shape and dtype (the common case): the operands as they are,
        // without the handle clones of broadcasting and casting (each an
        // atomic reference count update and its undo).
        if self.dtype() == other.dtype() && self.dims() == other.dims() {
            let (prim_op, dtype) = binary_plan(op, self.dtype(), other.dtype(), self.shape(), other.shape())?;
            if dtype == self.dtype() {
                return bind(Primitive::Binary(prim_op), &[self, other]);
            }
        }
        let (a, b) = self.try_broadcast_pair(other, op.name())?;
        let (prim_op, dtype) = binary_plan(op, a.dtype(), b.dtype(), self.shape(), other.shape())?;
        let logical = a.dtype() == DType::Bool && dtype != DType::Bool && prim_op != BinaryOp::Div;
        let (a, b) = (a.try_to_dtype(dtype)?, b.try_to_dtype(dtype)?);
        let r = bind(Primitive::Binary(prim_op), &[&a, &b])?;
        if logical { r.try_to_dtype(DType::Bool) } else { Ok(r) }
    }

    /// Apply a binary op with a scalar right operand of this tensor's dtype.
    ///
    /// # Errors
    ///
    /// As [`try_binary`](Self::try_binary).
    pub fn try_binary_scalar(&self, op: BinaryOp, value: f64) -> Result<Tensor<B>> {
        self.try_binary(op, &self.scalar_operand(value)?)
    }

    /// The 0-d tensor a scalar right operand of this tensor becomes.
    pub(crate) fn scalar_operand(&self, value: f64) -> Result<Tensor<B>> {
        let dtype = if self.dtype() == DType::Bool || (!self.dtype().is_float() && value.fract() != 0.0) {
            DType::F32.promote(self.dtype())
        } else {
            self.dtype()
        };
        constant::<B>(value, dtype)
    }

    /// `self + other` with broadcasting.
    ///
    /// # Errors
    ///
    /// When the shapes do not broadcast.
    pub fn try_add(&self, other: &Tensor<B>) -> Result<Tensor<B>> {
        self.try_binary(BinaryOp::Add, other)
    }

    /// `self - other` with broadcasting.
    ///
    /// # Errors
    ///
    /// When the shapes do not broadcast.
    pub fn try_sub(&self, other: &Tensor<B>) -> Result<Tensor<B>> {
        self.try_binary(BinaryOp::Sub, other)
    }

    /// `self * other` with broadcasting.
    ///
    /// # Errors
    ///
    /// When the shapes do not broadcast.
    pub fn try_mul(&self, other: &Tensor<B>) -> Result<Tensor<B>> {
        self.try_binary(BinaryOp::Mul, other)
    }

    /// `self / other` with broadcasting (true division).
    ///
    /// # Errors
    ///
    /// When the shapes do not broadcast.
    pub fn try_div(&self, other: &Tensor<B>) -> Result<Tensor<B>> {
        self.try_binary(BinaryOp::Div, other)
    }

    /// `self ^ other` elementwise with broadcasting.
    ///
    /// # Panics
    ///
    /// When the shapes do not broadcast.
    pub fn pow(&self, other: &Tensor<B>) -> Tensor<B> {
        ok(self.try_binary(BinaryOp::Pow, other))
    }

    /// `self ^ exponent` elementwise.
    pub fn powf(&self, exponent: f64) -> Tensor<B> {
        ok(self.try_binary_scalar(BinaryOp::Pow, exponent))
    }

    /// `self * self`.
    pub fn square(&self) -> Tensor<B> {
        self * self
    }

    /// Elementwise `1 / x`.
    pub fn recip(&self) -> Tensor<B> {
        ok(constant::<B>(1.0, self.dtype()).and_then(|one| one.try_div(self)))
    }

    /// Elementwise maximum with broadcasting (NaN-propagating).
    ///
    /// # Panics
    ///
    /// When the shapes do not broadcast.
    pub fn maximum(&self, other: &Tensor<B>) -> Tensor<B> {
        ok(self.try_binary(BinaryOp::Maximum, other))
    }

    /// Elementwise minimum with broadcasting (NaN-propagating).
    ///
    /// # Panics
    ///
    /// When the shapes do not broadcast.
    pub fn minimum(&self, other: &Tensor<B>) -> Tensor<B> {
        ok(self.try_binary(BinaryOp::Minimum, other))
    }

    /// Clamp elementwise into `[min, max]` (either bound optional), as
    /// `torch.clamp` with scalar bounds: `min(max(x, min), max)`, so when
    /// `min > max` every element becomes `max`; NaN stays NaN.
    ///
    /// The derivative is torch's for scalar bounds: 1 strictly inside the
    /// interval, 0 at and beyond a bound (not the even split of
    /// [`maximum`](Self::maximum) at ties) and 0 at NaN.
    ///
    /// # Examples
    ///
    /// ```
    /// # type Tensor = func_core::Tensor<func_testkit::RefBackend>;
    /// let x = Tensor::from_vec(vec![-1.0f64, 0.5, 2.0], [3]);
    /// assert_eq!(x.clamp(Some(0.0), Some(1.0)).to_vec::<f64>(), vec![0.0, 0.5, 1.0]);
    /// ```
    ///
    /// # Panics
    ///
    /// When the tensor is bool (torch's clamp is not defined for bool).
    pub fn clamp(&self, min: Option<f64>, max: Option<f64>) -> Tensor<B> {
        ok(self.try_clamp(min, max))
    }

    /// Clamp elementwise into `[min, max]`; see [`clamp`](Self::clamp).
    ///
    /// # Errors
    ///
    /// When the tensor is bool.
    pub fn try_clamp(&self, min: Option<f64>, max: Option<f64>) -> Result<Tensor<B>> {
        if self.dtype() == DType::Bool {
            return Err(Error::dtype("clamp", self.dtype(), "clamp is not implemented for bool tensors"));
        }
        if !self.dtype().is_float() {
            // Integers have no derivative; a fractional bound promotes to
            // float, as torch's type promotion with a float scalar.
            let mut t = self.clone();
            if let Some(lo) = min {
                t = t.try_binary_scalar(BinaryOp::Maximum, lo)?;
            }
            if let Some(hi) = max {
                t = t.try_binary_scalar(BinaryOp::Minimum, hi)?;
            }
            return Ok(t);
        }
        // NOTE: [clamp selects constants] The bounds enter as constants
        // picked by `where`, so the derivative is exactly 1 strictly inside
        // and 0 at a bound. `x * 0` is NaN exactly where `x` is NaN (the only
        // place it is selected), with derivative 0, as torch's.
        let bound = |v: f64| constant::<B>(v, self.dtype());
        let nan_or_zero = self.try_binary_scalar(BinaryOp::Mul, 0.0)?;
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            return Tensor::try_where_(&self.ne(self), &nan_or_zero, &bound(hi)?);
        }
        let mut inside: Option<Tensor<B>> = None;
        let mut outside = nan_or_zero;
        if let Some(lo) = min {
            outside = Tensor::try_where_(&self.le_scalar(lo), &bound(lo)?, &outside)?;
            inside = Some(self.gt_scalar(lo));
        }
        if let Some(hi) = max {
            outside = Tensor::try_where_(&self.ge_scalar(hi), &bound(hi)?, &outside)?;
            let below = self.lt_scalar(hi);
            inside = Some(match inside {
                Some(i) => i.try_mul(&below)?,
                None => below,
            });
        }
        match inside {
            Some(inside) => Tensor::try_where_(&inside, self, &outside),
            None => Ok(self.clone()),
        }
    }

    /// Convert to another dtype (a no-op handle clone if it already is).
    ///
    /// # Errors
    ///
    /// Only from a backend.
    pub fn try_to_dtype(&self, dtype: DType) -> Result<Tensor<B>> {
        if self.dtype() == dtype {
            return Ok(self.clone());
        }
        bind(Primitive::Cast(dtype), &[self])
    }

    /// Convert to another dtype.
    pub fn to_dtype(&self, dtype: DType) -> Tensor<B> {
        ok(self.try_to_dtype(dtype))
    }
}
