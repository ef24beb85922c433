//! [`check_laws`]: the vmap and derivative laws of a function of a tensor tree.

use super::*;

/// The leaves, shown briefly.
pub(super) fn show<B: Backend>(leaves: &[Tensor<B>]) -> String {
    leaves
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let v: Vec<f64> = if t.dtype() == DType::Bool {
                t.to_vec::<bool>().into_iter().map(f64::from).collect()
            } else {
                t.to_dtype(DType::F64).to_vec::<f64>()
            };
            let shown: Vec<String> = v.iter().take(8).map(|x| format!("{x:.6}")).collect();
            let more = if v.len() > 8 { format!(", ... ({} more)", v.len() - 8) } else { String::new() };
            format!("    leaf {i}: {} {:?} [{}{more}]", t.dtype(), t.dims(), shown.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Context of one run of the laws.
pub(super) struct Ctx<'a> {
    pub(super) opts: &'a LawOptions,
    pub(super) input: String,
}

impl Ctx<'_> {
    pub(super) fn fail(&self, law: UserLaw, what: &str, error: String) -> LawFailure {
        LawFailure {
            law,
            what: what.to_string(),
            input: self.input.clone(),
            index: vec![],
            expected: f64::NAN,
            got: f64::NAN,
            tolerance: f64::NAN,
            error: Some(error),
        }
    }

    /// Compare `got` with `want` element by element with `rtol * (1 +
    /// |want|)`; NaN matches NaN, infinities match exactly. Returns the
    /// number of elements compared.
    pub(super) fn close<B: Backend>(
        &self,
        law: UserLaw,
        what: &str,
        got: &Tensor<B>,
        want: &Tensor<B>,
        rtol: f64,
    ) -> Result<usize, LawFailure> {
        if got.dims() != want.dims() {
            return Err(self.fail(law, what, format!("shape {:?}, expected {:?}", got.dims(), want.dims())));
        }
        let (a, b) = (got.to_dtype(DType::F64).to_vec::<f64>(), want.to_dtype(DType::F64).to_vec::<f64>());
        let mut worst: Option<(usize, f64)> = None;
        for (i, (&x, &y)) in a.iter().zip(&b).enumerate() {
            let tol = rtol * (1.0 + y.abs());
            let ok = if y.is_nan() {
                x.is_nan()
            } else if x.is_nan() || x.is_infinite() || y.is_infinite() {
                x == y
            } else {
                (x - y).abs() <= tol
            };
            if !ok {
                let excess = if (x - y).is_finite() { (x - y).abs() / tol } else { f64::INFINITY };
                if worst.is_none_or(|(_, e)| excess > e) {
                    worst = Some((i, excess));
                }
            }
        }
        match worst {
            None => Ok(a.len()),
            Some((i, _)) => Err(LawFailure {
                law,
                what: what.to_string(),
                input: self.input.clone(),
                index: crate::laws::multi_index(i, want.dims()),
                expected: b[i],
                got: a[i],
                tolerance: rtol * (1.0 + b[i].abs()),
                error: None,
            }),
        }
    }

    pub(super) fn close_scalar(
        &self,
        law: UserLaw,
        what: &str,
        got: f64,
        want: f64,
        tol: f64,
    ) -> Result<usize, LawFailure> {
        if (got - want).abs() <= tol {
            Ok(1)
        } else {
            Err(LawFailure {
                law,
                what: what.to_string(),
                input: self.input.clone(),
                index: vec![],
                expected: want,
                got,
                tolerance: tol,
                error: None,
            })
        }
    }
}

/// All outputs flattened and joined into one vector (one Jacobian).
pub(super) fn joined<B: Backend>(ys: &[Tensor<B>], dtype: DType) -> Tensor<B> {
    if ys.is_empty() {
        return Tensor::zeros([0], dtype);
    }
    let flat: Vec<Tensor<B>> = ys.iter().map(|y| y.reshape(&[-1])).collect();
    Tensor::cat(&flat, 0)
}

pub(super) type LeafFn<B> = Arc<dyn Fn(&Vec<Tensor<B>>) -> Vec<Tensor<B>> + Send + Sync>;

/// Check the transform laws of `f` at `inputs` (see the [module
/// docs](super)): vmap against a loop for in_dims 0, -1 and None per leaf,
/// jvp against central differences, the vjp/jvp inner product, jacfwd
/// against jacrev, Hessian symmetry when the output is one scalar, and the
/// second-order inner product. Float leaves are differentiated and
/// batched; other leaves (indices, masks) are held fixed.
///
/// # Errors
///
/// The first law that fails, with the input and the worst element
/// ([`LawFailure`]), or an error or panic raised by a transform of `f`.
pub fn check_laws<B, X, Y, F>(f: F, inputs: &X, opts: &LawOptions) -> Result<LawReport, LawFailure>
where
    B: Backend,
    X: TensorTree<B> + Clone + Send + Sync + 'static,
    Y: TensorTree<B>,
    F: Fn(&X) -> Y + Send + Sync + 'static,
{
    let template = inputs.clone();
    let g: LeafFn<B> =
        Arc::new(move |leaves: &Vec<Tensor<B>>| f(&template.rebuild(&mut leaves.clone().into_iter())).leaves());
    check_leaf_laws(g, &inputs.leaves(), opts)
}

pub(super) fn check_leaf_laws<B: Backend>(
    g: LeafFn<B>,
    x: &[Tensor<B>],
    opts: &LawOptions,
) -> Result<LawReport, LawFailure> {
    let ctx = Ctx { opts, input: show(x) };
    let mut report = LawReport::default();
    if opts.vmap && opts.runs(UserLaw::Vmap) {
        vmap_law(&ctx, &g, x, UserLaw::Vmap, &mut report)?;
    }
    if opts.first_order || opts.second_order {
        derivative_laws(&ctx, &g, x, &mut report)?;
    }
    Ok(report)
}

/// `k`-th copy of a leaf for the vmap law: a multiplicative perturbation
/// (keeps signs and zeros, so domains such as `x > 0` are kept).
pub(super) fn copy_k<B: Backend>(t: &Tensor<B>, k: usize) -> Tensor<B> {
    if k == 0 || !t.dtype().is_float() {
        return t.deep_copy();
    }
    t * &(probe(t, k as f64 * 1.3) * (0.05 * k as f64) + 1.0)
}

pub(super) fn vmap_law<B: Backend>(
    ctx: &Ctx<'_>,
    g: &LeafFn<B>,
    x: &[Tensor<B>],
    law: UserLaw,
    report: &mut LawReport,
) -> Result<(), LawFailure> {
    let floats: Vec<usize> = (0..x.len()).filter(|&i| x[i].dtype().is_float()).collect();
    if floats.is_empty() {
        return Ok(());
    }
    let nb = ctx.opts.batch.max(1);
    let copies: Vec<Vec<Tensor<B>>> = (0..nb).map(|k| x.iter().map(|t| copy_k(t, k)).collect()).collect();
    let options = [Some(0isize), Some(-1), None];
    for choice in 0..3 {
        let mut dims: Vec<Option<isize>> =
            (0..x.len()).map(|i| if x[i].dtype().is_float() { options[(choice + i) % 3] } else { None }).collect();
        if floats.iter().all(|&i| dims[i].is_none()) {
            dims[floats[0]] = Some(0);
        }
        let batched: Vec<Tensor<B>> = (0..x.len())
            .map(|i| match dims[i] {
                None => x[i].deep_copy(),
                Some(d) => {
                    let at = if d < 0 { x[i].ndim() as isize + 1 + d } else { d };
                    Tensor::stack(&copies.iter().map(|c| c[i].clone()).collect::<Vec<_>>(), at)
                }
            })
            .collect();
        // The loop: batched leaves take their k-th copy, the others stay.
        let expected: Vec<Vec<Tensor<B>>> = copies
            .iter()
            .map(|c| {
                let xs: Vec<Tensor<B>> =
                    (0..x.len()).map(|i| if dims[i].is_some() { c[i].clone() } else { x[i].deep_copy() }).collect();
                guarded(|| g(&xs)).map_err(|e| ctx.fail(law, "f on one batch element", e))
            })
            .collect::<Result<_, _>>()?;
        let shown: Vec<String> =
            dims.iter().map(|d| d.map_or("None".to_string(), |d| d.to_string())).collect::<Vec<_>>();
        let what = format!("in_dims [{}]", shown.join(", "));
        let in_dims = Dims::Seq(dims.iter().map(|d| Dims::All(*d)).collect());
        let g2 = g.clone();
        let got =
            guarded(|| try_vmap(move |xs: &Vec<Tensor<B>>| Ok(g2(xs)), VmapOptions::new().in_dims(in_dims))(&batched))
                .map_err(|e| ctx.fail(law, &what, e))?
                .map_err(|e| ctx.fail(law, &what, e.to_string()))?;
        if got.len() != expected[0].len() {
            return Err(ctx.fail(law, &what, format!("{} outputs, the loop gives {}", got.len(), expected[0].len())));
        }
        for (o, y) in got.iter().enumerate() {
            let want = Tensor::stack(&expected.iter().map(|e| e[o].clone()).collect::<Vec<_>>(), 0);
            let n = ctx.close(law, &format!("output {o}, {what}"), y, &want, ctx.opts.rtol(want.dtype()))?;
            report.add(law, n);
        }
    }
    Ok(())
}

/// Largest Jacobian (elements) built whole.
pub(super) const JACOBIAN_LIMIT: usize = 4096;

pub(super) fn derivative_laws<B: Backend>(
    ctx: &Ctx<'_>,
    g: &LeafFn<B>,
    x_all: &[Tensor<B>],
    report: &mut LawReport,
) -> Result<(), LawFailure> {
    let opts = ctx.opts;
    let diff: Vec<usize> = (0..x_all.len()).filter(|&i| x_all[i].dtype().is_float()).collect();
    if diff.is_empty() {
        return Ok(());
    }
    let dtype = x_all[diff[0]].dtype();
    let rtol = opts.rtol(dtype);
    // h: the float leaves to all outputs joined in one vector.
    let (fixed, d2, g2) = (x_all.to_vec(), diff.clone(), g.clone());
    let h = move |xs: &Vec<Tensor<B>>| {
        let mut all = fixed.clone();
        for (k, &i) in d2.iter().enumerate() {
            all[i] = xs[k].clone();
        }
        joined(&g2(&all), dtype)
    };
    let x: Vec<Tensor<B>> = diff.iter().map(|&i| x_all[i].clone()).collect();
    let y = guarded(|| h(&x)).map_err(|e| ctx.fail(UserLaw::JvpFiniteDifferences, "f", e))?;
    if !y.dtype().is_float() {
        return Ok(());
    }
    let v: Vec<Tensor<B>> = x.iter().enumerate().map(|(k, t)| probe(t, k as f64)).collect();
    let u = probe(&y, 0.5);
    if opts.first_order {
        let law = UserLaw::JvpFiniteDifferences;
        let (_, jv) = guarded(|| jvp(h.clone(), &x, &v)).map_err(|e| ctx.fail(law, "jvp", e))?;
        if opts.runs(law) {
            let eps = opts.eps.unwrap_or(if dtype == DType::F64 { 1e-6 } else { 1e-2 });
            let fd_rtol = if dtype == DType::F64 { opts.fd_rtol } else { (opts.fd_rtol * 1e4).min(1e-2) };
            let shifted = |s: f64| -> Vec<Tensor<B>> { x.iter().zip(&v).map(|(a, b)| a + &(b * s)).collect() };
            let fd = |s: f64| (h(&shifted(s)) - h(&shifted(-s))) / (2.0 * s);
            let (fd1, fd2) = guarded(|| (fd(eps), fd(eps * 10.0))).map_err(|e| ctx.fail(law, "f near x", e))?;
            // Only where two steps agree: a kink (relu at 0) is not a bug.
            if ctx.close(law, "steps", &fd1, &fd2, fd_rtol).is_ok() {
                report.add(
                    law,
                    ctx.close(law, "jvp(f, x, v) against (f(x + h v) - f(x - h v)) / 2h", &jv, &fd1, fd_rtol)?,
                );
            }
        }
        let law = UserLaw::VjpJvp;
        if opts.runs(law) {
            let [(lhs, m1), (rhs, m2)] =
                vjp_jvp_products(h.clone(), &x, &u, &v, &jv).map_err(|e| ctx.fail(law, e.stage, e.message))?;
            report.add(law, ctx.close_scalar(law, "<J^T u, v> against <u, J v>", rhs, lhs, rtol * (1.0 + m1 + m2))?);
        }
        let law = UserLaw::JacfwdJacrev;
        if opts.runs(law) {
            let n_in: usize = x.iter().map(|t| t.numel()).sum();
            let whole = n_in * y.numel().max(1) <= JACOBIAN_LIMIT;
            let pairs = jacobian_pairs(h.clone(), &x, &y, whole, dtype, probe)
                .map_err(|e| ctx.fail(law, e.stage, e.message))?;
            for (k, (jf, jr)) in pairs.iter().enumerate() {
                let what = if whole { format!("block of input leaf {}", diff[k]) } else { "on a subspace".to_string() };
                report.add(law, ctx.close(law, &what, jf, jr, rtol)?);
            }
        }
    }
    if !opts.second_order {
        return Ok(());
    }
    let law = UserLaw::HessianSymmetry;
    if opts.runs(law) && y.numel() == 1 {
        let h3 = h.clone();
        let hm = hessian_matrix(move |xs: &Vec<Tensor<B>>| h3(xs).sum(), &x, dtype, probe)
            .map_err(|e| ctx.fail(law, e.stage, e.message))?;
        report.add(law, ctx.close(law, "H^T against H", &hm.t(), &hm, rtol * 100.0)?);
    }
    let law = UserLaw::SecondOrder;
    if opts.runs(law) {
        let [(lhs, m1), (rhs, m2)] =
            second_order_products(h, &x, &u, &v, probe).map_err(|e| ctx.fail(law, e.stage, e.message))?;
        report.add(law, ctx.close_scalar(law, "<H^T w, v> against <w, H v>", rhs, lhs, rtol * 10.0 * (1.0 + m1 + m2))?);
    }
    Ok(())
}
