//! Shape operations on a whole tensor: reshape (and squeeze, unsqueeze,
//! flatten), permute and broadcast, which are views (NOTE: [views are
//! metadata]), and `contiguous`, `detach` and `deep_copy`. Views of part of a
//! tensor are in `slice.rs`; concatenation, padding and flipping in
//! `join.rs`.

use super::{norm_dim, ok};
use crate::interp::bind;
use crate::{Backend, DimVec, Error, Primitive, Result, Shape, Tensor};

impl<B: Backend> Tensor<B> {
    /// A tensor with a new shape and the same elements in row-major order; a
    /// view when the layout allows, else a copy (as `torch.reshape`). One
    /// dimension may be `-1`, inferred. The layout of a tracer is its virtual
    /// layout, so the choice is the same with and without transforms (NOTE:
    /// [view or copy]).
    ///
    /// # Errors
    ///
    /// When the sizes do not hold the same number of elements.
    pub fn try_reshape(&self, shape: &[isize]) -> Result<Tensor<B>> {
        let shape = infer_shape(shape, self.numel()).map_err(|why| {
            Error::invalid(
                "reshape",
                format!(
                    "shape {shape:?} is invalid for input of size {} (shape {}): {why}",
                    self.numel(),
                    self.shape()
                ),
            )
        })?;
        self.try_reshape_to(shape)
    }

    /// [`try_reshape`](Self::try_reshape) with an explicit shape (no `-1`).
    ///
    /// # Errors
    ///
    /// When the number of elements differs (or overflows).
    pub fn try_reshape_to(&self, shape: impl Into<Shape>) -> Result<Tensor<B>> {
        let shape = shape.into();
        let numel = shape.check("reshape")?;
        if numel != self.numel() {
            return Err(Error::shape_mismatch(
                "reshape",
                self.shape(),
                &shape,
                format!("hold different numbers of elements ({} vs {numel})", self.numel()),
            ));
        }
        if &shape == self.shape() {
            return Ok(self.clone());
        }
        bind(Primitive::Reshape { shape }, &[self])
    }

    /// Reshape (`-1` infers one dimension).
    ///
    /// # Panics
    ///
    /// When the sizes do not hold the same number of elements, naming both.
    pub fn reshape(&self, shape: &[isize]) -> Tensor<B> {
        ok(self.try_reshape(shape))
    }

    /// Reshape to an explicit shape.
    ///
    /// # Panics
    ///
    /// When the number of elements differs.
    pub fn reshape_to(&self, shape: impl Into<Shape>) -> Tensor<B> {
        ok(self.try_reshape_to(shape))
    }

    /// Reorder dimensions (a view): output dim `i` is input dim `dims[i]`.
    ///
    /// # Errors
    ///
    /// When `dims` is not a permutation of `0..ndim`.
    pub fn try_permute(&self, dims: &[isize]) -> Result<Tensor<B>> {
        let n = self.ndim();
        if dims.len() != n {
            return Err(Error::invalid(
                "permute",
                format!("number of dims don't match: got {} dims for a tensor of shape {}", dims.len(), self.shape()),
            ));
        }
        let perm: DimVec<usize> = dims.iter().map(|&d| norm_dim("permute", d, n)).collect::<Result<_>>()?;
        let mut seen: DimVec<bool> = DimVec::from_elem(false, n);
        for &p in &perm {
            if std::mem::replace(&mut seen[p], true) {
                return Err(Error::invalid("permute", format!("repeated dim {p} in {dims:?}")));
            }
        }
        if perm.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(self.clone());
        }
        bind(Primitive::Permute { perm }, &[self])
    }

    /// Reorder dimensions (a view).
    ///
    /// # Panics
    ///
    /// When `dims` is not a permutation.
    pub fn permute(&self, dims: &[isize]) -> Tensor<B> {
        ok(self.try_permute(dims))
    }

    /// Swap two dimensions (a view).
    ///
    /// # Panics
    ///
    /// When a dimension is out of range.
    pub fn transpose(&self, d0: isize, d1: isize) -> Tensor<B> {
        let n = self.ndim();
        if n == 0 {
            let _ = (ok(norm_dim("transpose", d0, 0)), ok(norm_dim("transpose", d1, 0)));
            return self.clone();
        }
        let (a, b) = (ok(norm_dim("transpose", d0, n)), ok(norm_dim("transpose", d1, n)));
        let mut perm: DimVec<isize> = (0..n as isize).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Transpose of a matrix (swap the last two dims; no-op for rank < 2).
    pub fn t(&self) -> Tensor<B> {
        if self.ndim() < 2 { self.clone() } else { self.transpose(-2, -1) }
    }

    /// Move dimension `src` to position `dst` (a view).
    ///
    /// # Panics
    ///
    /// When a dimension is out of range.
    pub fn movedim(&self, src: isize, dst: isize) -> Tensor<B> {
        let n = self.ndim();
        if n == 0 {
            let _ = (ok(norm_dim("movedim", src, 0)), ok(norm_dim("movedim", dst, 0)));
            return self.clone();
        }
        let (s, d) = (ok(norm_dim("movedim", src, n)), ok(norm_dim("movedim", dst, n)));
        let mut order: DimVec<isize> = (0..n as isize).filter(|&i| i as usize != s).collect();
        order.insert(d, s as isize);
        self.permute(&order)
    }

    /// Broadcast to a larger shape (a view with stride 0 in new dims).
    ///
    /// # Errors
    ///
    /// When `shape` is not a broadcast of this tensor's shape, or has too
    /// many elements (the product of its sizes overflows).
    pub fn try_broadcast_to(&self, shape: impl Into<Shape>) -> Result<Tensor<B>> {
        let shape = shape.into();
        if &shape == self.shape() {
            return Ok(self.clone());
        }
        shape.check("broadcast_to")?;
        let ok_shape = shape.ndim() >= self.ndim()
            && self.dims().iter().rev().zip(shape.iter().rev()).all(|(&a, &b)| a == b || a == 1);
        if !ok_shape {
            return Err(Error::shape_mismatch(
                "broadcast_to",
                self.shape(),
                &shape,
                "are not compatible: the input's sizes must equal the target's or be 1, from the trailing dimension",
            ));
        }
        bind(Primitive::BroadcastTo { shape }, &[self])
    }

    /// Broadcast to a larger shape (a view).
    ///
    /// # Panics
    ///
    /// When the shapes are incompatible, naming both.
    pub fn broadcast_to(&self, shape: impl Into<Shape>) -> Tensor<B> {
        ok(self.try_broadcast_to(shape))
    }

    /// torch's `expand`: like `broadcast_to`, with `-1` keeping a size.
    ///
    /// `-1` is allowed only for an existing dimension; every other size must
    /// be non-negative.
    ///
    /// # Errors
    ///
    /// When fewer sizes than dimensions are given, when a size is negative
    /// other than `-1` (or `-1` names a new leading dimension), when the
    /// shapes are incompatible, or when the result has too many elements.
    pub fn try_expand(&self, sizes: &[isize]) -> Result<Tensor<B>> {
        if sizes.len() < self.ndim() {
            return Err(Error::invalid(
                "expand",
                format!(
                    "the number of sizes provided ({}) must be greater or equal to the number of \
                     dimensions in the tensor ({}); target sizes {sizes:?}, tensor shape {}",
                    sizes.len(),
                    self.ndim(),
                    self.shape()
                ),
            ));
        }
        let lead = sizes.len() - self.ndim();
        let mut shape = Vec::with_capacity(sizes.len());
        for (i, &s) in sizes.iter().enumerate() {
            if i < lead {
                if s < 0 {
                    return Err(Error::invalid(
                        "expand",
                        format!(
                            "the expanded size of the tensor ({s}) isn't allowed in a leading, \
                             non-existing dimension {i}; target sizes {sizes:?}, tensor shape {}; \
                             give a size >= 0 for new dimensions",
                            self.shape()
                        ),
                    ));
                }
                shape.push(s as usize);
            } else if s == -1 {
                shape.push(self.dims()[i - lead]);
            } else if s < 0 {
                return Err(Error::invalid(
                    "expand",
                    format!(
                        "the expanded size of the tensor ({s}) must be >= 0 (or -1 to keep the size \
                         {}) at dimension {i}; target sizes {sizes:?}, tensor shape {}",
                        self.dims()[i - lead],
                        self.shape()
                    ),
                ));
            } else {
                shape.push(s as usize);
            }
        }
        self.try_broadcast_to(shape)
    }

    /// torch's `expand`: like `broadcast_to`, with `-1` keeping a size.
    ///
    /// # Panics
    ///
    /// When the sizes are invalid (see [`Tensor::try_expand`]) or the shapes
    /// are incompatible.
    pub fn expand(&self, sizes: &[isize]) -> Tensor<B> {
        ok(self.try_expand(sizes))
    }

    /// Remove dimension `dim` if its size is 1 (a view).
    ///
    /// # Errors
    ///
    /// When `dim` is out of range.
    pub fn try_squeeze_dim(&self, dim: isize) -> Result<Tensor<B>> {
        let axis = norm_dim("squeeze", dim, self.ndim())?;
        if self.ndim() == 0 || self.dims()[axis] != 1 {
            return Ok(self.clone());
        }
        let mut shape = self.shape().clone();
        shape.0.remove(axis);
        self.try_reshape_to(shape)
    }

    /// Remove dimension `dim` if its size is 1 (a view).
    pub fn squeeze_dim(&self, dim: isize) -> Tensor<B> {
        ok(self.try_squeeze_dim(dim))
    }

    /// Remove every size-1 dimension (a view).
    pub fn squeeze(&self) -> Tensor<B> {
        let shape = Shape(self.dims().iter().copied().filter(|&d| d != 1).collect());
        self.reshape_to(shape)
    }

    /// Insert a size-1 dimension at `dim` (`-1` appends) (a view).
    ///
    /// # Panics
    ///
    /// When `dim` is outside `-(ndim+1)..=ndim`.
    pub fn unsqueeze(&self, dim: isize) -> Tensor<B> {
        let axis = ok(norm_dim("unsqueeze", dim, self.ndim() + 1));
        let mut shape = self.shape().clone();
        shape.0.insert(axis, 1);
        self.reshape_to(shape)
    }

    /// Flatten dimensions `start..=end` into one (a view when possible).
    ///
    /// # Panics
    ///
    /// When a dimension is out of range.
    pub fn flatten(&self, start: isize, end: isize) -> Tensor<B> {
        if self.ndim() == 0 {
            return self.reshape_to([1]);
        }
        let (s, e) = (ok(norm_dim("flatten", start, self.ndim())), ok(norm_dim("flatten", end, self.ndim())));
        let mut shape = Shape::from(&self.dims()[..s]);
        shape.push(self.dims()[s..=e.max(s)].iter().product());
        shape.extend_from_slice(&self.dims()[e.max(s) + 1..]);
        self.reshape_to(shape)
    }

    /// A contiguous tensor with the same values: `self` (an alias, so writes
    /// to it reach `self`) if already contiguous, else a copy, as torch. A
    /// tracer is judged by its virtual layout, so the choice is the same with
    /// and without transforms (NOTE: [view or copy]).
    pub fn contiguous(&self) -> Tensor<B> {
        if self.layout().is_contiguous() { self.clone() } else { self.deep_copy() }
    }

    /// The same values with a zero derivative: torch's `x.detach()`, JAX's
    /// `jax.lax.stop_gradient(x)`. Gradients do not flow through the result
    /// (`grad`, `jvp`, `jacrev`, ... see a constant); vmap batches it as the
    /// identity. On concrete tensors the result shares `self`'s storage, as
    /// in torch: an in-place write to one is seen by the other.
    ///
    /// # Examples
    ///
    /// ```
    /// # type Tensor = func_core::Tensor<func_testkit::RefBackend>;
    /// let x = Tensor::from_vec(vec![1.0f64, 2.0], [2]);
    /// let d = x.detach();
    /// assert_eq!(d.to_vec::<f64>(), vec![1.0, 2.0]);
    /// d.fill_(5.0); // shares storage with x, as in torch
    /// assert_eq!(x.to_vec::<f64>(), vec![5.0, 5.0]);
    /// ```
    pub fn detach(&self) -> Tensor<B> {
        self.un(Primitive::StopGradient)
    }

    /// [`detach`](Self::detach) under JAX's name.
    pub fn stop_gradient(&self) -> Tensor<B> {
        self.detach()
    }

    /// A fresh copy with its own storage (torch's `.clone()`).
    pub fn deep_copy(&self) -> Tensor<B> {
        self.un(Primitive::Copy)
    }
}

/// Resolve a shape with at most one `-1` against `numel`.
fn infer_shape(shape: &[isize], numel: usize) -> std::result::Result<Shape, String> {
    let mut infer = None;
    let mut known = 1usize;
    for (i, &d) in shape.iter().enumerate() {
        if d == -1 {
            if infer.replace(i).is_some() {
                return Err("only one dimension can be inferred".into());
            }
        } else if d < 0 {
            return Err(format!("invalid shape dimension {d}"));
        } else {
            known = known.checked_mul(d as usize).ok_or("the product of the sizes overflows")?;
        }
    }
    let mut out: DimVec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(i) = infer {
        if known == 0 || !numel.is_multiple_of(known) {
            return Err("the inferred dimension is not a whole number".into());
        }
        out[i] = numel / known;
    } else if known != numel {
        return Err(format!("the shape holds {known} elements"));
    }
    Ok(Shape(out))
}
