//! Autodiff semantics: higher order, composition with vmap, trees, aux,
//! symbolic zeros, in-place ops, and the error messages.

use func::{JacOptions, hessian, jacfwd, jacfwd_with, jacrev, jacrev_aux, jacrev_with};
use func_autodiff::{grad, grad_and_value_aux, grad_aux, jvp, jvp_aux, linearize, try_jvp, try_vjp, vjp, vjp_aux};
use func_batch::{VmapOptions, vmap, vmap_with};
use func_core::{DType, Tensor};
use func_testkit::RefBackend;
use std::collections::BTreeMap;

type T = Tensor<RefBackend>;

fn v(x: &[f64]) -> T {
    T::from_vec(x.to_vec(), [x.len()])
}

fn close(a: &T, b: &[f64]) {
    let got = a.to_vec::<f64>();
    assert_eq!(got.len(), b.len(), "{got:?} vs {b:?}");
    for (x, y) in got.iter().zip(b) {
        assert!((x - y).abs() < 1e-12 * (1.0 + y.abs()), "{got:?} vs {b:?}");
    }
}

fn panic_message(f: impl FnOnce()) -> String {
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

#[test]
fn grad_of_grad_of_grad() {
    // f = x^4: f' = 4x^3, f'' = 12x^2, f''' = 24x.
    let f = |x: &T| x.powf(4.0).sum();
    let x = v(&[1.5]);
    close(&grad(f)(&x), &[4.0 * 1.5f64.powi(3)]);
    close(&grad(|x: &T| grad(f)(x).sum())(&x), &[12.0 * 1.5 * 1.5]);
    close(&grad(|x: &T| grad(|x: &T| grad(f)(x).sum())(x).sum())(&x), &[24.0 * 1.5]);
}

#[test]
fn no_perturbation_confusion() {
    // d/dx [x * d/dy (x * y)] = d/dx [x * x] = 2x (not x + ...).
    let x = T::scalar(3.0f64);
    let g = grad(|x: &T| {
        let inner = grad(|y: &T| x * y)(&T::scalar(1.0f64));
        x * &inner
    })(&x);
    close(&g, &[6.0]);
}

#[test]
fn vjp_of_vjp_and_jvp_of_vjp() {
    let f = |x: &T| x.sin() * x;
    let x = v(&[0.3, -1.2]);
    let u = v(&[1.0, 2.0]);
    // vjp_fn(u) = u * (sin x + x cos x); its vjp w.r.t. x with cotangent w:
    // w * u * (2 cos x - x sin x).
    let g = |x: &T| vjp(f, x).1(&u);
    let (_, back) = vjp(g, &x);
    let w = v(&[0.5, -1.0]);
    let expect: Vec<f64> =
        [(0.3f64, 1.0, 0.5), (-1.2, 2.0, -1.0)].iter().map(|(x, u, w)| w * u * (2.0 * x.cos() - x * x.sin())).collect();
    close(&back(&w), &expect);
    let (_, t) = jvp(g, &x, &w);
    close(&t, &expect);
}

#[test]
fn grad_of_vmap_and_vmap_of_grad() {
    let xs = T::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], [2, 2]);
    let per_row = vmap(grad(|x: &T| (x * x).sum()))(&xs);
    close(&per_row, &[2.0, 4.0, 6.0, 8.0]);
    let total = grad(|x: &T| vmap(|r: &T| (r * r).sum())(x).sum())(&xs);
    close(&total, &[2.0, 4.0, 6.0, 8.0]);
}

#[test]
fn jacobians_agree_and_hessians_are_symmetric() {
    let w = T::from_vec(vec![0.1f64, -0.2, 0.3, 0.4, 0.5, -0.6], [2, 3]);
    let f = |x: &T| x.linear(&w, None).tanh();
    let x = v(&[0.2, -0.4, 0.9]);
    let jr = jacrev(f)(&x);
    let jf = jacfwd(f)(&x);
    assert_eq!(jr.dims(), &[2, 3]);
    close(&jr, &jf.to_vec::<f64>());
    let chunked = jacrev_with(f, JacOptions { chunk_size: Some(1), ..Default::default() })(&x);
    close(&chunked, &jr.to_vec::<f64>());
    let chunked = jacfwd_with(f, JacOptions { chunk_size: Some(2), ..Default::default() })(&x);
    close(&chunked, &jr.to_vec::<f64>());
    let h = hessian(|x: &T| f(x).sum())(&x);
    close(&h, &h.t().to_vec::<f64>());
    let hb = vmap(hessian(|x: &T| f(x).sum()))(&T::stack(&[x.clone(), x.clone()], 0));
    assert_eq!(hb.dims(), &[2, 3, 3]);
}

#[test]
fn trees_aux_and_unused_inputs() {
    let mut p = BTreeMap::new();
    p.insert("a".to_string(), v(&[1.0, 2.0]));
    p.insert("unused".to_string(), v(&[5.0]));
    let (g, aux) = grad_aux(|p: &BTreeMap<String, T>| {
        let y = (&p["a"] * &p["a"]).sum();
        (y.clone(), y * 10.0)
    })(&p);
    close(&g["a"], &[2.0, 4.0]);
    close(&g["unused"], &[0.0]);
    assert!(aux.is_concrete());
    close(&aux, &[50.0]);
    let (g, (value, aux)) = grad_and_value_aux(|x: &T| ((x * x).sum(), x.exp()))(&v(&[1.0]));
    close(&g, &[2.0]);
    close(&value, &[1.0]);
    close(&aux, &[1.0f64.exp()]);
    let (y, t, aux) = jvp_aux(|x: &T| (x * 2.0, x.clone()), &v(&[1.0]), &v(&[1.0]));
    close(&y, &[2.0]);
    close(&t, &[2.0]);
    assert!(aux.is_concrete());
    let (_, back, _) = vjp_aux(|x: &T| (x * 2.0, x.clone()), &v(&[1.0]));
    close(&back(&v(&[1.0])), &[2.0]);
    let (j, _) = jacrev_aux(|x: &T| (x * 2.0, ()))(&v(&[1.0, 1.0]));
    close(&j, &[2.0, 0.0, 0.0, 2.0]);
}

#[test]
fn output_independent_of_input_gives_zeros() {
    let g = grad(|_x: &T| T::scalar(1.0f64))(&v(&[1.0, 2.0]));
    close(&g, &[0.0, 0.0]);
    let (_, t) = jvp(|x: &T| x.floor(), &v(&[1.5]), &v(&[1.0]));
    close(&t, &[0.0]);
}

#[test]
fn linearize_matches_jvp() {
    let f = |x: &T| x.exp() * x.sin();
    let x = v(&[0.1, 0.7]);
    let t = v(&[1.0, -2.0]);
    let (y, jvp_fn) = linearize(f, &x);
    let (y2, t2) = jvp(f, &x, &t);
    close(&y, &y2.to_vec::<f64>());
    close(&jvp_fn(&t), &t2.to_vec::<f64>());
    close(&jvp_fn(&t), &t2.to_vec::<f64>());
}

#[test]
fn in_place_ops_inside_grad_rebind_the_traced_value() {
    let g = grad(|x: &T| {
        let y = x.deep_copy();
        y.mul_(x); // y = x * x
        y.add_scalar_(1.0);
        y.sum()
    })(&v(&[3.0]));
    close(&g, &[6.0]);
}

#[test]
fn per_sample_gradients_of_a_linear_model() {
    let w = v(&[0.5, -1.0]);
    let xs = T::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2]);
    let ys = v(&[1.0, 0.0, 2.0]);
    let loss = |(w, x, y): &(T, T, T)| (x.dot(w) - y).square();
    let psg = vmap_with(grad(loss), VmapOptions::new().in_dims((None, Some(0), Some(0))));
    let (gw, _, _) = psg(&(w.clone(), xs.clone(), ys.clone()));
    let mut expect = vec![];
    for i in 0..3 {
        let x = xs.select(0, i as isize).to_vec::<f64>();
        let r = x[0] * 0.5 - x[1] - ys.to_vec::<f64>()[i];
        expect.extend([2.0 * r * x[0], 2.0 * r * x[1]]);
    }
    close(&gw, &expect);
}

#[test]
fn error_grad_of_non_scalar() {
    let msg = panic_message(|| {
        grad(|x: &T| x * 2.0)(&v(&[1.0, 2.0]));
    });
    assert!(msg.contains("grad") && msg.contains("scalar") && msg.contains("1 dims"), "{msg}");
    assert!(msg.contains("vjp or jacrev"), "{msg}");
}

#[test]
fn error_tangent_structure_or_shape() {
    let err =
        try_jvp(|x: &T| Ok(x * 2.0), &v(&[1.0, 2.0]), &v(&[1.0])).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("same structure and shapes") && err.contains("Tensor[2]") && err.contains("Tensor[1]"),
        "{err}"
    );
    let err =
        try_jvp(|(a, _b): &(T, T)| Ok(a * 2.0), &(v(&[1.0]), v(&[1.0])), &(v(&[1.0]), v(&[1.0]))).map(|_| ()).err();
    assert!(err.is_none());
}

#[test]
fn error_cotangent_structure_or_shape() {
    let (_, back) = vjp(|x: &T| (x * 2.0, x.sum()), &v(&[1.0, 2.0]));
    let msg = panic_message(|| {
        back(&(v(&[1.0, 1.0]), v(&[1.0])));
    });
    assert!(
        msg.contains("cotangents") && msg.contains("(Tensor[2], Tensor[])") && msg.contains("(Tensor[2], Tensor[1])"),
        "{msg}"
    );
}

#[test]
fn error_integer_input_or_output() {
    let ints = T::from_vec(vec![1i64, 2], [2]);
    let msg = panic_message(|| {
        grad(|x: &T| x.to_dtype(DType::F64).sum())(&ints);
    });
    assert!(msg.contains("only floating point inputs can be differentiated") && msg.contains("i64"), "{msg}");
    let err = try_vjp(|x: &T| Ok(x.argmax(0, false)), &v(&[1.0, 2.0])).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("floating point") && err.contains("i64"), "{err}");
}

#[test]
fn error_chunk_size_zero() {
    let msg = panic_message(|| {
        jacrev_with(|x: &T| x * 2.0, JacOptions { chunk_size: Some(0), ..Default::default() })(&v(&[1.0]));
    });
    assert!(msg.contains("jacrev") && msg.contains("chunk_size") && msg.contains("got 0"), "{msg}");
}

#[test]
fn error_captured_tensor_mutated_with_traced_value() {
    let captured = T::zeros([1], DType::F64);
    let msg = panic_message(|| {
        grad(|x: &T| {
            captured.add_(x);
            x.sum()
        })(&v(&[1.0]));
    });
    assert!(msg.contains("add_") && msg.contains("captured Tensor"), "{msg}");
}

/// `conv_transpose2d` with stride, padding, output padding, dilation,
/// groups and bias, its values and its gradients (through
/// `Primitive::ConvTranspose2d`'s VJP rule) against
/// `torch.nn.functional.conv_transpose2d`, on both backends; the CPU one
/// with a batch large enough to run by samples as well.
#[test]
fn conv_transpose2d_matches_torch() {
    fn check<B: func_core::Backend + Default>() {
        type Tb<B> = Tensor<B>;
        let x = Tb::<B>::from_vec((0..72).map(|i| (i as f64 * 0.37).sin()).collect::<Vec<_>>(), [2, 4, 3, 3]);
        let w = Tb::<B>::from_vec((0..72).map(|i| (i as f64 * 0.21).cos()).collect::<Vec<_>>(), [4, 3, 3, 2]);
        let b = Tb::<B>::from_vec(vec![0.5, -1.0, 0.25, 2.0, -0.5, 1.5], [6]);
        let opts = func_core::ConvTranspose2dOptions {
            stride: (2, 1),
            padding: (1, 0),
            output_padding: (1, 0),
            dilation: (1, 2),
            groups: 2,
        };
        let f = |x: &Tb<B>, w: &Tb<B>| x.conv_transpose2d(w, Some(&b), opts);
        let y = f(&x, &w);
        assert_eq!(y.dims(), &[2, 6, 6, 5]);
        let head = [
            0.591823235581,
            1.089944953191,
            1.563997047158,
            0.949981288853,
            1.283283063003,
            2.186416354101,
            2.585350341871,
            4.192887569388,
            2.249792125487,
            2.271912469738,
            1.790037924828,
            1.897254879429,
        ];
        let near = |got: &[f64], want: &[f64]| {
            assert_eq!(got.len(), want.len());
            for (a, e) in got.iter().zip(want) {
                assert!((a - e).abs() <= 1e-10 * (1.0 + e.abs()), "{got:?} vs {want:?}");
            }
        };
        let yv = y.to_vec::<f64>();
        near(&yv[..12], &head);
        near(&[yv.iter().sum(), yv.iter().map(|v| v * v).sum()], &[-4.0234302809, 1183.2202416558]);
        let (gx, gw) = grad(|(x, w): &(Tb<B>, Tb<B>)| f(x, w).sin().sum())(&(x.clone(), w.clone()));
        let gx_head = [
            -0.470839934057,
            -0.086538156092,
            0.934916576323,
            0.540656468685,
            0.940041066032,
            0.38976009345,
            -1.21032052702,
            -1.788854466559,
        ];
        let gw_head = [
            -5.468779188753,
            -4.086622877245,
            -3.174848304878,
            -1.238350599268,
            -3.357932824299,
            0.531612600461,
            -2.508003266814,
            -5.343158107751,
        ];
        near(&gx.to_vec::<f64>()[..8], &gx_head);
        near(&gw.to_vec::<f64>()[..8], &gw_head);
        // A batch of 20 copies: by samples on the CPU backend, the same
        // values for each copy.
        let xs = x.select(0, 0).unsqueeze(0).expand(&[20, 4, 3, 3]).contiguous();
        let ys = f(&xs, &w).to_vec::<f64>();
        let one = f(&x.select(0, 0).unsqueeze(0), &w).to_vec::<f64>();
        for copy in ys.chunks(one.len()) {
            near(copy, &one);
        }
    }
    check::<RefBackend>();
    check::<func_cpu::Cpu>();
}
