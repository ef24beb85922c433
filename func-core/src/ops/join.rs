//! Shape operations that build new data: concatenation, stacking, padding
//! and flipping.

use super::{norm_dim, ok};
use crate::alloc::check_alloc;
use crate::interp::bind;
use crate::{Backend, DimVec, Error, Primitive, Result, Tensor};

impl<B: Backend> Tensor<B> {
    /// Concatenate along `dim`.
    ///
    /// # Errors
    ///
    /// When the list is empty or shapes differ outside `dim`.
    pub fn try_cat(tensors: &[Tensor<B>], dim: isize) -> Result<Tensor<B>> {
        let first = tensors.first().ok_or_else(|| Error::invalid("cat", "expected a non-empty list of Tensors"))?;
        if let Some((i, t)) = tensors.iter().enumerate().find(|(_, t)| t.ndim() == 0) {
            return Err(Error::invalid(
                "cat",
                format!("zero-dimensional tensor (at position {i}, {t:?}) cannot be concatenated; use stack instead"),
            ));
        }
        let axis = norm_dim("cat", dim, first.ndim())?;
        let dtype = tensors.iter().fold(first.dtype(), |d, t| d.promote(t.dtype()));
        let mut parts = Vec::with_capacity(tensors.len());
        for (i, t) in tensors.iter().enumerate() {
            let same = t.ndim() == first.ndim()
                && t.dims().iter().zip(first.dims()).enumerate().all(|(d, (a, b))| d == axis || a == b);
            if !same {
                return Err(Error::shape_mismatch(
                    "cat",
                    first.shape(),
                    t.shape(),
                    format!("(tensors 0 and {i}) must match in every dimension except {axis}"),
                ));
            }
            parts.push(t.try_to_dtype(dtype)?);
        }
        if parts.len() == 1 {
            return Ok(parts.pop().unwrap_or_else(|| first.clone()));
        }
        let refs: Vec<&Tensor<B>> = parts.iter().collect();
        bind(Primitive::Concat { axis }, &refs)
    }

    /// Concatenate along `dim`.
    ///
    /// # Panics
    ///
    /// When the list is empty or shapes differ outside `dim`.
    pub fn cat(tensors: &[Tensor<B>], dim: isize) -> Tensor<B> {
        ok(Self::try_cat(tensors, dim))
    }

    /// Stack equal-shape tensors along a new dimension `dim`.
    ///
    /// # Errors
    ///
    /// When the list is empty or the shapes differ.
    pub fn try_stack(tensors: &[Tensor<B>], dim: isize) -> Result<Tensor<B>> {
        let first = tensors.first().ok_or_else(|| Error::invalid("stack", "expected a non-empty list of Tensors"))?;
        for (i, t) in tensors.iter().enumerate() {
            if t.shape() != first.shape() {
                return Err(Error::shape_mismatch(
                    "stack",
                    first.shape(),
                    t.shape(),
                    format!("(tensors 0 and {i}): stack expects each tensor to be equal size"),
                ));
            }
        }
        let axis = norm_dim("stack", dim, first.ndim() + 1)? as isize;
        let parts: Vec<Tensor<B>> = tensors.iter().map(|t| t.unsqueeze(axis)).collect();
        Self::try_cat(&parts, axis)
    }

    /// Stack equal-shape tensors along a new dimension.
    ///
    /// # Panics
    ///
    /// When the list is empty or the shapes differ.
    pub fn stack(tensors: &[Tensor<B>], dim: isize) -> Tensor<B> {
        ok(Self::try_stack(tensors, dim))
    }

    /// Pad with a constant: `pads[i] = (before, after)` for dimension `i`
    /// (all dimensions, in order).
    ///
    /// # Errors
    ///
    /// When `pads` does not have one entry per dimension, or a padded size
    /// (`size + before + after`) or the padded number of elements overflows.
    pub fn try_pad(&self, pads: &[(usize, usize)], value: f64) -> Result<Tensor<B>> {
        let padded = super::padded_shape(self.shape(), pads)?;
        check_alloc("pad", &padded, self.dtype())?;
        if pads.iter().all(|&(a, b)| a == 0 && b == 0) {
            return Ok(self.clone());
        }
        bind(Primitive::Pad { pads: pads.iter().copied().collect(), value }, &[self])
    }

    /// Pad with a constant (one `(before, after)` pair per dimension).
    ///
    /// # Panics
    ///
    /// When `pads` does not have one entry per dimension.
    pub fn pad(&self, pads: &[(usize, usize)], value: f64) -> Tensor<B> {
        ok(self.try_pad(pads, value))
    }

    /// Reverse the order of elements along `dims`.
    ///
    /// # Panics
    ///
    /// When a dimension is out of range.
    pub fn flip(&self, dims: &[isize]) -> Tensor<B> {
        let mut axes: DimVec<usize> = dims.iter().map(|&d| ok(norm_dim("flip", d, self.ndim()))).collect();
        axes.sort_unstable();
        axes.dedup();
        if axes.is_empty() {
            return self.clone();
        }
        self.un(Primitive::Flip { axes })
    }
}
