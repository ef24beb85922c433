//! Neural-network composites, written in primitives so that every transform
//! sees through them: activations, softmax family, linear, conv2d (one
//! [`Primitive::Conv2d`], plus the bias), pooling and losses.

use super::{norm_dim, ok};
use crate::interp::bind;
use crate::{Backend, ConvGeom, DType, Error, Primitive, Result, Tensor, UnaryOp};

/// Options of [`Tensor::conv2d`], with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dOptions {
    /// Stride (rows, columns); default `(1, 1)`.
    pub stride: (usize, usize),
    /// Zero padding (rows, columns); default `(0, 0)`.
    pub padding: (usize, usize),
    /// Dilation (rows, columns); default `(1, 1)`.
    pub dilation: (usize, usize),
    /// Groups; default 1.
    pub groups: usize,
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions { stride: (1, 1), padding: (0, 0), dilation: (1, 1), groups: 1 }
    }
}

/// `out + bias` per channel (dim 1) of a convolution's output, the bias
/// `[channels]` when given.
fn channel_bias<B: Backend>(
    op: &str,
    out: Tensor<B>,
    weight: &Tensor<B>,
    bias: Option<&Tensor<B>>,
) -> Result<Tensor<B>> {
    let Some(b) = bias else { return Ok(out) };
    let c = out.dims()[1];
    if b.dims() != [c] {
        return Err(Error::shape_mismatch(
            op,
            weight.shape(),
            b.shape(),
            format!("(weight, bias): bias must have shape [{c}]"),
        ));
    }
    out.try_add(&b.try_reshape_to([1, c, 1, 1])?)
}

/// A convolution's input and weight: floating point, of one dtype.
fn float_operands<B: Backend>(op: &str, x: &Tensor<B>, weight: &Tensor<B>) -> Result<()> {
    if x.dtype().is_float() && x.dtype() == weight.dtype() {
        return Ok(());
    }
    Err(Error::dtype(
        op,
        if x.dtype().is_float() { weight.dtype() } else { x.dtype() },
        format!(
            "expected input and weight to be floating point of one dtype, got {} and {}",
            x.dtype(),
            weight.dtype()
        ),
    ))
}

/// Options of [`Tensor::conv_transpose2d`], with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTranspose2dOptions {
    /// Stride (rows, columns) of the convolution transposed; default `(1, 1)`.
    pub stride: (usize, usize),
    /// Zero padding (rows, columns) of the convolution transposed: the
    /// output is cropped by it; default `(0, 0)`.
    pub padding: (usize, usize),
    /// Extra rows and columns at the end of the output, less than the
    /// stride; default `(0, 0)`.
    pub output_padding: (usize, usize),
    /// Dilation (rows, columns); default `(1, 1)`.
    pub dilation: (usize, usize),
    /// Groups; default 1.
    pub groups: usize,
}

impl Default for ConvTranspose2dOptions {
    fn default() -> Self {
        ConvTranspose2dOptions { stride: (1, 1), padding: (0, 0), output_padding: (0, 0), dilation: (1, 1), groups: 1 }
    }
}

impl<B: Backend> Tensor<B> {
    /// `max(x, 0)`, also for i64: NaN propagates and the derivative at 0 is
    /// 0, as PyTorch.
    ///
    /// One primitive ([`UnaryOp::Relu`]), whose derivative is one more
    /// ([`BinaryOp::ReluBackward`](crate::BinaryOp::ReluBackward)).
    ///
    /// # Panics
    ///
    /// On a bool tensor (as torch).
    pub fn relu(&self) -> Tensor<B> {
        ok(self.try_unary(UnaryOp::Relu))
    }

    /// GELU, exact form `x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))`.
    pub fn gelu(&self) -> Tensor<B> {
        let inner = (self * std::f64::consts::FRAC_1_SQRT_2).erf() + 1.0;
        self * &inner * 0.5
    }

    /// Softmax along `dim`, computed stably.
    ///
    /// # Panics
    ///
    /// When `dim` is out of range.
    pub fn softmax(&self, dim: isize) -> Tensor<B> {
        if self.dims().get(ok(norm_dim("softmax", dim, self.ndim()))) == Some(&0) {
            return self.clone();
        }
        let e = (self - &self.max_dims(&[dim], true)).exp();
        &e / &e.sum_dims(&[dim], true)
    }

    /// Log-softmax along `dim`: `x - logsumexp(x, dim)`.
    ///
    /// # Panics
    ///
    /// When `dim` is out of range.
    pub fn log_softmax(&self, dim: isize) -> Tensor<B> {
        if self.dims().get(ok(norm_dim("log_softmax", dim, self.ndim()))) == Some(&0) {
            return self.clone();
        }
        self - &self.logsumexp(&[dim], true)
    }

    /// `x @ weight^T + bias` (torch's `F.linear`): `weight` is `[out, in]`.
    /// For an input of at least two dimensions the bias is added as the
    /// product is written ([`addmm`](Self::addmm)).
    ///
    /// # Errors
    ///
    /// When the shapes do not fit (matmul's and add's errors).
    pub fn try_linear(&self, weight: &Tensor<B>, bias: Option<&Tensor<B>>) -> Result<Tensor<B>> {
        match bias {
            Some(b) if self.ndim() >= 2 && weight.ndim() == 2 && b.ndim() <= 1 && b.dtype() == self.dtype() => {
                b.try_addmm(self, &weight.t())
            }
            Some(b) => self.try_matmul(&weight.t())?.try_add(b),
            None => self.try_matmul(&weight.t()),
        }
    }

    /// `x @ weight^T + bias` ([`try_linear`](Self::try_linear)).
    ///
    /// # Panics
    ///
    /// When the shapes do not fit.
    pub fn linear(&self, weight: &Tensor<B>, bias: Option<&Tensor<B>>) -> Tensor<B> {
        ok(self.try_linear(weight, bias))
    }

    /// Unfold sliding windows (`torch.nn.functional.unfold`): `[N, C, H, W]`
    /// to `[N, C*kh*kw, L]`.
    ///
    /// # Errors
    ///
    /// When the input is not 4-D or a stride/dilation is 0.
    pub fn try_unfold(
        &self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Result<Tensor<B>> {
        if self.ndim() != 4 {
            return Err(Error::invalid_shape("unfold", self.shape(), "expected a 4-D input [N, C, H, W]"));
        }
        if stride.0 == 0 || stride.1 == 0 || dilation.0 == 0 || dilation.1 == 0 || kernel.0 == 0 || kernel.1 == 0 {
            return Err(Error::invalid(
                "unfold",
                format!("kernel {kernel:?}, stride {stride:?} and dilation {dilation:?} must be positive"),
            ));
        }
        let geom = ConvGeom { h: self.dims()[2], w: self.dims()[3], kernel, stride, padding, dilation };
        geom.check("unfold", self.shape())?;
        if geom.out_h() == 0 || geom.out_w() == 0 {
            return Err(Error::invalid_shape(
                "unfold",
                self.shape(),
                format!(
                    "the kernel {kernel:?} (dilation {dilation:?}) is larger than the padded input ({padding:?} padding)"
                ),
            ));
        }
        bind(Primitive::Im2col(geom), &[self])
    }

    /// Fold columns back (`torch.nn.functional.fold`), summing overlaps:
    /// `[N, C*kh*kw, L]` to `[N, C, h, w]`.
    ///
    /// # Errors
    ///
    /// When the column count does not match the geometry.
    pub fn try_fold(
        &self,
        out: (usize, usize),
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Result<Tensor<B>> {
        let geom = ConvGeom { h: out.0, w: out.1, kernel, stride, padding, dilation };
        geom.check("fold", self.shape())?;
        let kk = kernel.0 * kernel.1;
        if self.ndim() != 3
            || kk == 0
            || !self.dims()[1].is_multiple_of(kk)
            || self.dims()[2] != geom.out_h() * geom.out_w()
        {
            return Err(Error::invalid_shape(
                "fold",
                self.shape(),
                format!("does not match kernel {kernel:?} and output size {out:?}"),
            ));
        }
        bind(Primitive::Col2im(geom), &[self])
    }

    /// 2-D convolution (cross-correlation, as PyTorch): input `[N, C, H, W]`
    /// (or `[C, H, W]`), weight `[O, C / groups, kh, kw]`, optional bias `[O]`.
    /// One [`Primitive::Conv2d`]: the product of the weight with the input's
    /// columns (`unfold`), per group.
    ///
    /// # Errors
    ///
    /// When the shapes or options do not fit, naming them.
    pub fn try_conv2d(&self, weight: &Tensor<B>, bias: Option<&Tensor<B>>, opts: Conv2dOptions) -> Result<Tensor<B>> {
        if self.ndim() == 3 {
            return self.unsqueeze(0).try_conv2d(weight, bias, opts)?.try_squeeze_dim(0);
        }
        if self.ndim() != 4 || weight.ndim() != 4 {
            return Err(Error::shape_mismatch(
                "conv2d",
                self.shape(),
                weight.shape(),
                "(input, weight): expected a 4-D input [N, C, H, W] and a 4-D weight [O, C/groups, kh, kw]",
            ));
        }
        let c = self.dims()[1];
        let (o, cg, kh, kw) = (weight.dims()[0], weight.dims()[1], weight.dims()[2], weight.dims()[3]);
        let g = opts.groups;
        if g == 0 || !c.is_multiple_of(g) || !o.is_multiple_of(g) || cg * g != c {
            return Err(Error::shape_mismatch(
                "conv2d",
                self.shape(),
                weight.shape(),
                format!(
                    "(input, weight) with groups={g}: expected input to have {} channels, but got {c} channels",
                    cg * g
                ),
            ));
        }
        let geom = ConvGeom {
            h: self.dims()[2],
            w: self.dims()[3],
            kernel: (kh, kw),
            stride: opts.stride,
            padding: opts.padding,
            dilation: opts.dilation,
        };
        geom.check("conv2d", self.shape())?;
        float_operands("conv2d", self, weight)?;
        let s = opts.stride;
        if s.0 == 0 || s.1 == 0 || opts.dilation.0 == 0 || opts.dilation.1 == 0 {
            return Err(Error::invalid(
                "conv2d",
                format!("stride {s:?} and dilation {:?} must be positive", opts.dilation),
            ));
        }
        if geom.out_h() == 0 || geom.out_w() == 0 {
            return Err(Error::invalid_shape(
                "conv2d",
                self.shape(),
                format!(
                    "the kernel ({kh}, {kw}) (dilation {:?}) is larger than the padded input ({:?} padding)",
                    opts.dilation, opts.padding
                ),
            ));
        }
        let out = bind(Primitive::Conv2d { geom, groups: g }, &[self, weight])?;
        channel_bias("conv2d", out, weight, bias)
    }

    /// 2-D transposed convolution (`torch.nn.functional.conv_transpose2d`,
    /// the gradient of [`conv2d`](Self::conv2d) in its input): input `[N,
    /// C_in, H, W]` (or `[C_in, H, W]`), weight `[C_in, C_out / groups, kh,
    /// kw]`, optional bias `[C_out]`; output `[N, C_out, H_out, W_out]` with
    /// `H_out = (H - 1) * stride - 2 * padding + dilation * (kh - 1) +
    /// output_padding + 1`. One [`Primitive::ConvTranspose2d`], plus the
    /// bias.
    ///
    /// # Errors
    ///
    /// When the shapes or options do not fit (an output padding not below
    /// the stride, a padding that crops the whole output), naming them.
    ///
    /// # Examples
    ///
    /// ```
    /// use func_core::{ConvTranspose2dOptions, DType};
    /// # type T = func_core::Tensor<func_testkit::RefBackend>;
    /// let x = T::ones([1, 2, 3, 3], DType::F32);
    /// let w = T::ones([2, 4, 3, 3], DType::F32);
    /// let opts = ConvTranspose2dOptions { stride: (2, 2), padding: (1, 1), output_padding: (1, 1), ..Default::default() };
    /// assert_eq!(x.conv_transpose2d(&w, None, opts).dims(), &[1, 4, 6, 6]);
    /// ```
    pub fn try_conv_transpose2d(
        &self,
        weight: &Tensor<B>,
        bias: Option<&Tensor<B>>,
        opts: ConvTranspose2dOptions,
    ) -> Result<Tensor<B>> {
        if self.ndim() == 3 {
            return self.unsqueeze(0).try_conv_transpose2d(weight, bias, opts)?.try_squeeze_dim(0);
        }
        let op = "conv_transpose2d";
        if self.ndim() != 4 || weight.ndim() != 4 {
            return Err(Error::shape_mismatch(
                op,
                self.shape(),
                weight.shape(),
                "(input, weight): expected a 4-D input [N, C_in, H, W] and a 4-D weight [C_in, C_out/groups, kh, kw]",
            ));
        }
        float_operands(op, self, weight)?;
        let (c_in, g) = (self.dims()[1], opts.groups);
        let (wd, (s, p, op_, d)) = (weight.dims(), (opts.stride, opts.padding, opts.output_padding, opts.dilation));
        if g == 0 || wd[0] != c_in || !c_in.is_multiple_of(g) {
            return Err(Error::shape_mismatch(
                op,
                self.shape(),
                weight.shape(),
                format!(
                    "(input, weight) with groups={g}: the weight must have the input's {c_in} channels first, a multiple of groups"
                ),
            ));
        }
        if s.0 == 0 || s.1 == 0 || d.0 == 0 || d.1 == 0 {
            return Err(Error::invalid(op, format!("stride {s:?} and dilation {d:?} must be positive")));
        }
        if op_.0 >= s.0 || op_.1 >= s.1 {
            return Err(Error::invalid(op, format!("output_padding {op_:?} must be smaller than the stride {s:?}")));
        }
        let (kh, kw) = (wd[2], wd[3]);
        // (H - 1) * stride + dilation * (k - 1) + output_padding + 1 - 2 * padding.
        let out = |h: usize, s: usize, d: usize, k: usize, o: usize, p: usize| {
            h.checked_sub(1)?
                .checked_mul(s)?
                .checked_add(d.checked_mul(k.checked_sub(1)?)?)?
                .checked_add(o + 1)?
                .checked_sub(p.checked_mul(2)?)
                .filter(|&v| v > 0)
        };
        let (ho, wo) = match (
            out(self.dims()[2], s.0, d.0, kh, op_.0, p.0),
            out(self.dims()[3], s.1, d.1, kw, op_.1, p.1),
        ) {
            (Some(ho), Some(wo)) => (ho, wo),
            _ => {
                return Err(Error::invalid_shape(
                    op,
                    self.shape(),
                    format!(
                        "the output size is not positive with kernel ({kh}, {kw}), stride {s:?}, padding {p:?}, dilation {d:?}; use less padding"
                    ),
                ));
            }
        };
        let geom = ConvGeom { h: ho, w: wo, kernel: (kh, kw), stride: s, padding: p, dilation: d };
        geom.check(op, self.shape())?;
        let out = bind(Primitive::ConvTranspose2d { geom, groups: g }, &[self, weight])?;
        channel_bias(op, out, weight, bias)
    }

    /// 2-D transposed convolution.
    ///
    /// # Panics
    ///
    /// As [`try_conv_transpose2d`](Self::try_conv_transpose2d).
    pub fn conv_transpose2d(
        &self,
        weight: &Tensor<B>,
        bias: Option<&Tensor<B>>,
        opts: ConvTranspose2dOptions,
    ) -> Tensor<B> {
        ok(self.try_conv_transpose2d(weight, bias, opts))
    }

    /// 2-D convolution.
    ///
    /// # Panics
    ///
    /// As [`try_conv2d`](Self::try_conv2d).
    pub fn conv2d(&self, weight: &Tensor<B>, bias: Option<&Tensor<B>>, opts: Conv2dOptions) -> Tensor<B> {
        ok(self.try_conv2d(weight, bias, opts))
    }

    fn pool_windows(
        &self,
        op: &str,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        pad_value: f64,
    ) -> Result<(Tensor<B>, [usize; 4])> {
        let x = if self.ndim() == 3 { self.unsqueeze(0) } else { self.clone() };
        if x.ndim() != 4 {
            return Err(Error::invalid_shape(op, self.shape(), "expected a 3-D or 4-D input ([N,] C, H, W)"));
        }
        let (n, c, h, w) = (x.dims()[0], x.dims()[1], x.dims()[2], x.dims()[3]);
        // `p > k / 2` is `2p > k`, without overflow.
        if padding.0 > kernel.0 / 2 || padding.1 > kernel.1 / 2 {
            return Err(Error::invalid(
                op,
                format!(
                    "pad should be at most half of effective kernel size, but got pad={padding:?} and kernel_size={kernel:?}"
                ),
            ));
        }
        let x = x.try_reshape_to([n * c, 1, h, w])?;
        let x = x.try_pad(&[(0, 0), (0, 0), (padding.0, padding.0), (padding.1, padding.1)], pad_value)?;
        let cols = x.try_unfold(kernel, stride, (0, 0), (1, 1))?;
        let geom = ConvGeom { h, w, kernel, stride, padding, dilation: (1, 1) };
        Ok((cols, [n, c, geom.out_h(), geom.out_w()]))
    }

    /// 2-D max pooling (`stride` defaults to `kernel` in PyTorch; pass it).
    ///
    /// # Panics
    ///
    /// When the input is not 3-D/4-D or the window does not fit.
    pub fn max_pool2d(&self, kernel: (usize, usize), stride: (usize, usize), padding: (usize, usize)) -> Tensor<B> {
        let (cols, [n, c, oh, ow]) = ok(self.pool_windows("max_pool2d", kernel, stride, padding, f64::NEG_INFINITY));
        // NOTE: [max_pool2d routes to the first maximum] torch sends a
        // window's whole gradient to its first maximal element (the index
        // max_pool2d_with_indices returns), not an even split among ties, so
        // the maximum is gathered at the argmax (first on ties, NaN wins).
        let first_max = cols.argmax(1, true);
        let out = cols.gather(1, &first_max).reshape_to([n, c, oh, ow]);
        if self.ndim() == 3 { out.squeeze_dim(0) } else { out }
    }

    /// 2-D average pooling (padding counts as zeros, PyTorch's default).
    ///
    /// # Panics
    ///
    /// When the input is not 3-D/4-D or the window does not fit.
    pub fn avg_pool2d(&self, kernel: (usize, usize), stride: (usize, usize), padding: (usize, usize)) -> Tensor<B> {
        let (cols, [n, c, oh, ow]) = ok(self.pool_windows("avg_pool2d", kernel, stride, padding, 0.0));
        let out = cols.mean_dims(&[1], false).reshape_to([n, c, oh, ow]);
        if self.ndim() == 3 { out.squeeze_dim(0) } else { out }
    }

    /// Negative log-likelihood of log-probabilities `[N, C]` (or `[C]`) at
    /// class indices `target` (i64, `[N]` or scalar), averaged.
    ///
    /// # Panics
    ///
    /// When the shapes do not fit, `target` is not i64, or a target is
    /// negative or not smaller than the number of classes `C`.
    pub fn nll_loss(&self, target: &Tensor<B>) -> Tensor<B> {
        self.nll_loss_as("nll_loss", target)
    }

    /// [`nll_loss`](Self::nll_loss), with errors naming `op`.
    fn nll_loss_as(&self, op: &str, target: &Tensor<B>) -> Tensor<B> {
        assert!(target.dtype() == DType::I64, "{op}: expected an i64 target of class indices, got {}", target.dtype());
        let (logp, t) =
            if self.ndim() == 1 { (self.unsqueeze(0), target.reshape_to([1])) } else { (self.clone(), target.clone()) };
        assert!(
            logp.ndim() == 2 && t.dims() == [logp.dims()[0]],
            "{op}: expected input [N, C] and target [N], got input {} and target {}",
            self.shape(),
            target.shape()
        );
        let classes = logp.dims()[1];
        let out_of_bounds = |which: String| -> String {
            format!(
                "{op}: {which} is out of bounds: targets must be class indices in [0, {classes}) for an \
                 input with {classes} classes (input shape {}, target shape {})",
                self.shape(),
                target.shape()
            )
        };
        // Concrete targets (and grad/jvp tracers) are checked by value; under
        // vmap the values cannot be read, and the gather's own range check
        // reports them.
        if let Ok(values) = t.try_to_vec::<i64>()
            && let Some(&v) = values.iter().find(|&&v| v < 0 || v as u64 >= classes as u64)
        {
            panic!("{}", out_of_bounds(format!("Target {v}")));
        }
        let picked = logp
            .try_gather(1, &t.unsqueeze(1))
            .unwrap_or_else(|e| panic!("{} ({e})", out_of_bounds("a target".to_string())));
        -picked.mean()
    }

    /// Cross entropy of logits `[N, C]` (or `[C]`) against class indices (i64
    /// `[N]`) or class probabilities (float, the logits' shape), averaged
    /// over the batch.
    ///
    /// # Panics
    ///
    /// When the shapes do not fit, or a class-index target is negative or
    /// not smaller than the number of classes.
    pub fn cross_entropy(&self, target: &Tensor<B>) -> Tensor<B> {
        let _ = ok(norm_dim("cross_entropy", -1, self.ndim()));
        let logp = self.log_softmax(-1);
        if target.dtype().is_float() {
            assert!(
                target.shape() == self.shape(),
                "cross_entropy: class-probability targets must have the input's shape: input {}, target {}",
                self.shape(),
                target.shape()
            );
            let per_row = -(&logp * target).sum_dims(&[-1], false);
            per_row.mean()
        } else {
            logp.nll_loss_as("cross_entropy", target)
        }
    }

    /// Mean squared error `mean((self - target)^2)`.
    ///
    /// # Panics
    ///
    /// When the shapes do not broadcast.
    pub fn mse_loss(&self, target: &Tensor<B>) -> Tensor<B> {
        let d = self - target;
        (&d * &d).mean()
    }
}
