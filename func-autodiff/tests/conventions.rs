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

#[test]
fn matmul_with_a_vector_operand_has_the_vector_products_gradients() {
    // f(a, b) = sum(c * (a @ b)) with a fixed weight c of the product's
    // shape. Closed forms, computed with elementwise products and sums
    // only: for a [k] @ b [.., k, n], grad a = sum over (.., n) of b * c
    // and grad b = a[:, None] * c[.., None, :]; for a [.., m, k] @ b [k],
    // grad a = c[.., None] * b and grad b = sum over (.., m) of a * c[.., None];
    // for a dot product, grad a = c * b and grad b = c * a.
    let seq = |shape: &[usize], shift: f64| {
        let n: usize = shape.iter().product();
        T::from_vec((0..n).map(|i| (i as f64 * 0.37 + shift).sin()).collect::<Vec<_>>(), shape.to_vec())
    };
    let mut checked = 0;
    let (m, k, n) = (3, 4, 2);
    let cases: [(&[usize], &[usize]); 5] =
        [(&[k], &[k, n]), (&[k], &[2, k, n]), (&[m, k], &[k]), (&[2, m, k], &[k]), (&[k], &[k])];
    for (sa, sb) in cases {
        let (a, b) = (seq(sa, 0.1), seq(sb, 0.7));
        let c = seq(a.matmul(&b).dims(), 1.3);
        let (ga, gb) = grad(|(a, b): &(T, T)| (&c * &a.matmul(b)).sum())(&(a.clone(), b.clone()));
        let (wa, wb) = if sa.len() == 1 && sb.len() == 1 {
            (&c * &b, &c * &a)
        } else if sa.len() == 1 {
            // b [.., k, n], c [.., n].
            let prod = &b * &c.unsqueeze(-2);
            let lead: Vec<isize> = (0..sb.len() as isize - 2).chain([sb.len() as isize - 1]).collect();
            (prod.sum_dims(&lead, false), &a.unsqueeze(-1) * &c.unsqueeze(-2))
        } else {
            // a [.., m, k], c [.., m].
            let prod = &a * &c.unsqueeze(-1);
            let lead: Vec<isize> = (0..sa.len() as isize - 1).collect();
            (&c.unsqueeze(-1) * &b, prod.sum_dims(&lead, false))
        };
        assert_eq!((ga.dims(), gb.dims()), (a.dims(), b.dims()), "{sa:?} @ {sb:?}");
        checked += close(&ga, &wa.to_vec::<f64>()) + close(&gb, &wb.to_vec::<f64>());
    }
    assert_eq!(checked, 4 + 8 + 4 + 16 + 12 + 4 + 24 + 4 + 4 + 4);
}
