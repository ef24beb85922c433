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
//! The workspace's layers, from the bottom: `func-core` (tensors, the
//! `Backend` trait, primitives, the interpreter machinery), `func-cpu` (the
//! CPU backend), `func-batch` (vmap), `func-autodiff` (the derivative
//! transforms), `func-testkit` (the reference backend, the op catalogue and
//! the laws every backend and transform satisfies).
#![deny(missing_docs)]

pub use func_autodiff::{
    JacOptions, grad, grad_and_value, grad_and_value_aux, grad_aux, hessian, jacfwd, jacfwd_aux, jacfwd_with, jacrev,
    jacrev_aux, jacrev_with, jvp, jvp_aux, linearize, try_jvp, try_vjp, vjp, vjp_aux,
};
pub use func_batch::{Dims, Randomness, VmapOptions, try_vmap, vmap, vmap_with};
pub use func_core::{
    ArgReduceOp, Backend, BinaryOp, CmpOp, Conv2dOptions, ConvGeom, DType, Distribution, Element, Error, Generator,
    HostData, Layout, Primitive, ReduceOp, Result, Shape, TensorTree, TreeDef, UnaryOp,
};
pub use func_cpu::Cpu;

/// Lower layers, for writing backends and transforms.
pub use func_core as core;

/// A tensor on the CPU backend: `func_core::Tensor<Cpu>`.
pub type Tensor = func_core::Tensor<Cpu>;

/// The names most programs need: `use func::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Conv2dOptions, DType, Dims, Generator, JacOptions, Randomness, Tensor, TensorTree, VmapOptions, grad,
        grad_and_value, hessian, jacfwd, jacrev, jvp, linearize, vjp, vmap, vmap_with,
    };
}
