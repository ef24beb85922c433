//! [`Sequential`]: a chain of modules.

use crate::module::module_common;
use crate::{Module, TensorKind};
use func_core::{Backend, Result, Tensor};

/// Modules applied in order (torch's `nn.Sequential`). Children are named
/// `"0"`, `"1"`, ... when added with [`append`](Sequential::append), or by the
/// given name with [`add_module`](Sequential::add_module) (torch's
/// `OrderedDict` form), so parameters are `"0.weight"` or `"fc1.weight"`.
///
/// # Examples
///
/// ```
/// use func_core::{Generator, Tensor, DType};
/// use func_nn::{Linear, Module, Sequential, Tanh};
/// let mut g = Generator::new(0);
/// let m = Sequential::<func_cpu::Cpu>::new().append(Linear::new(2, 3, &mut g)).append(Tanh::new());
/// assert!(m.state_dict().contains_key("0.weight"));
/// assert_eq!(m.forward(&Tensor::ones([4, 2], DType::F32)).dims(), &[4, 3]);
/// ```
#[derive(Clone)]
pub struct Sequential<B: Backend> {
    layers: Vec<(String, Box<dyn Module<B>>)>,
    training: bool,
}

impl<B: Backend> std::fmt::Debug for Sequential<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.layers.iter().map(|(n, m)| format!("({n}): {}", m.name())).collect();
        write!(f, "Sequential[{}]", names.join(", "))
    }
}

impl<B: Backend> Default for Sequential<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: Backend> Sequential<B> {
    /// An empty chain (the identity).
    pub fn new() -> Self {
        Sequential { layers: Vec::new(), training: true }
    }

    /// Append a module named by its position (torch's `append`).
    pub fn append(self, m: impl Module<B>) -> Self {
        let name = self.layers.len().to_string();
        self.add_module(name, m)
    }

    /// Append a module under `name` (torch's `add_module`).
    ///
    /// # Panics
    ///
    /// When `name` is empty, contains a `.`, or is already taken.
    pub fn add_module(mut self, name: impl Into<String>, m: impl Module<B>) -> Self {
        let name = name.into();
        assert!(
            !name.is_empty() && !name.contains('.') && !self.layers.iter().any(|(n, _)| *n == name),
            "Sequential: module name {name:?} must be non-empty, contain no \".\", and not be taken"
        );
        self.layers.push((name, Box::new(m)));
        self
    }

    /// The number of modules.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the chain is empty.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The module at `i`, if any.
    pub fn get(&self, i: usize) -> Option<&dyn Module<B>> {
        self.layers.get(i).map(|(_, m)| &**m)
    }

    /// The module at `i`, mutably, if any.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Box<dyn Module<B>>> {
        self.layers.get_mut(i).map(|(_, m)| m)
    }
}

impl<B: Backend> Module<B> for Sequential<B> {
    fn try_forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        let mut h = x.clone();
        for (_, m) in &self.layers {
            h = m.try_forward(&h)?;
        }
        Ok(h)
    }
    fn visit_own(&self, _f: &mut dyn FnMut(&str, TensorKind, &Tensor<B>)) {}
    fn visit_own_mut(&mut self, _f: &mut dyn FnMut(&str, TensorKind, &mut Tensor<B>)) {}
    fn children(&self, f: &mut dyn FnMut(&str, &dyn Module<B>)) {
        for (n, m) in &self.layers {
            f(n, &**m);
        }
    }
    fn children_mut(&mut self, f: &mut dyn FnMut(&str, &mut dyn Module<B>)) {
        for (n, m) in &mut self.layers {
            f(n, &mut **m);
        }
    }
    module_common!("Sequential");
}
