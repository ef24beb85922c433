//! Element types and what each supports: every dtype-dependent kernel is a
//! method of [`Elem`] with an error default, overridden where meaningful.

use crate::kernels::{self, binary_arith, unary_real};
use crate::matmul::Mat;
use crate::strided::map2;
use crate::{CpuStorage, conv, matmul, tiles};
use func_core::{BinaryOp, ConvGeom, DType, Error, HostData, Layout, ReduceOp, Result, UnaryOp};
use num_traits::Float;
use std::fmt::Debug;
use std::mem::MaybeUninit;

/// The error for a kernel that does not support a dtype.
pub(crate) fn unsupported(op: &str, dtype: DType) -> Error {
    Error::backend("cpu", op, format!("not supported for dtype {dtype}"))
}

/// A storage element type (f32, f64, i64, bool).
pub(crate) trait Elem: crate::cache::Pooled + Sync + PartialOrd + Default + Debug {
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    /// Whether this is a NaN (never, for non-floats).
    fn isnan(self) -> bool {
        false
    }
    fn wrap(v: Vec<Self>) -> CpuStorage;
    fn host(v: Vec<Self>) -> HostData;
    fn slice(s: &CpuStorage) -> Option<&[Self]>;
    fn slice_mut(s: &mut CpuStorage) -> Option<&mut [Self]>;

    fn unary(op: UnaryOp, _: &[Self], _: &Layout) -> Result<Vec<Self>> {
        Err(unsupported(op.name(), Self::DTYPE))
    }
    fn binary(op: BinaryOp, _: &[Self], _: &Layout, _: &[Self], _: &Layout) -> Result<Vec<Self>> {
        Err(unsupported(op.name(), Self::DTYPE))
    }
    fn reduce(op: ReduceOp, _: &[Self], _: &Layout, _: &[usize]) -> Result<Vec<Self>> {
        Err(unsupported(op.name(), Self::DTYPE))
    }
    fn cumsum(_: &[Self], _: &Layout, _: usize) -> Result<Vec<Self>> {
        Err(unsupported("cumsum", Self::DTYPE))
    }
    fn matmul(_: &[Self], _: &Layout, _: &[Self], _: &Layout) -> Result<Vec<Self>> {
        Err(unsupported("matmul", Self::DTYPE))
    }
    fn addmm(_: &[Self], _: &Layout, _: &[Self], _: &Layout, _: &[Self], _: &Layout) -> Result<Vec<Self>> {
        Err(unsupported("addmm", Self::DTYPE))
    }
    /// The convolution by samples (NOTE: [convolution by samples] in
    /// conv.rs), `None` when the batch is too small for it.
    fn conv2d(_: &[Self], _: &Layout, _: &[Self], _: &Layout, _: &ConvGeom, _: usize) -> Result<Option<Vec<Self>>> {
        Err(unsupported("conv2d", Self::DTYPE))
    }
    /// The transposed convolution by samples, `None` when the batch is too
    /// small for it.
    fn conv_transpose2d(
        _: &[Self],
        _: &Layout,
        _: &[Self],
        _: &Layout,
        _: &ConvGeom,
        _: usize,
    ) -> Result<Option<Vec<Self>>> {
        Err(unsupported("conv_transpose2d", Self::DTYPE))
    }
    #[allow(clippy::too_many_arguments)]
    fn scatter_add(
        _: &[Self],
        _: &Layout,
        _: usize,
        _: &[i64],
        _: &Layout,
        _: &[Self],
        _: &Layout,
    ) -> Result<Vec<Self>> {
        Err(unsupported("scatter_add", Self::DTYPE))
    }
    fn col2im(_: &[Self], _: &Layout, _: &ConvGeom) -> Result<Vec<Self>> {
        Err(unsupported("col2im", Self::DTYPE))
    }
    /// Copy `src` into `dst` (of the same length) with non-temporal stores
    /// (NOTE: [streamed stores] in stream.rs); `false`, with nothing
    /// written, for types or CPUs without them.
    fn stream_copy(_: &[Self], _: &mut [MaybeUninit<Self>]) -> bool {
        false
    }
}

/// Numeric element types (f32, f64, i64): arithmetic matching the reference
/// definitions in `func_core` (wrapping for integers, NaN-propagating
/// maximum and minimum for floats).
pub(crate) trait Arith: Elem {
    /// The accumulator of sums and products: f64 for floats (as the
    /// reference backend accumulates), i64 for i64.
    type Acc: Arith;
    fn to_acc(self) -> Self::Acc;
    fn from_acc(a: Self::Acc) -> Self;
    const ZERO: Self;
    const ONE: Self;
    /// Identity of a maximum (-inf or `i64::MIN`).
    const LOWEST: Self;
    /// Identity of a minimum (+inf or `i64::MAX`).
    const HIGHEST: Self;
    fn plus(a: Self, b: Self) -> Self;
    fn minus(a: Self, b: Self) -> Self;
    fn times(a: Self, b: Self) -> Self;
    fn over(a: Self, b: Self) -> Self;
    fn max_nan(a: Self, b: Self) -> Self;
    fn min_nan(a: Self, b: Self) -> Self;
    /// The reference definition of `op`.
    fn bin_ref(op: BinaryOp, a: Self, b: Self) -> Self;
    /// The reference definition of `op`.
    fn un_ref(op: UnaryOp, x: Self) -> Self;
}

/// Floating-point element types, with a gemm.
pub(crate) trait Real: Arith + Float + crate::stream::Streamed {
    /// `c = a b` (`c`: `m` contiguous rows of `n`) in register tiles
    /// (NOTE: [small tiles] in tiles.rs); `false`, with nothing written,
    /// when this type or the CPU has no such kernel or its scratch buffer
    /// cannot be allocated.
    fn tiled(mkn: (usize, usize, usize), a: Mat<'_, Self>, b: Mat<'_, Self>, c: &mut [MaybeUninit<Self>]) -> bool;

    /// `out[i * n + j] = t[j * m + i]` (`t`: `n` rows of `m`) in registers;
    /// `false`, with nothing written, when this type or the CPU has no such
    /// kernel.
    fn transpose(t: &[Self], mn: (usize, usize), out: &mut [MaybeUninit<Self>]) -> bool;

    /// `c = a b` (`c`: `m` contiguous rows of `n`) as dot products in
    /// registers, for rows of `a` and columns of `b` contiguous along `k`
    /// and a few columns (NOTE: [tail columns] in matmul.rs); `false`, with
    /// nothing written, when this type, the CPU or the layouts have no such
    /// kernel.
    fn dots(mkn: (usize, usize, usize), a: Mat<'_, Self>, b: Mat<'_, Self>, c: &mut [MaybeUninit<Self>]) -> bool;

    /// `C = A B` for row/column-strided `A` (m×k), `B` (k×n) and `C` (m×n),
    /// or `C += A B` when `add`: through matrixmultiply or the `gemm` crate
    /// (NOTE: [gemm choice] in matmul.rs).
    ///
    /// # Safety
    ///
    /// Every element the strides address must be in bounds, and `C`'s
    /// elements must not alias each other or `A`/`B`. When `add`, every
    /// element of `C` must be initialized (it is read); otherwise `C` is only
    /// written.
    unsafe fn gemm_with(
        mkn: (usize, usize, usize),
        a: (*const Self, isize, isize),
        b: (*const Self, isize, isize),
        c: (*mut Self, isize),
        add: bool,
    );

    /// `C = A B` ([`gemm_with`](Self::gemm_with) without `add`).
    ///
    /// # Safety
    ///
    /// As [`gemm_with`](Self::gemm_with).
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        mkn: (usize, usize, usize),
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        c: *mut Self,
        rsc: isize,
    ) {
        // SAFETY: the caller's contract, forwarded; `C` is only written.
        unsafe { Self::gemm_with(mkn, (a, rsa, csa), (b, rsb, csb), (c, rsc), false) }
    }
}

macro_rules! storage_fns {
    ($V:ident) => {
        fn wrap(v: Vec<Self>) -> CpuStorage {
            CpuStorage::$V(v)
        }
        fn host(v: Vec<Self>) -> HostData {
            HostData::$V(v)
        }
        fn slice(s: &CpuStorage) -> Option<&[Self]> {
            match s {
                CpuStorage::$V(v) => Some(v),
                _ => None,
            }
        }
        fn slice_mut(s: &mut CpuStorage) -> Option<&mut [Self]> {
            match s {
                CpuStorage::$V(v) => Some(v),
                _ => None,
            }
        }
    };
}

macro_rules! numeric_fns {
    () => {
        fn binary(op: BinaryOp, a: &[Self], la: &Layout, b: &[Self], lb: &Layout) -> Result<Vec<Self>> {
            binary_arith(op, a, la, b, lb)
        }
        fn reduce(op: ReduceOp, v: &[Self], l: &Layout, axes: &[usize]) -> Result<Vec<Self>> {
            kernels::reduce_arith(op, v, l, axes)
        }
        fn cumsum(v: &[Self], l: &Layout, axis: usize) -> Result<Vec<Self>> {
            kernels::cumsum(v, l, axis)
        }
        fn scatter_add(
            base: &[Self],
            bl: &Layout,
            axis: usize,
            idx: &[i64],
            il: &Layout,
            src: &[Self],
            sl: &Layout,
        ) -> Result<Vec<Self>> {
            kernels::scatter_add(base, bl, axis, idx, il, src, sl)
        }
        fn col2im(v: &[Self], l: &Layout, g: &ConvGeom) -> Result<Vec<Self>> {
            conv::col2im(v, l, g)
        }
    };
}

macro_rules! float_elem {
    ($t:ident, $V:ident, $un:ident, $bin:ident, $gemm:path, $tiled:path, $transpose:path, $dots:path) => {
        impl Elem for $t {
            const DTYPE: DType = DType::$V;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn isnan(self) -> bool {
                self.is_nan()
            }
            storage_fns!($V);
            numeric_fns!();
            fn unary(op: UnaryOp, v: &[Self], l: &Layout) -> Result<Vec<Self>> {
                unary_real(op, v, l)
            }
            fn matmul(a: &[Self], la: &Layout, b: &[Self], lb: &Layout) -> Result<Vec<Self>> {
                matmul::matmul(a, la, b, lb)
            }
            fn addmm(c: &[Self], lc: &Layout, a: &[Self], la: &Layout, b: &[Self], lb: &Layout) -> Result<Vec<Self>> {
                matmul::addmm(c, lc, a, la, b, lb)
            }
            fn conv2d(
                x: &[Self],
                xl: &Layout,
                w: &[Self],
                wl: &Layout,
                g: &ConvGeom,
                groups: usize,
            ) -> Result<Option<Vec<Self>>> {
                crate::conv::conv2d(x, xl, w, wl, g, groups)
            }
            fn conv_transpose2d(
                y: &[Self],
                yl: &Layout,
                w: &[Self],
                wl: &Layout,
                g: &ConvGeom,
                groups: usize,
            ) -> Result<Option<Vec<Self>>> {
                crate::conv::conv_transpose2d(y, yl, w, wl, g, groups)
            }
            fn stream_copy(src: &[Self], dst: &mut [MaybeUninit<Self>]) -> bool {
                crate::stream::copy(src, dst)
            }
        }

        impl Arith for $t {
            type Acc = f64;
            #[inline(always)]
            fn to_acc(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_acc(a: f64) -> Self {
                a as $t
            }
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const LOWEST: Self = $t::NEG_INFINITY;
            const HIGHEST: Self = $t::INFINITY;
            #[inline(always)]
            fn plus(a: Self, b: Self) -> Self {
                a + b
            }
            #[inline(always)]
            fn minus(a: Self, b: Self) -> Self {
                a - b
            }
            #[inline(always)]
            fn times(a: Self, b: Self) -> Self {
                a * b
            }
            #[inline(always)]
            fn over(a: Self, b: Self) -> Self {
                a / b
            }
            #[inline(always)]
            fn max_nan(a: Self, b: Self) -> Self {
                if a.is_nan() || b.is_nan() { $t::NAN } else { a.max(b) }
            }
            #[inline(always)]
            fn min_nan(a: Self, b: Self) -> Self {
                if a.is_nan() || b.is_nan() { $t::NAN } else { a.min(b) }
            }
            fn bin_ref(op: BinaryOp, a: Self, b: Self) -> Self {
                op.$bin(a, b)
            }
            fn un_ref(op: UnaryOp, x: Self) -> Self {
                op.$un(x)
            }
        }

        impl Real for $t {
            fn tiled(
                mkn: (usize, usize, usize),
                a: Mat<'_, Self>,
                b: Mat<'_, Self>,
                c: &mut [MaybeUninit<Self>],
            ) -> bool {
                $tiled(mkn, a, b, c)
            }
            fn transpose(t: &[Self], mn: (usize, usize), out: &mut [MaybeUninit<Self>]) -> bool {
                $transpose(t, mn, out)
            }
            fn dots(
                mkn: (usize, usize, usize),
                a: Mat<'_, Self>,
                b: Mat<'_, Self>,
                c: &mut [MaybeUninit<Self>],
            ) -> bool {
                $dots(mkn, a, b, c)
            }
            unsafe fn gemm_with(
                (m, k, n): (usize, usize, usize),
                (a, rsa, csa): (*const Self, isize, isize),
                (b, rsb, csb): (*const Self, isize, isize),
                (c, rsc): (*mut Self, isize),
                add: bool,
            ) {
                if crate::matmul::packs_better(size_of::<Self>(), rsb, csb) {
                    // SAFETY: forwarded from `Real::gemm_with`'s contract,
                    // which `matmul::matmul` establishes (storage spans
                    // checked in `Cpu::matmul`, strides converted exactly,
                    // `c` an exclusive buffer); with beta = 0 matrixmultiply
                    // does not read `c`, and beta = 1 (`add`) is passed only
                    // for an initialized `c`.
                    unsafe { $gemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, if add { 1.0 } else { 0.0 }, c, rsc, 1) }
                } else {
                    // SAFETY: forwarded as above (the `gemm` crate takes
                    // column stride before row stride, and
                    // `dst := alpha dst + beta lhs rhs`). With
                    // `read_dst = false` it sets alpha to zero and only
                    // writes `c` (gemm-common 0.19, `gemm_basic_generic`);
                    // `read_dst = true` (`add`) reads `c`, initialized.
                    unsafe {
                        gemm::gemm(
                            m,
                            n,
                            k,
                            c,
                            1,
                            rsc,
                            add,
                            a,
                            csa,
                            rsa,
                            b,
                            csb,
                            rsb,
                            1.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        )
                    }
                }
            }
        }
    };
}

float_elem!(
    f32,
    F32,
    apply_f32,
    apply_f32,
    matrixmultiply::sgemm,
    tiles::tiled_f32,
    tiles::transpose_f32,
    tiles::dots_f32
);
float_elem!(f64, F64, apply_f64, apply_f64, matrixmultiply::dgemm, tiles::none, tiles::no_transpose, tiles::no_dots);

impl Elem for i64 {
    const DTYPE: DType = DType::I64;
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as i64
    }
    storage_fns!(I64);
    numeric_fns!();
    fn unary(op: UnaryOp, v: &[Self], l: &Layout) -> Result<Vec<Self>> {
        if !op.supports_int() {
            return Err(unsupported(op.name(), DType::I64));
        }
        crate::strided::map1(v, l, move |x: i64| op.apply_i64(x))
    }
}

impl Arith for i64 {
    type Acc = i64;
    #[inline(always)]
    fn to_acc(self) -> i64 {
        self
    }
    #[inline(always)]
    fn from_acc(a: i64) -> Self {
        a
    }
    const ZERO: Self = 0;
    const ONE: Self = 1;
    const LOWEST: Self = i64::MIN;
    const HIGHEST: Self = i64::MAX;
    #[inline(always)]
    fn plus(a: Self, b: Self) -> Self {
        a.wrapping_add(b)
    }
    #[inline(always)]
    fn minus(a: Self, b: Self) -> Self {
        a.wrapping_sub(b)
    }
    #[inline(always)]
    fn times(a: Self, b: Self) -> Self {
        a.wrapping_mul(b)
    }
    #[inline(always)]
    fn over(a: Self, b: Self) -> Self {
        BinaryOp::Div.apply_i64(a, b)
    }
    #[inline(always)]
    fn max_nan(a: Self, b: Self) -> Self {
        a.max(b)
    }
    #[inline(always)]
    fn min_nan(a: Self, b: Self) -> Self {
        a.min(b)
    }
    fn bin_ref(op: BinaryOp, a: Self, b: Self) -> Self {
        op.apply_i64(a, b)
    }
    fn un_ref(op: UnaryOp, x: Self) -> Self {
        op.apply_i64(x)
    }
}

impl Elem for bool {
    const DTYPE: DType = DType::Bool;
    fn to_f64(self) -> f64 {
        if self { 1.0 } else { 0.0 }
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    storage_fns!(Bool);
    /// Logical or (`Add`, `Maximum`) and and (`Mul`, `Minimum`).
    fn binary(op: BinaryOp, a: &[Self], la: &Layout, b: &[Self], lb: &Layout) -> Result<Vec<Self>> {
        match op {
            BinaryOp::Add | BinaryOp::Maximum => map2(a, la, b, lb, |x, y| x | y),
            BinaryOp::Mul | BinaryOp::Minimum => map2(a, la, b, lb, |x, y| x & y),
            _ => Err(unsupported(op.name(), DType::Bool)),
        }
    }
    /// `Max` is "any", `Min` is "all".
    fn reduce(op: ReduceOp, v: &[Self], l: &Layout, axes: &[usize]) -> Result<Vec<Self>> {
        match op {
            ReduceOp::Max => kernels::reduce(v, l, axes, false, |a, b| a | b, |a, b| a | b, |a| a),
            ReduceOp::Min => kernels::reduce(v, l, axes, true, |a, b| a & b, |a, b| a & b, |a| a),
            _ => Err(unsupported(op.name(), DType::Bool)),
        }
    }
}
