//! The derivative laws for one catalogue op on one sample.

use super::*;

// ----- autodiff ----------------------------------------------------------------------------------

/// The derivative laws for one differentiable op on one sample (in f64).
///
/// # Errors
///
/// A description of the first law that fails.
pub fn check_autodiff_sample<B: Backend>(info: &OpInfo, sample: &Sample) -> Result<Vec<Law>, String> {
    let mut checked = Vec::new();
    if !info.differentiable {
        return Ok(checked);
    }
    let host = info.host_params(sample.args.len());
    let index = info.index_args(sample.args.len());
    let args: Vec<ArgSpec> = sample
        .args
        .iter()
        .enumerate()
        .map(|(i, a)| if host[i] || index[i] { a.clone() } else { differentiable(a) })
        .collect();
    let diff: Vec<usize> = (0..args.len()).filter(|&i| !host[i] && args[i].dtype == DType::F64).collect();
    if diff.is_empty() {
        return Ok(checked);
    }
    let built: Vec<Tensor<B>> = args.iter().map(|a| a.build()).collect();
    let op = info.op.clone();
    let (d2, b2) = (diff.clone(), built.clone());
    let f = move |xs: &Vec<Tensor<B>>| {
        let mut all = b2.clone();
        for (k, &i) in d2.iter().enumerate() {
            all[i] = xs[k].clone();
        }
        op.apply(&all)
    };
    let x: Vec<Tensor<B>> = diff.iter().map(|&i| built[i].clone()).collect();
    if x.iter().any(|t| t.to_vec::<f64>().iter().any(|v| !v.is_finite() || v.abs() > 1e6)) {
        return Ok(checked);
    }
    let y = f(&x);
    // Derivatives are checked where the function is finite.
    if !y.dtype().is_float() || y.to_vec::<f64>().iter().any(|v| !v.is_finite()) {
        return Ok(checked);
    }
    let v: Vec<Tensor<B>> = x.iter().enumerate().map(|(k, t)| probe(t, k as f64)).collect();
    let u = probe(&y, 0.5);

    // jvp against central differences, at two step sizes to detect kinks.
    let (_, jv) = guarded(|| jvp(f.clone(), &x, &v))?;
    let shifted = |h: f64| -> Vec<Tensor<B>> { x.iter().zip(&v).map(|(a, b)| a + &(b * h)).collect() };
    // A kink (relu at 0, ties of max) shows as one-sided differences that
    // disagree, or central differences that change with the step.
    let fd = |h: f64| (f(&shifted(h)) - f(&shifted(-h))) / (2.0 * h);
    let h = 1e-5;
    let forward = (f(&shifted(h)) - &y) / h;
    let backward = (&y - &f(&shifted(-h))) / h;
    let (fd1, fd2) = (fd(1e-6), fd(1e-4));
    let smooth = close("fd", &fd1, &fd2, 1e-5).is_ok() && close("one-sided", &forward, &backward, 1e-3).is_ok();
    if smooth && !info.is_exempt(Law::JvpFiniteDifferences) {
        close("jvp vs finite differences", &jv, &fd2, 1e-5)?;
        checked.push(Law::JvpFiniteDifferences);
    }
    // <u, J v> = <J^T u, v>.
    let [(lhs, m1), (rhs, m2)] = vjp_jvp_products(f.clone(), &x, &u, &v, &jv).map_err(|e| e.message)?;
    // An op that computes in f32 (a cast) is exact only to f32 precision.
    let tol = if y.dtype() == DType::F32 { 1e-6 } else { 1e-10 };
    if !info.is_exempt(Law::VjpJvp) {
        if (lhs - rhs).abs() > tol * (1.0 + m1 + m2) {
            return Err(format!("<u, J v> = {lhs} but <J^T u, v> = {rhs}"));
        }
        checked.push(Law::VjpJvp);
    }
    // jacfwd = jacrev: whole for small problems (empty Jacobians too: their
    // shapes must agree), else on a subspace.
    let n_in: usize = x.iter().map(|t| t.numel()).sum();
    let small = n_in * y.numel().max(1) <= 400 || y.numel() == 0 || n_in == 0;
    if !info.is_exempt(Law::JacfwdJacrev) {
        let what = if small { "jacfwd vs jacrev" } else { "jacfwd vs jacrev (on a subspace)" };
        for (jf, jr) in jacobian_pairs(f.clone(), &x, &y, small, DType::F64, probe).map_err(|e| e.message)? {
            close(what, &jf, &jr, tol)?;
        }
        checked.push(Law::JacfwdJacrev);
    }
    // Hessian symmetry of a scalar function of the first non-empty
    // differentiated input.
    let (f3, u3) = (f.clone(), u.clone());
    let scalar = move |xs: &Vec<Tensor<B>>| (f3(xs) * &u3).sum();
    let h = hessian_matrix(scalar, &x, DType::F64, probe).map_err(|e| e.message)?;
    close("hessian symmetry", &h, &h.t(), tol * 100.0)?;
    checked.push(Law::HessianSymmetry);
    // Second order: the inner-product law for g(x) = J(x)^T u.
    let [(lhs, m1), (rhs, m2)] = second_order_products(f, &x, &u, &v, probe).map_err(|e| e.message)?;
    if !info.is_exempt(Law::SecondOrder) {
        if (lhs - rhs).abs() > tol * 10.0 * (1.0 + m1 + m2) {
            return Err(format!("second order: <w, H v> = {lhs} but <H^T w, v> = {rhs}"));
        }
        checked.push(Law::SecondOrder);
    }
    Ok(checked)
}
