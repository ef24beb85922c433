//! The op-code enums that group the [`Backend`](super::Backend) kernels
//! (`unary(UnaryOp)`, `binary(BinaryOp)`, ...), with each op's name and its
//! reference definition on one element.

/// The float definitions of the unary ops, for one float type.
macro_rules! unary_float_apply {
    ($(#[$doc:meta])* $name:ident, $t:ty, $erf:path) => {
        $(#[$doc])*
        pub fn $name(self, x: $t) -> $t {
            match self {
                UnaryOp::Neg => -x,
                UnaryOp::Exp => x.exp(),
                UnaryOp::Log => x.ln(),
                UnaryOp::Sin => x.sin(),
                UnaryOp::Cos => x.cos(),
                UnaryOp::Tanh => x.tanh(),
                UnaryOp::Sqrt => x.sqrt(),
                UnaryOp::Abs => x.abs(),
                UnaryOp::Sign => {
                    if x > 0.0 {
                        1.0
                    } else if x < 0.0 {
                        -1.0
                    } else {
                        x * 0.0
                    }
                }
                // exp(x) / (1 + exp(x)) for x < 0: exp(-x) would overflow
                // where the result is still a (subnormal) float.
                UnaryOp::Sigmoid => {
                    if x < 0.0 {
                        let e = x.exp();
                        e / (1.0 + e)
                    } else {
                        1.0 / (1.0 + (-x).exp())
                    }
                }
                UnaryOp::Log1p => x.ln_1p(),
                UnaryOp::Expm1 => x.exp_m1(),
                UnaryOp::Erf => $erf(x),
                UnaryOp::Floor => x.floor(),
                UnaryOp::Ceil => x.ceil(),
                UnaryOp::Round => x.round_ties_even(),
                UnaryOp::Relu => {
                    if x <= 0.0 {
                        0.0
                    } else {
                        x
                    }
                }
            }
        }
    };
}

/// The float definitions of the binary ops, for one float type.
macro_rules! binary_float_apply {
    ($(#[$doc:meta])* $name:ident, $t:ty) => {
        $(#[$doc])*
        pub fn $name(self, a: $t, b: $t) -> $t {
            match self {
                BinaryOp::Add => a + b,
                BinaryOp::Sub => a - b,
                BinaryOp::Mul => a * b,
                BinaryOp::Div => a / b,
                BinaryOp::Pow => a.powf(b),
                BinaryOp::Maximum => {
                    if a.is_nan() || b.is_nan() {
                        <$t>::NAN
                    } else {
                        a.max(b)
                    }
                }
                BinaryOp::Minimum => {
                    if a.is_nan() || b.is_nan() {
                        <$t>::NAN
                    } else {
                        a.min(b)
                    }
                }
                BinaryOp::TanhBackward => a * (1.0 - b * b),
                BinaryOp::SigmoidBackward => a * (b * (1.0 - b)),
                BinaryOp::ReluBackward => {
                    if b <= 0.0 {
                        0.0
                    } else {
                        a
                    }
                }
            }
        }
    };
}

/// Elementwise unary operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x` (also for i64).
    Neg,
    /// `e^x`.
    Exp,
    /// Natural logarithm.
    Log,
    /// Sine.
    Sin,
    /// Cosine.
    Cos,
    /// Hyperbolic tangent.
    Tanh,
    /// Square root.
    Sqrt,
    /// Absolute value (also for i64).
    Abs,
    /// -1, 0 or 1 (also for i64).
    Sign,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `ln(1 + x)`, accurate near 0.
    Log1p,
    /// `e^x - 1`, accurate near 0.
    Expm1,
    /// The error function.
    Erf,
    /// Round down.
    Floor,
    /// Round up.
    Ceil,
    /// Round half to even (as `torch.round`).
    Round,
    /// `max(x, 0)`, as `x <= 0 ? 0 : x`: NaN propagates and `-0.0` gives
    /// `0.0` (also for i64).
    Relu,
}

impl UnaryOp {
    /// Every unary op, for catalogues and exhaustive tests.
    pub const ALL: [UnaryOp; 17] = [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Sqrt,
        UnaryOp::Abs,
        UnaryOp::Sign,
        UnaryOp::Sigmoid,
        UnaryOp::Log1p,
        UnaryOp::Expm1,
        UnaryOp::Erf,
        UnaryOp::Floor,
        UnaryOp::Ceil,
        UnaryOp::Round,
        UnaryOp::Relu,
    ];

    /// Lower-case name, as in error messages.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Sign => "sign",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Log1p => "log1p",
            UnaryOp::Expm1 => "expm1",
            UnaryOp::Erf => "erf",
            UnaryOp::Floor => "floor",
            UnaryOp::Ceil => "ceil",
            UnaryOp::Round => "round",
            UnaryOp::Relu => "relu",
        }
    }

    /// Whether the op is defined on i64 (otherwise floats only).
    pub fn supports_int(self) -> bool {
        matches!(self, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign | UnaryOp::Relu)
    }

    unary_float_apply!(
        /// Apply to one `f64` (the reference definition every backend matches).
        apply_f64, f64, libm::erf
    );
    unary_float_apply!(
        /// Apply to one `f32` (computed in f32).
        apply_f32, f32, libm::erff
    );

    /// Apply to one `i64` (only for ops where [`supports_int`](Self::supports_int)).
    pub fn apply_i64(self, x: i64) -> i64 {
        match self {
            UnaryOp::Neg => x.wrapping_neg(),
            UnaryOp::Abs => x.wrapping_abs(),
            UnaryOp::Sign => x.signum(),
            UnaryOp::Relu => x.max(0),
            _ => x,
        }
    }
}

/// Elementwise binary operations (operands of equal shape and dtype).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b` (true division for floats; for i64, rounds toward negative infinity as torch's `floor_divide`).
    Div,
    /// `a ^ b` (floats only).
    Pow,
    /// Elementwise maximum (NaN-propagating).
    Maximum,
    /// Elementwise minimum (NaN-propagating).
    Minimum,
    /// `a * (1 - b * b)`: a cotangent (or tangent) `a` through `tanh`, given
    /// its output `b` (torch's `tanh_backward(grad_output, output)`). One
    /// pass where the rule would run three (floats only).
    TanhBackward,
    /// `a * (b * (1 - b))`: `a` through `sigmoid`, given its output `b`
    /// (torch's `sigmoid_backward(grad_output, output)`; floats only).
    SigmoidBackward,
    /// `b <= 0 ? 0 : a`: `a` through `relu`, given its output (or input)
    /// `b` (torch's `threshold_backward(grad_output, self, 0)`): one pass
    /// where the rule would run a comparison and a select. Also for i64;
    /// on bools it is `a and b`.
    ReluBackward,
}

impl BinaryOp {
    /// Every binary op.
    pub const ALL: [BinaryOp; 10] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Maximum,
        BinaryOp::Minimum,
        BinaryOp::TanhBackward,
        BinaryOp::SigmoidBackward,
        BinaryOp::ReluBackward,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
            BinaryOp::TanhBackward => "tanh_backward",
            BinaryOp::SigmoidBackward => "sigmoid_backward",
            BinaryOp::ReluBackward => "relu_backward",
        }
    }

    binary_float_apply!(
        /// Apply to `f64`s.
        apply_f64, f64
    );
    binary_float_apply!(
        /// Apply to `f32`s.
        apply_f32, f32
    );

    /// Apply to `i64`s (`Pow` is an error one level up, and the float-only
    /// ops never get here: integers are cast to f32 first; division by zero
    /// gives 0).
    pub fn apply_i64(self, a: i64, b: i64) -> i64 {
        match self {
            BinaryOp::Add => a.wrapping_add(b),
            BinaryOp::Sub => a.wrapping_sub(b),
            BinaryOp::Mul => a.wrapping_mul(b),
            BinaryOp::Div => {
                if b == 0 {
                    0
                } else {
                    let q = a.wrapping_div(b);
                    if (a.wrapping_rem(b) != 0) && ((a < 0) != (b < 0)) { q - 1 } else { q }
                }
            }
            BinaryOp::Pow => a.wrapping_pow(b.clamp(0, u32::MAX as i64) as u32),
            BinaryOp::Maximum => a.max(b),
            BinaryOp::Minimum => a.min(b),
            BinaryOp::TanhBackward => a.wrapping_mul(1i64.wrapping_sub(b.wrapping_mul(b))),
            BinaryOp::SigmoidBackward => a.wrapping_mul(b.wrapping_mul(1i64.wrapping_sub(b))),
            BinaryOp::ReluBackward => {
                if b <= 0 {
                    0
                } else {
                    a
                }
            }
        }
    }
}

/// Elementwise comparisons; the result is [`DType::Bool`](crate::DType::Bool).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `a == b`.
    Eq,
    /// `a != b`.
    Ne,
    /// `a < b`.
    Lt,
    /// `a <= b`.
    Le,
    /// `a > b`.
    Gt,
    /// `a >= b`.
    Ge,
}

impl CmpOp {
    /// Every comparison.
    pub const ALL: [CmpOp; 6] = [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
        }
    }

    /// Compare two values of any ordered type.
    pub fn apply<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

/// Reductions over a set of axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// Sum (0 over an empty set).
    Sum,
    /// Maximum (NaN-propagating; -inf over an empty set).
    Max,
    /// Minimum (NaN-propagating; +inf over an empty set).
    Min,
    /// Product (1 over an empty set).
    Prod,
}

impl ReduceOp {
    /// Every reduction.
    pub const ALL: [ReduceOp; 4] = [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Max => "max",
            ReduceOp::Min => "min",
            ReduceOp::Prod => "prod",
        }
    }
}

/// Index-returning reductions along one axis; the result is [`DType::I64`](crate::DType::I64).
/// Ties resolve to the first occurrence; a NaN counts as the extreme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgReduceOp {
    /// Index of the maximum.
    ArgMax,
    /// Index of the minimum.
    ArgMin,
}

impl ArgReduceOp {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ArgReduceOp::ArgMax => "argmax",
            ArgReduceOp::ArgMin => "argmin",
        }
    }
}

/// Random distributions for [`Backend::random`](super::Backend::random).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Uniform on `[low, high)`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound (exclusive).
        high: f64,
    },
    /// Normal with the given mean and standard deviation.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
}
