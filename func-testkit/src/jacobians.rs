//! Reference Jacobians for the transform laws, built from the layers below
//! the `func` facade the plain way: vmap of the vjp function over all the
//! rows of a dense identity (reverse), vmap of jvp over all its columns
//! (forward), and forward over reverse for Hessians. They take one tensor
//! output and give a tree shaped like the input, each leaf `output shape ++
//! leaf shape`. The facade's chunked, tree-shaped `jacrev`/`jacfwd` are
//! checked against torch.func's values in its own tests.

use func_autodiff::{jvp, vjp};
use func_batch::{VmapOptions, vmap, vmap_with};
use func_core::{Backend, Shape, Tensor, TensorTree};

fn joined(lead: &[usize], tail: &[usize]) -> Shape {
    Shape::from(lead.iter().chain(tail).copied().collect::<Vec<_>>())
}

/// The Jacobian of `f` at `x` by reverse mode (dense basis, no chunks).
///
/// # Panics
///
/// When `f` panics or an input is not floating point.
pub fn jacrev_ref<B, X, F>(f: F, x: &X) -> X
where
    B: Backend,
    X: TensorTree<B>,
    F: Fn(&X) -> Tensor<B>,
{
    let (y, vjp_fn) = vjp(f, x);
    let m = y.numel();
    let basis = Tensor::<B>::eye(m, y.dtype()).reshape_to(joined(&[m], y.dims()));
    let rows: X = vmap(vjp_fn)(&basis);
    rows.map_leaves(&mut |l| l.reshape_to(joined(y.dims(), &l.dims()[1..])))
}

/// The Jacobian of `f` at `x` by forward mode (dense basis, no chunks).
///
/// # Panics
///
/// When `f` panics or an input is not floating point.
pub fn jacfwd_ref<B, X, F>(f: F, x: &X) -> X
where
    B: Backend,
    X: TensorTree<B>,
    F: Fn(&X) -> Tensor<B>,
{
    let leaves = x.leaves();
    let n: usize = leaves.iter().map(Tensor::numel).sum();
    let mut off = 0;
    let basis: Vec<Tensor<B>> = leaves
        .iter()
        .map(|l| {
            let cols = Tensor::<B>::eye(n, l.dtype()).narrow(1, off, l.numel());
            off += l.numel();
            cols.reshape_to(joined(&[n], l.dims()))
        })
        .collect();
    let tangents = x.rebuild(&mut basis.into_iter());
    let cols: Tensor<B> = vmap_with(|t: &X| jvp(&f, x, t).1, VmapOptions::new())(&tangents);
    let mut off = 0;
    let out: Vec<Tensor<B>> = leaves
        .iter()
        .map(|l| {
            let part = cols.narrow(0, off, l.numel()).movedim(0, -1);
            off += l.numel();
            part.reshape_to(joined(&cols.dims()[1..], l.dims()))
        })
        .collect();
    x.rebuild(&mut out.into_iter())
}

/// The Hessian of `f` at `x`: forward over reverse.
///
/// # Panics
///
/// As [`jacrev_ref`].
pub fn hessian_ref<B, F>(f: F, x: &Tensor<B>) -> Tensor<B>
where
    B: Backend,
    F: Fn(&Tensor<B>) -> Tensor<B>,
{
    jacfwd_ref(|x: &Tensor<B>| jacrev_ref(&f, x), x)
}
