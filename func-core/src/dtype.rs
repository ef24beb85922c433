//! Element types and host-side buffers.

use std::fmt;

/// The element type of a tensor.
///
/// Floating-point operations (everything differentiable) run on [`DType::F32`]
/// and [`DType::F64`]; [`DType::I64`] holds indices and [`DType::Bool`] masks.
///
/// # Examples
///
/// ```
/// use func_core::DType;
/// assert!(DType::F32.is_float());
/// assert_eq!(DType::I64.to_string(), "i64");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DType {
    /// 32-bit IEEE float.
    F32,
    /// 64-bit IEEE float.
    F64,
    /// 64-bit signed integer (indices).
    I64,
    /// Boolean (masks, comparison results).
    Bool,
}

impl DType {
    /// Whether this is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// Size of one element in bytes.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 | DType::I64 => 8,
            DType::Bool => 1,
        }
    }

    /// The type two operands are promoted to in a binary operation
    /// (PyTorch's rule restricted to these four types: bool < i64 < f32 < f64).
    pub fn promote(self, other: DType) -> DType {
        self.max_rank(other)
    }

    fn max_rank(self, other: DType) -> DType {
        fn rank(d: DType) -> u8 {
            match d {
                DType::Bool => 0,
                DType::I64 => 1,
                DType::F32 => 2,
                DType::F64 => 3,
            }
        }
        if rank(self) >= rank(other) { self } else { other }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I64 => "i64",
            DType::Bool => "bool",
        })
    }
}

/// A host (CPU memory) buffer of one dtype, in row-major order.
///
/// This is what crosses the [`Backend`](crate::Backend) boundary in
/// [`from_host`](crate::Backend::from_host) and
/// [`to_host`](crate::Backend::to_host).
#[derive(Clone, Debug, PartialEq)]
pub enum HostData {
    /// `f32` elements.
    F32(Vec<f32>),
    /// `f64` elements.
    F64(Vec<f64>),
    /// `i64` elements.
    I64(Vec<i64>),
    /// `bool` elements.
    Bool(Vec<bool>),
}

impl HostData {
    /// The dtype of the elements.
    pub fn dtype(&self) -> DType {
        match self {
            HostData::F32(_) => DType::F32,
            HostData::F64(_) => DType::F64,
            HostData::I64(_) => DType::I64,
            HostData::Bool(_) => DType::Bool,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            HostData::F32(v) => v.len(),
            HostData::F64(v) => v.len(),
            HostData::I64(v) => v.len(),
            HostData::Bool(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements converted to `f64` (bool as 0/1).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            HostData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            HostData::F64(v) => v.clone(),
            HostData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            HostData::Bool(v) => v.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect(),
        }
    }

    /// Build a buffer of `dtype` with `len` elements `f(0), f(1), ...`
    /// converted as [`from_f64`](Self::from_f64) does, without an `f64`
    /// scratch buffer. `op` and `shape` name the tensor in the error.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`](crate::Error::OutOfMemory) when the buffer
    /// cannot be allocated.
    pub fn try_from_fn(
        op: &str,
        shape: &crate::Shape,
        dtype: DType,
        len: usize,
        mut f: impl FnMut(usize) -> f64,
    ) -> crate::Result<HostData> {
        fn fill<T>(op: &str, shape: &crate::Shape, len: usize, g: impl FnMut(usize) -> T) -> crate::Result<Vec<T>> {
            let mut v = crate::alloc::try_vec(op, shape, len)?;
            v.extend((0..len).map(g));
            Ok(v)
        }
        Ok(match dtype {
            DType::F32 => HostData::F32(fill(op, shape, len, |i| f(i) as f32)?),
            DType::F64 => HostData::F64(fill(op, shape, len, f)?),
            DType::I64 => HostData::I64(fill(op, shape, len, |i| f(i) as i64)?),
            DType::Bool => HostData::Bool(fill(op, shape, len, |i| f(i) != 0.0)?),
        })
    }

    /// Build a buffer of `dtype` from `f64` values (rounded toward zero for
    /// `I64`, nonzero is `true` for `Bool`).
    pub fn from_f64(values: &[f64], dtype: DType) -> HostData {
        match dtype {
            DType::F32 => HostData::F32(values.iter().map(|&x| x as f32).collect()),
            DType::F64 => HostData::F64(values.to_vec()),
            DType::I64 => HostData::I64(values.iter().map(|&x| x as i64).collect()),
            DType::Bool => HostData::Bool(values.iter().map(|&x| x != 0.0).collect()),
        }
    }
}

/// A Rust scalar type that can be a tensor element.
///
/// Implemented for `f32`, `f64`, `i64` and `bool`; used by
/// [`Tensor::from_vec`](crate::Tensor::from_vec) and
/// [`Tensor::to_vec`](crate::Tensor::to_vec).
pub trait Element: Copy + Send + Sync + fmt::Debug + 'static {
    /// The dtype of this element type.
    const DTYPE: DType;
    /// Wrap a vector as host data.
    fn into_host(v: Vec<Self>) -> HostData;
    /// Unwrap host data of this dtype, converting from another dtype if needed.
    fn from_host(h: HostData) -> Vec<Self>;
}

macro_rules! element {
    ($t:ty, $variant:ident, $conv:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn into_host(v: Vec<Self>) -> HostData {
                HostData::$variant(v)
            }
            fn from_host(h: HostData) -> Vec<Self> {
                match h {
                    HostData::$variant(v) => v,
                    other => other.to_f64_vec().into_iter().map($conv).collect(),
                }
            }
        }
    };
}

element!(f32, F32, |x: f64| x as f32);
element!(f64, F64, |x: f64| x);
element!(i64, I64, |x: f64| x as i64);
element!(bool, Bool, |x: f64| x != 0.0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_follows_torch_order() {
        assert_eq!(DType::Bool.promote(DType::I64), DType::I64);
        assert_eq!(DType::I64.promote(DType::F32), DType::F32);
        assert_eq!(DType::F32.promote(DType::F64), DType::F64);
        assert_eq!(DType::F64.promote(DType::Bool), DType::F64);
    }
}
