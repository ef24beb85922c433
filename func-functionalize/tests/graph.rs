//! make_graph: what a graph holds, how it prints, evaluating it again, and
//! transforms of graphs.

use func_autodiff::grad;
use func_batch::vmap;
use func_core::{DType, Error, Primitive, Shape, Tensor};
use func_functionalize::{Graph, NodeOp, Remove, functionalize, functionalize_with, make_graph};
use func_testkit::RefBackend;
use func_testkit::custom_examples::log1pexp;

type T = Tensor<RefBackend>;

fn t(v: &[f64], shape: &[usize]) -> T {
    T::from_vec(v.to_vec(), shape.to_vec())
}

fn panic_message(f: impl FnOnce()) -> String {
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

/// Writes into its input through a view and into a buffer made inside.
fn mutator(x: &T) -> T {
    x.slice(0, 0, 2, 1).mul_scalar_(10.0);
    let buf = T::zeros([3], DType::F64);
    buf.copy_(&x.exp());
    buf.add_(x);
    &buf * x
}

/// `mutator` computed out of place, by hand: x' = [10 x0, 10 x1, x2],
/// output (exp(x') + x') * x'.
fn mutator_expected(x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let xn = vec![10.0 * x[0], 10.0 * x[1], x[2]];
    (xn.iter().map(|v| (v.exp() + v) * v).collect(), xn)
}

/// Every in-place node is the write-back of an input, after all the
/// computation.
fn writes_are_input_write_backs<X, Y>(g: &Graph<RefBackend, X, Y>) -> bool {
    let inputs: Vec<_> = g.inputs().iter().map(|v| v.id).collect();
    let first_write = g.nodes().iter().position(|n| n.is_write()).unwrap_or(g.nodes().len());
    g.nodes()[first_write..].iter().all(|n| n.is_write() && inputs.contains(&n.inputs[0]))
}

#[test]
fn a_graph_prints_like_a_jaxpr() {
    let g = make_graph(|x: &T| (x * 2.0).sum(), &t(&[1.0, 2.0, 3.0], &[3]));
    let want = "graph(%0: f64[3]) {
  %1: f64[] = full[value=2]
  %2: f64[3] = broadcast_to[shape=[3]] %1
  %3: f64[3] = mul %0 %2
  %4: f64[] = sum[axes=[0], keepdim=false] %3
  return (%4)
}";
    assert_eq!(g.to_string(), want);
    // SSA: each variable has a shape and dtype, the constant is a `full` node.
    let full = &g.nodes()[0];
    assert!(matches!(full.primitive(), Some(Primitive::Full { value, .. }) if *value == 2.0));
    assert_eq!(g.nodes()[2].inputs.len(), 2);
    assert_eq!(g.nodes()[3].outputs[0].shape, Shape::scalar());
    assert_eq!(g.nodes()[3].outputs[0].dtype, DType::F64);
}

#[test]
fn a_graph_records_in_place_writes_and_replays_them_on_new_inputs() {
    let x = t(&[0.1, 0.2, 0.3], &[3]);
    let g = make_graph(mutator, &x);
    // Tracing does not write the example input.
    assert_eq!(x.to_vec::<f64>(), vec![0.1, 0.2, 0.3]);
    let writes: Vec<&str> = g
        .nodes()
        .iter()
        .filter_map(|n| match &n.op {
            NodeOp::Write { op } => Some(op.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(writes, vec!["mul_", "copy_", "add_"]);
    assert!(g.to_string().contains("= copy_[mul_] %0 "), "{g}");
    // Evaluated on a new input, the graph computes and mutates as mutator.
    let x2 = t(&[-0.5, 0.25, 1.0], &[3]);
    let y = g.eval(&x2);
    let (want_y, want_x) = mutator_expected(&[-0.5, 0.25, 1.0]);
    assert_eq!(x2.to_vec::<f64>(), want_x);
    for (a, b) in y.to_vec::<f64>().iter().zip(&want_y) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

#[test]
fn the_graph_of_functionalize_holds_no_in_place_op_and_with_views_removed_no_view() {
    let x = t(&[0.1, 0.2, 0.3], &[3]);
    let plain = make_graph(mutator, &x);
    assert!(!writes_are_input_write_backs(&plain), "{plain}");
    let g = make_graph(functionalize(mutator), &x);
    assert!(writes_are_input_write_backs(&g), "{g}");
    assert_eq!(g.nodes().iter().filter(|n| n.is_write()).count(), 1, "{g}");
    assert!(g.nodes().iter().any(|n| n.is_view()), "views stay views with Remove::Mutations: {g}");
    let gv = make_graph(functionalize_with(mutator, Remove::MutationsAndViews), &x);
    assert!(writes_are_input_write_backs(&gv), "{gv}");
    assert!(gv.nodes().iter().all(|n| !n.is_view()), "{gv}");
    assert!(gv.names().contains(&"slice_copy"), "{gv}");
    // All three compute the same, and apply the same mutation to the input.
    let (want_y, want_x) = mutator_expected(&[-0.5, 0.25, 1.0]);
    for y_and_x in [
        {
            let x2 = t(&[-0.5, 0.25, 1.0], &[3]);
            (plain.eval(&x2), x2)
        },
        {
            let x2 = t(&[-0.5, 0.25, 1.0], &[3]);
            (g.eval(&x2), x2)
        },
        {
            let x2 = t(&[-0.5, 0.25, 1.0], &[3]);
            (gv.eval(&x2), x2)
        },
    ] {
        let (y, x2) = y_and_x;
        assert_eq!(x2.to_vec::<f64>(), want_x);
        for (a, b) in y.to_vec::<f64>().iter().zip(&want_y) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}

#[test]
fn a_function_without_input_mutation_functionalizes_to_a_graph_with_no_write_at_all() {
    let f = |x: &T| {
        let y = T::zeros([3], DType::F64);
        y.copy_(x);
        y.slice(0, 1, 3, 1).mul_scalar_(2.0);
        y
    };
    let x = t(&[1.0, 2.0, 3.0], &[3]);
    assert!(make_graph(f, &x).nodes().iter().any(|n| n.is_write()));
    let g = make_graph(functionalize_with(f, Remove::MutationsAndViews), &x);
    assert!(g.nodes().iter().all(|n| !n.is_write() && !n.is_view()), "{g}");
    assert_eq!(g.eval(&x).to_vec::<f64>(), vec![1.0, 4.0, 6.0]);
}

#[test]
fn the_graph_of_grad_shows_the_backward_primitives() {
    let f = |x: &T| x.sin().sum();
    let x = t(&[0.5, 1.0, 2.0], &[3]);
    let g = make_graph(grad(f), &x);
    let names = g.names();
    // Forward sin, its derivative cos, the cotangent of sum broadcast and multiplied.
    for n in ["sin", "cos", "broadcast_to", "mul"] {
        assert!(names.contains(&n), "no {n} in {g}");
    }
    let x2 = t(&[0.0, -1.0, 3.0], &[3]);
    let want: Vec<f64> = [0.0f64, -1.0, 3.0].iter().map(|v| v.cos()).collect();
    assert_eq!(g.eval(&x2).to_vec::<f64>(), want);
}

#[test]
fn the_graph_of_vmap_shows_one_batched_matmul() {
    let f = |(a, b): &(T, T)| a.matmul(b).tanh();
    let a = T::from_vec((0..30).map(|i| i as f64 * 0.1).collect::<Vec<_>>(), [5, 2, 3]);
    let b = T::from_vec((0..30).map(|i| 1.0 - i as f64 * 0.05).collect::<Vec<_>>(), [5, 3, 2]);
    let g = make_graph(vmap(f), &(a.clone(), b.clone()));
    let matmuls: Vec<_> = g.nodes().iter().filter(|n| n.name() == "matmul").collect();
    assert_eq!(matmuls.len(), 1, "{g}");
    assert_eq!(matmuls[0].outputs[0].shape, Shape::from([5, 2, 2]), "{g}");
    let tanh = g.nodes().iter().find(|n| n.name() == "tanh").expect("a tanh node");
    assert_eq!(tanh.outputs[0].shape, Shape::from([5, 2, 2]));
    assert_eq!(g.eval(&(a.clone(), b.clone())).to_vec::<f64>(), vmap(f)(&(a, b)).to_vec::<f64>());
}

#[test]
fn a_custom_op_is_one_node_with_its_name() {
    let op = log1pexp::<RefBackend>();
    let f = move |x: &T| op.call(&[x]).remove(0).sum();
    let x = t(&[0.0, 1.0], &[2]);
    let g = make_graph(f.clone(), &x);
    assert_eq!(g.names(), vec!["log1pexp", "sum"], "{g}");
    assert!(matches!(g.nodes()[0].primitive(), Some(Primitive::Custom(c)) if c.name() == "log1pexp"));
    assert!(g.to_string().contains("= log1pexp %0"), "{g}");
    let want = 2f64.ln() + (1.0 + 1f64.exp()).ln();
    assert!((g.eval(&x).item::<f64>() - want).abs() < 1e-12);
    // Its custom JVP still applies when the graph is differentiated: sigmoid(x).
    let gr = grad(|x: &T| g.eval(x))(&x).to_vec::<f64>();
    assert!((gr[0] - 0.5).abs() < 1e-12 && (gr[1] - 1.0 / (1.0 + (-1f64).exp())).abs() < 1e-12);
}

#[test]
fn a_graph_is_an_ordinary_function_under_grad_vmap_and_functionalize() {
    let f = |x: &T| {
        let y = x.deep_copy();
        y.slice(0, 0, 2, 1).mul_scalar_(3.0);
        (&y * &y).sum()
    };
    let g = make_graph(f, &t(&[0.0, 0.0, 0.0], &[3]));
    let x = t(&[1.0, -2.0, 0.5], &[3]);
    // y = [3 x0, 3 x1, x2]: the gradient is [18 x0, 18 x1, 2 x2].
    assert_eq!(grad(|x: &T| g.eval(x))(&x).to_vec::<f64>(), vec![18.0, -36.0, 1.0]);
    let xs = t(&[1.0, 2.0, 3.0, 0.0, 1.0, -1.0], &[2, 3]);
    assert_eq!(vmap(|x: &T| g.eval(x))(&xs).to_vec::<f64>(), vec![9.0 + 36.0 + 9.0, 9.0 + 1.0]);
    assert_eq!(functionalize(|x: &T| g.eval(x))(&x).item::<f64>(), 9.0 + 36.0 + 0.25);
    // A graph of a graph holds no write once functionalized.
    let gg = make_graph(functionalize_with(|x: &T| g.eval(x), Remove::MutationsAndViews), &x);
    assert!(gg.nodes().iter().all(|n| !n.is_write() && !n.is_view()), "{gg}");
    // vmap of a graph that mutates its input writes into the batch.
    let m = make_graph(
        |x: &T| {
            x.add_scalar_(1.0);
            x.sum()
        },
        &x,
    );
    let xs = t(&[1.0, 2.0, 3.0, 0.0, 1.0, -1.0], &[2, 3]);
    assert_eq!(vmap(|x: &T| m.eval(x))(&xs).to_vec::<f64>(), vec![9.0, 3.0]);
    assert_eq!(xs.to_vec::<f64>(), vec![2.0, 3.0, 4.0, 1.0, 2.0, 0.0]);
}

#[test]
fn evaluating_on_inputs_of_another_shape_dtype_or_count_is_an_error() {
    let g = make_graph(|(a, b): &(T, T)| a + b, &(t(&[1.0, 2.0], &[2]), t(&[3.0, 4.0], &[2])));
    match g.try_eval(&(t(&[1.0, 2.0, 3.0], &[3]), t(&[3.0, 4.0], &[2]))) {
        Err(Error::ShapeMismatch { op, lhs, rhs, why }) => {
            assert_eq!(op, "Graph::eval");
            assert_eq!((lhs, rhs), (Shape::from([2]), Shape::from([3])));
            assert!(why.contains("input 0") && why.contains("make_graph again"), "{why}");
        }
        other => panic!("expected a shape mismatch, got {other:?}"),
    }
    let f32s = T::from_vec(vec![1.0f32, 2.0], [2]);
    match g.try_eval(&(t(&[1.0, 2.0], &[2]), f32s)) {
        Err(Error::DType { op, got, why }) => {
            assert_eq!((op.as_str(), got), ("Graph::eval", DType::F32));
            assert!(why.contains("input 1 was traced as f64"), "{why}");
        }
        other => panic!("expected a dtype error, got {other:?}"),
    }
    match g.try_eval_leaves(&[t(&[1.0, 2.0], &[2])]) {
        Err(Error::InvalidArgument { op, why }) => {
            assert_eq!(op, "Graph::eval");
            assert!(why.contains("made with 2 input tensors, but got 1"), "{why}");
        }
        other => panic!("expected an invalid-argument error, got {other:?}"),
    }
    let msg = panic_message(|| {
        g.eval(&(t(&[1.0], &[1]), t(&[3.0, 4.0], &[2])));
    });
    assert!(msg.contains("Graph::eval: shapes [2] and [1]"), "{msg}");
}

#[test]
fn reading_a_traced_value_while_capturing_is_an_error() {
    let msg = panic_message(|| {
        make_graph(|x: &T| if x.sum().item::<f64>() > 0.0 { x.exp() } else { x.neg() }, &t(&[1.0], &[1]));
    });
    assert!(msg.starts_with("make_graph: item() was called on a traced value (shape [])"), "{msg}");
    assert!(msg.contains("data-dependent control flow") && msg.contains("Tensor::where_"), "{msg}");
}

#[test]
fn captured_tensors_are_constant_nodes_and_writes_into_them_replay() {
    let w = t(&[2.0, 3.0], &[2]);
    let buf = T::zeros([2], DType::F64);
    let (wc, bc) = (w.clone(), buf.clone());
    let g = make_graph(
        move |x: &T| {
            bc.copy_(&(x * &wc));
            x + &wc
        },
        &t(&[1.0, 1.0], &[2]),
    );
    // Tracing wrote nothing; the constant w is one node, used twice.
    assert_eq!(buf.to_vec::<f64>(), vec![0.0, 0.0]);
    assert_eq!(g.nodes().iter().filter(|n| matches!(n.op, NodeOp::Constant(_))).count(), 2, "{g}");
    assert!(g.to_string().contains("= constant[2, 3]"), "{g}");
    let y = g.eval(&t(&[5.0, 7.0], &[2]));
    assert_eq!(y.to_vec::<f64>(), vec![7.0, 10.0]);
    assert_eq!(buf.to_vec::<f64>(), vec![10.0, 21.0]);
}

/// A variable is dropped after its last reader (NOTE: [dead values] in
/// eval.rs); its views still share its storage. Here `y`'s last reader makes
/// the view `w`; the write through another view `v` comes after, and `w`
/// must see it, on every evaluation.
#[test]
fn writes_through_views_of_dropped_variables_are_seen_by_the_other_views() {
    let f = |x: &T| {
        let y = x * 2.0;
        let v = y.slice(0, 0, 2, 1);
        let w = y.slice(0, 1, 3, 1);
        v.add_scalar_(10.0);
        &w * 1.0
    };
    // By hand: y = 2x; y[0..2] += 10; output y[1..3].
    let expected = |x: &[f64]| vec![2.0 * x[1] + 10.0, 2.0 * x[2]];
    let g = make_graph(f, &t(&[1.0, 2.0, 3.0], &[3]));
    assert!(g.nodes().iter().any(|n| n.is_write()), "{g}");
    for x in [[1.0, 2.0, 3.0], [-4.0, 0.5, 7.0], [0.0, 0.0, 0.0]] {
        assert_eq!(g.eval(&t(&x, &[3])).to_vec::<f64>(), expected(&x), "{g}");
        assert_eq!(f(&t(&x, &[3])).to_vec::<f64>(), expected(&x));
    }
}

/// `simplify` (NOTE: [graph simplification]): `jvp(grad(f))` computes
/// `f`'s value and tangent, which `grad` drops, and `sin` and `cos` of `x`
/// twice each; the product `-sin(x) v` needs one `sin`.
#[test]
fn simplify_removes_what_a_hessian_vector_product_drops_and_merges_repeats() {
    let f = |x: &T| x.sin().sum();
    let hvp = |(x, v): &(T, T)| func_autodiff::jvp(grad(f), x, v).1;
    let example = (t(&[0.5, 1.0, 2.0], &[3]), t(&[1.0, -1.0, 0.5], &[3]));
    let mut g = make_graph(hvp, &example);
    let full = make_graph(hvp, &example);
    let count = |g: &Graph<RefBackend, (T, T), T>, name: &str| g.names().iter().filter(|&&n| n == name).count();
    assert_eq!((count(&g, "sin"), count(&g, "cos"), count(&g, "sum")), (2, 2, 2), "{g}");
    let done = g.simplify();
    assert_eq!((count(&g, "sin"), count(&g, "cos"), count(&g, "sum")), (1, 0, 0), "{g}");
    assert_eq!(done.merged + done.dead + done.identities, full.nodes().len() - g.nodes().len(), "{done:?}");
    assert!(done.merged >= 1 && done.dead >= 4, "{done:?}\n{g}");
    // The seed of `grad`, a broadcast 1, multiplies two tensors (one the
    // output): each product is its other operand, and the seed is then dead.
    assert_eq!(done.identities, 2, "{done:?}\n{g}");
    assert_eq!(g.names(), vec!["sin", "neg", "mul"], "{g}");
    let mut checked = 0;
    for (x, v) in [([0.5, 1.0, 2.0], [1.0, -1.0, 0.5]), ([-3.0, 0.0, 10.0], [2.0, 2.0, -0.25])] {
        let (x, v) = (t(&x, &[3]), t(&v, &[3]));
        // The Hessian of sum(sin(x)) is diag(-sin(x)).
        let want: Vec<f64> = x.to_vec::<f64>().iter().zip(v.to_vec::<f64>()).map(|(a, b)| -a.sin() * b).collect();
        let (got, before) = (g.eval(&(x.clone(), v.clone())).to_vec::<f64>(), full.eval(&(x, v)).to_vec::<f64>());
        for ((a, b), w) in got.iter().zip(&before).zip(&want) {
            assert!((a - w).abs() <= 1e-12 * w.abs().max(1.0) && a == b, "{a} {b} {w}");
            checked += 1;
        }
    }
    assert_eq!(checked, 6);
}

/// Repeated constants, products and sums are merged; a node nothing reads
/// is removed.
#[test]
fn simplify_merges_repeated_constants_and_operations() {
    let f = |x: &T| {
        let _unused = x.exp();
        (x * 2.0).sum() + (x * 2.0).sum()
    };
    let mut g = make_graph(f, &t(&[1.0, 2.0], &[2]));
    let before = g.nodes().len();
    let done = g.simplify();
    // The second `full[2]`, its broadcast, `mul` and `sum` are merged,
    // `exp` removed.
    assert_eq!(done, func_functionalize::Simplified { merged: 4, dead: 1, identities: 0 }, "{g}");
    assert_eq!(g.nodes().len(), before - 5);
    assert_eq!(g.names(), vec!["full", "broadcast_to", "mul", "sum", "add"], "{g}");
    assert_eq!(g.eval(&t(&[0.5, -3.0], &[2])).item::<f64>(), 4.0 * (0.5 - 3.0));
}

/// Writes are kept with everything they read, and a graph mutating its
/// input through a view still does so once simplified.
#[test]
fn simplify_keeps_in_place_writes_and_their_operands() {
    let mut g = make_graph(mutator, &t(&[0.0, 0.0, 0.0], &[3]));
    let writes = g.nodes().iter().filter(|n| n.is_write()).count();
    g.simplify();
    assert_eq!(g.nodes().iter().filter(|n| n.is_write()).count(), writes, "{g}");
    for x0 in [[0.5, -1.0, 2.0], [1.0, 0.0, -0.25]] {
        let x = t(&x0, &[3]);
        let (want, x_after) = mutator_expected(&x0);
        let y = g.eval(&x).to_vec::<f64>();
        for (a, b) in y.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} {b}");
        }
        assert_eq!(x.to_vec::<f64>(), x_after);
    }
}

/// Two reads of a tensor with a write between them may read different
/// values: here the graph's second input is, when evaluated, a view of its
/// first, which the graph writes into, so the two `sin` of it differ and
/// are not merged.
#[test]
fn simplify_does_not_merge_across_an_in_place_write() {
    let f = |(a, b): &(T, T)| {
        let y = b.sin();
        a.add_scalar_(1.0);
        let z = b.sin();
        &y + &z
    };
    let mut g = make_graph(f, &(t(&[0.0, 0.0], &[2]), t(&[0.0, 0.0], &[2])));
    assert_eq!(g.simplify().merged, 0, "{g}");
    let want = vec![0.5f64.sin() + 1.5f64.sin(), 2f64.sin() + 3f64.sin()];
    let x = t(&[0.5, 2.0], &[2]);
    assert_eq!(g.eval(&(x.clone(), x.slice(0, 0, 2, 1))).to_vec::<f64>(), want);
    assert_eq!(x.to_vec::<f64>(), vec![1.5, 3.0]);
    // As eagerly.
    let x = t(&[0.5, 2.0], &[2]);
    assert_eq!(f(&(x.clone(), x.slice(0, 0, 2, 1))).to_vec::<f64>(), want);
}

/// Two copies, one written in place, and two equal outputs, which the
/// caller may write through: merging would make them one buffer.
#[test]
fn simplify_does_not_merge_storage_a_write_or_the_caller_can_tell_apart() {
    let copies = |x: &T| {
        let a = x.deep_copy();
        let b = x.deep_copy();
        a.add_scalar_(1.0);
        &a + &b
    };
    let mut g = make_graph(copies, &t(&[0.0, 0.0], &[2]));
    assert_eq!(g.simplify().merged, 0, "{g}");
    assert_eq!(g.eval(&t(&[1.0, 2.0], &[2])).to_vec::<f64>(), vec![3.0, 5.0]);

    let twice = |x: &T| (x.exp(), x.exp());
    let mut g = make_graph(twice, &t(&[0.0], &[1]));
    assert_eq!(g.simplify().merged, 0, "{g}");
    let (a, b) = g.eval(&t(&[0.0], &[1]));
    a.add_scalar_(1.0);
    assert_eq!((a.to_vec::<f64>(), b.to_vec::<f64>()), (vec![2.0], vec![1.0]));
}

/// A product with ones is its other operand, except where the caller or a
/// write could tell them apart: an output that would be an input, two
/// outputs that would be one buffer, a read after a write, ones written.
#[test]
fn simplify_replaces_products_with_ones_where_no_one_can_tell() {
    // An intermediate times ones, read by a sum: replaced, the ones dead.
    let mut g = make_graph(|x: &T| (&x.exp() * 1.0).sum(), &t(&[0.0, 1.0], &[2]));
    assert_eq!(g.simplify(), func_functionalize::Simplified { merged: 0, dead: 2, identities: 1 }, "{g}");
    assert_eq!(g.names(), vec!["exp", "sum"], "{g}");
    assert_eq!(g.eval(&t(&[0.0, 2.0], &[2])).item::<f64>(), 1.0 + 2f64.exp());

    // An input times ones, returned: the output stays a buffer of its own.
    let mut g = make_graph(|x: &T| &T::ones_like(x) * x, &t(&[0.0, 1.0], &[2]));
    assert_eq!(g.simplify().identities, 0, "{g}");
    let x = t(&[0.5, 2.0], &[2]);
    g.eval(&x).add_scalar_(1.0);
    assert_eq!(x.to_vec::<f64>(), vec![0.5, 2.0]);

    // An intermediate and itself times ones, both returned: two buffers.
    let mut g = make_graph(
        |x: &T| {
            let a = x.exp();
            (a.clone(), &a * 1.0)
        },
        &t(&[0.0], &[1]),
    );
    assert_eq!(g.simplify().identities, 0, "{g}");
    let (a, b) = g.eval(&t(&[0.0], &[1]));
    b.add_scalar_(1.0);
    assert_eq!((a.to_vec::<f64>(), b.to_vec::<f64>()), (vec![1.0], vec![2.0]));

    // A product with ones read after a write into its operand: the read
    // sees the value before the write.
    let mut g = make_graph(
        |x: &T| {
            let a = x.exp();
            let b = &a * 1.0;
            a.add_scalar_(1.0);
            (&b + &a).sum()
        },
        &t(&[0.0], &[1]),
    );
    assert_eq!(g.simplify().identities, 0, "{g}");
    assert_eq!(g.eval(&t(&[0.0], &[1])).item::<f64>(), 3.0);

    // Ones written into before the product are ones no longer.
    let mut g = make_graph(
        |x: &T| {
            let o = T::ones_like(x);
            o.add_scalar_(1.0);
            (&o * x).sum()
        },
        &t(&[0.0, 0.0], &[2]),
    );
    assert_eq!(g.simplify().identities, 0, "{g}");
    assert_eq!(g.eval(&t(&[0.5, 2.0], &[2])).item::<f64>(), 5.0);
}

/// A custom op may run host code: it is neither removed when nothing reads
/// it nor merged.
#[test]
fn simplify_keeps_custom_ops() {
    let op = log1pexp::<RefBackend>();
    let f = move |x: &T| {
        let _ = op.call(&[x]);
        let _ = op.call(&[x]);
        x.sum()
    };
    let mut g = make_graph(f, &t(&[0.0, 1.0], &[2]));
    assert_eq!(g.simplify(), func_functionalize::Simplified { merged: 0, dead: 0, identities: 0 }, "{g}");
    assert_eq!(g.names(), vec!["log1pexp", "log1pexp", "sum"], "{g}");
}

/// A custom op may return (a view of) its operand: a write into its output
/// then reaches the operand, so the operand's producer is not merged with
/// an equal node whose result must not see the write.
#[test]
fn simplify_does_not_merge_what_a_custom_op_may_alias() {
    let id = func_core::CustomFn::<RefBackend>::new("alias", |x| vec![x[0].clone()]);
    let f = move |x: &T| {
        let a = x.exp();
        let b = x.exp();
        let c = id.call(&[&a]).remove(0);
        c.add_scalar_(1.0);
        &b * 2.0
    };
    let x = t(&[0.0, 1.0], &[2]);
    let want = f(&x).to_vec::<f64>();
    assert_eq!(want, vec![2.0, 2.0 * 1f64.exp()]);
    let mut g = make_graph(f, &x);
    g.simplify();
    assert_eq!(g.eval(&x).to_vec::<f64>(), want, "{g}");
}

/// One step of a random program for the simplification law below.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// `sin`, `exp` or `neg` of a pool entry.
    Unary(u8, usize),
    /// `+` or `*` of two pool entries.
    Binary(u8, usize, usize),
    /// A fresh copy of a pool entry.
    Copy(usize),
    /// An in-place `add_scalar_` on a pool entry, through a slice of it
    /// (`start..start + 2`) or whole.
    Write(usize, Option<usize>, f64),
    /// A pool entry times one: `x * 1.0`, or `ones * x`.
    One(bool, usize),
}

/// Runs `steps` over a pool that starts with the two inputs, and returns two
/// pool entries.
fn run_program(steps: &[Step], outs: (usize, usize), x: &T, y: &T) -> (T, T) {
    let mut pool = vec![x.clone(), y.clone()];
    for &step in steps {
        let at = |i: usize| pool[i % pool.len()].clone();
        match step {
            Step::Unary(op, i) => pool.push(match op % 3 {
                0 => at(i).sin(),
                1 => at(i).exp(),
                _ => -&at(i),
            }),
            Step::Binary(op, i, j) => pool.push(if op % 2 == 0 { &at(i) + &at(j) } else { &at(i) * &at(j) }),
            Step::Copy(i) => pool.push(at(i).deep_copy()),
            Step::One(right, i) => pool.push(if right { &at(i) * 1.0 } else { &T::ones_like(&at(i)) * &at(i) }),
            Step::Write(i, view, c) => match view {
                Some(s) => at(i).slice(0, s as isize, s as isize + 2, 1).add_scalar_(c),
                None => at(i).add_scalar_(c),
            },
        }
    }
    (pool[outs.0 % pool.len()].clone(), pool[outs.1 % pool.len()].clone())
}

/// The law of `simplify` (NOTE: [graph simplification]): on random programs
/// of unary and binary operations, copies and in-place writes (whole or
/// through views, into inputs and intermediates), with repeats and unread
/// values, the simplified graph gives the unsimplified one's outputs and
/// leaves its inputs as it does, bit for bit: on independent inputs, and on
/// inputs that alias (the second a view of the first), where a merge across
/// a write would read a stale value.
#[test]
fn simplify_law_random_programs_evaluate_as_before() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let (mut programs, mut with_merges, mut with_dead, mut with_identities, mut compared) = (0, 0, 0, 0, 0);
    for _ in 0..1000 {
        let len = 4 + next(10);
        let steps: Vec<Step> = (0..len)
            .map(|_| match next(11) {
                0..=3 => Step::Unary(next(3) as u8, next(4)),
                4..=6 => Step::Binary(next(2) as u8, next(4), next(4)),
                7 => Step::Copy(next(4)),
                8 => Step::One(next(2) == 0, next(4)),
                _ => Step::Write(next(4), if next(2) == 0 { Some(next(3)) } else { None }, 0.5 + next(4) as f64),
            })
            .collect();
        let outs = (next(16), next(16));
        let f = |(x, y): &(T, T)| run_program(&steps, outs, x, y);
        let example = (t(&[0.1, 0.2, 0.3, 0.4], &[4]), t(&[-0.5, 0.25, 1.0, 2.0], &[4]));
        let full = make_graph(f, &example);
        let mut simple = make_graph(f, &example);
        let done = simple.simplify();
        programs += 1;
        with_merges += (done.merged > 0) as usize;
        with_dead += (done.dead > 0) as usize;
        with_identities += (done.identities > 0) as usize;
        assert_eq!(simple.nodes().len() + done.merged + done.dead + done.identities, full.nodes().len());
        let values = [0.3, -1.2, 0.8, 0.05, 1.5, -0.7, 0.9, 0.2];
        for aliased in [false, true] {
            let fresh = || {
                let x = t(&values[..4], &[4]);
                let y = if aliased { x.slice(0, 0, 4, 1) } else { t(&values[4..], &[4]) };
                (x, y)
            };
            let (i1, i2) = (fresh(), fresh());
            let (a, b) = (full.eval(&i1), simple.eval(&i2));
            let bits = |t: &T| t.to_vec::<f64>().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!((bits(&a.0), bits(&a.1)), (bits(&b.0), bits(&b.1)), "{steps:?} aliased {aliased}\n{simple}");
            assert_eq!((bits(&i1.0), bits(&i1.1)), (bits(&i2.0), bits(&i2.1)), "{steps:?} aliased {aliased}");
            compared += 1;
        }
    }
    assert_eq!((programs, compared), (1000, 2000));
    assert!(with_merges >= 150 && with_dead >= 500, "merges in {with_merges}, dead nodes in {with_dead} programs");
    assert!(with_identities >= 100, "products with ones replaced in {with_identities} programs");
}
