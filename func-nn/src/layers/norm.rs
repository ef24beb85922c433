//! Normalisation layers: BatchNorm1d/2d, LayerNorm, GroupNorm.

use crate::module::module_common;
use crate::{Module, TensorKind};
use func_core::{Backend, DType, Error, Result, Tensor};

/// Options of [`BatchNorm`], with PyTorch's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance (default 1e-5).
    pub eps: f64,
    /// Weight of the new batch statistic in the running average (default
    /// 0.1); `None` is a cumulative average over `num_batches_tracked`.
    pub momentum: Option<f64>,
    /// Learnable `weight` and `bias` (default true).
    pub affine: bool,
    /// Keep running statistics as buffers (default true).
    pub track_running_stats: bool,
    /// The tensors' dtype (default f32).
    pub dtype: DType,
}

impl Default for BatchNormConfig {
    fn default() -> Self {
        BatchNormConfig { eps: 1e-5, momentum: Some(0.1), affine: true, track_running_stats: true, dtype: DType::F32 }
    }
}

/// Batch normalisation over the channel dimension 1 (torch's
/// `nn.BatchNorm1d` for `[N, C]` / `[N, C, L]` inputs and `nn.BatchNorm2d`
/// for `[N, C, H, W]`).
///
/// In train mode it normalises with the batch's statistics (biased
/// variance) and, when it tracks running statistics, updates the buffers
/// `running_mean`, `running_var` (with the unbiased variance) and
/// `num_batches_tracked` in place, from values under `stop_gradient`, so
/// `grad` sees no derivative through them. In eval mode it normalises with
/// the running statistics.
///
/// Under vmap, in train mode, the batch statistics are batched but
/// unbatched running statistics cannot take them: that is an error naming
/// [`crate::replace_all_batch_norm_modules_`] (which removes the running
/// statistics); eval mode, or running statistics passed batched through
/// [`crate::functional_call`], work.
///
/// # Examples
///
/// ```
/// use func_core::{DType, Tensor};
/// use func_nn::{BatchNorm, BatchNormConfig, Module};
/// let bn = BatchNorm::<func_cpu::Cpu>::new_1d(2, BatchNormConfig { dtype: DType::F64, ..Default::default() });
/// let x = Tensor::from_vec(vec![1.0f64, 10.0, 3.0, 30.0], [2, 2]);
/// let y = bn.forward(&x);
/// assert!((y.to_vec::<f64>()[0] + 1.0).abs() < 1e-4); // (1 - 2) / 1
/// let rm = bn.running_mean.as_ref().unwrap().to_vec::<f64>();
/// assert!((rm[0] - 0.2).abs() < 1e-12 && (rm[1] - 2.0).abs() < 1e-12); // 0.9 * 0 + 0.1 * mean
/// ```
#[derive(Clone, Debug)]
pub struct BatchNorm<B: Backend> {
    /// `[C]`, if affine.
    pub weight: Option<Tensor<B>>,
    /// `[C]`, if affine.
    pub bias: Option<Tensor<B>>,
    /// `[C]` buffer, if tracking running statistics.
    pub running_mean: Option<Tensor<B>>,
    /// `[C]` buffer, if tracking running statistics.
    pub running_var: Option<Tensor<B>>,
    /// i64 scalar buffer, if tracking running statistics.
    pub num_batches_tracked: Option<Tensor<B>>,
    /// Added to the variance.
    pub eps: f64,
    /// Running-average weight of a new batch (`None`: cumulative).
    pub momentum: Option<f64>,
    /// Whether running statistics are kept.
    pub track_running_stats: bool,
    num_features: usize,
    two_d: bool,
    training: bool,
}

impl<B: Backend> BatchNorm<B> {
    fn new(num_features: usize, cfg: BatchNormConfig, two_d: bool) -> Self {
        let c = [num_features];
        let (weight, bias) = if cfg.affine {
            (Some(Tensor::ones(c, cfg.dtype)), Some(Tensor::zeros(c, cfg.dtype)))
        } else {
            (None, None)
        };
        let (running_mean, running_var, num_batches_tracked) = if cfg.track_running_stats {
            (
                Some(Tensor::zeros(c, cfg.dtype)),
                Some(Tensor::ones(c, cfg.dtype)),
                Some(Tensor::zeros(Vec::<usize>::new(), DType::I64)),
            )
        } else {
            (None, None, None)
        };
        BatchNorm {
            weight,
            bias,
            running_mean,
            running_var,
            num_batches_tracked,
            eps: cfg.eps,
            momentum: cfg.momentum,
            track_running_stats: cfg.track_running_stats,
            num_features,
            two_d,
            training: true,
        }
    }

    /// torch's `nn.BatchNorm1d(num_features)`: input `[N, C]` or `[N, C, L]`.
    pub fn new_1d(num_features: usize, cfg: BatchNormConfig) -> Self {
        Self::new(num_features, cfg, false)
    }

    /// torch's `nn.BatchNorm2d(num_features)`: input `[N, C, H, W]`.
    pub fn new_2d(num_features: usize, cfg: BatchNormConfig) -> Self {
        Self::new(num_features, cfg, true)
    }

    /// The number of channels `C`.
    pub fn num_features(&self) -> usize {
        self.num_features
    }

    fn layer(&self) -> &'static str {
        if self.two_d { "BatchNorm2d" } else { "BatchNorm1d" }
    }

    fn vmap_error(&self, e: Error) -> Error {
        match e {
            Error::Transform { transform, .. } if transform == "vmap" => Error::transform(
                "vmap",
                format!(
                    "{}: in train mode, batch norm updates its running statistics (running_mean, running_var) in \
                     place, and under vmap the batch statistics are batched while the running statistics are not. \
                     Call replace_all_batch_norm_modules_(&mut model) to stop tracking running statistics, put the \
                     model in eval mode (model.eval()) to use them, or pass batched running statistics (from \
                     stack_module_state) through functional_call.",
                    self.layer()
                ),
            ),
            other => other,
        }
    }
}

impl<B: Backend> Module<B> for BatchNorm<B> {
    fn try_forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        let c = self.num_features;
        let ok_rank = if self.two_d { x.ndim() == 4 } else { x.ndim() == 2 || x.ndim() == 3 };
        if !ok_rank || x.dims()[1] != c {
            let want = if self.two_d { "4-D input [N, C, H, W]" } else { "2-D or 3-D input [N, C] or [N, C, L]" };
            return Err(Error::invalid_shape(
                self.layer(),
                x.shape(),
                format!("expected a {want} with C = num_features = {c}"),
            ));
        }
        let reduce: Vec<isize> = std::iter::once(0).chain(2..x.ndim() as isize).collect();
        let mut bshape = vec![1usize; x.ndim()];
        bshape[1] = c;
        let use_batch = self.training || self.running_mean.is_none();
        let (mean, var) = if use_batch {
            let n = x.numel() / c.max(1);
            if self.training && n <= 1 {
                return Err(Error::invalid_shape(
                    self.layer(),
                    x.shape(),
                    format!("Expected more than 1 value per channel when training, got input size {}", x.shape()),
                ));
            }
            let mean = x.try_reduce(func_core::ReduceOp::Sum, &reduce, false)? / n as f64;
            let centered = x.try_sub(&mean.try_reshape_to(bshape.clone())?)?;
            let var = centered.square().try_reduce(func_core::ReduceOp::Sum, &reduce, false)? / n as f64;
            if let (true, Some(rm), Some(rv)) = (self.training, &self.running_mean, &self.running_var) {
                let f = match (self.momentum, &self.num_batches_tracked) {
                    (Some(m), _) => m,
                    (None, Some(nbt)) => 1.0 / (nbt.try_item::<i64>()? as f64 + 1.0),
                    (None, None) => 0.0,
                };
                let unbiased = &var * (n as f64 / (n as f64 - 1.0));
                let new_rm = (rm * (1.0 - f) + &mean * f).detach();
                let new_rv = (rv * (1.0 - f) + unbiased * f).detach();
                rm.try_copy_(&new_rm).map_err(|e| self.vmap_error(e))?;
                rv.try_copy_(&new_rv).map_err(|e| self.vmap_error(e))?;
                if let Some(nbt) = &self.num_batches_tracked {
                    nbt.try_copy_(&(nbt + 1.0))?;
                }
            }
            (mean, var)
        } else {
            match (&self.running_mean, &self.running_var) {
                (Some(rm), Some(rv)) => (rm.clone(), rv.clone()),
                _ => {
                    return Err(Error::invalid(
                        self.layer(),
                        "running_mean is set but running_var is not: set both buffers, or neither",
                    ));
                }
            }
        };
        let inv = (var + self.eps).sqrt().recip();
        let mut y = x.try_sub(&mean.try_reshape_to(bshape.clone())?)?.try_mul(&inv.try_reshape_to(bshape.clone())?)?;
        if let Some(w) = &self.weight {
            y = y.try_mul(&w.try_reshape_to(bshape.clone())?)?;
        }
        if let Some(b) = &self.bias {
            y = y.try_add(&b.try_reshape_to(bshape)?)?;
        }
        Ok(y)
    }

    fn visit_own(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>)) {
        let entries = [
            ("weight", TensorKind::Parameter, &self.weight),
            ("bias", TensorKind::Parameter, &self.bias),
            ("running_mean", TensorKind::Buffer, &self.running_mean),
            ("running_var", TensorKind::Buffer, &self.running_var),
            ("num_batches_tracked", TensorKind::Buffer, &self.num_batches_tracked),
        ];
        for (n, k, t) in entries {
            if let Some(t) = t {
                f(n, k, t);
            }
        }
    }

    fn visit_own_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>)) {
        let entries = [
            ("weight", TensorKind::Parameter, &mut self.weight),
            ("bias", TensorKind::Parameter, &mut self.bias),
            ("running_mean", TensorKind::Buffer, &mut self.running_mean),
            ("running_var", TensorKind::Buffer, &mut self.running_var),
            ("num_batches_tracked", TensorKind::Buffer, &mut self.num_batches_tracked),
        ];
        for (n, k, t) in entries {
            if let Some(t) = t {
                f(n, k, t);
            }
        }
    }

    fn name(&self) -> &'static str {
        self.layer()
    }
    fn is_training(&self) -> bool {
        self.training
    }
    fn set_own_training(&mut self, mode: bool) {
        self.training = mode;
    }
    fn box_clone(&self) -> Box<dyn Module<B>> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Layer normalisation over the trailing `normalized_shape` dimensions
/// (torch's `nn.LayerNorm`), biased variance; `weight` ones and `bias`
/// zeros of that shape when `elementwise_affine`.
///
/// # Examples
///
/// ```
/// use func_core::{DType, Tensor};
/// use func_nn::{LayerNorm, Module};
/// let ln = LayerNorm::<func_cpu::Cpu>::new(vec![2], 1e-5, true, DType::F64);
/// let y = ln.forward(&Tensor::from_vec(vec![1.0f64, 3.0], [1, 2]));
/// assert!((y.to_vec::<f64>()[1] - 1.0).abs() < 1e-4);
/// ```
#[derive(Clone, Debug)]
pub struct LayerNorm<B: Backend> {
    /// The trailing shape normalised over.
    pub normalized_shape: Vec<usize>,
    /// Added to the variance.
    pub eps: f64,
    /// `normalized_shape`, if affine.
    pub weight: Option<Tensor<B>>,
    /// `normalized_shape`, if affine.
    pub bias: Option<Tensor<B>>,
    training: bool,
}

impl<B: Backend> LayerNorm<B> {
    /// A layer norm over `normalized_shape` (torch's defaults: eps 1e-5,
    /// affine).
    pub fn new(normalized_shape: Vec<usize>, eps: f64, elementwise_affine: bool, dtype: DType) -> Self {
        let (weight, bias) = if elementwise_affine {
            (Some(Tensor::ones(normalized_shape.clone(), dtype)), Some(Tensor::zeros(normalized_shape.clone(), dtype)))
        } else {
            (None, None)
        };
        LayerNorm { normalized_shape, eps, weight, bias, training: true }
    }
}

fn affine_pair<B: Backend>(
    w: &Option<Tensor<B>>,
    b: &Option<Tensor<B>>,
    f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>),
) {
    if let Some(w) = w {
        f("weight", TensorKind::Parameter, w);
    }
    if let Some(b) = b {
        f("bias", TensorKind::Parameter, b);
    }
}

fn affine_pair_mut<B: Backend>(
    w: &mut Option<Tensor<B>>,
    b: &mut Option<Tensor<B>>,
    f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>),
) {
    if let Some(w) = w {
        f("weight", TensorKind::Parameter, w);
    }
    if let Some(b) = b {
        f("bias", TensorKind::Parameter, b);
    }
}

impl<B: Backend> Module<B> for LayerNorm<B> {
    fn try_forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        let k = self.normalized_shape.len();
        if x.ndim() < k || x.dims()[x.ndim() - k..] != self.normalized_shape[..] {
            return Err(Error::invalid_shape(
                "LayerNorm",
                x.shape(),
                format!("expected an input whose trailing dimensions are normalized_shape {:?}", self.normalized_shape),
            ));
        }
        let dims: Vec<isize> = (-(k as isize)..0).collect();
        let mean = x.mean_dims(&dims, true);
        let centered = x - &mean;
        let var = centered.square().mean_dims(&dims, true);
        let mut y = centered * (var + self.eps).sqrt().recip();
        if let Some(w) = &self.weight {
            y = y.try_mul(w)?;
        }
        if let Some(b) = &self.bias {
            y = y.try_add(b)?;
        }
        Ok(y)
    }

    fn visit_own(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>)) {
        affine_pair(&self.weight, &self.bias, f);
    }

    fn visit_own_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>)) {
        affine_pair_mut(&mut self.weight, &mut self.bias, f);
    }

    module_common!("LayerNorm");
}

/// Group normalisation (torch's `nn.GroupNorm`): the channels of an
/// `[N, C, *]` input are split into `num_groups` groups, each normalised
/// over its channels and spatial positions; per-channel affine.
///
/// # Examples
///
/// ```
/// use func_core::{DType, Tensor};
/// use func_nn::{GroupNorm, Module};
/// let gn = GroupNorm::<func_cpu::Cpu>::new(2, 4, 1e-5, true, DType::F32);
/// assert_eq!(gn.forward(&Tensor::ones([3, 4, 5], DType::F32)).dims(), &[3, 4, 5]);
/// ```
#[derive(Clone, Debug)]
pub struct GroupNorm<B: Backend> {
    /// Number of groups.
    pub num_groups: usize,
    /// Number of channels `C`.
    pub num_channels: usize,
    /// Added to the variance.
    pub eps: f64,
    /// `[C]`, if affine.
    pub weight: Option<Tensor<B>>,
    /// `[C]`, if affine.
    pub bias: Option<Tensor<B>>,
    training: bool,
}

impl<B: Backend> GroupNorm<B> {
    /// A group norm.
    ///
    /// # Panics
    ///
    /// When `num_groups` is 0 or does not divide `num_channels`.
    pub fn new(num_groups: usize, num_channels: usize, eps: f64, affine: bool, dtype: DType) -> Self {
        assert!(
            num_groups > 0 && num_channels.is_multiple_of(num_groups),
            "GroupNorm: num_channels must be divisible by num_groups (got {num_channels} and {num_groups})"
        );
        let (weight, bias) = if affine {
            (Some(Tensor::ones([num_channels], dtype)), Some(Tensor::zeros([num_channels], dtype)))
        } else {
            (None, None)
        };
        GroupNorm { num_groups, num_channels, eps, weight, bias, training: true }
    }
}

impl<B: Backend> Module<B> for GroupNorm<B> {
    fn try_forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        if x.ndim() < 2 || x.dims()[1] != self.num_channels {
            return Err(Error::invalid_shape(
                "GroupNorm",
                x.shape(),
                format!("expected an input [N, C, *] with C = num_channels = {}", self.num_channels),
            ));
        }
        let n = x.dims()[0];
        let grouped = x.try_reshape(&[n as isize, self.num_groups as isize, -1])?;
        let mean = grouped.mean_dims(&[2], true);
        let centered = &grouped - &mean;
        let var = centered.square().mean_dims(&[2], true);
        let mut y = (centered * (var + self.eps).sqrt().recip()).try_reshape_to(x.shape().clone())?;
        let mut bshape = vec![1usize; x.ndim()];
        bshape[1] = self.num_channels;
        if let Some(w) = &self.weight {
            y = y.try_mul(&w.try_reshape_to(bshape.clone())?)?;
        }
        if let Some(b) = &self.bias {
            y = y.try_add(&b.try_reshape_to(bshape)?)?;
        }
        Ok(y)
    }

    fn visit_own(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>)) {
        affine_pair(&self.weight, &self.bias, f);
    }

    fn visit_own_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>)) {
        affine_pair_mut(&mut self.weight, &mut self.bias, f);
    }

    module_common!("GroupNorm");
}
