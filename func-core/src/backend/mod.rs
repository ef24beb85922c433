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

mod conv_geom;
mod op_codes;

pub use conv_geom::ConvGeom;
pub use op_codes::{ArgReduceOp, BinaryOp, CmpOp, Distribution, ReduceOp, UnaryOp};

use crate::{DType, HostData, Layout, Result};
use std::fmt::Debug;

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

    /// `c + a @ b`: [`matmul`](Self::matmul)'s product with `lc` (the
    /// product's shape `[..., m, n]`, possibly broadcast) added to it;
    /// output `[..., m, n]`. Float dtypes.
    ///
    /// The provided method is `matmul` then `binary(Add)`; a backend that
    /// can add `c` while it writes the product (a GEMM epilogue) overrides
    /// it to write the output once.
    ///
    /// # Errors
    ///
    /// As [`matmul`](Self::matmul) and [`binary`](Self::binary).
    #[allow(clippy::too_many_arguments)]
    fn addmm(
        &self,
        c: &Self::Storage,
        lc: &Layout,
        a: &Self::Storage,
        la: &Layout,
        b: &Self::Storage,
        lb: &Layout,
    ) -> Result<Self::Storage> {
        let product = self.matmul(a, la, b, lb)?;
        self.binary(BinaryOp::Add, &product, &Layout::try_contiguous(lc.shape().clone())?, c, lc)
    }

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

    /// 2-D convolution without bias, the conventions of
    /// [`Primitive::Conv2d`](crate::Primitive::Conv2d) (checked before the
    /// call): input `[N, C, H, W]`, weight `[O, C / groups, kh, kw]`, both
    /// of one float dtype; output `[N, O, oh, ow]`, contiguous.
    ///
    /// The provided method is [`im2col`](Self::im2col) then one
    /// [`matmul`](Self::matmul) of the weight, broadcast over the batch, with
    /// the columns, per group. A backend that builds the columns of a few
    /// samples at a time, each block still in the cache when its product
    /// reads it, overrides it: the columns of a whole batch are `kh * kw`
    /// times the input.
    ///
    /// # Errors
    ///
    /// As [`im2col`](Self::im2col) and [`matmul`](Self::matmul).
    #[allow(clippy::too_many_arguments)]
    fn conv2d(
        &self,
        x: &Self::Storage,
        xl: &Layout,
        w: &Self::Storage,
        wl: &Layout,
        geom: &ConvGeom,
        groups: usize,
    ) -> Result<Self::Storage> {
        conv2d_by_columns(self, x, xl, w, wl, geom, groups)
    }

    /// The transpose of [`conv2d`](Self::conv2d) in its input, the
    /// conventions of
    /// [`Primitive::ConvTranspose2d`](crate::Primitive::ConvTranspose2d)
    /// (checked before the call): `y [N, O, oh, ow]` and `w [O, C / groups,
    /// kh, kw]` of one float dtype; output `[N, C, H, W]`, contiguous.
    ///
    /// The provided method is one [`matmul`](Self::matmul) of the
    /// transposed weight, broadcast over the batch, with `y`, per group,
    /// then [`col2im`](Self::col2im) ([`conv_transpose2d_by_columns`]).
    ///
    /// # Errors
    ///
    /// As [`matmul`](Self::matmul) and [`col2im`](Self::col2im).
    #[allow(clippy::too_many_arguments)]
    fn conv_transpose2d(
        &self,
        y: &Self::Storage,
        yl: &Layout,
        w: &Self::Storage,
        wl: &Layout,
        geom: &ConvGeom,
        groups: usize,
    ) -> Result<Self::Storage> {
        conv_transpose2d_by_columns(self, y, yl, w, wl, geom, groups)
    }

    /// `numel` samples of `dist` as `dtype`, determined by `seed` alone.
    /// Backends should produce the stream of [`crate::random::sample`] so that
    /// results agree across devices.
    fn random(&self, dist: Distribution, dtype: DType, numel: usize, seed: u64) -> Result<Self::Storage>;
}

/// [`Backend::conv2d`]'s provided method, for a backend that overrides it
/// for some inputs only: [`Backend::im2col`] of the whole batch, then one
/// [`Backend::matmul`] of the weight, broadcast over the batch, with the
/// columns, per group.
///
/// # Errors
///
/// As [`Backend::im2col`] and [`Backend::matmul`].
pub fn conv2d_by_columns<B: Backend>(
    be: &B,
    x: &B::Storage,
    xl: &Layout,
    w: &B::Storage,
    wl: &Layout,
    geom: &ConvGeom,
    groups: usize,
) -> Result<B::Storage> {
    let cols = be.im2col(x, xl, geom)?;
    let (n, o, g) = (xl.dims()[0], wl.dims()[0], groups.max(1));
    let k = wl.dims()[1..].iter().product::<usize>();
    let cl = Layout::try_contiguous([n, g, k, geom.out_h() * geom.out_w()])?;
    let copy;
    let (w, off) = if wl.is_contiguous() {
        (w, wl.offset())
    } else {
        copy = be.copy_strided(w, wl)?;
        (&copy, 0)
    };
    // The weight as `[g, O / g, k]` matrices, broadcast over the batch.
    let og = o / g;
    let wm = Layout::try_new([n, g, og, k], &[0, og * k, k, 1], off)?;
    be.matmul(w, &wm, &cols, &cl)
}

/// [`Backend::conv_transpose2d`]'s provided method: one
/// [`Backend::matmul`] of the transposed weight, broadcast over the batch,
/// with `y`, per group, then [`Backend::col2im`] of the whole batch.
///
/// # Errors
///
/// As [`Backend::matmul`] and [`Backend::col2im`].
pub fn conv_transpose2d_by_columns<B: Backend>(
    be: &B,
    y: &B::Storage,
    yl: &Layout,
    w: &B::Storage,
    wl: &Layout,
    geom: &ConvGeom,
    groups: usize,
) -> Result<B::Storage> {
    let (n, o, g) = (yl.dims()[0], wl.dims()[0], groups.max(1));
    let (og, k, l) = (o / g, wl.dims()[1..].iter().product::<usize>(), geom.out_h() * geom.out_w());
    let copy;
    let (w, off) = if wl.is_contiguous() {
        (w, wl.offset())
    } else {
        copy = be.copy_strided(w, wl)?;
        (&copy, 0)
    };
    // The weight as `[g, k, O / g]` (transposed) matrices, broadcast over the
    // batch, and `y` as `[n, g, O / g, L]`.
    let wt = Layout::try_new([n, g, k, og], &[0, og * k, 1, k], off)?;
    let ys = yl.strides();
    let yg = Layout::try_new([n, g, og, l], &[ys[0], og * ys[1], ys[1], 1], yl.offset());
    let cols = match yg {
        // `y`'s positions are one row of `L` when its last two dims are
        // contiguous (`ys[2] == ow`, `ys[3] == 1`).
        Ok(yg) if ys[3] == 1 && ys[2] == geom.out_w() => be.matmul(w, &wt, y, &yg)?,
        _ => {
            let dense = be.copy_strided(y, yl)?;
            be.matmul(w, &wt, &dense, &Layout::try_contiguous([n, g, og, l])?)?
        }
    };
    be.col2im(&cols, &Layout::try_contiguous([n, g * k, l])?, geom)
}
