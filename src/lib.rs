//! # func
//!
//! Composable function transforms in pure Rust, in the spirit of PyTorch's
//! `torch.func` and JAX. This facade crate fixes the backend to the optimized
//! CPU backend, so `func::Tensor` needs no type parameter, and re-exports the
//! pieces a user needs.
//!
//! ```
//! use func::prelude::*;
//!
//! let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
//! let y = (&x.matmul(&x.t()) + 1.0).relu().sum();
//! assert_eq!(y.item::<f32>(), 5.0 + 11.0 + 11.0 + 25.0 + 4.0);
//! ```
//!
//! The workspace's layers, from the bottom: `func-core` (tensors, the
//! `Backend` trait, primitives, the interpreter machinery), `func-cpu` (the
//! CPU backend), `func-testkit` (the reference backend, the op catalogue and
//! the laws every backend must satisfy).
#![deny(missing_docs)]

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
    pub use crate::{Conv2dOptions, DType, Generator, Tensor, TensorTree};
}
