//! [`ConvGeom`]: the geometry of the sliding window of
//! [`Backend::im2col`](super::Backend::im2col) and
//! [`Backend::col2im`](super::Backend::col2im).

use crate::Result;

/// The geometry of a 2-D sliding window (convolution and pooling), used by
/// [`Backend::im2col`](super::Backend::im2col) and [`Backend::col2im`](super::Backend::col2im).
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
