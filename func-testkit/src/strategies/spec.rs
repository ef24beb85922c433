//! [`ArgSpec`] and [`Sample`]: tensor arguments described independently of
//! any backend, and built on any.

use super::*;

/// The largest number of logical elements a generated tensor argument has
/// (some convolution and pooling samples go a little beyond it), except for
/// the deliberately large arguments of [`large_shape`].
pub const MAX_NUMEL: usize = 200;

/// How an [`ArgSpec`] is laid out in memory when built.
///
/// Every kind has the same logical shape and values; only the strides and
/// offset differ, so backends see contiguous, transposed, strided and
/// broadcast (stride 0) operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ViewKind {
    /// A fresh row-major tensor.
    Contiguous,
    /// The transpose (`.t()`) of a contiguous tensor whose last two
    /// dimensions are swapped. Contiguous for rank < 2.
    Transposed,
    /// Every other element (`slice(-1, 1, 2n + 1, 2)`) of the last dimension
    /// of a bigger contiguous tensor, so the last stride is 2 and the offset
    /// is 1; the skipped elements hold a sentinel (NaN for floats). Contiguous
    /// for rank 0.
    Strided,
    /// Expanded (stride 0) from a size-1 dimension, or from a missing leading
    /// dimension, along the first dimension of size > 1 on which the values
    /// are constant. Contiguous when there is none.
    Broadcast,
}

impl fmt::Display for ViewKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ViewKind::Contiguous => "contiguous",
            ViewKind::Transposed => "transposed",
            ViewKind::Strided => "strided",
            ViewKind::Broadcast => "broadcast",
        })
    }
}

/// One tensor argument of a sample, built the same way on any backend.
#[derive(Clone, Debug, PartialEq)]
pub struct ArgSpec {
    /// Logical shape.
    pub shape: Vec<usize>,
    /// Logical values in row-major order (`shape`'s element count of them),
    /// converted to `dtype` with [`HostData::from_f64`] when built.
    pub data: Vec<f64>,
    /// Element type.
    pub dtype: DType,
    /// Memory layout of the built tensor.
    pub view: ViewKind,
}

/// Number of elements of a shape.
pub(super) fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The values skipped by a [`ViewKind::Strided`] view: a correct backend
/// never reads them.
pub(super) fn sentinel(dtype: DType) -> f64 {
    match dtype {
        DType::F32 | DType::F64 => f64::NAN,
        DType::I64 => 999_999.0,
        DType::Bool => 1.0,
        other => panic!("no sentinel for dtype {other}"),
    }
}

/// A contiguous tensor of `shape` holding `data` as `dtype`.
pub(super) fn host<B: Backend>(data: &[f64], shape: &[usize], dtype: DType) -> Tensor<B> {
    Tensor::try_from_host(HostData::from_f64(data, dtype), shape.to_vec())
        .unwrap_or_else(|e| panic!("ArgSpec::build: {e}"))
}

/// The first axis of size > 1 along which `data` (of `shape`) is constant.
pub(super) fn constant_axis(shape: &[usize], data: &[f64]) -> Option<usize> {
    (0..shape.len()).find(|&a| {
        if shape[a] <= 1 {
            return false;
        }
        let inner: usize = numel(&shape[a + 1..]);
        (0..data.len()).all(|k| {
            let ia = (k / inner) % shape[a];
            data[k].to_bits() == data[k - ia * inner].to_bits()
        })
    })
}

impl ArgSpec {
    /// An argument from its parts.
    ///
    /// # Panics
    ///
    /// When `data` does not hold `shape`'s number of elements.
    pub fn new(shape: Vec<usize>, data: Vec<f64>, dtype: DType, view: ViewKind) -> ArgSpec {
        assert_eq!(data.len(), numel(&shape), "ArgSpec::new: {} values for shape {shape:?}", data.len());
        ArgSpec { shape, data, dtype, view }
    }

    /// A contiguous argument.
    pub fn contiguous(shape: Vec<usize>, data: Vec<f64>, dtype: DType) -> ArgSpec {
        ArgSpec::new(shape, data, dtype, ViewKind::Contiguous)
    }

    /// A 1-D i64 parameter (dims, sizes, indices read by [`Op::apply`](crate::Op::apply)).
    pub fn ints(values: &[i64]) -> ArgSpec {
        ArgSpec::contiguous(vec![values.len()], values.iter().map(|&v| v as f64).collect(), DType::I64)
    }

    /// A 0-D i64 parameter.
    pub fn int(value: i64) -> ArgSpec {
        ArgSpec::contiguous(vec![], vec![value as f64], DType::I64)
    }

    /// A 1-D f64 parameter.
    pub fn floats(values: &[f64]) -> ArgSpec {
        ArgSpec::contiguous(vec![values.len()], values.to_vec(), DType::F64)
    }

    /// Zeros of `shape` and `dtype`: an argument that only carries a shape
    /// and a dtype (for factories).
    pub fn like(shape: Vec<usize>, dtype: DType) -> ArgSpec {
        let n = numel(&shape);
        ArgSpec::contiguous(shape, vec![0.0; n], dtype)
    }

    /// Number of logical elements.
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// The same argument with absolute values if it is a float tensor
    /// (integer and bool arguments, such as indices, are unchanged).
    pub fn abs(&self) -> ArgSpec {
        let mut a = self.clone();
        if a.dtype.is_float() {
            a.data.iter_mut().for_each(|x| *x = x.abs());
        }
        a
    }

    /// The view kind [`build`](Self::build) really produces for this shape
    /// and data (kinds that do not apply fall back to contiguous).
    pub fn effective_view(&self) -> ViewKind {
        match self.view {
            ViewKind::Transposed if self.shape.len() < 2 => ViewKind::Contiguous,
            ViewKind::Strided if self.shape.is_empty() => ViewKind::Contiguous,
            ViewKind::Broadcast if constant_axis(&self.shape, &self.data).is_none() => ViewKind::Contiguous,
            v => v,
        }
    }

    /// Build the tensor on backend `B`, as the view [`view`](Self::view) asks.
    ///
    /// # Panics
    ///
    /// When `data` does not hold `shape`'s number of elements.
    pub fn build<B: Backend>(&self) -> Tensor<B> {
        let shape = &self.shape;
        let r = shape.len();
        let n = self.numel();
        assert_eq!(self.data.len(), n, "ArgSpec::build: {} values for shape {shape:?}", self.data.len());
        match self.effective_view() {
            ViewKind::Contiguous => host(&self.data, shape, self.dtype),
            ViewKind::Transposed => {
                let (m, k) = (shape[r - 2], shape[r - 1]);
                let mut src_shape = shape.clone();
                src_shape.swap(r - 2, r - 1);
                let mut src = vec![0.0; n];
                if n > 0 {
                    for b in 0..n / (m * k) {
                        for i in 0..m {
                            for j in 0..k {
                                src[b * m * k + j * m + i] = self.data[b * m * k + i * k + j];
                            }
                        }
                    }
                }
                host::<B>(&src, &src_shape, self.dtype).t()
            }
            ViewKind::Strided => {
                let last = shape[r - 1];
                let wide = 2 * last + 1;
                let outer = numel(&shape[..r - 1]);
                let mut back_shape = shape.clone();
                back_shape[r - 1] = wide;
                let mut back = vec![sentinel(self.dtype); outer * wide];
                for o in 0..outer {
                    for j in 0..last {
                        back[o * wide + 2 * j + 1] = self.data[o * last + j];
                    }
                }
                host::<B>(&back, &back_shape, self.dtype).slice(-1, 1, wide as isize, 2)
            }
            ViewKind::Broadcast => {
                let a = constant_axis(shape, &self.data).unwrap_or(0);
                let inner = numel(&shape[a + 1..]);
                let outer = numel(&shape[..a]);
                let mut small = Vec::with_capacity(outer * inner);
                for o in 0..outer {
                    small.extend_from_slice(&self.data[o * shape[a] * inner..o * shape[a] * inner + inner]);
                }
                let mut small_shape = shape.clone();
                if a == 0 {
                    small_shape.remove(0);
                } else {
                    small_shape[a] = 1;
                }
                host::<B>(&small, &small_shape, self.dtype).broadcast_to(shape.clone())
            }
        }
    }
}

impl fmt::Display for ArgSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 48;
        write!(f, "{}{:?} {} [", self.dtype, self.shape, self.effective_view())?;
        for (i, v) in self.data.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match self.dtype {
                DType::F32 => write!(f, "{:?}", *v as f32)?,
                DType::F64 => write!(f, "{v:?}")?,
                DType::I64 => write!(f, "{}", *v as i64)?,
                DType::Bool => write!(f, "{}", *v != 0.0)?,
                other => write!(f, "{v:?} ({other})")?,
            }
        }
        if self.data.len() > SHOWN {
            write!(f, ", ... ({} more)", self.data.len() - SHOWN)?;
        }
        f.write_str("]")
    }
}

/// The arguments of one evaluation of an op: tensors (some of them i64 or
/// f64 parameters, such as dims or indices; see [`Op`](crate::Op)).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The arguments, in the order [`Op::apply`](crate::Op::apply) takes them.
    pub args: Vec<ArgSpec>,
}

impl Sample {
    /// A sample of these arguments.
    pub fn new(args: Vec<ArgSpec>) -> Sample {
        Sample { args }
    }

    /// Build every argument on backend `B`.
    pub fn build<B: Backend>(&self) -> Vec<Tensor<B>> {
        self.args.iter().map(ArgSpec::build).collect()
    }

    /// The sample with the absolute values of its float arguments.
    pub fn abs(&self) -> Sample {
        Sample { args: self.args.iter().map(ArgSpec::abs).collect() }
    }
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "  arg {i}: {a}")?;
        }
        Ok(())
    }
}
