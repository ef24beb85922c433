//! The derivative computations shared by the transform laws (catalogue ops,
//! [`check_transforms`](crate::check_transforms)) and the law kit (users'
//! functions, [`check_laws`](crate::check_laws)): the two sides of the
//! vjp/jvp inner product, jacfwd and jacrev (whole, or on a subspace when
//! too big to build), the Hessian of a scalar function (whole or on a
//! subspace) and the second-order inner products. Each caller compares the
//! results with its own tolerances and reports failures its own way.

use crate::jacobians::{hessian_ref, jacfwd_ref, jacrev_ref};
use crate::transform_laws::guarded;
use func_autodiff::{jvp, vjp};
use func_core::{Backend, DType, Tensor};

/// The number of input directions and output projections of the Jacobian
/// and Hessian checks on problems too big to build whole.
pub(crate) const SUBSPACE: usize = 6;

/// Hessians of inputs with up to this many elements are built whole.
const HESSIAN_WHOLE: usize = 24;

/// A panic inside a transform: which computation (`"jacrev"`, `"vjp of
/// vjp"`, ...) and its message.
pub(crate) struct Panicked {
    /// The computation that panicked.
    pub stage: &'static str,
    /// The panic's message.
    pub message: String,
}

/// Run `f` as computation `stage`, turning a panic into [`Panicked`].
fn stage<T>(stage: &'static str, f: impl FnOnce() -> T) -> Result<T, Panicked> {
    guarded(f).map_err(|message| Panicked { stage, message })
}

/// How the directions and projections are made: [`probe`] (f64) or
/// [`probe_like`] (in the dtype of the tensor they are shaped like).
pub(crate) type Probe<B> = fn(&Tensor<B>, f64) -> Tensor<B>;

/// Pairs `(jacfwd, jacrev)` of Jacobian blocks.
pub(crate) type Pairs<B> = Vec<(Tensor<B>, Tensor<B>)>;

/// A function of the differentiated inputs to one output tensor.
pub(crate) trait LeavesFn<B: Backend>: Fn(&Vec<Tensor<B>>) -> Tensor<B> + Clone + Send + Sync + 'static {}
impl<B: Backend, F: Fn(&Vec<Tensor<B>>) -> Tensor<B> + Clone + Send + Sync + 'static> LeavesFn<B> for F {}

/// `<a, b>` summed over leaves, and the sum of the absolute products.
pub(crate) fn dot<B: Backend>(a: &[Tensor<B>], b: &[Tensor<B>]) -> (f64, f64) {
    let mut s = 0.0;
    let mut m = 0.0;
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x.to_vec::<f64>(), y.to_vec::<f64>());
        for (p, q) in x.iter().zip(&y) {
            s += p * q;
            m += (p * q).abs();
        }
    }
    (s, m)
}

/// Deterministic, varied values in `[-1, 1]` for tangents and cotangents,
/// shaped like `like`, in f64.
pub(crate) fn probe<B: Backend>(like: &Tensor<B>, salt: f64) -> Tensor<B> {
    let n = like.numel();
    let v: Vec<f64> = (0..n).map(|i| ((i as f64 + 1.0) * 0.7548776662 + salt).sin()).collect();
    Tensor::from_vec(v, like.shape().clone())
}

/// [`probe`] in `like`'s dtype.
pub(crate) fn probe_like<B: Backend>(like: &Tensor<B>, salt: f64) -> Tensor<B> {
    probe(like, salt).to_dtype(like.dtype())
}

/// The two sides of `<u, J v> = <J^T u, v>`, each with the sum of the
/// absolute products: `jv` is `J v` (from jvp), `J^T u` comes from vjp.
///
/// # Errors
///
/// A panic of `"vjp"` or `"vjp_fn(u)"`.
pub(crate) fn vjp_jvp_products<B: Backend>(
    f: impl LeavesFn<B>,
    x: &[Tensor<B>],
    u: &Tensor<B>,
    v: &[Tensor<B>],
    jv: &Tensor<B>,
) -> Result<[(f64, f64); 2], Panicked> {
    let x = x.to_vec();
    let (_, back) = stage("vjp", || vjp(f, &x))?;
    let jtu = stage("vjp_fn(u)", || back(u))?;
    Ok([dot(std::slice::from_ref(u), std::slice::from_ref(jv)), dot(&jtu, v)])
}

/// jacfwd and jacrev of `f` at `x` (whose value is `y`), as pairs `(jacfwd,
/// jacrev)`: one pair per input when `whole`, else the one pair of the
/// Jacobian of `c -> P f(x + V c)` for [`SUBSPACE`] input directions `V`
/// and output projections `P` (for problems too big to build whole), made with `probe`.
///
/// # Errors
///
/// A panic of `"jacrev"` or `"jacfwd"`.
pub(crate) fn jacobian_pairs<B: Backend>(
    f: impl LeavesFn<B>,
    x: &[Tensor<B>],
    y: &Tensor<B>,
    whole: bool,
    dtype: DType,
    probe: Probe<B>,
) -> Result<Pairs<B>, Panicked> {
    let x = x.to_vec();
    if whole {
        let jr = stage("jacrev", || jacrev_ref(f.clone(), &x))?;
        let jf = stage("jacfwd", || jacfwd_ref(f, &x))?;
        return Ok(jf.into_iter().zip(jr).collect());
    }
    let dirs: Vec<Vec<Tensor<B>>> = (0..SUBSPACE)
        .map(|j| x.iter().enumerate().map(|(k, t)| probe(t, 3.0 + j as f64 + 0.37 * k as f64)).collect())
        .collect();
    let proj: Vec<Tensor<B>> = (0..SUBSPACE).map(|j| probe(y, 7.0 + j as f64)).collect();
    let proj = Tensor::stack(&proj, 0).reshape(&[SUBSPACE as isize, -1]);
    let on_subspace = move |c: &Tensor<B>| {
        let xs: Vec<Tensor<B>> = x
            .iter()
            .enumerate()
            .map(|(k, xk)| (0..SUBSPACE).fold(xk.clone(), |acc, j| acc + &dirs[j][k] * &c.select(0, j as isize)))
            .collect();
        (&proj * &f(&xs).reshape(&[1, -1])).sum_dims(&[1], false)
    };
    let c0 = Tensor::<B>::zeros([SUBSPACE], dtype);
    let jr = stage("jacrev", || jacrev_ref(on_subspace.clone(), &c0))?;
    let jf = stage("jacfwd", || jacfwd_ref(on_subspace, &c0))?;
    Ok(vec![(jf, jr)])
}

/// The Hessian of the scalar function `g` in its first non-empty input (the
/// others held at `x`): `n x n` for an input of `n <= 24` elements, else on
/// [`SUBSPACE`] directions.
///
/// # Errors
///
/// A panic of `"hessian"` or `"hessian on a subspace"`.
pub(crate) fn hessian_matrix<B: Backend>(
    g: impl LeavesFn<B>,
    x: &[Tensor<B>],
    dtype: DType,
    probe: Probe<B>,
) -> Result<Tensor<B>, Panicked> {
    let i0 = x.iter().position(|t| t.numel() > 0).unwrap_or(0);
    let (rest, x0) = (x.to_vec(), x[i0].clone());
    let scalar = move |x0: &Tensor<B>| {
        let mut xs = rest.clone();
        xs[i0] = x0.clone();
        g(&xs)
    };
    let n = x0.numel();
    if n <= HESSIAN_WHOLE {
        return Ok(stage("hessian", || hessian_ref(scalar, &x0))?.reshape_to([n, n]));
    }
    let dirs: Vec<Tensor<B>> = (0..SUBSPACE).map(|j| probe(&x0, 5.0 + j as f64)).collect();
    let on_subspace = move |c: &Tensor<B>| {
        scalar(&(0..SUBSPACE).fold(x0.clone(), |acc, j| acc + &dirs[j] * &c.select(0, j as isize)))
    };
    stage("hessian on a subspace", || hessian_ref(on_subspace, &Tensor::<B>::zeros([SUBSPACE], dtype)))
}

/// The two sides of `<w, H v> = <H^T w, v>` for `g(x) = J(x)^T u` (jvp and
/// vjp of a vjp), each with the sum of the absolute products.
///
/// # Errors
///
/// A panic of `"jvp of vjp"` or `"vjp of vjp"`.
pub(crate) fn second_order_products<B: Backend>(
    f: impl LeavesFn<B>,
    x: &[Tensor<B>],
    u: &Tensor<B>,
    v: &[Tensor<B>],
    probe: Probe<B>,
) -> Result<[(f64, f64); 2], Panicked> {
    let x = x.to_vec();
    let u = u.clone();
    let g = move |xs: &Vec<Tensor<B>>| vjp(f.clone(), xs).1(&u);
    let w: Vec<Tensor<B>> = x.iter().enumerate().map(|(k, t)| probe(t, 2.0 + k as f64)).collect();
    let v = v.to_vec();
    let (_, gv) = stage("jvp of vjp", || jvp(g.clone(), &x, &v))?;
    let (_, gback) = stage("vjp of vjp", || vjp(g, &x))?;
    let gtw = stage("vjp of vjp", || gback(&w))?;
    Ok([dot(&w, &gv), dot(&gtw, &v)])
}
