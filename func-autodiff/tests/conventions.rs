//! Derivative conventions that must match torch exactly, with expected
//! values computed by torch 2.x (`torch.autograd`, float64).

use func_autodiff::grad;
use func_batch::vmap;
use func_core::Tensor;
use func_testkit::RefBackend;
use func_testkit::jacobians::jacrev_ref;

type T = Tensor<RefBackend>;

fn v(x: &[f64]) -> T {
    T::from_vec(x.to_vec(), [x.len()])
}

/// Elementwise comparison with a tolerance scaled to each element; returns
/// the number of elements checked.
fn close(a: &T, b: &[f64]) -> usize {
    let got = a.to_vec::<f64>();
    assert_eq!(got.len(), b.len(), "{got:?} vs {b:?}");
    for (x, y) in got.iter().zip(b) {
        assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{got:?} vs {b:?}");
    }
    got.len()
}

#[test]
fn clamp_with_scalar_bounds_has_zero_gradient_at_the_bounds() {
    // torch: x = [-1, 0, 0.25, 1, 3]; clamp(x, 0, 1).sum().backward() -> [0, 0, 1, 0, 0]
    let x = v(&[-1.0, 0.0, 0.25, 1.0, 3.0]);
    assert_eq!(close(&grad(|x: &T| x.clamp(Some(0.0), Some(1.0)).sum())(&x), &[0.0, 0.0, 1.0, 0.0, 0.0]), 5);
    // torch: clamp(x, max=1) -> [1, 1, 1, 0, 0]
    close(&grad(|x: &T| x.clamp(None, Some(1.0)).sum())(&x), &[1.0, 1.0, 1.0, 0.0, 0.0]);
    // torch: min > max gives max everywhere, with zero gradient.
    let y = x.clamp(Some(2.0), Some(1.0));
    close(&y, &[1.0; 5]);
    close(&grad(|x: &T| x.clamp(Some(2.0), Some(1.0)).sum())(&x), &[0.0; 5]);
    // Values, NaN propagation (torch: clamp([nan, 2], 0, 1) = [nan, 1]).
    let c = v(&[f64::NAN, 2.0]).clamp(Some(0.0), Some(1.0)).to_vec::<f64>();
    assert!(c[0].is_nan() && c[1] == 1.0, "{c:?}");
    // The same convention per sample under vmap(grad).
    let xs = T::from_vec(vec![-1.0, 0.0, 0.25, 1.0, 3.0, 0.5], [2, 3]);
    let g = vmap(grad(|x: &T| x.clamp(Some(0.0), Some(1.0)).sum()))(&xs);
    close(&g, &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
}

fn pool_input() -> T {
    T::from_vec(vec![1.0, 1.0, 2.0, 0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 3.0, 3.0, -1.0, 3.0, 0.0, 1.0, 1.0], [1, 1, 4, 4])
}

#[test]
fn max_pool2d_sends_the_gradient_to_the_first_maximum() {
    // torch: F.max_pool2d(x, 2).sum().backward()
    let g = grad(|x: &T| x.max_pool2d((2, 2), (2, 2), (0, 0)).sum())(&pool_input());
    close(&g, &[1., 0., 1., 0., 0., 0., 0., 0., 1., 0., 1., 0., 0., 0., 0., 0.]);
    // torch: (F.max_pool2d(x, 3, 1, 1) * arange(16).reshape(1, 1, 4, 4)).sum().backward()
    let w = T::arange(16, func_core::DType::F64).reshape(&[1, 1, 4, 4]);
    let f = |x: &T| (&x.max_pool2d((3, 3), (1, 1), (1, 1)) * &w).sum();
    close(&grad(f)(&pool_input()), &[0., 0., 6., 0., 0., 0., 0., 0., 51., 30., 33., 0., 0., 0., 0., 0.]);
    close(
        &pool_input().max_pool2d((3, 3), (1, 1), (1, 1)).reshape(&[-1]),
        &[1., 2., 2., 2., 3., 3., 3., 3., 3., 3., 3., 3., 3., 3., 3., 3.],
    );
}

#[test]
fn max_pool2d_first_maximum_per_sample_and_in_jacobians() {
    // Per-sample gradients of a batch of two identical tie-laden inputs
    // equal the single-sample gradient for each.
    let one = pool_input().reshape(&[1, 4, 4]);
    let xs = T::cat(&[one.clone(), one.clone()], 0).reshape(&[2, 1, 4, 4]);
    let g = vmap(grad(|x: &T| x.max_pool2d((2, 2), (2, 2), (0, 0)).sum()))(&xs);
    let expect = [1., 0., 1., 0., 0., 0., 0., 0., 1., 0., 1., 0., 0., 0., 0., 0.];
    let both: Vec<f64> = expect.iter().chain(expect.iter()).copied().collect();
    close(&g.reshape(&[-1]), &both);
    // Rows of the Jacobian: each output is routed to exactly one input.
    let j = jacrev_ref(|x: &T| x.max_pool2d((2, 2), (2, 2), (0, 0)).reshape(&[-1]), &pool_input());
    let rows = j.reshape(&[4, 16]).sum_dims(&[1], false);
    close(&rows, &[1.0; 4]);
}
