//! PyTorch's default initialisations, seeded by a [`Generator`].

use func_core::{Backend, DType, Distribution, Generator, Shape, Tensor};

/// Uniform samples on `[-bound, bound)` (torch's `nn.init.uniform_`), seeded
/// by `g`.
///
/// # Panics
///
/// When `dtype` is not a float dtype.
///
/// # Examples
///
/// ```
/// use func_core::{DType, Generator};
/// let w = func_nn::init::uniform::<func_cpu::Cpu>([100], 0.5, DType::F64, &mut Generator::new(1));
/// assert!(w.to_vec::<f64>().iter().all(|v| v.abs() <= 0.5));
/// ```
pub fn uniform<B: Backend>(shape: impl Into<Shape>, bound: f64, dtype: DType, g: &mut Generator) -> Tensor<B> {
    Tensor::random(Distribution::Uniform { low: -bound, high: bound }, shape, dtype, g.next_seed())
}

/// torch's `kaiming_uniform_(w, a = sqrt 5)` for a weight of `fan_in`
/// inputs, the default of Linear and Conv2d: uniform on
/// `[-1/sqrt(fan_in), 1/sqrt(fan_in)]`.
///
/// # Panics
///
/// When `dtype` is not a float dtype.
pub fn kaiming_uniform_default<B: Backend>(
    shape: impl Into<Shape>,
    fan_in: usize,
    dtype: DType,
    g: &mut Generator,
) -> Tensor<B> {
    uniform(shape, 1.0 / (fan_in.max(1) as f64).sqrt(), dtype, g)
}
