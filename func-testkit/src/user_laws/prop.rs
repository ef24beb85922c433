//! [`check_laws_prop`] (the laws as a property over strategies) and
//! [`check_custom_op`] (a custom op's own rules).

use super::check::*;
use super::*;

/// [`check_laws`] as a property: inputs drawn from `strategy` (for example
/// func-testkit's [`strategies`](crate::strategies)) and built by `build`,
/// `cases` of them; a failure is shrunk to a smallest failing input before
/// it is reported.
///
/// # Errors
///
/// The report of the smallest failing input (as [`LawFailure`]'s
/// `Display`).
pub fn check_laws_prop<B, S, X, Y, F>(
    strategy: S,
    build: impl Fn(&S::Value) -> X,
    f: F,
    cases: u32,
    opts: &LawOptions,
) -> Result<usize, String>
where
    B: Backend,
    S: Strategy,
    X: TensorTree<B> + Clone + Send + Sync + 'static,
    Y: TensorTree<B>,
    F: Fn(&X) -> Y + Clone + Send + Sync + 'static,
{
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 256, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let total = std::cell::Cell::new(0usize);
    let result = runner.run(&strategy, |value| {
        let x = build(&value);
        match check_laws(f.clone(), &x, opts) {
            Ok(r) => {
                total.set(total.get() + r.total());
                Ok(())
            }
            Err(e) => Err(TestCaseError::fail(e.to_string())),
        }
    });
    match result {
        Ok(()) => Ok(total.get()),
        Err(TestError::Fail(reason, _)) => Err(format!("after shrinking: {reason}")),
        Err(TestError::Abort(reason)) => Err(format!("aborted: {reason}")),
    }
}

/// Check a custom op's own rules: each rule it has is compared with
/// differentiating or looping its forward (when the forward is written in
/// Tensor operations), and the op, called through its rules, satisfies the
/// laws of [`check_laws`].
///
/// Skip a law in `opts.skip` for a rule that differs from the forward's
/// derivative by design (a straight-through or clipped gradient).
///
/// # Errors
///
/// The first rule or law that fails ([`LawFailure`]).
pub fn check_custom_op<B: Backend>(
    op: Arc<dyn CustomOp<B>>,
    inputs: &[Tensor<B>],
    opts: &LawOptions,
) -> Result<LawReport, LawFailure> {
    let x: Vec<Tensor<B>> = inputs.to_vec();
    let ctx = Ctx { opts, input: show(&x) };
    let op2 = op.clone();
    let call: LeafFn<B> = Arc::new(move |xs: &Vec<Tensor<B>>| {
        let refs: Vec<&Tensor<B>> = xs.iter().collect();
        func_core::call_custom(op2.clone(), &refs).unwrap_or_else(|e| panic!("{e}"))
    });
    let mut report = LawReport::default();
    let traceable = op.forward_is_traceable();
    let op3 = op.clone();
    let forward: LeafFn<B> = Arc::new(move |xs: &Vec<Tensor<B>>| op3.forward(xs).unwrap_or_else(|e| panic!("{e}")));
    let diff: Vec<usize> = (0..x.len()).filter(|&i| x[i].dtype().is_float()).collect();
    let dtype = diff.first().map_or(DType::F64, |&i| x[i].dtype());
    let restrict = |g: LeafFn<B>| {
        let (fixed, d2) = (x.clone(), diff.clone());
        move |xs: &Vec<Tensor<B>>| {
            let mut all = fixed.clone();
            for (k, &i) in d2.iter().enumerate() {
                all[i] = xs[k].clone();
            }
            joined(&g(&all), dtype)
        }
    };
    let xf: Vec<Tensor<B>> = diff.iter().map(|&i| x[i].clone()).collect();
    let rtol = opts.rtol(dtype);
    if traceable && !xf.is_empty() {
        let law = UserLaw::CustomJvp;
        if op.has_rule(CustomRule::Jvp) && opts.runs(law) {
            let v: Vec<Tensor<B>> = xf.iter().enumerate().map(|(k, t)| probe(t, k as f64)).collect();
            let (_, want) = guarded(|| jvp(restrict(forward.clone()), &xf, &v))
                .map_err(|e| ctx.fail(law, "jvp of the forward", e))?;
            let (_, got) =
                guarded(|| jvp(restrict(call.clone()), &xf, &v)).map_err(|e| ctx.fail(law, "the JVP rule", e))?;
            report.add(law, ctx.close(law, "the JVP rule's tangents", &got, &want, rtol)?);
        }
        let law = UserLaw::CustomVjp;
        if op.has_rule(CustomRule::Vjp) && opts.runs(law) {
            let (y, want_fn) =
                guarded(|| vjp(restrict(forward.clone()), &xf)).map_err(|e| ctx.fail(law, "vjp of the forward", e))?;
            let u = probe(&y, 0.5);
            let want = guarded(|| want_fn(&u)).map_err(|e| ctx.fail(law, "vjp of the forward", e))?;
            let (_, got_fn) =
                guarded(|| vjp(restrict(call.clone()), &xf)).map_err(|e| ctx.fail(law, "the VJP rule", e))?;
            let got = guarded(|| got_fn(&u)).map_err(|e| ctx.fail(law, "the VJP rule", e))?;
            for (k, (a, b)) in got.iter().zip(&want).enumerate() {
                report.add(law, ctx.close(law, &format!("the VJP rule's cotangent of input {}", diff[k]), a, b, rtol)?);
            }
        }
    }
    let law = UserLaw::CustomBatch;
    if op.has_rule(CustomRule::Batch) && opts.runs(law) && opts.vmap {
        vmap_law(&ctx, &call, &x, law, &mut report)?;
    }
    // The op through its rules obeys the function laws (its batching rule
    // was checked above).
    let mut rest = opts.clone();
    // With a batching rule, vmap was checked above; with none and an opaque
    // forward, vmap cannot run the op at all.
    rest.vmap = rest.vmap && !op.has_rule(CustomRule::Batch) && traceable;
    let more = check_leaf_laws(call, &x, &rest)?;
    for (law, n) in more.checked {
        report.add(law, n);
    }
    Ok(report)
}
