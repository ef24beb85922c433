//! The [`Module`] trait: a forward function plus named tensors.
//!
//! NOTE: [modules hold tensor handles] A `Tensor` is a cheap handle, so a
//! module is its structure plus the handles of its parameters and buffers.
//! Cloning a module ([`Module::box_clone`]) aliases the same tensors, as
//! `y = x` does in Python; [`crate::functional_call`] clones the module and
//! swaps in other handles, so no global state is swapped and the original is
//! untouched. An in-place write through a swapped-in buffer (BatchNorm's
//! running statistics) reaches the caller's tensor, as in torch.

use crate::{Error, Result};
use func_core::{Backend, Tensor};
use std::any::Any;
use std::collections::BTreeMap;

/// Whether a named tensor of a module is a trainable parameter or a buffer
/// (state that is not trained, such as BatchNorm's running statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TensorKind {
    /// A trainable parameter (`weight`, `bias`).
    Parameter,
    /// A buffer (`running_mean`, `running_var`, `num_batches_tracked`).
    Buffer,
}

/// A state dict: tensors by their dotted names (`"fc1.weight"`). It is a
/// `TensorTree`, so transforms take and return it.
pub type StateDict<B> = BTreeMap<String, Tensor<B>>;

/// A neural-network module (torch's `nn.Module`).
///
/// A module has a forward function of one tensor, named parameters and
/// buffers (visited with their local names; containers prefix their
/// children's names with `"child."`, giving state-dict names such as
/// `"fc1.weight"`), child modules, and a train/eval flag.
///
/// Implement the required methods for a new layer; the provided ones
/// (`named_parameters`, `state_dict`, `load_state_dict`, `train`, `eval`, ...)
/// work on every module, including `dyn Module<B>`.
///
/// # Examples
///
/// ```
/// use func_core::{DType, Generator, Tensor};
/// use func_nn::{Linear, Module, ReLU, Sequential};
/// type B = func_cpu::Cpu;
/// let mut g = Generator::new(0);
/// let model = Sequential::<B>::new()
///     .add_module("fc1", Linear::new(4, 8, &mut g))
///     .add_module("act", ReLU::new())
///     .add_module("fc2", Linear::new(8, 2, &mut g));
/// let names: Vec<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
/// let y = model.forward(&Tensor::zeros([3, 4], DType::F32));
/// assert_eq!(y.dims(), &[3, 2]);
/// ```
pub trait Module<B: Backend>: Send + Sync + 'static {
    /// The forward function.
    ///
    /// # Errors
    ///
    /// When the input does not fit the module (its shape, dtype), naming the
    /// layer and the shapes; BatchNorm in train mode with running statistics
    /// under vmap (see [`crate::replace_all_batch_norm_modules_`]).
    fn try_forward(&self, x: &Tensor<B>) -> func_core::Result<Tensor<B>>;

    /// The class name (`"Linear"`), for messages and same-class checks.
    fn name(&self) -> &'static str;

    /// Visit this module's own parameters and buffers (not its children's)
    /// with their local names, in registration order.
    fn visit_own(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>));

    /// Visit this module's own parameters and buffers mutably, to replace
    /// them.
    fn visit_own_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>));

    /// Visit the child modules with their names, in registration order.
    fn children(&self, _f: &mut dyn FnMut(&str, &dyn Module<B>)) {}

    /// Visit the child modules mutably.
    fn children_mut(&mut self, _f: &mut dyn FnMut(&str, &mut dyn Module<B>)) {}

    /// Whether this module (not its children) is in train mode.
    fn is_training(&self) -> bool;

    /// Set this module's own train flag (not its children's: see
    /// [`train`](Module::train)).
    fn set_own_training(&mut self, mode: bool);

    /// A clone sharing the same tensor handles (NOTE: [modules hold tensor
    /// handles]).
    fn box_clone(&self) -> Box<dyn Module<B>>;

    /// This module as `Any`, to find layers of one type (as
    /// [`crate::replace_all_batch_norm_modules_`] does).
    fn as_any(&self) -> &dyn Any;

    /// This module as mutable `Any`.
    fn as_any_mut(&mut self) -> &mut dyn Any;

    /// The forward function.
    ///
    /// # Panics
    ///
    /// As [`try_forward`](Module::try_forward) errs, with its message.
    fn forward(&self, x: &Tensor<B>) -> Tensor<B> {
        self.try_forward(x).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Visit every parameter and buffer of this module and its descendants
    /// with its state-dict name, depth first in registration order. Tied
    /// tensors are visited under each of their names.
    fn visit(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>)) {
        self.visit_own(f);
        self.children(&mut |name, child| {
            child.visit(&mut |n, k, t| f(&format!("{name}.{n}"), k, t));
        });
    }

    /// Visit every parameter and buffer mutably, with its state-dict name.
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>)) {
        self.visit_own_mut(f);
        self.children_mut(&mut |name, child| {
            child.visit_mut(&mut |n, k, t| f(&format!("{name}.{n}"), k, t));
        });
    }

    /// Visit this module and every descendant mutably, with its dotted name
    /// (`""` for this module).
    fn visit_modules_mut(&mut self, f: &mut dyn FnMut(&str, &mut dyn Module<B>))
    where
        Self: Sized,
    {
        visit_modules_mut(self, "", f);
    }

    /// The parameters with their names, tied parameters once (under their
    /// first name), as torch's `named_parameters()`.
    fn named_parameters(&self) -> Vec<(String, Tensor<B>)> {
        named_of_kind(self, TensorKind::Parameter, true)
    }

    /// The buffers with their names, tied buffers once.
    fn named_buffers(&self) -> Vec<(String, Tensor<B>)> {
        named_of_kind(self, TensorKind::Buffer, true)
    }

    /// The parameters, tied ones once.
    fn parameters(&self) -> Vec<Tensor<B>> {
        self.named_parameters().into_iter().map(|(_, t)| t).collect()
    }

    /// The parameters as a name-to-tensor map (a `TensorTree`).
    fn parameter_dict(&self) -> StateDict<B> {
        self.named_parameters().into_iter().collect()
    }

    /// The buffers as a name-to-tensor map.
    fn buffer_dict(&self) -> StateDict<B> {
        self.named_buffers().into_iter().collect()
    }

    /// Every parameter and buffer under every one of its names (torch's
    /// `state_dict()`): the tensors are the module's own handles, not copies.
    fn state_dict(&self) -> StateDict<B> {
        let mut out = BTreeMap::new();
        self.visit(&mut |n, _, t| {
            out.insert(n.to_string(), t.clone());
        });
        out
    }

    /// Every state-dict name with its kind, in visiting order (tied tensors
    /// under each name).
    fn state_names(&self) -> Vec<(String, TensorKind)> {
        let mut out = Vec::new();
        self.visit(&mut |n, k, _| out.push((n.to_string(), k)));
        out
    }

    /// Copy the values of `state` into this module's tensors in place (torch's
    /// `load_state_dict`; values are cast to each tensor's dtype). With
    /// `strict`, every state-dict name must be given and no other.
    ///
    /// # Errors
    ///
    /// [`Error::StateDict`] naming the missing and unexpected keys (with
    /// `strict`), or the first tensor whose shape differs; nothing is written
    /// then.
    fn load_state_dict(&mut self, state: &StateDict<B>, strict: bool) -> Result<()> {
        let names = self.state_names();
        if strict {
            check_keys("load_state_dict", self.name(), &names, state)?;
        }
        let mut mismatch = Vec::new();
        self.visit(&mut |n, _, t| {
            if let Some(v) = state.get(n)
                && v.dims() != t.dims()
            {
                mismatch.push(format!(
                    "size mismatch for {n}: copying a param with shape {} from checkpoint, the shape in current \
                         model is {}.",
                    v.shape(),
                    t.shape()
                ));
            }
        });
        if !mismatch.is_empty() {
            return Err(Error::state_dict(
                "load_state_dict",
                format!("Error(s) in loading state_dict for {}:\n\t{}", self.name(), mismatch.join("\n\t")),
            ));
        }
        let mut err = None;
        self.visit(&mut |n, _, t| {
            if let (Some(v), None) = (state.get(n), &err)
                && let Err(e) = t.try_copy_(v)
            {
                err = Some(e);
            }
        });
        match err {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Set train mode on this module and every descendant (torch's
    /// `train(mode)`).
    fn train(&mut self, mode: bool) {
        self.set_own_training(mode);
        self.children_mut(&mut |_, c| c.train(mode));
    }

    /// Set eval mode on this module and every descendant (`train(false)`).
    fn eval(&mut self) {
        self.train(false);
    }
}

fn visit_modules_mut<B: Backend>(m: &mut dyn Module<B>, prefix: &str, f: &mut dyn FnMut(&str, &mut dyn Module<B>)) {
    f(prefix, &mut *m);
    m.children_mut(&mut |name, c| {
        let full = if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") };
        visit_modules_mut(c, &full, f);
    });
}

/// Visit `m` and every descendant mutably (for `dyn Module`).
pub(crate) fn for_each_module_mut<B: Backend>(m: &mut dyn Module<B>, f: &mut dyn FnMut(&str, &mut dyn Module<B>)) {
    visit_modules_mut(m, "", f);
}

fn named_of_kind<B: Backend, M: Module<B> + ?Sized>(m: &M, kind: TensorKind, dedup: bool) -> Vec<(String, Tensor<B>)> {
    let mut out: Vec<(String, Tensor<B>)> = Vec::new();
    m.visit(&mut |n, k, t| {
        if k == kind && !(dedup && out.iter().any(|(_, u)| u.same_handle(t))) {
            out.push((n.to_string(), t.clone()));
        }
    });
    out
}

/// torch's missing/unexpected-key check.
pub(crate) fn check_keys<B: Backend>(
    op: &str,
    module: &str,
    names: &[(String, TensorKind)],
    state: &StateDict<B>,
) -> Result<()> {
    let unexpected: Vec<String> =
        state.keys().filter(|k| !names.iter().any(|(n, _)| n == *k)).map(|k| format!("{k:?}")).collect();
    let missing: Vec<String> =
        names.iter().filter(|(n, _)| !state.contains_key(n)).map(|(n, _)| format!("{n:?}")).collect();
    let mut msgs = Vec::new();
    if !unexpected.is_empty() {
        msgs.push(format!("Unexpected key(s): {}.", unexpected.join(", ")));
    }
    if !missing.is_empty() {
        msgs.push(format!("Missing key(s): {}.", missing.join(", ")));
    }
    if msgs.is_empty() {
        Ok(())
    } else {
        // torch's wording: functional_call reparametrizes, the others load.
        let doing = if op == "functional_call" { "reparametrizing" } else { "loading state_dict" };
        Err(Error::state_dict(op, format!("Error(s) in {doing} for {module}:\n\t{}", msgs.join("\n\t"))))
    }
}

impl<B: Backend> Module<B> for Box<dyn Module<B>> {
    fn try_forward(&self, x: &Tensor<B>) -> func_core::Result<Tensor<B>> {
        (**self).try_forward(x)
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn visit_own(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>)) {
        (**self).visit_own(f)
    }
    fn visit_own_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>)) {
        (**self).visit_own_mut(f)
    }
    fn children(&self, f: &mut dyn FnMut(&str, &dyn Module<B>)) {
        (**self).children(f)
    }
    fn children_mut(&mut self, f: &mut dyn FnMut(&str, &mut dyn Module<B>)) {
        (**self).children_mut(f)
    }
    fn is_training(&self) -> bool {
        (**self).is_training()
    }
    fn set_own_training(&mut self, mode: bool) {
        (**self).set_own_training(mode)
    }
    fn box_clone(&self) -> Box<dyn Module<B>> {
        (**self).box_clone()
    }
    fn as_any(&self) -> &dyn Any {
        (**self).as_any()
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        (**self).as_any_mut()
    }
}

impl<B: Backend> Clone for Box<dyn Module<B>> {
    fn clone(&self) -> Self {
        self.box_clone()
    }
}

/// The boilerplate methods of a layer struct with a `training: bool` field
/// that is `Clone`.
macro_rules! module_common {
    ($name:literal) => {
        fn name(&self) -> &'static str {
            $name
        }
        fn is_training(&self) -> bool {
            self.training
        }
        fn set_own_training(&mut self, mode: bool) {
            self.training = mode;
        }
        fn box_clone(&self) -> Box<dyn $crate::Module<B>> {
            Box::new(self.clone())
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
        fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
            self
        }
    };
}
pub(crate) use module_common;
