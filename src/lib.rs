//! # func
//!
//! Composable function transforms in pure Rust, in the spirit of PyTorch's
//! `torch.func` and JAX: [`vmap`], [`grad`], [`grad_and_value`], [`jvp`],
//! [`vjp`], [`linearize`], [`jacrev`], [`jacfwd`], [`hessian`],
//! [`functionalize`], composing with each other to any depth (`vmap(grad(f))` for per-sample gradients,
//! `jacfwd(jacrev(f))`, `grad(grad(f))`). This facade fixes the backend to
//! the optimized CPU backend, so [`Tensor`] needs no type parameter, and
//! re-exports what a user needs; `use func::prelude::*;` brings the common
//! names in. [`make_graph`] shows the primitives a function runs.
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
//! ## Should I use this crate?
//!
//! Use it when you want torch.func's transforms in a Rust program: gradients
//! of any order, per-example gradients, Jacobians and Hessians of functions
//! of parameter maps, batching a function written for one example, with
//! torch.func's semantics and error messages and no Python. Everything runs
//! eagerly on the CPU; a transform call costs microseconds.
//!
//! Look elsewhere when you need a GPU, a graph compiler or a large model
//! zoo (burn and candle have those; their backward passes do not compose
//! into higher-order derivatives or vmap). To write a backend or a new
//! transform, use the layers below this crate directly: `func-core` (the
//! [`backend`] module re-exports its backend-facing items), `func-batch`,
//! `func-autodiff`.
//!
//! ## torch.func to func
//!
//! A transformed function is an ordinary closure taking a reference to a
//! tree of tensors ([`TensorTree`]: a `Tensor`, a tuple, a `Vec`, an array,
//! an `Option`, a `BTreeMap<String, _>` parameter dict). Several arguments
//! are a tuple; `argnums` is the tuple you differentiate, or the arguments
//! you capture.
//!
//! | torch.func | func |
//! |---|---|
//! | `vmap(f)(x)` | `vmap(f)(&x)` |
//! | `vmap(f, in_dims=(None, 0), out_dims=1)(w, x)` | `vmap_with(f, VmapOptions::new().in_dims((None, Some(0))).out_dims(1))(&(w, x))` |
//! | `vmap(f, chunk_size=8, randomness="different")` | `vmap_with(f, VmapOptions::new().chunk_size(8).randomness(Randomness::Different))` |
//! | `grad(f)(x)`, `grad(f, argnums=(0, 1))(a, b)` | `grad(f)(&x)`, `grad(\|(a, b): &(Tensor, Tensor)\| ..)(&(a, b))` |
//! | `grad(f, has_aux=True)`, `grad_and_value(f)` | [`grad_aux`]`(f)` (`f` returns `(loss, aux)`), [`grad_and_value`]`(f)` |
//! | `jvp(f, (x,), (t,))` | `jvp(f, &x, &t)` returning `(out, tangent_out)` |
//! | `out, vjp_fn = vjp(f, x); vjp_fn(u)` | `let (out, vjp_fn) = vjp(f, &x); vjp_fn(&u)` |
//! | `out, jvp_fn = linearize(f, x)` | `let (out, jvp_fn) = linearize(f, &x)` |
//! | `jacrev(f)(x)`, `jacrev(f, chunk_size=4)` | `jacrev(f)(&x)`, `jacrev_with(f, JacOptions::new().chunk_size(4))` |
//! | `jacrev(lambda x: (x.sin(), x.sum()))(x)` | `jacrev(\|x: &Tensor\| (x.sin(), x.sum()))(&x)`: a tuple of Jacobians ([`JacobianTree`]) |
//! | `jacfwd(f)(x)`, `hessian(f)(x)` | `jacfwd(f)(&x)`, `hessian(f)(&x)` |
//! | `hessian(f, argnums=(0, 1))(a, b)`, `hessian(loss)(params)` | `hessian(f)(&(a, b))` (nested blocks), `hessian(loss)(&params)` (a map of maps) |
//! | `x.new_zeros(shape)` inside a transform | `x.new_zeros(shape)`: batched like `x` under vmap |
//! | `class F(torch.autograd.Function)` | [`CustomFn`]`::new("f", forward).with_vjp(..).with_jvp(..).with_batch(..)` |
//! | an exception raised inside `f` | the `try_` forms: `f` returns [`Result`], errors come back as `Err` |
//!
//! ## One example per transform
//!
//! ```
//! use func::prelude::*;
//! let x = Tensor::from_vec(vec![1.0f64, 2.0], [2]);
//! let cube = |x: &Tensor| (x * x * x).sum();
//!
//! // vmap: map over dimension 0.
//! let xs = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]);
//! assert_eq!(vmap(|r: &Tensor| r.sum())(&xs).to_vec::<f64>(), vec![3.0, 7.0]);
//!
//! // grad and grad_and_value: 3 x^2.
//! assert_eq!(grad(cube)(&x).to_vec::<f64>(), vec![3.0, 12.0]);
//! let (g, v) = grad_and_value(cube)(&x);
//! assert_eq!((g.to_vec::<f64>(), v.item::<f64>()), (vec![3.0, 12.0], 9.0));
//!
//! // jvp: J t in one forward pass; vjp: u^T J.
//! let (_, jt) = jvp(|x: &Tensor| x * x, &x, &Tensor::ones([2], DType::F64));
//! assert_eq!(jt.to_vec::<f64>(), vec![2.0, 4.0]);
//! let (_, vjp_fn) = vjp(|x: &Tensor| x * x, &x);
//! assert_eq!(vjp_fn(&Tensor::ones([2], DType::F64)).to_vec::<f64>(), vec![2.0, 4.0]);
//!
//! // linearize: f once, then J t for any t.
//! let (_, jvp_fn) = linearize(|x: &Tensor| x.exp(), &Tensor::zeros([2], DType::F64));
//! assert_eq!(jvp_fn(&x).to_vec::<f64>(), vec![1.0, 2.0]);
//!
//! // jacrev, jacfwd: the Jacobian; hessian: 6 x on the diagonal.
//! assert_eq!(jacrev(|x: &Tensor| x * 3.0)(&x).to_vec::<f64>(), vec![3.0, 0.0, 0.0, 3.0]);
//! assert_eq!(jacfwd(|x: &Tensor| x * 3.0)(&x).to_vec::<f64>(), vec![3.0, 0.0, 0.0, 3.0]);
//! assert_eq!(hessian(cube)(&x).to_vec::<f64>(), vec![6.0, 0.0, 0.0, 12.0]);
//! ```
//!
//! Trees in and out: a parameter map's gradient is a map, a function with
//! two outputs has two Jacobians, a Hessian over a pair has four blocks.
//!
//! ```
//! use func::prelude::*;
//! use std::collections::BTreeMap;
//! let params = BTreeMap::from([("w".to_string(), Tensor::ones([2], DType::F64)), ("b".to_string(), Tensor::scalar(0.5f64))]);
//! let loss = |p: &BTreeMap<String, Tensor>| (&p["w"] * 2.0 + &p["b"]).square().sum();
//! let g = grad(loss)(&params);
//! assert_eq!(g["b"].item::<f64>(), 10.0); // 2 * (2.5 + 2.5)
//! let h = hessian(loss)(&params); // h["w"]["b"]: d2 loss / dw db
//! assert_eq!((h["w"]["w"].dims(), h["w"]["b"].dims()), (&[2, 2][..], &[2][..]));
//!
//! let (j_sin, j_sum) = jacrev(|x: &Tensor| (x.sin(), x.sum()))(&Tensor::zeros([3], DType::F64));
//! assert_eq!((j_sin.dims(), j_sum.dims()), (&[3, 3][..], &[3][..]));
//! ```
//!
//! ## Errors
//!
//! Every transform has a panicking form and a `try_` form, by one scheme:
//! the `try_` form's `f` returns [`Result`], so an error raised inside `f`
//! (a `try_` operation's `?`) comes back as `Err`, as do the transform's own
//! checks (argument structure, dtypes, `grad` of a non-scalar, a
//! wrong-shape cotangent given to a `vjp_fn`). Functions a `try_` form
//! returns (`vjp_fn`, `jvp_fn`) return `Result` too. Errors are one
//! [`Error`] enum, matched by variant:
//!
//! ```
//! use func::prelude::*;
//! use func::{Error, try_grad};
//! let g = try_grad(|x: &Tensor| x.try_matmul(&Tensor::ones([3], DType::F64)));
//! let e = g(&Tensor::ones([2], DType::F64)).unwrap_err();
//! assert!(matches!(e, Error::ShapeMismatch { .. }));
//! let e = try_grad(|x: &Tensor| Ok(x * 2.0))(&Tensor::ones([2], DType::F64)).unwrap_err();
//! assert!(matches!(e, Error::Transform { .. })); // not a scalar: "Maybe you wanted to use the vjp or jacrev APIs"
//! ```
//!
//! torch.func's `jvp(strict=True)` is not implemented in torch; func has no
//! `strict` either (see `func_autodiff`'s forward-mode notes).
//!
//! ## Layers
//!
//! The workspace's crates, from the bottom: `func-core` (tensors, the
//! `Backend` trait, primitives, the interpreter machinery, trees), `func-cpu`
//! (the CPU backend), `func-batch` (vmap) and `func-autodiff` (jvp, vjp,
//! grad, linearize), which meet only through func-core, and this crate,
//! where they compose: the Jacobians and Hessians are vmap over vjp and jvp.
//! `func-testkit` holds the reference backend, the op catalogue and the laws
//! every backend and transform satisfies.
#![deny(missing_docs)]

mod jacobian;

pub use func_autodiff::{
    grad, grad_and_value, grad_and_value_aux, grad_aux, jvp, jvp_aux, linearize, try_grad, try_grad_and_value,
    try_grad_and_value_aux, try_grad_aux, try_jvp, try_jvp_aux, try_linearize, try_vjp, try_vjp_aux, vjp, vjp_aux,
};
pub use func_batch::{Dims, Randomness, VmapOptions, try_vmap, vmap, vmap_with};
pub use func_core::{
    Conv2dOptions, ConvTranspose2dOptions, DType, Element, Error, Generator, JacobianTree, Result, Shape, TensorTree,
    TreeDef,
};
pub use func_functionalize::{
    NodeOp, Remove, Simplified, Var, VarId, functionalize, functionalize_with, make_graph, try_functionalize,
};

/// Neural-network modules, losses, functional optimizers, state-dict files
/// and torch.func's module utilities (`functional_call`, `make_functional`,
/// `stack_module_state`, ...): the `func-nn` crate, generic over the
/// backend (use it with [`Cpu`](backend::Cpu), as the prelude's [`Tensor`] does).
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

pub use jacobian::{
    JacOptions, hessian, hessian_aux, hessian_aux_with, hessian_with, jacfwd, jacfwd_aux, jacfwd_aux_with, jacfwd_with,
    jacrev, jacrev_aux, jacrev_aux_with, jacrev_with, try_hessian, try_hessian_aux, try_jacfwd, try_jacfwd_aux,
    try_jacrev, try_jacrev_aux,
};

/// What writing a backend or a custom operation needs: the [`Backend`](func_core::Backend)
/// trait and its op-code enums, [`Primitive`](func_core::Primitive), [`Layout`](func_core::Layout), [`HostData`](func_core::HostData),
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
pub type Graph<X, Y> = func_functionalize::Graph<backend::Cpu, X, Y>;

/// One node of a [`Graph`] on the CPU backend.
pub type Node = func_functionalize::Node<backend::Cpu>;

/// The names most programs need: `use func::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Conv2dOptions, ConvTranspose2dOptions, CustomFn, DType, Dims, Generator, Graph, JacOptions, Randomness, Remove,
        Tensor, TensorTree, VmapOptions, functionalize, functionalize_with, grad, grad_and_value, hessian,
        hessian_with, jacfwd, jacfwd_with, jacrev, jacrev_with, jvp, linearize, make_graph, vjp, vmap, vmap_with,
    };
    pub use func_nn::{
        Module, StateDict, combine_state_for_ensemble, functional_call, make_functional, make_functional_with_buffers,
        replace_all_batch_norm_modules_, stack_module_state,
    };
}
