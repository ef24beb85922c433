//! # func-nn
//!
//! Neural-network modules for func-rs, and torch.func's module utilities:
//! the [`Module`] trait (a forward function, named parameters and buffers in
//! state-dict names such as `"fc1.weight"`, train/eval mode), layers with
//! PyTorch's default initialisation ([`Linear`], [`Conv2d`], [`BatchNorm`],
//! [`LayerNorm`], [`GroupNorm`], [`Dropout`], [`Embedding`], [`MaxPool2d`],
//! [`AvgPool2d`], [`Flatten`], [`ReLU`], [`Tanh`], [`GELU`], [`Sigmoid`],
//! [`Sequential`]), [`loss`]es, and the functions that turn a module into a
//! function of its parameters, which the transforms take:
//! [`functional_call`], [`make_functional`],
//! [`make_functional_with_buffers`], [`stack_module_state`],
//! [`combine_state_for_ensemble`], [`replace_all_batch_norm_modules_`].
//!
//! Most programs use it through the `func` facade (`func::nn`), where the
//! backend is fixed to the CPU; this crate is generic over the backend.
//!
//! ```
//! use func_autodiff::grad;
//! use func_core::{DType, Generator, Tensor};
//! use func_nn::{Linear, Module, ReLU, Sequential, StateDict, functional_call, loss};
//! type B = func_cpu::Cpu;
//!
//! let mut g = Generator::new(0);
//! let model = Sequential::<B>::new()
//!     .add_module("fc1", Linear::new(4, 16, &mut g))
//!     .add_module("relu", ReLU::new())
//!     .add_module("fc2", Linear::new(16, 3, &mut g));
//! let x = Tensor::randn([8, 4], DType::F32, &mut g);
//! let y = Tensor::from_vec(vec![0i64, 1, 2, 0, 1, 2, 0, 1], [8]);
//! let loss_of = |p: &StateDict<B>| loss::cross_entropy(&functional_call(&model, p, &x), &y, loss::Reduction::Mean);
//! let grads = grad(loss_of)(&model.parameter_dict());
//! assert_eq!(grads["fc1.weight"].dims(), &[16, 4]);
//! ```
//!
//! Themes: [`module`] (the trait), [`layers`], [`init`], [`loss`],
//! [`functional`] (the torch.func utilities), [`optim`] (functional
//! optimizers over parameter trees, usable under vmap), [`io`] (state dicts
//! as safetensors files).
//!
//! Dependencies beyond func-core: `safetensors`, the format's reference
//! implementation, for state-dict files that PyTorch, candle and burn read
//! and write; `thiserror` for [`Error`].
#![deny(missing_docs)]

pub mod error;
pub mod functional;
pub mod init;
pub mod io;
pub mod layers;
pub mod loss;
pub mod module;
pub mod optim;

pub use error::{Error, Result};
pub use functional::{
    CallOptions, Ensemble, FunctionalModule, FunctionalModuleWithBuffers, combine_state_for_ensemble, functional_call,
    functional_call_with, make_functional, make_functional_with_buffers, replace_all_batch_norm_modules_,
    stack_module_state,
};
pub use layers::linear::{Conv2d, Conv2dConfig, Embedding, Linear};
pub use layers::misc::{AvgPool2d, Dropout, Flatten, GELU, MaxPool2d, ReLU, Sigmoid, Tanh};
pub use layers::norm::{BatchNorm, BatchNormConfig, GroupNorm, LayerNorm};
pub use layers::sequential::Sequential;
pub use loss::Reduction;
pub use module::{Module, StateDict, TensorKind};
