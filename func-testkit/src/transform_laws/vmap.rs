//! The vmap laws: against a loop over slices, chunked, and nested.

use super::*;

// ----- vmap --------------------------------------------------------------------------------------

pub(super) const NB: usize = 3;

/// Chunked vmap is checked on every `CHUNKED_EVERY`-th sample.
pub(super) const CHUNKED_EVERY: usize = 4;

/// Nested vmap is checked on the first `NESTED_SAMPLES` samples.
pub(super) const NESTED_SAMPLES: usize = 2;

/// The vmap law for one op on one sample (converted to f64), with the
/// in_dims choice `choice`; for every fourth choice also chunked vmap.
///
/// # Errors
///
/// A description of the first disagreement.
pub fn check_vmap_sample<B: Backend>(info: &OpInfo, sample: &Sample, choice: usize) -> Result<Vec<Law>, String> {
    let args: Vec<ArgSpec> = sample.args.iter().map(to_f64).collect();
    let host = info.host_params(args.len());
    let data: Vec<usize> = (0..args.len()).filter(|&i| !host[i]).collect();
    if data.is_empty() {
        return Ok(vec![]);
    }
    // in_dim per data argument from {0, -1, None}, at least one batched.
    let options = [Some(0isize), Some(-1), None];
    let mut dims: Vec<Option<isize>> =
        (0..args.len()).map(|i| if host[i] { None } else { options[(choice + i) % 3] }).collect();
    if data.iter().all(|&i| dims[i].is_none()) {
        dims[data[0]] = Some(0);
    }
    if info.writes_first && dims[0].is_none() && data.iter().any(|&i| dims[i].is_some()) {
        dims[0] = Some(0);
    }
    let slice_args = |k: usize| -> Vec<Tensor<B>> {
        args.iter()
            .enumerate()
            .map(|(i, a)| if dims[i].is_some() { rotated(a, k).build() } else { a.build() })
            .collect()
    };
    let slices: Vec<Vec<Tensor<B>>> = (0..NB).map(slice_args).collect();
    let expected: Vec<Tensor<B>> = slices.iter().map(|xs| info.op.apply(xs)).collect();
    let expected = Tensor::stack(&expected, 0);
    let in_dim = |i: usize| dims[i].map(|d| if d < 0 { d + args[i].shape.len() as isize + 1 } else { d });
    let build_batched = || -> Vec<Tensor<B>> {
        args.iter()
            .enumerate()
            .map(|(i, a)| match in_dim(i) {
                None => a.build(),
                Some(d) => Tensor::stack(&(0..NB).map(|k| rotated(a, k).build()).collect::<Vec<_>>(), d),
            })
            .collect()
    };
    let batched = build_batched();
    let op = info.op.clone();
    let in_dims = Dims::Seq(dims.iter().map(|d| Dims::All(*d)).collect());
    let f = move |xs: &Vec<Tensor<B>>| Ok(op.apply(xs));
    let got = try_vmap(f.clone(), VmapOptions::new().in_dims(in_dims.clone()))(&batched)
        .map_err(|e| format!("vmap with in_dims {in_dims}: {e}"))?;
    close(&format!("vmap in_dims {in_dims}"), &got, &expected, 1e-10)?;
    // The inputs are mutated as the per-slice calls mutate theirs.
    for (i, b) in batched.iter().enumerate() {
        if let Some(d) = in_dim(i) {
            let want = Tensor::stack(&slices.iter().map(|xs| xs[i].clone()).collect::<Vec<_>>(), d);
            close(&format!("vmap in_dims {in_dims}: input {i} after the call"), b, &want, 1e-10)?;
        }
    }
    if !choice.is_multiple_of(CHUNKED_EVERY) {
        return Ok(vec![Law::Vmap]);
    }
    // Fresh inputs: the first call may have mutated `batched`.
    let chunked = try_vmap(f, VmapOptions::new().in_dims(in_dims.clone()).chunk_size(2))(&build_batched())
        .map_err(|e| format!("chunked vmap: {e}"))?;
    // A backend may reduce in a different order for another batch size.
    close("chunked vmap", &chunked, &got, 1e-13)?;
    Ok(vec![Law::Vmap, Law::ChunkedVmap])
}

/// Two nested vmap levels over dims 0 and 0 of every data argument.
///
/// # Errors
///
/// A description of the first disagreement.
pub fn check_nested_vmap_sample<B: Backend>(info: &OpInfo, sample: &Sample) -> Result<Vec<Law>, String> {
    let args: Vec<ArgSpec> = sample.args.iter().map(to_f64).collect();
    let host = info.host_params(args.len());
    if host.iter().all(|h| *h) {
        return Ok(vec![]);
    }
    let at = |k: usize| -> Vec<Tensor<B>> {
        args.iter().enumerate().map(|(i, a)| if host[i] { a.build() } else { rotated(a, k).build() }).collect()
    };
    let (n1, n2) = (2usize, 2usize);
    let per: Vec<Vec<Tensor<B>>> = (0..n1 * n2).map(at).collect();
    let rows: Vec<Tensor<B>> = (0..n1)
        .map(|i| Tensor::stack(&(0..n2).map(|j| info.op.apply(&per[i * n2 + j])).collect::<Vec<_>>(), 0))
        .collect();
    let expected = Tensor::stack(&rows, 0);
    let batched: Vec<Tensor<B>> = args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if host[i] {
                return a.build();
            }
            let rows: Vec<Tensor<B>> = (0..n1)
                .map(|r| Tensor::stack(&(0..n2).map(|c| rotated(a, r * n2 + c).build()).collect::<Vec<_>>(), 0))
                .collect();
            Tensor::stack(&rows, 0)
        })
        .collect();
    let in_dims = Dims::Seq(host.iter().map(|h| Dims::All(if *h { None } else { Some(0) })).collect());
    let op = info.op.clone();
    let inner_dims = in_dims.clone();
    let inner = move |xs: &Vec<Tensor<B>>| {
        try_vmap(|ys: &Vec<Tensor<B>>| Ok(op.apply(ys)), VmapOptions::new().in_dims(inner_dims.clone()))(xs)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let got =
        guarded(|| try_vmap(move |xs: &Vec<Tensor<B>>| Ok(inner(xs)), VmapOptions::new().in_dims(in_dims))(&batched))?
            .map_err(|e| format!("nested vmap: {e}"))?;
    close("nested vmap", &got, &expected, 1e-10)?;
    // The inputs are mutated as the per-element calls mutate theirs.
    for (i, b) in batched.iter().enumerate().filter(|(i, _)| !host[*i]) {
        let rows: Vec<Tensor<B>> = (0..n1)
            .map(|r| Tensor::stack(&(0..n2).map(|c| per[r * n2 + c][i].clone()).collect::<Vec<_>>(), 0))
            .collect();
        close(&format!("nested vmap: input {i} after the call"), b, &Tensor::stack(&rows, 0), 1e-10)?;
    }
    Ok(vec![Law::NestedVmap])
}
