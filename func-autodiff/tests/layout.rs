//! Gradient layouts (NOTE: [gradient layout] in the crate): a weight read
//! through its transpose, as `linear` reads it (`x @ w^T`), gets a gradient
//! laid out like the weight, so flattening it is a view, not a copy.

use func_autodiff::grad;
use func_batch::vmap;
use func_core::Tensor;
use func_testkit::RefBackend;

use crate::common::close;

type T = Tensor<RefBackend>;

fn vals(n: usize, f: impl Fn(f64) -> f64) -> Vec<f64> {
    (0..n).map(|i| f(i as f64)).collect()
}

/// Whether a concrete tensor is stored contiguously (row-major).
fn contiguous(t: &T) -> bool {
    t.concrete().is_some_and(|(_, l)| l.is_contiguous())
}

#[test]
fn a_linear_weight_gets_a_contiguous_gradient() {
    let (n, i, o) = (3, 4, 5);
    let x = T::from_vec(vals(n * i, |t| (t * 0.37).sin()), [n, i]);
    let w = T::from_vec(vals(o * i, |t| (t * 0.61).cos()), [o, i]);
    let c = T::from_vec(vals(n * o, |t| 0.5 - (t * 0.23).sin()), [n, o]);
    // loss = sum(c * (x @ w^T)): d loss / d w[p, q] = sum_r c[r, p] x[r, q].
    let (xv, cv) = (x.to_vec::<f64>(), c.to_vec::<f64>());
    let want: Vec<f64> = (0..o * i).map(|e| (0..n).map(|r| cv[r * o + e / i] * xv[r * i + e % i]).sum()).collect();
    let g = grad(|w: &T| (&x.linear(w, None) * &c).sum())(&w);
    assert_eq!(g.dims(), &[o, i]);
    assert_eq!(close(&g, &want), o * i);
    assert!(contiguous(&g), "the weight's gradient is laid out as the weight");
    // Flattening it is a view of the same storage.
    let flat = g.reshape(&[-1]);
    assert!(std::sync::Arc::ptr_eq(flat.concrete().unwrap().0, g.concrete().unwrap().0));
}

#[test]
fn per_sample_linear_weight_gradients_are_contiguous() {
    let (n, i, o) = (3, 4, 5);
    let xs = T::from_vec(vals(n * i, |t| (t * 0.37).sin()), [n, i]);
    let w = T::from_vec(vals(o * i, |t| (t * 0.61).cos()), [o, i]);
    let c = T::from_vec(vals(o, |t| 0.5 - (t * 0.23).sin()), [o]);
    // Per sample: d (c . (w x_r)) / d w[p, q] = c[p] x_r[q].
    let (xv, cv) = (xs.to_vec::<f64>(), c.to_vec::<f64>());
    let want: Vec<f64> = (0..n * o * i).map(|e| cv[(e / i) % o] * xv[(e / (o * i)) * i + e % i]).collect();
    let g = vmap(|x: &T| grad(|w: &T| (&x.linear(w, None) * &c).sum())(&w))(&xs);
    assert_eq!(g.dims(), &[n, o, i]);
    assert_eq!(close(&g, &want), n * o * i);
    assert!(contiguous(&g), "per-sample weight gradients are laid out as the weights");
}

#[test]
fn stacked_weight_gradients_are_contiguous() {
    // An ensemble's per-model gradients: the weights are batched by `vmap`,
    // so the transposed weight `w^T` inside `grad` is a traced view, whose
    // virtual layout is column-major (NOTE: [gradient layout]).
    let (m, n, i, o) = (2, 3, 4, 5);
    let x = T::from_vec(vals(n * i, |t| (t * 0.37).sin()), [n, i]);
    let ws = T::from_vec(vals(m * o * i, |t| (t * 0.61).cos()), [m, o, i]);
    let c = T::from_vec(vals(n * o, |t| 0.5 - (t * 0.23).sin()), [n, o]);
    // loss = sum(c * tanh(x @ w^T)): d loss / d w[p, q] = sum_r c[r, p]
    // (1 - tanh(y[r, p])^2) x[r, q], with y = x @ w^T for each model.
    let (xv, wv, cv) = (x.to_vec::<f64>(), ws.to_vec::<f64>(), c.to_vec::<f64>());
    let want: Vec<f64> = (0..m * o * i)
        .map(|e| {
            let (k, p, q) = (e / (o * i), (e / i) % o, e % i);
            (0..n)
                .map(|r| {
                    let y: f64 = (0..i).map(|t| xv[r * i + t] * wv[(k * o + p) * i + t]).sum();
                    cv[r * o + p] * (1.0 - y.tanh().powi(2)) * xv[r * i + q]
                })
                .sum()
        })
        .collect();
    let g = vmap(|w: &T| grad(|w: &T| (&x.linear(w, None).tanh() * &c).sum())(w))(&ws);
    assert_eq!(g.dims(), &[m, o, i]);
    assert_eq!(close(&g, &want), m * o * i);
    assert!(contiguous(&g), "stacked weight gradients are laid out as the stacked weights");
}

#[test]
fn a_weight_broadcast_over_one_sample_sums_nothing() {
    // `conv2d` on one image multiplies the weight `[O, K]` with columns
    // `[1, K, L]`: the weight is broadcast over a batch of one, so its
    // gradient `[1, O, K]` comes back to `[O, K]` by a reshape, not a sum.
    use func_autodiff::vjp;
    use func_testkit::Profiled;
    type P = Tensor<Profiled<RefBackend>>;
    let (o, k, l) = (3, 4, 5);
    let prof = Profiled::new(RefBackend);
    let mut checked = 0;
    func_core::with_backend(prof.clone(), || {
        let w = P::from_vec(vals(o * k, |t| (t * 0.61).cos()), [o, k]);
        for batch in [1, 2] {
            let cols = P::from_vec(vals(batch * k * l, |t| (t * 0.37).sin()), [batch, k, l]);
            let ct = P::from_vec(vals(batch * o * l, |t| 0.5 - (t * 0.23).sin()), [batch, o, l]);
            // d <ct, w @ cols> / d w[p, q] = sum_b sum_j ct[b, p, j] cols[b, q, j].
            let (cv, tv) = (cols.to_vec::<f64>(), ct.to_vec::<f64>());
            let want: Vec<f64> = (0..o * k)
                .map(|e| {
                    let (p, q) = (e / k, e % k);
                    (0..batch)
                        .flat_map(|b| (0..l).map(move |j| (b, j)))
                        .map(|(b, j)| tv[(b * o + p) * l + j] * cv[(b * k + q) * l + j])
                        .sum()
                })
                .collect();
            let (_, pull) = vjp(|w: &P| w.matmul(&cols), &w);
            prof.reset();
            let g = pull(&ct);
            assert_eq!(g.dims(), &[o, k]);
            checked += close(&g, &want);
            // One sum over the batch when there is one to sum over.
            assert_eq!(prof.calls("reduce sum"), u64::from(batch > 1), "batch {batch}: {prof}");
        }
    });
    assert_eq!(checked, 2 * o * k);
}
