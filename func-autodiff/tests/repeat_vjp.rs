//! A vjp function is called many times: each call runs the backward pass
//! anew, and must not consume anything the next call needs.

use func_autodiff::vjp;
use func_core::Tensor;
use func_testkit::RefBackend;

type T = Tensor<RefBackend>;

fn v(x: &[f64]) -> T {
    T::from_vec(x.to_vec(), [x.len()])
}

#[test]
fn a_vjp_function_gives_the_same_cotangents_on_every_call() {
    let x = [0.3, -1.2, 2.5];
    // Outputs: an intermediate that a later output also reads, that output,
    // and the input itself (whose cotangent is seeded on the wanted leaf).
    let f = |x: &T| {
        let y = x.sin();
        let z = &(&y * &y) + x;
        (y, z, x.clone())
    };
    let (_, vjp_fn) = vjp(f, &v(&x));
    let mut checked = 0;
    for (cy, cz, cx) in [(1.0, 0.0, 0.0), (0.5, 2.0, -1.0), (1.0, 0.0, 0.0), (-3.0, 0.25, 4.0)] {
        let n = x.len();
        let g = vjp_fn(&(v(&vec![cy; n]), v(&vec![cz; n]), v(&vec![cx; n]))).to_vec::<f64>();
        // By hand: d/dx of cy sin x + cz (sin^2 x + x) + cx x.
        for (gi, xi) in g.iter().zip(x) {
            let want = cy * xi.cos() + cz * (2.0 * xi.sin() * xi.cos() + 1.0) + cx;
            assert!((gi - want).abs() <= 1e-12 * (1.0 + want.abs()), "{g:?} at ({cy}, {cz}, {cx})");
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
}
