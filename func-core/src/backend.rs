//! The [`Backend`] trait: the small, strided set of kernels a device provides.
//!
//! A backend sees only concrete storage and a [`Layout`] per operand; views,
//! broadcasting, dtype promotion and every transform are handled above it, in
//! [`Tensor`](crate::Tensor) and the interpreters. Each method returns a fresh
//! contiguous storage (row-major, offset 0) except
//! [`write_strided`](Backend::write_strided), which writes in place.
//!
//! The trait is open: implement it for a new device and run
//! `func_testkit::check_backend::<YourBackend>()` to check it against the
//! reference backend on every operation.

use crate::{DType, HostData, Layout, Result};
use std::fmt::Debug;

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
}

impl UnaryOp {
    /// Every unary op, for catalogues and exhaustive tests.
    pub const ALL: [UnaryOp; 16] = [
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
        }
    }

    /// Whether the op is defined on i64 (otherwise floats only).
    pub fn supports_int(self) -> bool {
        matches!(self, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign)
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
}

impl BinaryOp {
    /// Every binary op.
    pub const ALL: [BinaryOp; 7] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Maximum,
        BinaryOp::Minimum,
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

    /// Apply to `i64`s (`Pow` is an error one level up; division by zero gives 0).
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
        }
    }
}

/// Elementwise comparisons; the result is [`DType::Bool`].
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

/// Index-returning reductions along one axis; the result is [`DType::I64`].
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

/// Random distributions for [`Backend::random`].
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

/// The geometry of a 2-D sliding window (convolution and pooling), used by
/// [`Backend::im2col`] and [`Backend::col2im`].
///
/// The input is `[N, C, H, W]`; the columns are `[N, C * kh * kw, oh * ow]`
/// with row `c * kh * kw + i * kw + j`, as `torch.nn.functional.unfold`.
/// Padding is with zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvGeom {
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Stride (rows, columns).
    pub stride: (usize, usize),
    /// Zero padding on each side (rows, columns).
    pub padding: (usize, usize),
    /// Dilation (rows, columns).
    pub dilation: (usize, usize),
}

impl ConvGeom {
    /// Output height (0 when the window does not fit, or when the geometry
    /// overflows: see [`check`](Self::check)).
    pub fn out_h(&self) -> usize {
        out_size(self.h, self.kernel.0, self.stride.0, self.padding.0, self.dilation.0).unwrap_or(0)
    }

    /// Output width (0 when the window does not fit, or when the geometry
    /// overflows: see [`check`](Self::check)).
    pub fn out_w(&self) -> usize {
        out_size(self.w, self.kernel.1, self.stride.1, self.padding.1, self.dilation.1).unwrap_or(0)
    }

    /// Check that the padded input sizes (`h + 2 * padding`), the dilated
    /// kernel extents, the number of output positions and the column count
    /// per channel (`kh * kw`) are computed without overflow.
    ///
    /// # Errors
    ///
    /// An [`Error::InvalidShape`](crate::Error::InvalidShape) naming `op`,
    /// the input `shape` and the padding when one overflows `usize`.
    pub fn check(&self, op: &str, shape: &crate::Shape) -> Result<()> {
        let rows = out_size(self.h, self.kernel.0, self.stride.0, self.padding.0, self.dilation.0);
        let cols = out_size(self.w, self.kernel.1, self.stride.1, self.padding.1, self.dilation.1);
        let fits = rows.zip(cols).and_then(|(r, c)| r.checked_mul(c)).is_some()
            && self.kernel.0.checked_mul(self.kernel.1).is_some();
        if fits {
            Ok(())
        } else {
            Err(crate::Error::invalid_shape(
                op,
                shape,
                format!(
                    "the padded size (size + 2 * padding, padding {:?}) or the window (kernel {:?}, dilation {:?}) \
                     overflows usize; use smaller padding",
                    self.padding, self.kernel, self.dilation
                ),
            ))
        }
    }
}

/// Output positions of a window: `None` when a size overflows, `Some(0)`
/// when the window does not fit or the stride is 0.
fn out_size(n: usize, k: usize, s: usize, p: usize, d: usize) -> Option<usize> {
    let span = d.checked_mul(k.max(1) - 1)?.checked_add(1)?;
    let padded = p.checked_mul(2)?.checked_add(n)?;
    Some(if s == 0 || padded < span { 0 } else { (padded - span) / s + 1 })
}

/// A compute device: storage plus the kernels every primitive lowers to.
///
/// Conventions, which the reference backend in func-testkit states in code:
/// - every input comes with its [`Layout`] (shape, strides, offset); a layout
///   may be non-contiguous or broadcast (stride 0);
/// - every output is a new contiguous storage in row-major order, whose shape
///   the method's documentation gives;
/// - operands of binary, comparison and select kernels have the same shape
///   and (except the condition of `select`) the same dtype: broadcasting and
///   promotion happened above;
/// - the dtype of a storage is `storage_dtype`, and never changes;
/// - every buffer whose size comes from a layout or an element count is
///   allocated fallibly (see [`crate::alloc`]): a size the device cannot
///   hold is [`Error::OutOfMemory`](crate::Error::OutOfMemory), never an
///   abort;
/// - every input layout is checked against its storage
///   (`layout.storage_span() <= storage_len`) before it is read; the span
///   never overflows (NOTE: [layout invariant] on [`Layout`]).
#[allow(clippy::wrong_self_convention)]
pub trait Backend: Clone + Debug + Send + Sync + 'static {
    /// Device memory holding elements of one dtype.
    type Storage: Debug + Send + Sync + 'static;

    /// The instance that operations without operands use when no
    /// [`with_backend`](crate::with_backend) scope and no
    /// [`set_default_backend`](crate::set_default_backend) default is set:
    /// torch's default device (NOTE: [backend instances]). Called for every
    /// such operation, so a backend with costly start-up caches its instance.
    ///
    /// # Errors
    ///
    /// When the device cannot start.
    fn default_instance() -> Result<Self>;

    /// A short name for messages, e.g. `"cpu"`.
    fn name(&self) -> &'static str;

    /// The dtype of a storage.
    fn storage_dtype(&self, s: &Self::Storage) -> DType;

    /// Number of elements in a storage.
    fn storage_len(&self, s: &Self::Storage) -> usize;

    /// Copy host data to a new storage.
    fn from_host(&self, data: HostData) -> Result<Self::Storage>;

    /// Read the elements of `l` in row-major order back to the host.
    fn to_host(&self, s: &Self::Storage, l: &Layout) -> Result<HostData>;

    /// `numel` copies of `value` converted to `dtype`.
    fn full(&self, value: f64, dtype: DType, numel: usize) -> Result<Self::Storage>;

    /// Elementwise `op`; output shape `l.shape()`, same dtype.
    fn unary(&self, op: UnaryOp, s: &Self::Storage, l: &Layout) -> Result<Self::Storage>;

    /// Elementwise `op` of equal-shape, equal-dtype operands.
    fn binary(
        &self,
        op: BinaryOp,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
    ) -> Result<Self::Storage>;

    /// Elementwise comparison of equal-shape, equal-dtype operands; output bool.
    fn compare(
        &self,
        op: CmpOp,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
    ) -> Result<Self::Storage>;

    /// `cond ? a : b` elementwise; `cond` is bool; all three have the same shape.
    fn select(
        &self,
        cond: &Self::Storage,
        lc: &Layout,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
    ) -> Result<Self::Storage>;

    /// Reduce over `axes` (sorted, distinct); output shape is the input shape
    /// with each reduced axis set to 1.
    fn reduce(&self, op: ReduceOp, s: &Self::Storage, l: &Layout, axes: &[usize]) -> Result<Self::Storage>;

    /// Index of the extreme along `axis`; output i64 of the input shape with
    /// `axis` set to 1.
    fn arg_reduce(&self, op: ArgReduceOp, s: &Self::Storage, l: &Layout, axis: usize) -> Result<Self::Storage>;

    /// Inclusive cumulative sum along `axis`; same shape.
    fn cumsum(&self, s: &Self::Storage, l: &Layout, axis: usize) -> Result<Self::Storage>;

    /// Batched matrix product: `la` is `[..., m, k]`, `lb` is `[..., k, n]`
    /// with identical batch dimensions (possibly broadcast, stride 0); output
    /// `[..., m, n]`. Float dtypes.
    fn matmul(&self, a: &Self::Storage, la: &Layout, b: &Self::Storage, lb: &Layout) -> Result<Self::Storage>;

    /// Convert elements to `dtype` (float to int truncates toward zero;
    /// nonzero is `true`).
    fn cast(&self, s: &Self::Storage, l: &Layout, dtype: DType) -> Result<Self::Storage>;

    /// A contiguous copy of the elements of `l`.
    fn copy_strided(&self, s: &Self::Storage, l: &Layout) -> Result<Self::Storage>;

    /// Write the elements of `(src, sl)` into `dst` at the positions of `dl`
    /// (same shape, same dtype). `dl` must not overlap itself (no stride 0).
    fn write_strided(&self, dst: &mut Self::Storage, dl: &Layout, src: &Self::Storage, sl: &Layout) -> Result<()>;

    /// Join along `axis`; all parts have the same dtype and the same shape
    /// except along `axis`.
    fn concat(&self, parts: &[(&Self::Storage, &Layout)], axis: usize) -> Result<Self::Storage>;

    /// Pad each dimension `d` with `pads[d].0` elements before and `pads[d].1`
    /// after, of `value`.
    fn pad(&self, s: &Self::Storage, l: &Layout, pads: &[(usize, usize)], value: f64) -> Result<Self::Storage>;

    /// Reverse the order of elements along each of `axes`.
    fn flip(&self, s: &Self::Storage, l: &Layout, axes: &[usize]) -> Result<Self::Storage>;

    /// `torch.gather`: output has the index's shape, which equals the input's
    /// shape except along `axis`; `out[.., j, ..] = s[.., idx[.., j, ..], ..]`.
    /// Indices are i64 in `0..l.dims()[axis]` (checked above).
    fn gather(
        &self,
        s: &Self::Storage,
        l: &Layout,
        axis: usize,
        idx: &Self::Storage,
        il: &Layout,
    ) -> Result<Self::Storage>;

    /// `torch.scatter_add`: a copy of `base` with `src[.., j, ..]` added at
    /// `[.., idx[.., j, ..], ..]`; `idx` and `src` share a shape equal to the
    /// base's except along `axis`.
    #[allow(clippy::too_many_arguments)]
    fn scatter_add(
        &self,
        base: &Self::Storage,
        bl: &Layout,
        axis: usize,
        idx: &Self::Storage,
        il: &Layout,
        src: &Self::Storage,
        sl: &Layout,
    ) -> Result<Self::Storage>;

    /// Unfold `[N, C, H, W]` into columns `[N, C*kh*kw, oh*ow]` (see [`ConvGeom`]).
    fn im2col(&self, s: &Self::Storage, l: &Layout, geom: &ConvGeom) -> Result<Self::Storage>;

    /// Fold columns `[N, C*kh*kw, oh*ow]` back to `[N, C, H, W]`, summing
    /// overlapping windows (the adjoint of `im2col`).
    fn col2im(&self, s: &Self::Storage, l: &Layout, geom: &ConvGeom) -> Result<Self::Storage>;

    /// `numel` samples of `dist` as `dtype`, determined by `seed` alone.
    /// Backends should produce the stream of [`crate::random::sample`] so that
    /// results agree across devices.
    fn random(&self, dist: Distribution, dtype: DType, numel: usize, seed: u64) -> Result<Self::Storage>;
}
