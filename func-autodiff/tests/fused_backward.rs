//! The derivatives of `tanh`, `sigmoid` and `relu` run as one fused kernel
//! (`BinaryOp::TanhBackward`, `BinaryOp::SigmoidBackward`,
//! `BinaryOp::ReluBackward`, as torch's `tanh_backward`, `sigmoid_backward`
//! and `threshold_backward`), in reverse and forward mode, and differentiate
//! again (second order) to the known closed forms.

use func_autodiff::{grad, jvp};
use func_core::{Tensor, with_backend};
use func_testkit::{Profiled, RefBackend};

use crate::common::close;

type P = Profiled<RefBackend>;
type T = Tensor<P>;

fn xs() -> Vec<f64> {
    (0..41).map(|i| -4.0 + 0.2 * i as f64).collect()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[test]
fn tanh_and_sigmoid_derivatives_are_one_fused_kernel() {
    let prof = Profiled::new(RefBackend);
    let mut checked = 0;
    with_backend(prof.clone(), || {
        let x = T::from_vec(xs(), [41]);
        // Reverse mode: the cotangent through tanh is one `tanh_backward`.
        prof.reset();
        let g = grad(|x: &T| x.tanh().sum())(&x);
        assert_eq!(prof.calls("binary tanhbackward"), 1, "{prof}");
        assert_eq!(prof.calls("binary mul") + prof.calls("binary sub"), 0, "{prof}");
        checked += close(&g, &xs().iter().map(|x| 1.0 - x.tanh().powi(2)).collect::<Vec<_>>());
        prof.reset();
        let g = grad(|x: &T| x.sigmoid().sum())(&x);
        assert_eq!(prof.calls("binary sigmoidbackward"), 1, "{prof}");
        assert_eq!(prof.calls("binary mul") + prof.calls("binary sub"), 0, "{prof}");
        checked += close(&g, &xs().iter().map(|&x| sigmoid(x) * (1.0 - sigmoid(x))).collect::<Vec<_>>());
        // Forward mode: the tangent through tanh, with a tangent of 3s.
        prof.reset();
        let t = T::from_vec(vec![3.0; 41], [41]);
        let (_, dy) = jvp(|x: &T| x.tanh(), &x, &t);
        assert_eq!(prof.calls("binary tanhbackward"), 1, "{prof}");
        checked += close(&dy, &xs().iter().map(|x| 3.0 * (1.0 - x.tanh().powi(2))).collect::<Vec<_>>());
    });
    assert_eq!(checked, 3 * 41);
}

#[test]
fn the_fused_kernels_differentiate_to_the_second_derivatives() {
    let mut checked = 0;
    with_backend(Profiled::new(RefBackend), || {
        let x = T::from_vec(xs(), [41]);
        // d/dx sum(tanh'(x)) = tanh''(x) = -2 tanh(x) (1 - tanh(x)^2).
        let d2 = grad(|x: &T| grad(|x: &T| x.tanh().sum())(x).sum())(&x);
        let want: Vec<f64> = xs().iter().map(|x| -2.0 * x.tanh() * (1.0 - x.tanh().powi(2))).collect();
        checked += close(&d2, &want);
        // sigmoid'' = s (1 - s) (1 - 2 s).
        let d2 = grad(|x: &T| grad(|x: &T| x.sigmoid().sum())(x).sum())(&x);
        let want: Vec<f64> = xs().iter().map(|&x| sigmoid(x) * (1.0 - sigmoid(x)) * (1.0 - 2.0 * sigmoid(x))).collect();
        checked += close(&d2, &want);
        // Forward over reverse: the derivative of tanh' along a tangent of 2s.
        let t = T::from_vec(vec![2.0; 41], [41]);
        let (_, dd) = jvp(|x: &T| grad(|x: &T| x.tanh().sum())(x), &x, &t);
        let want: Vec<f64> = xs().iter().map(|x| 2.0 * -2.0 * x.tanh() * (1.0 - x.tanh().powi(2))).collect();
        checked += close(&dd, &want);
    });
    assert_eq!(checked, 3 * 41);
}

/// Relu points: both signs, both zeros (derivative 0 at 0, as torch).
fn relu_xs() -> Vec<f64> {
    vec![-3.0, -0.5, -0.0, 0.0, 1e-300, 0.25, 2.0, 7.5]
}

#[test]
fn relu_and_its_derivative_are_one_kernel_each() {
    let prof = Profiled::new(RefBackend);
    let mut checked = 0;
    with_backend(prof.clone(), || {
        let x = T::from_vec(relu_xs(), [8]);
        prof.reset();
        let y = x.relu();
        assert_eq!((prof.calls("unary relu"), prof.total_calls()), (1, 1), "{prof}");
        checked += close(&y, &relu_xs().iter().map(|&x| if x > 0.0 { x } else { 0.0 }).collect::<Vec<_>>());
        // `-0.0` gives `+0.0`, as the select it replaces did.
        assert!(y.to_vec::<f64>()[2].is_sign_positive());
        let mask: Vec<f64> = relu_xs().iter().map(|&x| if x > 0.0 { 1.0 } else { 0.0 }).collect();
        prof.reset();
        let g = grad(|x: &T| x.relu().sum())(&x);
        assert_eq!(prof.calls("binary relubackward"), 1, "{prof}");
        assert_eq!(prof.calls("compare le") + prof.calls("select"), 0, "{prof}");
        checked += close(&g, &mask);
        let t = T::from_vec(vec![3.0; 8], [8]);
        let (_, dy) = jvp(|x: &T| x.relu(), &x, &t);
        checked += close(&dy, &mask.iter().map(|m| 3.0 * m).collect::<Vec<_>>());
        // The second derivative is zero, in reverse and forward over reverse.
        let d2 = grad(|x: &T| grad(|x: &T| x.relu().sum())(x).sum())(&x);
        checked += close(&d2, &[0.0; 8]);
        let (_, dd) = jvp(|x: &T| grad(|x: &T| (x.relu() * x.relu()).sum())(x), &x, &t);
        // d/dx 2 relu(x) relu'(x) = 2 relu'(x)^2: 6 where x > 0.
        checked += close(&dd, &mask.iter().map(|m| 6.0 * m).collect::<Vec<_>>());
        // NaN propagates forward, and its cotangent passes (torch's
        // threshold_backward passes where `x <= 0` is false).
        let n = T::from_vec(vec![f64::NAN], [1]);
        assert!(n.relu().to_vec::<f64>()[0].is_nan());
        assert_eq!(grad(|x: &T| x.relu().sum())(&n).to_vec::<f64>(), [1.0]);
    });
    assert_eq!(checked, 5 * 8);
}
