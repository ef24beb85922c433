//! Linear, Conv2d and Embedding, with PyTorch's default initialisation.

use crate::init::uniform;
use crate::module::module_common;
use crate::{Module, TensorKind};
use func_core::{Backend, Conv2dOptions, DType, Error, Generator, Result, Tensor};

/// `y = x W^T + b` (torch's `nn.Linear`): `weight` is `[out, in]`, `bias`
/// `[out]`.
///
/// Initialisation as PyTorch: weight and bias uniform on `[-k, k]` with
/// `k = 1 / sqrt(in_features)` (`kaiming_uniform_(a = sqrt 5)`).
///
/// # Examples
///
/// ```
/// use func_core::{DType, Generator, Tensor};
/// use func_nn::{Linear, Module};
/// let fc = Linear::<func_cpu::Cpu>::new(3, 2, &mut Generator::new(0));
/// assert_eq!(fc.forward(&Tensor::ones([5, 3], DType::F32)).dims(), &[5, 2]);
/// ```
#[derive(Clone, Debug)]
pub struct Linear<B: Backend> {
    /// `[out_features, in_features]`.
    pub weight: Tensor<B>,
    /// `[out_features]`, if the layer has a bias.
    pub bias: Option<Tensor<B>>,
    training: bool,
}

impl<B: Backend> Linear<B> {
    /// An f32 layer with a bias, initialised from `g`.
    pub fn new(in_features: usize, out_features: usize, g: &mut Generator) -> Self {
        Self::new_with(in_features, out_features, true, DType::F32, g)
    }

    /// A layer with or without a bias, in `dtype`, initialised from `g`.
    ///
    /// # Panics
    ///
    /// When `dtype` is not a float dtype.
    pub fn new_with(in_features: usize, out_features: usize, bias: bool, dtype: DType, g: &mut Generator) -> Self {
        let k = 1.0 / (in_features.max(1) as f64).sqrt();
        let weight = uniform([out_features, in_features], k, dtype, g);
        let bias = bias.then(|| uniform([out_features], k, dtype, g));
        Linear { weight, bias, training: true }
    }

    /// A layer with the given tensors.
    pub fn from_tensors(weight: Tensor<B>, bias: Option<Tensor<B>>) -> Self {
        Linear { weight, bias, training: true }
    }
}

impl<B: Backend> Module<B> for Linear<B> {
    fn try_forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        let in_features = self.weight.dims().get(1).copied().unwrap_or(0);
        if x.ndim() == 0 || x.dims()[x.ndim() - 1] != in_features {
            return Err(Error::shape_mismatch(
                "Linear",
                x.shape(),
                self.weight.shape(),
                format!("(input, weight): the input's last dimension must be in_features = {in_features}"),
            ));
        }
        x.try_linear(&self.weight, self.bias.as_ref())
    }

    fn visit_own(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>)) {
        f("weight", TensorKind::Parameter, &self.weight);
        if let Some(b) = &self.bias {
            f("bias", TensorKind::Parameter, b);
        }
    }

    fn visit_own_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>)) {
        f("weight", TensorKind::Parameter, &mut self.weight);
        if let Some(b) = &mut self.bias {
            f("bias", TensorKind::Parameter, b);
        }
    }

    module_common!("Linear");
}

/// Options of [`Conv2d`], with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// Stride, padding, dilation and groups.
    pub opts: Conv2dOptions,
    /// Whether the layer has a bias (default true).
    pub bias: bool,
    /// The parameters' dtype (default f32).
    pub dtype: DType,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig { opts: Conv2dOptions::default(), bias: true, dtype: DType::F32 }
    }
}

/// 2-D convolution (torch's `nn.Conv2d`, zero padding): weight
/// `[out, in / groups, kh, kw]`, bias `[out]`.
///
/// Initialisation as PyTorch: uniform on `[-k, k]`, `k = 1 / sqrt(fan_in)`,
/// `fan_in = in / groups * kh * kw`.
///
/// # Examples
///
/// ```
/// use func_core::{Conv2dOptions, DType, Generator, Tensor};
/// use func_nn::{Conv2d, Conv2dConfig, Module};
/// let cfg = Conv2dConfig { opts: Conv2dOptions { padding: (1, 1), ..Default::default() }, ..Default::default() };
/// let conv = Conv2d::<func_cpu::Cpu>::with_config(3, 8, (3, 3), cfg, &mut Generator::new(0));
/// assert_eq!(conv.forward(&Tensor::ones([2, 3, 5, 5], DType::F32)).dims(), &[2, 8, 5, 5]);
/// ```
#[derive(Clone, Debug)]
pub struct Conv2d<B: Backend> {
    /// `[out_channels, in_channels / groups, kh, kw]`.
    pub weight: Tensor<B>,
    /// `[out_channels]`, if the layer has a bias.
    pub bias: Option<Tensor<B>>,
    /// Stride, padding, dilation and groups.
    pub opts: Conv2dOptions,
    training: bool,
}

impl<B: Backend> Conv2d<B> {
    /// An f32 convolution with a bias, stride 1, no padding.
    pub fn new(in_channels: usize, out_channels: usize, kernel: (usize, usize), g: &mut Generator) -> Self {
        Self::with_config(in_channels, out_channels, kernel, Conv2dConfig::default(), g)
    }

    /// A convolution with the given options.
    ///
    /// # Panics
    ///
    /// When `groups` is 0 or does not divide both channel counts, or the
    /// dtype is not a float dtype.
    pub fn with_config(
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
        cfg: Conv2dConfig,
        g: &mut Generator,
    ) -> Self {
        let groups = cfg.opts.groups;
        assert!(
            groups > 0 && in_channels.is_multiple_of(groups) && out_channels.is_multiple_of(groups),
            "Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible by groups \
             ({groups}), and groups must be positive"
        );
        let fan_in = in_channels / groups * kernel.0 * kernel.1;
        let k = 1.0 / (fan_in.max(1) as f64).sqrt();
        let weight = uniform([out_channels, in_channels / groups, kernel.0, kernel.1], k, cfg.dtype, g);
        let bias = cfg.bias.then(|| uniform([out_channels], k, cfg.dtype, g));
        Conv2d { weight, bias, opts: cfg.opts, training: true }
    }

    /// A convolution with the given tensors and options.
    pub fn from_tensors(weight: Tensor<B>, bias: Option<Tensor<B>>, opts: Conv2dOptions) -> Self {
        Conv2d { weight, bias, opts, training: true }
    }
}

impl<B: Backend> Module<B> for Conv2d<B> {
    fn try_forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        x.try_conv2d(&self.weight, self.bias.as_ref(), self.opts)
    }

    fn visit_own(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>)) {
        f("weight", TensorKind::Parameter, &self.weight);
        if let Some(b) = &self.bias {
            f("bias", TensorKind::Parameter, b);
        }
    }

    fn visit_own_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>)) {
        f("weight", TensorKind::Parameter, &mut self.weight);
        if let Some(b) = &mut self.bias {
            f("bias", TensorKind::Parameter, b);
        }
    }

    module_common!("Conv2d");
}

/// A lookup table (torch's `nn.Embedding`): `weight` is
/// `[num_embeddings, embedding_dim]`; an i64 index tensor of any shape gives
/// `[*index.shape, embedding_dim]`. Initialisation: standard normal.
///
/// # Examples
///
/// ```
/// use func_core::{Generator, Tensor};
/// use func_nn::{Embedding, Module};
/// let emb = Embedding::<func_cpu::Cpu>::new(10, 4, &mut Generator::new(0));
/// let idx = Tensor::from_vec(vec![1i64, 7, 7], [3]);
/// assert_eq!(emb.forward(&idx).dims(), &[3, 4]);
/// ```
#[derive(Clone, Debug)]
pub struct Embedding<B: Backend> {
    /// `[num_embeddings, embedding_dim]`.
    pub weight: Tensor<B>,
    training: bool,
}

impl<B: Backend> Embedding<B> {
    /// An f32 table, standard normal.
    pub fn new(num_embeddings: usize, embedding_dim: usize, g: &mut Generator) -> Self {
        Self::new_with(num_embeddings, embedding_dim, DType::F32, g)
    }

    /// A table in `dtype`, standard normal.
    ///
    /// # Panics
    ///
    /// When `dtype` is not a float dtype.
    pub fn new_with(num_embeddings: usize, embedding_dim: usize, dtype: DType, g: &mut Generator) -> Self {
        Embedding { weight: Tensor::randn([num_embeddings, embedding_dim], dtype, g), training: true }
    }

    /// A table with the given weight.
    pub fn from_tensors(weight: Tensor<B>) -> Self {
        Embedding { weight, training: true }
    }
}

impl<B: Backend> Module<B> for Embedding<B> {
    fn try_forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        if x.dtype() != DType::I64 {
            return Err(Error::dtype(
                "Embedding",
                x.dtype(),
                "expected an i64 tensor of indices into the table (convert with to_dtype(DType::I64))",
            ));
        }
        let n = self.weight.dims()[0];
        if let Ok(values) = x.try_to_vec::<i64>()
            && let Some(v) = values.iter().find(|&&v| v < 0 || v as u64 >= n as u64)
        {
            return Err(Error::invalid(
                "Embedding",
                format!("index {v} is out of range for a table of {n} embeddings (shape {})", self.weight.shape()),
            ));
        }
        let flat = x.try_reshape(&[-1])?;
        let rows = self.weight.try_gather(0, &flat.unsqueeze(1).try_expand(&[-1, self.weight.dims()[1] as isize])?)?;
        let mut shape = x.dims().to_vec();
        shape.push(self.weight.dims()[1]);
        rows.try_reshape_to(shape)
    }

    fn visit_own(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>)) {
        f("weight", TensorKind::Parameter, &self.weight);
    }

    fn visit_own_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>)) {
        f("weight", TensorKind::Parameter, &mut self.weight);
    }

    module_common!("Embedding");
}
