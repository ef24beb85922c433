//! # func
//!
//! Composable function transforms in pure Rust, in the spirit of PyTorch's
//! `torch.func` and JAX: [`vmap`], [`grad`], [`grad_and_value`], [`jvp`],
//! [`vjp`], [`linearize`], [`jacrev`], [`jacfwd`], [`hessian`], composing
//! with each other to any depth. This facade fixes the backend to the
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
//! Custom operations with their own rules ([`CustomFn`], torch's
//! `autograd.Function`, JAX's `custom_jvp`/`custom_vjp`) and
//! `x.detach()` / `x.stop_gradient()` compose with every transform.
//!
//! The workspace's layers, from the bottom: `func-core` (tensors, the
//! `Backend` trait, primitives, the interpreter machinery), `func-cpu` (the
//! CPU backend), `func-batch` (vmap), `func-autodiff` (the derivative
//! transforms), `func-testkit` (the reference backend, the op catalogue and
//! the laws every backend and transform satisfies).
#![deny(missing_docs)]

mod jacobian;

pub use func_autodiff::{
    grad, grad_and_value, grad_and_value_aux, grad_aux, jvp, jvp_aux, linearize, try_grad, try_grad_and_value,
    try_grad_and_value_aux, try_grad_aux, try_jvp, try_jvp_aux, try_linearize, try_vjp, try_vjp_aux, vjp, vjp_aux,
};
pub use func_batch::{Dims, Randomness, VmapOptions, try_vmap, vmap, vmap_with};
pub use func_core::{
    Conv2dOptions, DType, Element, Error, Generator, JacobianTree, Result, Shape, TensorTree, TreeDef,
};
pub use jacobian::{
    JacOptions, hessian, hessian_aux, hessian_aux_with, hessian_with, jacfwd, jacfwd_aux, jacfwd_aux_with,
    jacfwd_with, jacrev, jacrev_aux, jacrev_aux_with, jacrev_with, try_hessian, try_hessian_aux, try_jacfwd,
    try_jacfwd_aux, try_jacrev, try_jacrev_aux,
};

/// What writing a backend or a custom operation needs: the [`Backend`]
/// trait and its op-code enums, [`Primitive`], [`Layout`], [`HostData`],
/// and the custom-op interface.
pub mod backend {
    pub use func_core::{
        ArgReduceOp, Backend, BinaryOp, CmpOp, ConvGeom, CustomOp, CustomOpRef, CustomRule, Distribution, HostData,
        Layout, MaybeTensors, Primitive, ReduceOp, UnaryOp, call_custom,
    };
    pub use func_cpu::Cpu;
}

/// Lower layers, for writing backends and transforms.
pub use func_core as core;

/// A tensor on the CPU backend: `func_core::Tensor<Cpu>`.
pub type Tensor = func_core::Tensor<backend::Cpu>;

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
pub type CustomFn = func_core::CustomFn<backend::Cpu>;

/// The names most programs need: `use func::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Conv2dOptions, CustomFn, DType, Dims, Generator, JacOptions, Randomness, Tensor, TensorTree, VmapOptions, grad,
        grad_and_value, hessian, hessian_with, jacfwd, jacfwd_with, jacrev, jacrev_with, jvp, linearize, vjp, vmap,
        vmap_with,
    };
}
