//! The magnitude of each output element, which scales the agreement
//! tolerance of an op by its [`Scale`].

use super::*;

pub(super) type R = Tensor<RefBackend>;

/// The sample's arguments on the reference backend, f32 ones as f64 (so that
/// magnitudes do not overflow where the op's result does not).
pub(super) fn promoted(sample: &Sample) -> Vec<R> {
    sample
        .args
        .iter()
        .map(|a| {
            let mut a = a.clone();
            if a.dtype == DType::F32 {
                a.dtype = DType::F64;
            }
            a.build::<RefBackend>()
        })
        .collect()
}

/// The magnitude of every element of the expected output `want` (see
/// [`check_backend`]).
pub(super) fn magnitudes(info: &OpInfo, sample: &Sample, want: &[f64]) -> Result<Vec<f64>, String> {
    if want.is_empty() {
        return Ok(vec![]);
    }
    let m = match info.scale {
        Scale::Elementwise => vec![0.0; want.len()],
        Scale::Relative => want.iter().map(|b| b.abs()).collect(),
        Scale::AbsOp => {
            let args = promoted(&sample.abs());
            let m = catch_unwind(AssertUnwindSafe(|| info.op.apply(&args).to_vec::<f64>())).map_err(|e| {
                format!("the reference backend panicked on the absolute-valued sample: {}", panic_message(e))
            })?;
            m.iter().map(|x| x.abs()).collect()
        }
        Scale::Rows => {
            let args = promoted(sample);
            catch_unwind(AssertUnwindSafe(|| row_magnitudes(info, &args, want)))
                .map_err(|e| format!("the reference backend panicked: {}", panic_message(e)))??
        }
    };
    if m.len() != want.len() {
        return Err(format!(
            "{} magnitudes for {} output elements ({:?} scale; a catalogue bug)",
            m.len(),
            want.len(),
            info.scale
        ));
    }
    Ok(m)
}

/// `|x|` with non-finite elements as 0.
pub(super) fn finite_abs(x: &R) -> R {
    let a = x.abs();
    Tensor::where_(&a.lt_scalar(f64::INFINITY), &a, &a.zeros_like())
}

pub(super) fn dims_arg(t: &R) -> Vec<isize> {
    t.to_vec::<i64>().into_iter().map(|v| v as isize).collect()
}

/// The magnitudes of [`Scale::Rows`] ops, from the arguments on the
/// reference backend (f32 promoted to f64) and the expected output.
pub(super) fn row_magnitudes(info: &OpInfo, args: &[R], want: &[f64]) -> Result<Vec<f64>, String> {
    let x = args.first().ok_or("no arguments")?;
    let a = finite_abs(x);
    // Per-row maximum of |x| (kept dims) and the row length.
    let row_max = |dims: &[isize]| -> (R, f64) {
        let m = a.max_dims(dims, true);
        let n = if m.numel() == 0 { 1 } else { x.numel() / m.numel() };
        (m, n as f64)
    };
    let param = |i: usize| args.get(i).ok_or_else(|| format!("missing argument {i}"));
    let m = match &info.op {
        Op::Softmax => {
            let (rm, _) = row_max(&[param(1)?.item::<i64>() as isize]);
            let rel = ((&a + &rm) + 1.0).to_vec::<f64>();
            rel.iter().zip(want).map(|(r, b)| r * b.abs()).collect()
        }
        Op::LogSoftmax => {
            let (rm, n) = row_max(&[param(1)?.item::<i64>() as isize]);
            ((&a + &(rm * 2.0)) + (1.0 + n.ln())).to_vec::<f64>()
        }
        Op::Logsumexp { .. } => {
            let (rm, n) = row_max(&dims_arg(param(1)?));
            (rm + (1.0 + n.ln())).to_vec::<f64>()
        }
        Op::Var { correction, .. } => {
            let dims = dims_arg(param(1)?);
            let s2 = (&a * &a).sum_dims(&dims, true);
            let n = if s2.numel() == 0 { 0 } else { x.numel() / s2.numel() };
            (s2 / (n as f64 - *correction as f64).max(1.0)).to_vec::<f64>()
        }
        Op::CrossEntropy => {
            let t = param(1)?;
            let (rm, _) = row_max(&[-1]);
            let ln_c = (x.dims().last().copied().unwrap_or(1).max(1) as f64).ln();
            let per_row = if t.dtype().is_float() {
                (t.abs() * ((&a + &(rm * 2.0)) + (1.0 + ln_c))).sum_dims(&[-1], false)
            } else {
                rm * 2.0 + (1.0 + ln_c)
            };
            per_row.mean().to_vec::<f64>()
        }
        other => return Err(format!("Scale::Rows has no magnitude rule for {other:?} (a catalogue bug)")),
    };
    Ok(m)
}
