//! The custom-op golden cases (func-testkit/data/custom_ops_golden.json,
//! made by custom_ops_golden.py with torch's `autograd.Function` under
//! torch.func, in f64): log1pexp (custom JVP), a straight-through round and
//! clip_gradient (custom VJP), under vmap, grad, jacfwd, jacrev, hessian and
//! their compositions, to 1e-10. The vector function is `op(x)`, the scalar
//! one `sum(op(x) * sin(x))`.

use func::{hessian, jacfwd, jacrev};
use func_autodiff::grad;
use func_batch::vmap;
use func_core::{CustomFn, Tensor};
use func_testkit::RefBackend;
use func_testkit::custom_examples::{clip_gradient, log1pexp, round_ste};
use func_testkit::golden::{assert_close, custom_ops_path, load_from};

type B = RefBackend;
type T = Tensor<B>;
const TOL: f64 = 1e-10;

fn op_named(name: &str) -> CustomFn<B> {
    match name {
        "log1pexp" => log1pexp(),
        "round_ste" => round_ste(),
        "clip_gradient" => clip_gradient(-0.5, 0.5),
        other => panic!("unknown custom op {other} in the golden file"),
    }
}

#[test]
fn custom_ops_match_torch_autograd_function() {
    let cases = load_from(&custom_ops_path());
    assert!(cases.len() >= 24, "expected the 24 custom-op cases, found {}", cases.len());
    for c in &cases {
        let op = op_named(&c.function);
        let o = op.clone();
        let vecf = move |x: &T| o.call(&[x]).remove(0);
        let scalar = move |x: &T| (op.call(&[x]).remove(0) * x.sin()).sum();
        let x = c.inputs[0].tensor::<B>();
        let out = match c.transform.as_str() {
            "value" => vecf(&x),
            "vmap" => vmap(vecf)(&x),
            "jacfwd" => jacfwd(vecf)(&x),
            "jacrev" => jacrev(vecf)(&x),
            "grad" => grad(scalar)(&x),
            "hessian" => hessian(scalar)(&x),
            "vmap_grad" => vmap(grad(scalar))(&x),
            "vmap_jacrev" => vmap(jacrev(vecf))(&x),
            other => panic!("unknown transform {other} in the golden file"),
        };
        assert_close(&format!("{} {}", c.function, c.transform), &out, &c.expected, TOL);
    }
}
