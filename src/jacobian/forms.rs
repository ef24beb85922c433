//! The public forms of the Jacobian and Hessian transforms: plain, `_with`
//! (options), `_aux` (`has_aux=True`), `_aux_with`, and `try_`. `jacrev` and
//! `jacfwd` share one set of forms, written once by [`jacobian_forms`].

use super::{JacOptions, fail, hessian_core, jacfwd_core, jacrev_core};
use func_core::{Backend, JacobianTree, Result, Tensor, TensorTree};
use std::sync::Arc;

/// The six forms of a Jacobian transform whose core is `$core`.
macro_rules! jacobian_forms {
    ($name:ident, $with:ident, $aux:ident, $aux_with:ident, $try_:ident, $try_aux:ident, $core:ident,
     $how:literal, $example:literal) => {
        #[doc = concat!("`torch.func.", stringify!($name), "(f)`: the Jacobian of `f` by ", $how, ".")]
        ///
        /// `f` returns any [`JacobianTree`] (a tensor, a tuple, a map, `()`); the
        /// result is nested as the output structure, then the input structure, each
        /// block of shape `out.shape ++ in.shape`. For one tensor output the result
        /// is shaped like the input tree, so `argnums=(0, 1)` is a function of a
        /// tuple.
        ///
        /// # Panics
        ///
        /// The returned function panics when an input or output is not floating
        #[doc = concat!("point, or `f` panics ([`", stringify!($try_), "`] returns the transform's errors).")]
        ///
        /// # Examples
        ///
        #[doc = $example]
        pub fn $name<B, X, Y, F>(f: F) -> impl Fn(&X) -> Y::Of<X> + Clone
        where
            B: Backend,
            X: TensorTree<B>,
            Y: JacobianTree<B>,
            F: Fn(&X) -> Y,
        {
            $with(f, JacOptions::default())
        }

        #[doc = concat!("[`", stringify!($name), "`] with options: `", stringify!($name), "(f, chunk_size=.., randomness=..)`.")]
        ///
        /// # Panics
        ///
        #[doc = concat!("As [`", stringify!($name), "`], and when `chunk_size` is `Some(0)`.")]
        pub fn $with<B, X, Y, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> Y::Of<X> + Clone
        where
            B: Backend,
            X: TensorTree<B>,
            Y: JacobianTree<B>,
            F: Fn(&X) -> Y,
        {
            let f = Arc::new(f);
            move |x: &X| fail($core(&|x: &X| Ok((f(x), ())), x, &opts)).0
        }

        #[doc = concat!("`", stringify!($name), "(f, has_aux=True)`: `f` returns `(output, aux)`; the result is")]
        /// `(jacobian, aux)`.
        ///
        /// # Panics
        ///
        #[doc = concat!("As [`", stringify!($name), "`].")]
        pub fn $aux<B, X, Y, A, F>(f: F) -> impl Fn(&X) -> (Y::Of<X>, A) + Clone
        where
            B: Backend,
            X: TensorTree<B>,
            Y: JacobianTree<B>,
            A: TensorTree<B>,
            F: Fn(&X) -> (Y, A),
        {
            $aux_with(f, JacOptions::default())
        }

        #[doc = concat!("[`", stringify!($aux), "`] with options.")]
        ///
        /// # Panics
        ///
        #[doc = concat!("As [`", stringify!($with), "`].")]
        pub fn $aux_with<B, X, Y, A, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> (Y::Of<X>, A) + Clone
        where
            B: Backend,
            X: TensorTree<B>,
            Y: JacobianTree<B>,
            A: TensorTree<B>,
            F: Fn(&X) -> (Y, A),
        {
            let f = Arc::new(f);
            move |x: &X| fail($core(&|x: &X| Ok(f(x)), x, &opts))
        }

        #[doc = concat!("[`", stringify!($with), "`] whose `f` returns a `Result`; the returned function")]
        /// returns one.
        ///
        /// # Errors
        ///
        /// When an input or output is not floating point, `chunk_size` is
        /// `Some(0)`, or `f` returns an error.
        pub fn $try_<B, X, Y, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> Result<Y::Of<X>> + Clone
        where
            B: Backend,
            X: TensorTree<B>,
            Y: JacobianTree<B>,
            F: Fn(&X) -> Result<Y>,
        {
            let f = Arc::new(f);
            move |x: &X| Ok($core(&|x: &X| Ok((f(x)?, ())), x, &opts)?.0)
        }

        #[doc = concat!("[`", stringify!($aux_with), "`] whose `f` returns a `Result`.")]
        ///
        /// # Errors
        ///
        #[doc = concat!("As [`", stringify!($try_), "`].")]
        pub fn $try_aux<B, X, Y, A, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> Result<(Y::Of<X>, A)> + Clone
        where
            B: Backend,
            X: TensorTree<B>,
            Y: JacobianTree<B>,
            A: TensorTree<B>,
            F: Fn(&X) -> Result<(Y, A)>,
        {
            let f = Arc::new(f);
            move |x: &X| $core(&*f, x, &opts)
        }
    };
}

jacobian_forms!(
    jacrev,
    jacrev_with,
    jacrev_aux,
    jacrev_aux_with,
    try_jacrev,
    try_jacrev_aux,
    jacrev_core,
    "reverse mode: vmap of the vjp function over one-hot cotangents, one pass per chunk of output elements",
    "```
use func::prelude::*;
let j = jacrev(|x: &Tensor| x * 3.0)(&Tensor::from_vec(vec![1.0f64, 2.0], [2]));
assert_eq!(j.to_vec::<f64>(), vec![3.0, 0.0, 0.0, 3.0]);
// Several outputs: one block per output, each `out.shape ++ in.shape`.
let (jsin, jsum) = jacrev(|x: &Tensor| (x.sin(), x.sum()))(&Tensor::zeros([2], DType::F64));
assert_eq!((jsin.dims(), jsum.dims()), (&[2, 2][..], &[2][..]));
```"
);

jacobian_forms!(
    jacfwd,
    jacfwd_with,
    jacfwd_aux,
    jacfwd_aux_with,
    try_jacfwd,
    try_jacfwd_aux,
    jacfwd_core,
    "forward mode: vmap of jvp over one-hot tangents, one pass per chunk of input elements",
    "```
use func::prelude::*;
let j = jacfwd(|x: &Tensor| x.sum_dims(&[0], true) * x)(&Tensor::from_vec(vec![1.0f64, 2.0], [2]));
assert_eq!(j.to_vec::<f64>(), vec![4.0, 1.0, 2.0, 5.0]);
// Two inputs: one block per input.
let ab = (Tensor::ones([2], DType::F64), Tensor::full([2], 2.0, DType::F64));
let (ja, jb) = jacfwd(|(a, b): &(Tensor, Tensor)| a * b)(&ab);
assert_eq!(ja.to_vec::<f64>(), vec![2.0, 0.0, 0.0, 2.0]);
assert_eq!(jb.to_vec::<f64>(), vec![1.0, 0.0, 0.0, 1.0]);
```"
);

/// `torch.func.hessian(f)` = `jacfwd(jacrev(f))` for a function of a tree
/// returning one tensor: the result is nested input structure, then input
/// structure (`X::Of<X>`), each block of shape `out.shape ++ a.shape ++
/// b.shape` (`a.shape ++ b.shape` for a scalar `f`). For a tuple input
/// this is torch's `hessian(f, argnums=(0, 1))`; for a parameter map, a map
/// of maps.
///
/// # Panics
///
/// The returned function panics when an input is not floating point, or `f` panics ([`try_hessian`] returns the
/// transform's errors).
///
/// # Examples
///
/// ```
/// use func::prelude::*;
/// let h = hessian(|x: &Tensor| (x * x * x).sum())(&Tensor::from_vec(vec![1.0f64, 2.0], [2]));
/// assert_eq!(h.to_vec::<f64>(), vec![6.0, 0.0, 0.0, 12.0]);
/// // argnums=(0, 1): the four blocks of f(a, b) = sum(a^2 b).
/// let f = |(a, b): &(Tensor, Tensor)| (a * a * b).sum();
/// let ((haa, hab), (hba, hbb)) = hessian(f)(&(Tensor::scalar(3.0f64), Tensor::scalar(5.0f64)));
/// assert_eq!([haa.item::<f64>(), hab.item::<f64>(), hba.item::<f64>(), hbb.item::<f64>()], [10.0, 6.0, 6.0, 0.0]);
/// ```
pub fn hessian<B, X, F>(f: F) -> impl Fn(&X) -> X::Of<X> + Clone
where
    B: Backend,
    X: JacobianTree<B>,
    F: Fn(&X) -> Tensor<B>,
{
    hessian_with(f, JacOptions::default())
}

/// [`hessian`] with options (the chunk size applies to both passes).
///
/// # Panics
///
/// As [`hessian`], and when `chunk_size` is `Some(0)`.
pub fn hessian_with<B, X, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> X::Of<X> + Clone
where
    B: Backend,
    X: JacobianTree<B>,
    F: Fn(&X) -> Tensor<B>,
{
    let f = Arc::new(f);
    move |x: &X| fail(hessian_core(&|x: &X| Ok((f(x), ())), x, &opts)).0
}

/// `hessian` of an `f` returning `(output, aux)`: the result is
/// `(hessian, aux)`.
///
/// # Panics
///
/// As [`hessian`].
pub fn hessian_aux<B, X, A, F>(f: F) -> impl Fn(&X) -> (X::Of<X>, A) + Clone
where
    B: Backend,
    X: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Tensor<B>, A),
{
    hessian_aux_with(f, JacOptions::default())
}

/// [`hessian_aux`] with options.
///
/// # Panics
///
/// As [`hessian_with`].
pub fn hessian_aux_with<B, X, A, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> (X::Of<X>, A) + Clone
where
    B: Backend,
    X: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> (Tensor<B>, A),
{
    let f = Arc::new(f);
    move |x: &X| fail(hessian_core(&|x: &X| Ok(f(x)), x, &opts))
}

/// [`hessian_with`] whose `f` returns a `Result`; the returned function
/// returns one.
///
/// # Errors
///
/// When `f` returns an error, an input is not floating point, or
/// `chunk_size` is `Some(0)`.
pub fn try_hessian<B, X, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> Result<X::Of<X>> + Clone
where
    B: Backend,
    X: JacobianTree<B>,
    F: Fn(&X) -> Result<Tensor<B>>,
{
    let f = Arc::new(f);
    move |x: &X| Ok(hessian_core(&|x: &X| Ok((f(x)?, ())), x, &opts)?.0)
}

/// [`hessian_aux_with`] whose `f` returns a `Result`.
///
/// # Errors
///
/// As [`try_hessian`].
pub fn try_hessian_aux<B, X, A, F>(f: F, opts: JacOptions) -> impl Fn(&X) -> Result<(X::Of<X>, A)> + Clone
where
    B: Backend,
    X: JacobianTree<B>,
    A: TensorTree<B>,
    F: Fn(&X) -> Result<(Tensor<B>, A)>,
{
    let f = Arc::new(f);
    move |x: &X| hessian_core(&*f, x, &opts)
}
