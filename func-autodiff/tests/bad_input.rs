//! Derivatives at NaN and dtype handling of cotangents and tangents, with
//! torch's values (`torch.autograd` / `torch.func`).

use func_autodiff::{grad, jvp, vjp};
use func_batch::{VmapOptions, vmap_with};
use func_core::{DType, Tensor};
use func_testkit::RefBackend;

type T = Tensor<RefBackend>;

const NAN: f64 = f64::NAN;

fn v(x: &[f64]) -> T {
    T::from_vec(x.to_vec(), [x.len()])
}

/// Equal elementwise, NaN matching NaN.
fn same(a: &T, b: &[f64]) {
    let got = a.to_vec::<f64>();
    assert_eq!(got.len(), b.len(), "{got:?} vs {b:?}");
    for (x, y) in got.iter().zip(b) {
        assert!((x.is_nan() && y.is_nan()) || (x - y).abs() < 1e-12 * (1.0 + y.abs()), "{got:?} vs {b:?}");
    }
}

// ----- max / min at NaN and ties ----------------------------------------------------------------

#[test]
fn grad_of_max_at_nan_goes_to_the_nan() {
    // torch.tensor([1., nan, 3.], requires_grad=True).max().backward() -> [0, 1, 0]
    same(&grad(|x: &T| x.max())(&v(&[1.0, NAN, 3.0])), &[0.0, 1.0, 0.0]);
    same(&grad(|x: &T| x.min())(&v(&[1.0, NAN, 3.0])), &[0.0, 1.0, 0.0]);
    // Several NaNs share it, as ties do: [1., nan, nan] -> [0, 0.5, 0.5]
    same(&grad(|x: &T| x.max())(&v(&[1.0, NAN, NAN])), &[0.0, 0.5, 0.5]);
    same(&grad(|x: &T| x.min())(&v(&[1.0, NAN, NAN])), &[0.0, 0.5, 0.5]);
}

#[test]
fn grad_of_max_splits_ties_evenly() {
    // torch: max() of [3., 1., 3.] -> [0.5, 0, 0.5]; of [3., 3., 3.] -> [1/3, 1/3, 1/3]
    same(&grad(|x: &T| x.max())(&v(&[3.0, 1.0, 3.0])), &[0.5, 0.0, 0.5]);
    let third = 1.0 / 3.0;
    same(&grad(|x: &T| x.min())(&v(&[3.0, 3.0, 3.0])), &[third, third, third]);
}

#[test]
fn grad_of_max_over_a_dim_at_nan_is_per_row() {
    // Row 0 has a NaN (it takes the gradient), row 1 does not.
    let x = T::from_vec(vec![1.0, NAN, 3.0, 4.0, 2.0, 0.0], [2, 3]);
    same(&grad(|x: &T| x.max_dims(&[1], false).sum())(&x), &[0.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
}

#[test]
fn jvp_of_max_at_nan_takes_the_nan_positions_tangent() {
    let (y, dy) = jvp(|x: &T| x.max(), &v(&[1.0, NAN, 3.0]), &v(&[10.0, 20.0, 30.0]));
    assert!(y.item::<f64>().is_nan());
    same(&dy, &[20.0]);
}

#[test]
fn grad_of_maximum_and_minimum_with_nan_matches_torch() {
    // torch.maximum(a, b).sum().backward() with a = [nan, 1, 2, nan], b = [1, nan, 2, nan]:
    // a.grad = b.grad = [1, 1, 0.5, 1] (and the same for minimum).
    let a = v(&[NAN, 1.0, 2.0, NAN]);
    let b = v(&[1.0, NAN, 2.0, NAN]);
    for (name, f) in [("maximum", T::maximum as fn(&T, &T) -> T), ("minimum", T::minimum)] {
        let ga = grad(|a: &T| f(a, &b).sum())(&a);
        let gb = grad(|b: &T| f(&a, b).sum())(&b);
        same(&ga, &[1.0, 1.0, 0.5, 1.0]);
        same(&gb, &[1.0, 1.0, 0.5, 1.0]);
        // Without NaN the winner takes it all.
        let gw = grad(|a: &T| f(a, &v(&[0.0, 5.0])).sum())(&v(&[1.0, 2.0]));
        let want = if name == "maximum" { [1.0, 0.0] } else { [0.0, 1.0] };
        same(&gw, &want);
    }
}

// ----- norm at NaN and at 0 ---------------------------------------------------------------------

#[test]
fn grad_of_norm_with_nan_is_nan() {
    // torch: x = [1., nan, 0.]; x.norm().backward() -> [nan, nan, nan]
    let x = v(&[1.0, NAN, 0.0]);
    same(&grad(|x: &T| x.norm())(&x), &[NAN, NAN, NAN]);
    // torch: x = [1., nan]; x.norm(p=3).backward() -> [nan, nan]
    same(&grad(|x: &T| x.norm_dims(3.0, &[], false))(&v(&[1.0, NAN])), &[NAN, NAN]);
}

#[test]
fn grad_of_norm_at_zero_is_the_zero_subgradient() {
    // torch: torch.zeros(2, requires_grad=True).norm().backward() -> [0, 0]
    same(&grad(|x: &T| x.norm())(&v(&[0.0, 0.0])), &[0.0, 0.0]);
    same(&grad(|x: &T| x.norm_dims(3.0, &[], false))(&v(&[0.0, 0.0])), &[0.0, 0.0]);
    // And away from 0 it is x / |x|.
    same(&grad(|x: &T| x.norm())(&v(&[3.0, 4.0])), &[0.6, 0.8]);
}

// ----- dtypes of cotangents and tangents --------------------------------------------------------

#[test]
fn vjp_casts_an_f64_cotangent_to_the_f32_output() {
    // torch.func.vjp(torch.sin, x_f32)[1](ones_f64)[0].dtype == float32
    let x = T::from_vec(vec![1.0f32, 2.0], [2]);
    let (y, vjp_fn) = vjp(|x: &T| x.sin(), &x);
    assert_eq!(y.dtype(), DType::F32);
    let g = vjp_fn(&T::from_vec(vec![1.0f64, 1.0], [2]));
    assert_eq!(g.dtype(), DType::F32);
    let want = [1.0f32.cos(), 2.0f32.cos()];
    for (a, b) in g.to_vec::<f32>().iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    // And an f32 cotangent for an f64 output gives f64 gradients.
    let x64 = T::from_vec(vec![1.0f64, 2.0], [2]);
    let (_, vjp_fn) = vjp(|x: &T| x.sin(), &x64);
    assert_eq!(vjp_fn(&T::from_vec(vec![1.0f32, 1.0], [2])).dtype(), DType::F64);
}

#[test]
fn vjp_casts_cotangents_under_vmap() {
    // Batched f64 cotangents for an f32 output (the jacrev pattern).
    let x = T::from_vec(vec![1.0f32, 2.0], [2]);
    let (_, vjp_fn) = vjp(|x: &T| x.sin(), &x);
    let basis = T::eye(2, DType::F64);
    let jac = vmap_with(move |u: &T| vjp_fn(u), VmapOptions::new())(&basis);
    assert_eq!(jac.dtype(), DType::F32);
    let j = jac.to_vec::<f32>();
    assert!((j[0] - 1.0f32.cos()).abs() < 1e-6 && j[1] == 0.0 && j[2] == 0.0 && (j[3] - 2.0f32.cos()).abs() < 1e-6);
}

#[test]
fn jvp_accepts_a_tangent_of_another_float_dtype_as_torch() {
    // torch.func.jvp(torch.sin, (x_f32,), (t_f64,)): primal out f32, tangent out f64.
    let x = T::from_vec(vec![1.0f32, 2.0], [2]);
    let (y, dy) = jvp(|x: &T| x.sin(), &x, &T::from_vec(vec![1.0f64, 1.0], [2]));
    assert_eq!(y.dtype(), DType::F32);
    assert_eq!(dy.dtype(), DType::F64);
    for (a, b) in dy.to_vec::<f64>().iter().zip([1.0f64.cos(), 2.0f64.cos()]) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    // torch.func.jvp(torch.sin, (x_f64,), (t_f32,)): both f64.
    let (y, dy) = jvp(|x: &T| x.sin(), &v(&[1.0, 2.0]), &T::from_vec(vec![1.0f32, 1.0], [2]));
    assert_eq!((y.dtype(), dy.dtype()), (DType::F64, DType::F64));
    same(&dy, &[1.0f64.cos(), 2.0f64.cos()]);
}

#[test]
fn jvp_rejects_an_integer_tangent() {
    let x = T::from_vec(vec![1.0f32, 2.0], [2]);
    let err =
        func_autodiff::try_jvp(|x: &T| Ok(x.sin()), &x, &T::from_vec(vec![1i64, 1], [2])).unwrap_err().to_string();
    assert!(err.contains("jvp") && err.contains("floating point"), "{err}");
}

#[test]
fn grad_of_clamp_is_one_strictly_inside_the_bounds() {
    // torch: x = [nan, -1, .5, 0, 5, 1, 2]
    // clamp(x, 0, 1) -> grad [0, 0, 1, 0, 0, 0, 0]; clamp(x, max=1) -> [0, 1, 1, 1, 0, 0, 0];
    // clamp(x, 2, 1) -> all 0.
    let x = v(&[NAN, -1.0, 0.5, 0.0, 5.0, 1.0, 2.0]);
    same(&grad(|x: &T| x.clamp(Some(0.0), Some(1.0)).sum())(&x), &[0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    same(&grad(|x: &T| x.clamp(None, Some(1.0)).sum())(&x), &[0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
    same(&grad(|x: &T| x.clamp(Some(2.0), Some(1.0)).sum())(&x), &[0.0; 7]);
    // torch: clamp(x, min=0) at [nan, -1, 2, 0] -> [0, 0, 1, 0]
    same(&grad(|x: &T| x.clamp(Some(0.0), None).sum())(&v(&[NAN, -1.0, 2.0, 0.0])), &[0.0, 0.0, 1.0, 0.0]);
}
