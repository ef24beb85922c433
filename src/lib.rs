//! # func
//!
//! Composable function transforms in pure Rust, in the spirit of PyTorch's
//! `torch.func` and JAX: [`vmap`], [`grad`], [`grad_and_value`], [`jvp`],
//! [`vjp`], [`linearize`], [`jacrev`], [`jacfwd`], [`hessian`],
//! [`functionalize`], composing with each other to any depth, and
//! [`make_graph`], which shows the primitives a function runs. This facade fixes the backend to the
//! optimized CPU backend, so `func::Tensor` needs no type parameter, and
//! re-exports what a user needs.
//!
//! ```
//! use func::prelude::*;
//!
//! // Per-sample gradients of a linear model's squared error.
//! let loss = |(w, x, y): &(Tensor, Tensor, Tensor)| (x.dot(w) - y).square();
//! let per_sample = vmap_with(grad(loss), VmapOptions::new().in_dims((None, Some(0), Some(0))));
//! let w = Tensor::from_vec(vec![1.0f32, -1.0], [2]);
//! let xs = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
//! let ys = Tensor::from_vec(vec![0.0f32, 1.0], [2]);
//! let (gw, _, _) = per_sample(&(w, xs, ys));
//! assert_eq!(gw.dims(), &[2, 2]); // one gradient per sample
//! ```
//!
//! In-place operations and views mean the same under every transform.
//! [`functionalize`] removes them (for vmap of a function that writes into a
//! buffer it creates, or to see a program without mutation):
//!
//! ```
//! use func::prelude::*;
//!
//! let f = |x: &Tensor| {
//!     let y = Tensor::zeros([3], DType::F64);
//!     y.copy_(x); // a batched value into an unbatched buffer: an error under vmap alone
//!     y
//! };
//! let xs = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]);
//! assert_eq!(vmap(functionalize(f))(&xs).to_vec::<f64>(), xs.to_vec::<f64>());
//! let graph = make_graph(functionalize(f), &Tensor::zeros([3], DType::F64));
//! assert!(graph.nodes().iter().all(|n| !n.is_write()));
//! println!("{graph}");
//! ```
//!
//! Custom operations with their own rules ([`CustomFn`], torch's
//! `autograd.Function`, JAX's `custom_jvp`/`custom_vjp`) and
//! `x.detach()` / `x.stop_gradient()` compose with every transform.
//!
//! [`nn`] brings modules (Linear, Conv2d, BatchNorm, ...), losses,
//! functional optimizers, safetensors state dicts and torch.func's module
//! utilities; the prelude holds `functional_call`, `stack_module_state` and
//! the other utilities.
//!
//! The workspace's layers, from the bottom: `func-core` (tensors, the
//! `Backend` trait, primitives, the interpreter machinery), `func-cpu` (the
//! CPU backend), `func-batch` (vmap), `func-autodiff` (the derivative
//! transforms), `func-functionalize` (functionalize and graph capture),
//! `func-testkit` (the reference backend, the op catalogue and
//! the laws every backend and transform satisfies).
#![deny(missing_docs)]

pub use func_autodiff::{
    JacOptions, grad, grad_and_value, grad_and_value_aux, grad_aux, hessian, jacfwd, jacfwd_aux, jacfwd_with, jacrev,
    jacrev_aux, jacrev_with, jvp, jvp_aux, linearize, try_jvp, try_vjp, vjp, vjp_aux,
};
pub use func_batch::{Dims, Randomness, VmapOptions, try_vmap, vmap, vmap_with};
pub use func_core::{
    ArgReduceOp, Backend, BinaryOp, CmpOp, Conv2dOptions, ConvGeom, CustomOp, CustomOpRef, CustomRule, DType,
    Distribution, Element, Error, Generator, HostData, Layout, MaybeTensors, Primitive, ReduceOp, Result, Shape,
    TensorTree, TreeDef, UnaryOp, call_custom,
};
pub use func_cpu::Cpu;
pub use func_functionalize::{
    NodeOp, Remove, Var, VarId, functionalize, functionalize_with, make_graph, try_functionalize,
};

/// Neural-network modules, losses, functional optimizers, state-dict files
/// and torch.func's module utilities (`functional_call`, `make_functional`,
/// `stack_module_state`, ...): the `func-nn` crate, generic over the
/// backend (use it with [`Cpu`], as the prelude's [`Tensor`] does).
///
/// # Examples
///
/// ```
/// use func::prelude::*;
/// use func::nn::{Linear, Module};
/// let fc = Linear::new(3, 2, &mut Generator::new(0));
/// let y: Tensor = fc.forward(&Tensor::ones([4, 3], DType::F32));
/// assert_eq!(y.dims(), &[4, 2]);
/// ```
pub use func_nn as nn;

/// Lower layers, for writing backends and transforms.
pub use func_core as core;

/// A tensor on the CPU backend: `func_core::Tensor<Cpu>`.
pub type Tensor = func_core::Tensor<Cpu>;

/// A custom operation with its own transform rules on the CPU backend:
/// `func_core::CustomFn<Cpu>` (torch's `autograd.Function`, JAX's
/// `custom_jvp` / `custom_vjp`).
///
/// # Examples
///
/// A straight-through estimator: `round` forward, identity derivative.
///
/// ```
/// use func::prelude::*;
///
/// let ste = CustomFn::new("round_ste", |x| vec![x[0].round()])
///     .with_jvp(|_x, _y, t| vec![t[0].clone()])
///     .with_vjp(|_x, _y, g| vec![g[0].clone()]);
/// let f = move |x: &Tensor| (ste.call(&[x]).remove(0) * x).sum();
/// let g = grad(f)(&Tensor::from_vec(vec![0.4f64, 1.6], [2]));
/// assert_eq!(g.to_vec::<f64>(), vec![0.4, 3.6]); // round(x) + x
/// ```
pub type CustomFn = func_core::CustomFn<Cpu>;

/// The primitives a function runs, captured by [`make_graph`], on the CPU
/// backend: `func_functionalize::Graph<Cpu, X, Y>` for a function from `X`
/// to `Y`.
///
/// # Examples
///
/// ```
/// use func::prelude::*;
/// let g: Graph<Tensor, Tensor> = make_graph(|x: &Tensor| x.exp(), &Tensor::zeros([2], DType::F32));
/// assert_eq!(g.names(), vec!["exp"]);
/// ```
pub type Graph<X, Y> = func_functionalize::Graph<Cpu, X, Y>;

/// One node of a [`Graph`] on the CPU backend.
pub type Node = func_functionalize::Node<Cpu>;

/// The names most programs need: `use func::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Conv2dOptions, CustomFn, DType, Dims, Generator, Graph, JacOptions, Randomness, Remove, Tensor, TensorTree,
        VmapOptions, functionalize, functionalize_with, grad, grad_and_value, hessian, jacfwd, jacrev, jvp, linearize,
        make_graph, vjp, vmap, vmap_with,
    };
    pub use func_nn::{
        Module, StateDict, combine_state_for_ensemble, functional_call, make_functional, make_functional_with_buffers,
        replace_all_batch_norm_modules_, stack_module_state,
    };
}
