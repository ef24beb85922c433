//! torch.func's module utilities: [`functional_call`],
//! [`make_functional`], [`make_functional_with_buffers`],
//! [`stack_module_state`], [`combine_state_for_ensemble`] and
//! [`replace_all_batch_norm_modules_`].
//!
//! They turn a module into a function of its parameters (and buffers), which
//! the transforms then take: `grad` of a loss with respect to a parameter
//! dict, `vmap` over stacked parameters of an ensemble. See NOTE: [modules
//! hold tensor handles] in [`crate::module`] for why no global state is
//! swapped.

use crate::layers::norm::BatchNorm;
use crate::module::{check_keys, for_each_module_mut};
use crate::{Error, Module, Result, StateDict, TensorKind};
use func_core::{Backend, Tensor};
use std::collections::BTreeMap;

/// Options of [`functional_call_with`], with torch's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallOptions {
    /// Every parameter and buffer name must be given, and no other (default
    /// false: missing names keep the module's own tensors, unknown names are
    /// ignored).
    pub strict: bool,
    /// A value given for one name of a tied tensor (one tensor registered
    /// under several names) is used for all its names (default true).
    pub tie_weights: bool,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions { strict: false, tie_weights: true }
    }
}

/// The module's names, kinds and tensors in visiting order.
fn entries<B: Backend, M: Module<B> + ?Sized>(m: &M) -> Vec<(String, TensorKind, Tensor<B>)> {
    let mut out = Vec::new();
    m.visit(&mut |n, k, t| out.push((n.to_string(), k, t.clone())));
    out
}

/// Extend `state` to every name of each tied tensor it gives (torch's
/// `_untie_named_tensors_map`).
fn untie<B: Backend>(entries: &[(String, TensorKind, Tensor<B>)], state: &StateDict<B>) -> Result<StateDict<B>> {
    let mut out = state.clone();
    for (name, _, t) in entries {
        let tied: Vec<&String> = entries.iter().filter(|(_, _, u)| u.same_handle(t)).map(|(n, _, _)| n).collect();
        if tied.len() < 2 || !state.contains_key(name) {
            continue;
        }
        let given: Vec<&Tensor<B>> = tied.iter().filter_map(|n| state.get(*n)).collect();
        if given.iter().any(|g| !g.same_handle(given[0])) {
            let mut names: Vec<&String> = tied.clone();
            names.sort();
            return Err(Error::state_dict(
                "functional_call",
                format!(
                    "functional_call got multiple values for keys {names:?}, which are tied. Consider using \
                     tie_weights=False"
                ),
            ));
        }
        for n in tied {
            out.insert(n.clone(), state[name].clone());
        }
    }
    Ok(out)
}

/// Run `module`'s forward with its parameters and buffers replaced by those
/// in `state` (torch's `torch.func.functional_call`), without changing
/// `module`. The result is differentiable and batchable in `state`'s
/// tensors: `grad(|p| loss(functional_call(&model, p, &x)))`.
///
/// # Errors
///
/// With `strict`, [`Error::StateDict`] naming missing and unexpected keys;
/// with `tie_weights`, when several different values are given for one tied
/// tensor; any error of the forward.
///
/// # Examples
///
/// ```
/// use func_core::{Generator, Tensor};
/// use func_nn::{CallOptions, Linear, Module, functional_call_with};
/// type T = Tensor<func_cpu::Cpu>;
/// let fc = Linear::new(2, 1, &mut Generator::new(0));
/// let mut p = fc.state_dict();
/// p.insert("weight".into(), T::from_vec(vec![1.0f32, 2.0], [1, 2]));
/// p.insert("bias".into(), T::from_vec(vec![0.5f32], [1]));
/// let y = functional_call_with(&fc, &p, &T::from_vec(vec![3.0f32, 4.0], [1, 2]), CallOptions { strict: true, ..Default::default() });
/// assert_eq!(y.unwrap().to_vec::<f32>(), vec![11.5]);
/// ```
pub fn functional_call_with<B: Backend, M: Module<B> + ?Sized>(
    module: &M,
    state: &StateDict<B>,
    x: &Tensor<B>,
    opts: CallOptions,
) -> Result<Tensor<B>> {
    let entries = entries(module);
    let state = if opts.tie_weights { untie(&entries, state)? } else { state.clone() };
    if opts.strict {
        let names: Vec<(String, TensorKind)> = entries.iter().map(|(n, k, _)| (n.clone(), *k)).collect();
        check_keys("functional_call", module.name(), &names, &state)?;
    }
    let mut m = module.box_clone();
    m.visit_mut(&mut |n, _, t| {
        if let Some(v) = state.get(n) {
            *t = v.clone();
        }
    });
    Ok(m.try_forward(x)?)
}

/// [`functional_call_with`] with torch's defaults (not strict, tied
/// weights), panicking on errors: the form to use inside transforms.
///
/// # Panics
///
/// As [`functional_call_with`] errs.
///
/// # Examples
///
/// Per-sample gradients of a model's loss:
///
/// ```
/// use func_autodiff::grad;
/// use func_batch::{vmap_with, VmapOptions};
/// use func_core::{Generator, Tensor};
/// use func_nn::{Linear, Module, StateDict, functional_call};
/// type B = func_cpu::Cpu;
/// let model = Linear::<B>::new(3, 1, &mut Generator::new(0));
/// let loss = |(p, x): &(StateDict<B>, Tensor<B>)| functional_call(&model, p, &x.unsqueeze(0)).square().sum();
/// let psg = vmap_with(grad(loss), VmapOptions::new().in_dims((None, Some(0))));
/// let (g, _) = psg(&(model.parameter_dict(), Tensor::ones([5, 3], func_core::DType::F32)));
/// assert_eq!(g["weight"].dims(), &[5, 1, 3]);
/// ```
pub fn functional_call<B: Backend, M: Module<B> + ?Sized>(
    module: &M,
    state: &StateDict<B>,
    x: &Tensor<B>,
) -> Tensor<B> {
    functional_call_with(module, state, x, CallOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// Group the module's tensors of `kind` by handle, in visiting order: each
/// group is one tensor and all its names.
fn grouped<B: Backend>(
    entries: &[(String, TensorKind, Tensor<B>)],
    kind: TensorKind,
) -> (Vec<Vec<String>>, Vec<Tensor<B>>) {
    let mut names: Vec<Vec<String>> = Vec::new();
    let mut tensors: Vec<Tensor<B>> = Vec::new();
    for (n, k, t) in entries {
        if *k != kind {
            continue;
        }
        match tensors.iter().position(|u| u.same_handle(t)) {
            Some(i) => names[i].push(n.clone()),
            None => {
                names.push(vec![n.clone()]);
                tensors.push(t.clone());
            }
        }
    }
    (names, tensors)
}

fn fill<B: Backend>(
    op: &str,
    what: &str,
    names: &[Vec<String>],
    values: &[Tensor<B>],
    out: &mut StateDict<B>,
) -> Result<()> {
    if names.len() != values.len() {
        return Err(Error::state_dict(
            op,
            format!("expected {} {what} tensors (one per name group {names:?}), got {}", names.len(), values.len()),
        ));
    }
    for (group, v) in names.iter().zip(values) {
        for n in group {
            out.insert(n.clone(), v.clone());
        }
    }
    Ok(())
}

/// A module as a function of its parameters, from [`make_functional`].
pub struct FunctionalModule<B: Backend> {
    module: Box<dyn Module<B>>,
    names: Vec<Vec<String>>,
}

impl<B: Backend> Clone for FunctionalModule<B> {
    fn clone(&self) -> Self {
        FunctionalModule { module: self.module.box_clone(), names: self.names.clone() }
    }
}

impl<B: Backend> FunctionalModule<B> {
    /// The parameters' names, one group per parameter (several names when
    /// tied), in the order of the parameter list.
    pub fn param_names(&self) -> &[Vec<String>] {
        &self.names
    }

    /// The module's forward with these parameters.
    ///
    /// # Errors
    ///
    /// When the number of parameters is wrong, or the forward fails.
    pub fn try_call(&self, params: &[Tensor<B>], x: &Tensor<B>) -> Result<Tensor<B>> {
        let mut state = BTreeMap::new();
        fill("FunctionalModule", "parameter", &self.names, params, &mut state)?;
        functional_call_with(&*self.module, &state, x, CallOptions { strict: true, tie_weights: false })
    }

    /// [`try_call`](Self::try_call).
    ///
    /// # Panics
    ///
    /// As [`try_call`](Self::try_call) errs.
    pub fn call(&self, params: &[Tensor<B>], x: &Tensor<B>) -> Tensor<B> {
        self.try_call(params, x).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A module as a function of its parameters and buffers, from
/// [`make_functional_with_buffers`] or [`combine_state_for_ensemble`].
pub struct FunctionalModuleWithBuffers<B: Backend> {
    module: Box<dyn Module<B>>,
    param_names: Vec<Vec<String>>,
    buffer_names: Vec<Vec<String>>,
}

impl<B: Backend> Clone for FunctionalModuleWithBuffers<B> {
    fn clone(&self) -> Self {
        FunctionalModuleWithBuffers {
            module: self.module.box_clone(),
            param_names: self.param_names.clone(),
            buffer_names: self.buffer_names.clone(),
        }
    }
}

impl<B: Backend> FunctionalModuleWithBuffers<B> {
    /// The parameters' names, one group per parameter.
    pub fn param_names(&self) -> &[Vec<String>] {
        &self.param_names
    }

    /// The buffers' names, one group per buffer.
    pub fn buffer_names(&self) -> &[Vec<String>] {
        &self.buffer_names
    }

    /// The module's forward with these parameters and buffers. Buffers
    /// written in place by the forward (BatchNorm's running statistics in
    /// train mode) are written into `buffers`' tensors.
    ///
    /// # Errors
    ///
    /// When the number of parameters or buffers is wrong, or the forward
    /// fails.
    pub fn try_call(&self, params: &[Tensor<B>], buffers: &[Tensor<B>], x: &Tensor<B>) -> Result<Tensor<B>> {
        let mut state = BTreeMap::new();
        fill("FunctionalModuleWithBuffers", "parameter", &self.param_names, params, &mut state)?;
        fill("FunctionalModuleWithBuffers", "buffer", &self.buffer_names, buffers, &mut state)?;
        functional_call_with(&*self.module, &state, x, CallOptions { strict: true, tie_weights: false })
    }

    /// [`try_call`](Self::try_call).
    ///
    /// # Panics
    ///
    /// As [`try_call`](Self::try_call) errs.
    pub fn call(&self, params: &[Tensor<B>], buffers: &[Tensor<B>], x: &Tensor<B>) -> Tensor<B> {
        self.try_call(params, buffers, x).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Split a module into a function of its parameters and the parameters
/// (torch.func's `make_functional`): `fmodel.call(&params, &x)` is the
/// module's forward. Tied parameters appear once.
///
/// # Errors
///
/// [`Error::Module`] when the module has buffers (use
/// [`make_functional_with_buffers`]).
///
/// # Examples
///
/// ```
/// use func_core::{DType, Generator, Tensor};
/// use func_nn::{Linear, make_functional};
/// let (fmodel, params) = make_functional(&Linear::<func_cpu::Cpu>::new(3, 2, &mut Generator::new(0))).unwrap();
/// assert_eq!(params.len(), 2); // weight, bias
/// assert_eq!(fmodel.call(&params, &Tensor::ones([4, 3], DType::F32)).dims(), &[4, 2]);
/// ```
pub fn make_functional<B: Backend, M: Module<B> + ?Sized>(module: &M) -> Result<(FunctionalModule<B>, Vec<Tensor<B>>)> {
    let entries = entries(module);
    if entries.iter().any(|(_, k, _)| *k == TensorKind::Buffer) {
        return Err(Error::module(
            "make_functional",
            "make_functional(model): `model` has buffers. Please use make_functional_with_buffers(model) instead.",
        ));
    }
    let (names, params) = grouped(&entries, TensorKind::Parameter);
    Ok((FunctionalModule { module: module.box_clone(), names }, params))
}

/// Split a module into a function of its parameters and buffers, the
/// parameters and the buffers (torch.func's `make_functional_with_buffers`).
///
/// # Examples
///
/// ```
/// use func_core::{DType, Tensor};
/// use func_nn::{BatchNorm, BatchNormConfig, make_functional_with_buffers};
/// let bn = BatchNorm::<func_cpu::Cpu>::new_1d(3, BatchNormConfig::default());
/// let (f, params, buffers) = make_functional_with_buffers(&bn);
/// assert_eq!((params.len(), buffers.len()), (2, 3)); // weight, bias; running_mean, running_var, num_batches_tracked
/// let y = f.call(&params, &buffers, &Tensor::ones([4, 3], DType::F32));
/// assert_eq!(y.dims(), &[4, 3]);
/// ```
pub fn make_functional_with_buffers<B: Backend, M: Module<B> + ?Sized>(
    module: &M,
) -> (FunctionalModuleWithBuffers<B>, Vec<Tensor<B>>, Vec<Tensor<B>>) {
    let entries = entries(module);
    let (param_names, params) = grouped(&entries, TensorKind::Parameter);
    let (buffer_names, buffers) = grouped(&entries, TensorKind::Buffer);
    (FunctionalModuleWithBuffers { module: module.box_clone(), param_names, buffer_names }, params, buffers)
}

fn check_models<B: Backend, M: Module<B>>(op: &str, models: &[M]) -> Result<()> {
    let Some(first) = models.first() else {
        return Err(Error::module(op, format!("{op}: Expected at least one model, got 0.")));
    };
    let mode = first.is_training();
    let all_modes = |m: &M| {
        let mut same = m.is_training() == mode;
        let mut mm = m.box_clone();
        for_each_module_mut(&mut *mm, &mut |_, c| same &= c.is_training() == mode);
        same
    };
    if !models.iter().all(all_modes) {
        return Err(Error::module(op, format!("{op}: Expected all models to have the same training/eval mode.")));
    }
    let names = first.state_names();
    if models.iter().any(|m| m.name() != first.name() || m.state_names() != names) {
        return Err(Error::module(
            op,
            format!(
                "{op}: Expected all models to be of the same class (the same layers, parameter and buffer names: \
                 {} with {:?})",
                first.name(),
                names.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
            ),
        ));
    }
    Ok(())
}

fn stack_named<B: Backend, M: Module<B>>(models: &[M], names: &[String]) -> Result<StateDict<B>> {
    let dicts: Vec<StateDict<B>> = models.iter().map(|m| m.state_dict()).collect();
    let mut out = BTreeMap::new();
    for n in names {
        let ts: Vec<Tensor<B>> = dicts.iter().map(|d| d[n].detach()).collect();
        out.insert(n.clone(), Tensor::try_stack(&ts, 0)?);
    }
    Ok(out)
}

/// Stack the parameters and buffers of same-shaped models along a new
/// dimension 0 (torch.func's `stack_module_state`), for `vmap` over an
/// ensemble with [`functional_call`]. The stacked tensors are new leaves
/// (detached).
///
/// # Errors
///
/// [`Error::Module`] for an empty list, for models in different train/eval
/// modes, or of different classes; a shape mismatch from the stack.
///
/// # Examples
///
/// ```
/// use func_batch::{vmap_with, VmapOptions};
/// use func_core::{DType, Generator, Tensor};
/// use func_nn::{Linear, StateDict, functional_call, stack_module_state};
/// type B = func_cpu::Cpu;
/// let mut g = Generator::new(0);
/// let models: Vec<Linear<B>> = (0..4).map(|_| Linear::new(3, 2, &mut g)).collect();
/// let (params, _buffers) = stack_module_state(&models).unwrap();
/// assert_eq!(params["weight"].dims(), &[4, 2, 3]);
/// let base = models[0].clone();
/// let ensemble = vmap_with(
///     move |(p, x): &(StateDict<B>, Tensor<B>)| functional_call(&base, p, x),
///     VmapOptions::new().in_dims((Some(0), None)),
/// );
/// let y = ensemble(&(params, Tensor::ones([5, 3], DType::F32)));
/// assert_eq!(y.dims(), &[4, 5, 2]);
/// ```
pub fn stack_module_state<B: Backend, M: Module<B>>(models: &[M]) -> Result<(StateDict<B>, StateDict<B>)> {
    check_models("stack_module_state", models)?;
    let first = &models[0];
    let p: Vec<String> = first.named_parameters().into_iter().map(|(n, _)| n).collect();
    let b: Vec<String> = first.named_buffers().into_iter().map(|(n, _)| n).collect();
    Ok((stack_named(models, &p)?, stack_named(models, &b)?))
}

/// What [`combine_state_for_ensemble`] returns: the functional model, the
/// stacked parameters and the stacked buffers.
pub type Ensemble<B> = (FunctionalModuleWithBuffers<B>, Vec<Tensor<B>>, Vec<Tensor<B>>);

/// A functional model and the stacked parameters and buffers of same-shaped
/// models (torch.func's `combine_state_for_ensemble`): vmap
/// `fmodel.call(&params, &buffers, &x)` over dim 0 of the parameters and
/// buffers.
///
/// # Errors
///
/// As [`stack_module_state`], naming `combine_state_for_ensemble`.
///
/// # Examples
///
/// ```
/// use func_batch::{vmap_with, VmapOptions};
/// use func_core::{DType, Generator, Tensor};
/// use func_nn::{Linear, combine_state_for_ensemble};
/// type B = func_cpu::Cpu;
/// let mut g = Generator::new(0);
/// let models: Vec<Linear<B>> = (0..3).map(|_| Linear::new(4, 2, &mut g)).collect();
/// let (fmodel, params, buffers) = combine_state_for_ensemble(&models).unwrap();
/// let f = vmap_with(
///     move |(p, b, x): &(Vec<Tensor<B>>, Vec<Tensor<B>>, Tensor<B>)| fmodel.call(p, b, x),
///     VmapOptions::new().in_dims((Some(0), Some(0), None)),
/// );
/// assert_eq!(f(&(params, buffers, Tensor::ones([6, 4], DType::F32))).dims(), &[3, 6, 2]);
/// ```
pub fn combine_state_for_ensemble<B: Backend, M: Module<B>>(models: &[M]) -> Result<Ensemble<B>> {
    check_models("combine_state_for_ensemble", models)?;
    let (fmodel, _, _) = make_functional_with_buffers(&models[0]);
    let stack = |names: &[Vec<String>]| -> Result<Vec<Tensor<B>>> {
        let firsts: Vec<String> = names.iter().map(|g| g[0].clone()).collect();
        let d = stack_named(models, &firsts)?;
        Ok(firsts.iter().map(|n| d[n].clone()).collect())
    };
    let params = stack(fmodel.param_names())?;
    let buffers = stack(fmodel.buffer_names())?;
    Ok((fmodel, params, buffers))
}

/// Make every BatchNorm in `module` stop tracking running statistics
/// (torch.func's `replace_all_batch_norm_modules_`): `running_mean`,
/// `running_var` and `num_batches_tracked` are removed and batch statistics
/// are used in train and eval mode, so the model runs under vmap in train
/// mode.
///
/// # Examples
///
/// ```
/// use func_nn::{BatchNorm, BatchNormConfig, Module, Sequential, replace_all_batch_norm_modules_};
/// let mut m = Sequential::<func_cpu::Cpu>::new().append(BatchNorm::new_1d(3, BatchNormConfig::default()));
/// assert_eq!(m.named_buffers().len(), 3);
/// replace_all_batch_norm_modules_(&mut m);
/// assert!(m.named_buffers().is_empty());
/// ```
pub fn replace_all_batch_norm_modules_<B: Backend>(module: &mut dyn Module<B>) {
    for_each_module_mut(module, &mut |_, m| {
        if let Some(bn) = m.as_any_mut().downcast_mut::<BatchNorm<B>>() {
            bn.running_mean = None;
            bn.running_var = None;
            bn.num_batches_tracked = None;
            bn.track_running_stats = false;
        }
    });
}
