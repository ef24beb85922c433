//! Losses with torch's reductions: [`cross_entropy`] (class indices or
//! class probabilities), [`nll_loss`], [`mse_loss`].
//!
//! Inputs are `[C]`, `[N, C]` or `[N, C, d1, ...]` with the classes in
//! dimension 1 (dimension 0 for `[C]`), as torch's `F.cross_entropy`.

use func_core::{Backend, DType, Error, Result, Tensor};

/// How a loss reduces its per-element values (torch's `reduction=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reduction {
    /// The mean over all elements (the default).
    #[default]
    Mean,
    /// The sum over all elements.
    Sum,
    /// No reduction: one value per element.
    None,
}

fn reduce<B: Backend>(l: Tensor<B>, r: Reduction) -> Tensor<B> {
    match r {
        Reduction::Mean => l.mean(),
        Reduction::Sum => l.sum(),
        Reduction::None => l,
    }
}

fn class_dim<B: Backend>(op: &str, x: &Tensor<B>) -> Result<usize> {
    match x.ndim() {
        0 => Err(Error::invalid_shape(op, x.shape(), "expected an input [C], [N, C] or [N, C, d1, ...]; got a scalar")),
        1 => Ok(0),
        _ => Ok(1),
    }
}

/// `-logp[target]` per element, `logp` with classes in `cd`.
fn pick<B: Backend>(op: &str, logp: &Tensor<B>, cd: usize, target: &Tensor<B>) -> Result<Tensor<B>> {
    if target.dtype() != DType::I64 {
        return Err(Error::dtype(
            op,
            target.dtype(),
            "expected an i64 target of class indices (or, for cross_entropy, a float target of class \
             probabilities with the input's shape)",
        ));
    }
    let mut want: Vec<usize> = logp.dims().to_vec();
    want.remove(cd);
    if target.dims() != want {
        return Err(Error::shape_mismatch(
            op,
            logp.shape(),
            target.shape(),
            format!(
                "(input, target): a class-index target must have the input's shape without the class dimension {cd}: {want:?}"
            ),
        ));
    }
    let classes = logp.dims()[cd];
    if let Ok(values) = target.try_to_vec::<i64>()
        && let Some(v) = values.iter().find(|&&v| v < 0 || v as u64 >= classes as u64)
    {
        return Err(Error::invalid(
            op,
            format!(
                "Target {v} is out of bounds: targets must be class indices in [0, {classes}) for an input \
                     with {classes} classes (input shape {}, target shape {})",
                logp.shape(),
                target.shape()
            ),
        ));
    }
    let picked = logp.try_gather(cd as isize, &target.unsqueeze(cd as isize))?.try_squeeze_dim(cd as isize)?;
    Ok(-picked)
}

/// Cross entropy of logits against class indices (an i64 target, the
/// input's shape without the class dimension) or class probabilities (a
/// float target of the input's shape), torch's `F.cross_entropy`.
///
/// # Errors
///
/// When the shapes or dtypes do not fit, or a class index is out of range.
///
/// # Examples
///
/// ```
/// use func_core::Tensor;
/// use func_nn::loss::{Reduction, try_cross_entropy};
/// type T = Tensor<func_cpu::Cpu>;
/// let logits = T::from_vec(vec![0.0f64, 0.0], [1, 2]);
/// let l = try_cross_entropy(&logits, &T::from_vec(vec![1i64], [1]), Reduction::Mean).unwrap();
/// assert!((l.item::<f64>() - 2f64.ln()).abs() < 1e-12);
/// ```
pub fn try_cross_entropy<B: Backend>(input: &Tensor<B>, target: &Tensor<B>, reduction: Reduction) -> Result<Tensor<B>> {
    let cd = class_dim("cross_entropy", input)?;
    let logp = input.log_softmax(cd as isize);
    if target.dtype().is_float() {
        if target.shape() != input.shape() {
            return Err(Error::shape_mismatch(
                "cross_entropy",
                input.shape(),
                target.shape(),
                "(input, target): class-probability targets must have the input's shape",
            ));
        }
        let l = -(logp.try_mul(target)?).sum_dims(&[cd as isize], false);
        return Ok(reduce(l, reduction));
    }
    Ok(reduce(pick("cross_entropy", &logp, cd, target)?, reduction))
}

/// [`try_cross_entropy`].
///
/// # Panics
///
/// As [`try_cross_entropy`] errs.
pub fn cross_entropy<B: Backend>(input: &Tensor<B>, target: &Tensor<B>, reduction: Reduction) -> Tensor<B> {
    try_cross_entropy(input, target, reduction).unwrap_or_else(|e| panic!("{e}"))
}

/// Negative log-likelihood of log-probabilities at class indices (torch's
/// `F.nll_loss`).
///
/// # Errors
///
/// When the shapes or dtypes do not fit, or a class index is out of range.
///
/// # Examples
///
/// ```
/// use func_core::Tensor;
/// use func_nn::loss::{Reduction, try_nll_loss};
/// type T = Tensor<func_cpu::Cpu>;
/// let logp = T::from_vec(vec![-1.0f64, -2.0, -3.0, -4.0], [2, 2]);
/// let l = try_nll_loss(&logp, &T::from_vec(vec![0i64, 1], [2]), Reduction::Sum).unwrap();
/// assert_eq!(l.item::<f64>(), 5.0);
/// ```
pub fn try_nll_loss<B: Backend>(input: &Tensor<B>, target: &Tensor<B>, reduction: Reduction) -> Result<Tensor<B>> {
    let cd = class_dim("nll_loss", input)?;
    Ok(reduce(pick("nll_loss", input, cd, target)?, reduction))
}

/// [`try_nll_loss`].
///
/// # Panics
///
/// As [`try_nll_loss`] errs.
pub fn nll_loss<B: Backend>(input: &Tensor<B>, target: &Tensor<B>, reduction: Reduction) -> Tensor<B> {
    try_nll_loss(input, target, reduction).unwrap_or_else(|e| panic!("{e}"))
}

/// `(input - target)^2`, reduced (torch's `F.mse_loss`).
///
/// # Errors
///
/// When the shapes differ (torch broadcasts with a warning; here the shapes
/// must be equal, to catch `[N]` against `[N, 1]`).
///
/// # Examples
///
/// ```
/// use func_core::Tensor;
/// use func_nn::loss::{Reduction, try_mse_loss};
/// type T = Tensor<func_cpu::Cpu>;
/// let l = try_mse_loss(&T::from_vec(vec![1.0f64, 2.0], [2]), &T::from_vec(vec![0.0f64, 0.0], [2]), Reduction::Mean);
/// assert_eq!(l.unwrap().item::<f64>(), 2.5);
/// ```
pub fn try_mse_loss<B: Backend>(input: &Tensor<B>, target: &Tensor<B>, reduction: Reduction) -> Result<Tensor<B>> {
    if input.shape() != target.shape() {
        return Err(Error::shape_mismatch(
            "mse_loss",
            input.shape(),
            target.shape(),
            "(input, target) must be equal: reshape one of them (for example [N] against [N, 1] would broadcast to \
             [N, N])",
        ));
    }
    Ok(reduce(input.try_sub(target)?.square(), reduction))
}

/// [`try_mse_loss`].
///
/// # Panics
///
/// As [`try_mse_loss`] errs.
pub fn mse_loss<B: Backend>(input: &Tensor<B>, target: &Tensor<B>, reduction: Reduction) -> Tensor<B> {
    try_mse_loss(input, target, reduction).unwrap_or_else(|e| panic!("{e}"))
}
