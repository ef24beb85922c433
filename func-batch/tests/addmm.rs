//! A linear layer with a bias under vmap is one `addmm` kernel (the bias
//! added as the product is written) in every batching case whose product is
//! batched, and equals each example's `x @ w^T + b` computed on its own.

use func_batch::{VmapOptions, vmap_with};
use func_core::{Tensor, with_backend};
use func_testkit::{Profiled, RefBackend};

type P = Tensor<Profiled<RefBackend>>;

/// Distinct values of no pattern (no exact cancellations).
fn vals(shape: &[usize], seed: f64) -> P {
    let n: usize = shape.iter().product();
    P::from_vec((0..n).map(|i| ((i as f64 + seed) * 0.618_034).sin()).collect::<Vec<_>>(), shape.to_vec())
}

/// The example `i` of `t` when it is batched (dim 0), else `t`.
fn example(t: &P, batched: bool, i: usize) -> P {
    if batched { t.select(0, i as isize) } else { t.clone() }
}

/// `vmap(linear)` over the operands batched as `dims` (x, w, b), against the
/// per-example products; returns the elements compared. `fused` says
/// whether the batched product is one `addmm` kernel (else the product is
/// unbatched and the batched bias is added to it).
fn check(prof: &Profiled<RefBackend>, x: &P, w: &P, b: &P, dims: (bool, bool, bool), fused: bool) -> usize {
    let d = |on: bool| on.then_some(0);
    let f = vmap_with(
        |(x, w, b): &(P, P, P)| x.linear(w, Some(b)),
        VmapOptions::new().in_dims((d(dims.0), d(dims.1), d(dims.2))),
    );
    prof.reset();
    let y = f(&(x.clone(), w.clone(), b.clone()));
    let label = format!("batched {dims:?}");
    if fused {
        assert_eq!((prof.calls("addmm"), prof.calls("binary add"), prof.calls("matmul")), (1, 0, 0), "{label}: {prof}");
    } else {
        assert_eq!((prof.calls("addmm"), prof.calls("binary add"), prof.calls("matmul")), (0, 1, 1), "{label}: {prof}");
    }
    let got = y.to_vec::<f64>();
    let mut want = Vec::new();
    for i in 0..3 {
        let (xi, wi, bi) = (example(x, dims.0, i), example(w, dims.1, i), example(b, dims.2, i));
        want.extend(
            xi.matmul(&wi.t()).to_vec::<f64>().iter().zip(bi.to_vec::<f64>().iter().cycle()).map(|(p, c)| p + c),
        );
    }
    assert_eq!(got.len(), want.len(), "{label}");
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-12 * (1.0 + w.abs()), "{label}: element {k} is {g}, expected {w}");
    }
    got.len()
}

#[test]
fn a_batched_linear_layer_is_one_addmm() {
    let prof = Profiled::new(RefBackend);
    let mut compared = 0;
    with_backend(prof.clone(), || {
        // Three examples: inputs [4, 5], weights [6, 5], biases [6].
        let (x, xs) = (vals(&[4, 5], 1.0), vals(&[3, 4, 5], 2.0));
        let (w, ws) = (vals(&[6, 5], 3.0), vals(&[3, 6, 5], 4.0));
        let (b, bs) = (vals(&[6], 5.0), vals(&[3, 6], 6.0));
        // An ensemble on one minibatch (the transposed product), each model
        // on its own minibatch, per-sample inputs through shared weights
        // (the batch folded into rows) with a shared and a batched bias,
        // and batched inputs and weights with a shared bias.
        compared += check(&prof, &x, &ws, &bs, (false, true, true), true);
        compared += check(&prof, &x, &ws, &b, (false, true, false), true);
        compared += check(&prof, &xs, &ws, &bs, (true, true, true), true);
        compared += check(&prof, &xs, &w, &b, (true, false, false), true);
        compared += check(&prof, &xs, &w, &bs, (true, false, true), true);
        compared += check(&prof, &xs, &ws, &b, (true, true, false), true);
        // Only the bias batched: one product, and the biases added to it.
        compared += check(&prof, &x, &w, &bs, (false, false, true), false);
    });
    assert_eq!(compared, 7 * 3 * 4 * 6);
}
