//! Creating a [`Tensor`] from host data, and reading its elements back.

use super::Tensor;
use crate::interp;
use crate::{Backend, Element, Error, HostData, Layout, Result, Shape};

impl<B: Backend> Tensor<B> {
    // ----- creation ---------------------------------------------------------------------------

    /// A tensor from host data in row-major order.
    ///
    /// # Errors
    ///
    /// When `data.len()` is not the number of elements of `shape`, or the
    /// number of elements overflows.
    pub fn try_from_host(data: HostData, shape: impl Into<Shape>) -> Result<Tensor<B>> {
        let shape = shape.into();
        let numel = shape.check("from_vec")?;
        if data.len() != numel {
            return Err(Error::invalid_shape(
                "from_vec",
                &shape,
                format!("got {} elements, but the shape holds {numel}", data.len()),
            ));
        }
        let be = crate::default_backend::<B>()?;
        let storage = be.from_host(data)?;
        Tensor::from_backend_storage(be, storage, Layout::try_contiguous(shape)?)
    }

    /// A tensor from a vector in row-major order.
    ///
    /// # Panics
    ///
    /// When `data.len()` differs from the number of elements of `shape`
    /// (use [`try_from_vec`](Self::try_from_vec) to get an error instead).
    pub fn from_vec<T: Element>(data: Vec<T>, shape: impl Into<Shape>) -> Tensor<B> {
        Self::try_from_vec(data, shape).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A tensor from a vector in row-major order.
    ///
    /// # Errors
    ///
    /// When `data.len()` differs from the number of elements of `shape`.
    pub fn try_from_vec<T: Element>(data: Vec<T>, shape: impl Into<Shape>) -> Result<Tensor<B>> {
        Self::try_from_host(T::into_host(data), shape)
    }

    /// A tensor from a slice in row-major order.
    ///
    /// # Panics
    ///
    /// When the length differs from the number of elements of `shape`.
    pub fn from_slice<T: Element>(data: &[T], shape: impl Into<Shape>) -> Tensor<B> {
        Self::from_vec(data.to_vec(), shape)
    }

    /// A 0-dimensional tensor.
    pub fn scalar<T: Element>(value: T) -> Tensor<B> {
        Self::from_vec(vec![value], Shape::scalar())
    }

    // ----- read-back --------------------------------------------------------------------------

    /// The elements in row-major order, converted to `T`.
    ///
    /// # Panics
    ///
    /// Under vmap (the value differs per batch element: data-dependent
    /// control flow), with torch.func's explanation.
    pub fn to_vec<T: Element>(&self) -> Vec<T> {
        self.try_to_vec().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The elements in row-major order, converted to `T`.
    ///
    /// # Errors
    ///
    /// Under a transform that cannot read its tracers (vmap).
    pub fn try_to_vec<T: Element>(&self) -> Result<Vec<T>> {
        Ok(T::from_host(self.try_to_host("to_vec")?))
    }

    pub(crate) fn try_to_host(&self, op: &str) -> Result<HostData> {
        let t = interp::lower_for_read(self, op)?;
        let (storage, layout) = t.concrete().ok_or_else(|| Error::invalid(op, "not concrete"))?;
        let guard = storage.read(op)?;
        storage.backend().to_host(&guard, layout)
    }

    /// The value of a one-element tensor.
    ///
    /// # Panics
    ///
    /// If the tensor does not have exactly one element, or under vmap
    /// (data-dependent control flow).
    pub fn item<T: Element>(&self) -> T {
        self.try_item().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The value of a one-element tensor.
    ///
    /// # Errors
    ///
    /// If the tensor does not have exactly one element, or under vmap.
    pub fn try_item<T: Element>(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(Error::invalid(
                "item",
                format!(
                    "a Tensor with {} elements cannot be converted to a scalar (shape {})",
                    self.numel(),
                    self.shape()
                ),
            ));
        }
        let v = T::from_host(self.try_to_host("item")?);
        Ok(v[0])
    }
}
