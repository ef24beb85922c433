//! Every transform's `try_` form returns an error raised inside `f` as
//! `Err` (no panic), and its own argument errors too. Tests match on the
//! error's variant.

use func::prelude::*;
use func::{
    Error, Result, try_grad, try_grad_and_value, try_grad_and_value_aux, try_grad_aux, try_hessian, try_hessian_aux,
    try_jacfwd, try_jacfwd_aux, try_jacrev, try_jacrev_aux, try_jvp, try_jvp_aux, try_linearize, try_vjp, try_vjp_aux,
    try_vmap,
};

fn x() -> Tensor {
    Tensor::from_vec(vec![1.0f64, 2.0], [2])
}

/// A shape error inside f: [2] @ [3, 1] does not multiply.
fn bad(x: &Tensor) -> Result<Tensor> {
    x.try_matmul(&Tensor::ones([3, 1], DType::F64))
}

fn is_shape_error<T>(r: Result<T>) -> bool {
    matches!(r, Err(Error::ShapeMismatch { ref op, .. }) if op == "matmul")
}

#[test]
fn vmap_returns_errors_from_f() {
    let xs = Tensor::ones([4, 2], DType::F64);
    assert!(is_shape_error(try_vmap(bad, VmapOptions::new())(&xs)));
    assert!(is_shape_error(try_vmap(bad, VmapOptions::new().chunk_size(3))(&xs)));
}

#[test]
fn grad_family_returns_errors_from_f_and_non_scalar_outputs() {
    let scalar = |x: &Tensor| Ok(bad(x)?.sum());
    assert!(is_shape_error(try_grad(scalar)(&x())));
    assert!(is_shape_error(try_grad_aux(|x: &Tensor| Ok((scalar(x)?, ())))(&x())));
    assert!(is_shape_error(try_grad_and_value(scalar)(&x())));
    assert!(is_shape_error(try_grad_and_value_aux(|x: &Tensor| Ok((scalar(x)?, ())))(&x())));
    // A non-scalar output: torch's "expected f(*args) to return a scalar".
    let r = try_grad(|x: &Tensor| Ok(x * 2.0))(&x());
    assert!(matches!(r, Err(Error::Transform { ref transform, .. }) if transform == "grad"), "{r:?}");
}

#[test]
fn vjp_returns_errors_from_f_and_from_a_wrong_cotangent() {
    assert!(is_shape_error(try_vjp(bad, &x()).map(|(y, _)| y)));
    assert!(is_shape_error(try_vjp_aux(|x: &Tensor| Ok((bad(x)?, ())), &x()).map(|(y, _, ())| y)));
    let (_, vjp_fn) = try_vjp(|x: &Tensor| Ok(x.sin()), &x()).unwrap_or_else(|e| panic!("{e}"));
    let r = vjp_fn(&Tensor::ones([3], DType::F64));
    assert!(matches!(r, Err(Error::Transform { ref transform, .. }) if transform == "vjp"), "{r:?}");
    assert!(vjp_fn(&Tensor::ones([2], DType::F64)).is_ok());
}

#[test]
fn jvp_and_linearize_return_errors_from_f_and_from_a_wrong_tangent() {
    assert!(is_shape_error(try_jvp(bad, &x(), &x())));
    assert!(is_shape_error(try_jvp_aux(|x: &Tensor| Ok((bad(x)?, ())), &x(), &x())));
    assert!(is_shape_error(try_linearize(bad, &x()).map(|(y, _)| y)));
    let (_, jvp_fn) = try_linearize(|x: &Tensor| Ok(x.sin()), &x()).unwrap_or_else(|e| panic!("{e}"));
    let r = jvp_fn(&Tensor::ones([3], DType::F64));
    assert!(matches!(r, Err(Error::Transform { .. })), "{r:?}");
}

#[test]
fn jacobians_and_hessians_return_errors_from_f() {
    let opts = JacOptions::new();
    assert!(is_shape_error(try_jacrev(bad, opts)(&x())));
    assert!(is_shape_error(try_jacrev_aux(|x: &Tensor| Ok((bad(x)?, ())), opts)(&x())));
    assert!(is_shape_error(try_jacfwd(bad, opts)(&x())));
    assert!(is_shape_error(try_jacfwd_aux(|x: &Tensor| Ok((bad(x)?, ())), opts)(&x())));
    let scalar = |x: &Tensor| Ok(bad(x)?.sum());
    assert!(is_shape_error(try_hessian(scalar, opts)(&x())));
    assert!(is_shape_error(try_hessian_aux(|x: &Tensor| Ok((scalar(x)?, ())), opts)(&x())));
    // An argument error: chunk_size 0.
    let r = try_jacrev(|x: &Tensor| Ok(x * 2.0), JacOptions::new().chunk_size(0))(&x());
    assert!(matches!(r, Err(Error::Transform { ref transform, .. }) if transform == "jacrev"), "{r:?}");
}

#[test]
fn integer_inputs_are_errors_not_panics() {
    let ints = Tensor::from_vec(vec![1i64, 2], [2]);
    let r = try_jacfwd(|x: &Tensor| Ok(x.to_dtype(DType::F64)), JacOptions::new())(&ints);
    assert!(matches!(r, Err(Error::Transform { ref transform, .. }) if transform == "jacfwd"), "{r:?}");
    let r = try_jacrev(|x: &Tensor| Ok(x.to_dtype(DType::F64)), JacOptions::new())(&ints);
    assert!(matches!(r, Err(Error::Transform { ref transform, .. }) if transform == "jacrev"), "{r:?}");
}
