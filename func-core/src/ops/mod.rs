//! Tensor operations: each is one primitive handed to [`bind`](crate::bind)
//! after its arguments are checked, or a composite of such operations.
//!
//! Panicking forms (`a.matmul(&b)`, `&a + &b`) panic with the message of the
//! error their `try_` form returns; both are documented together.

mod compare;
mod elementwise;
mod factory;
mod index;
mod inplace;
mod join;
mod linalg;
mod nn;
mod operators;
mod reduce;
mod shape;
mod slice;

pub use factory::Generator;
pub use nn::{Conv2dOptions, ConvTranspose2dOptions};

use crate::{Error, Result, Shape};

/// The shape of `shape` padded by `pads[d] = (before, after)`, with checked
/// additions.
pub(crate) fn padded_shape(shape: &Shape, pads: &[(usize, usize)]) -> Result<Shape> {
    if pads.len() != shape.ndim() {
        return Err(Error::invalid(
            "pad",
            format!("expected {} (before, after) pairs for shape {}, got {}", shape.ndim(), shape, pads.len()),
        ));
    }
    let dims = shape
        .iter()
        .zip(pads)
        .map(|(&d, &(a, b))| d.checked_add(a).and_then(|x| x.checked_add(b)))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            Error::invalid_shape(
                "pad",
                shape,
                format!("padding {pads:?} overflows a size (size + before + after > usize::MAX); use smaller padding"),
            )
        })?;
    let out = Shape(dims);
    out.check("pad")?;
    Ok(out)
}

/// Normalise a possibly negative dimension index against `ndim`.
pub(crate) fn norm_dim(op: &str, dim: isize, ndim: usize) -> Result<usize> {
    let n = ndim as isize;
    let (lo, hi) = if n == 0 { (-1, 0) } else { (-n, n - 1) };
    if dim < lo || dim > hi {
        return Err(Error::DimOutOfRange { op: op.to_string(), dim, min: lo, max: hi });
    }
    Ok(if dim < 0 { (dim + n.max(1)) as usize } else { dim as usize })
}

/// Panic with an error's message: the panicking forms of operations.
#[track_caller]
pub(crate) fn ok<T>(r: Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}
