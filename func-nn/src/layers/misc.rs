//! Parameter-free layers: activations, Dropout, pooling, Flatten.

use crate::module::module_common;
use crate::{Module, TensorKind};
use func_core::{Backend, DType, Error, Generator, Result, Tensor};
use std::sync::Mutex;

macro_rules! activation {
    ($(#[$doc:meta])* $name:ident, $label:literal, |$x:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name {
            training: bool,
        }

        impl $name {
            /// The layer.
            pub fn new() -> Self {
                $name { training: true }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<B: Backend> Module<B> for $name {
            fn try_forward(&self, $x: &Tensor<B>) -> Result<Tensor<B>> {
                if !$x.dtype().is_float() {
                    return Err(Error::dtype($label, $x.dtype(), "expected a floating-point input"));
                }
                Ok($body)
            }
            fn visit_own(&self, _f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>)) {}
            fn visit_own_mut(&mut self, _f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>)) {}
            module_common!($label);
        }
    };
}

activation!(
    /// `max(x, 0)` (torch's `nn.ReLU`).
    ReLU, "ReLU", |x| x.relu()
);
activation!(
    /// `tanh(x)` (torch's `nn.Tanh`).
    Tanh, "Tanh", |x| x.tanh()
);
activation!(
    /// `1 / (1 + exp(-x))` (torch's `nn.Sigmoid`).
    Sigmoid, "Sigmoid", |x| x.sigmoid()
);
activation!(
    /// GELU, exact form `x * Phi(x)` (torch's `nn.GELU()`, approximate="none").
    GELU, "GELU", |x| x.gelu()
);

/// Flatten dimensions `start..=end` into one (torch's `nn.Flatten`, default
/// `start = 1`, `end = -1`).
#[derive(Clone, Debug)]
pub struct Flatten {
    /// First dimension flattened.
    pub start: isize,
    /// Last dimension flattened (inclusive).
    pub end: isize,
    training: bool,
}

impl Flatten {
    /// `nn.Flatten()`: dims 1 to -1.
    pub fn new() -> Self {
        Flatten { start: 1, end: -1, training: true }
    }

    /// `nn.Flatten(start, end)`.
    pub fn dims(start: isize, end: isize) -> Self {
        Flatten { start, end, training: true }
    }
}

impl Default for Flatten {
    fn default() -> Self {
        Self::new()
    }
}

fn wrap_dim(op: &str, d: isize, n: usize) -> Result<usize> {
    let n_i = n.max(1) as isize;
    let w = if d < 0 { d + n_i } else { d };
    if w < 0 || w >= n_i {
        return Err(Error::DimOutOfRange { op: op.to_string(), dim: d, min: -n_i, max: n_i - 1 });
    }
    Ok(w as usize)
}

impl<B: Backend> Module<B> for Flatten {
    fn try_forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        if x.ndim() == 0 {
            return x.try_reshape(&[1]);
        }
        let (s, e) = (wrap_dim("Flatten", self.start, x.ndim())?, wrap_dim("Flatten", self.end, x.ndim())?);
        if s > e {
            return Err(Error::invalid("Flatten", format!("flatten() has invalid args: start_dim {s} > end_dim {e}")));
        }
        let d = x.dims();
        let mut shape: Vec<usize> = d[..s].to_vec();
        shape.push(d[s..=e].iter().product());
        shape.extend_from_slice(&d[e + 1..]);
        x.try_reshape_to(shape)
    }
    fn visit_own(&self, _f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>)) {}
    fn visit_own_mut(&mut self, _f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>)) {}
    module_common!("Flatten");
}

/// Dropout (torch's `nn.Dropout(p)`): in train mode each element is zeroed
/// with probability `p` and the others scaled by `1 / (1 - p)`; in eval mode
/// the identity. Masks come from the layer's own seeded generator, advanced
/// on each call (under vmap, choose a `randomness` mode).
#[derive(Debug)]
pub struct Dropout {
    /// Probability of zeroing an element.
    pub p: f64,
    generator: Mutex<Generator>,
    training: bool,
}

impl Clone for Dropout {
    fn clone(&self) -> Self {
        let g = self.generator.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Dropout { p: self.p, generator: Mutex::new(g), training: self.training }
    }
}

impl Dropout {
    /// Dropout with probability `p`, masks seeded by `seed`.
    ///
    /// # Panics
    ///
    /// When `p` is not in `[0, 1]`.
    pub fn new(p: f64, seed: u64) -> Self {
        assert!((0.0..=1.0).contains(&p), "Dropout: dropout probability has to be between 0 and 1, but got {p}");
        Dropout { p, generator: Mutex::new(Generator::new(seed)), training: true }
    }
}

impl<B: Backend> Module<B> for Dropout {
    fn try_forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        if !self.training || self.p == 0.0 {
            return Ok(x.clone());
        }
        if !x.dtype().is_float() {
            return Err(Error::dtype("Dropout", x.dtype(), "expected a floating-point input"));
        }
        let zero = x.zeros_like();
        if self.p >= 1.0 {
            return Ok(x * &zero);
        }
        let seed = self.generator.lock().unwrap_or_else(|e| e.into_inner()).next_seed();
        let u = Tensor::<B>::try_random(
            func_core::Distribution::Uniform { low: 0.0, high: 1.0 },
            x.shape().clone(),
            if x.dtype() == DType::F64 { DType::F64 } else { DType::F32 },
            seed,
        )?;
        let keep = u.ge_scalar(self.p);
        Tensor::try_where_(&keep, &(x * (1.0 / (1.0 - self.p))), &zero)
    }
    fn visit_own(&self, _f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>)) {}
    fn visit_own_mut(&mut self, _f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>)) {}
    module_common!("Dropout");
}

fn check_pool(
    op: &str,
    x_shape: &func_core::Shape,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
) -> Result<()> {
    let nd = x_shape.dims().len();
    if nd != 3 && nd != 4 {
        return Err(Error::invalid_shape(op, x_shape, "expected a 3-D or 4-D input ([N,] C, H, W)"));
    }
    if kernel.0 == 0 || kernel.1 == 0 || stride.0 == 0 || stride.1 == 0 {
        return Err(Error::invalid(op, format!("kernel {kernel:?} and stride {stride:?} must be positive")));
    }
    if padding.0 > kernel.0 / 2 || padding.1 > kernel.1 / 2 {
        return Err(Error::invalid(
            op,
            format!(
                "pad should be at most half of effective kernel size, but got pad={padding:?} and kernel_size={kernel:?}"
            ),
        ));
    }
    let (h, w) = (x_shape.dims()[nd - 2], x_shape.dims()[nd - 1]);
    if h + 2 * padding.0 < kernel.0 || w + 2 * padding.1 < kernel.1 {
        return Err(Error::invalid_shape(
            op,
            x_shape,
            format!("the kernel {kernel:?} is larger than the padded input (padding {padding:?})"),
        ));
    }
    Ok(())
}

/// 2-D max pooling (torch's `nn.MaxPool2d`; stride defaults to the kernel).
#[derive(Clone, Debug)]
pub struct MaxPool2d {
    /// Window (rows, columns).
    pub kernel: (usize, usize),
    /// Stride.
    pub stride: (usize, usize),
    /// Padding (with -inf).
    pub padding: (usize, usize),
    training: bool,
}

impl MaxPool2d {
    /// `nn.MaxPool2d(kernel)`: stride = kernel, no padding.
    pub fn new(kernel: (usize, usize)) -> Self {
        MaxPool2d { kernel, stride: kernel, padding: (0, 0), training: true }
    }

    /// `nn.MaxPool2d(kernel, stride, padding)`.
    pub fn with(kernel: (usize, usize), stride: (usize, usize), padding: (usize, usize)) -> Self {
        MaxPool2d { kernel, stride, padding, training: true }
    }
}

impl<B: Backend> Module<B> for MaxPool2d {
    fn try_forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        check_pool("MaxPool2d", x.shape(), self.kernel, self.stride, self.padding)?;
        Ok(x.max_pool2d(self.kernel, self.stride, self.padding))
    }
    fn visit_own(&self, _f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>)) {}
    fn visit_own_mut(&mut self, _f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>)) {}
    module_common!("MaxPool2d");
}

/// 2-D average pooling (torch's `nn.AvgPool2d`; stride defaults to the
/// kernel; padding counts as zeros).
#[derive(Clone, Debug)]
pub struct AvgPool2d {
    /// Window (rows, columns).
    pub kernel: (usize, usize),
    /// Stride.
    pub stride: (usize, usize),
    /// Zero padding.
    pub padding: (usize, usize),
    training: bool,
}

impl AvgPool2d {
    /// `nn.AvgPool2d(kernel)`: stride = kernel, no padding.
    pub fn new(kernel: (usize, usize)) -> Self {
        AvgPool2d { kernel, stride: kernel, padding: (0, 0), training: true }
    }

    /// `nn.AvgPool2d(kernel, stride, padding)`.
    pub fn with(kernel: (usize, usize), stride: (usize, usize), padding: (usize, usize)) -> Self {
        AvgPool2d { kernel, stride, padding, training: true }
    }
}

impl<B: Backend> Module<B> for AvgPool2d {
    fn try_forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        check_pool("AvgPool2d", x.shape(), self.kernel, self.stride, self.padding)?;
        Ok(x.avg_pool2d(self.kernel, self.stride, self.padding))
    }
    fn visit_own(&self, _f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>)) {}
    fn visit_own_mut(&mut self, _f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>)) {}
    module_common!("AvgPool2d");
}
