//! A tour of func-rs: `cargo run --release --example tour`.

use func::prelude::*;

fn main() {
    println!("== Tensors ==");
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]);
    println!("x =\n{x}");
    println!("x.shape() = {}, dtype = {}", x.shape(), x.dtype());

    println!("\n== Broadcasting and operators ==");
    let bias = Tensor::from_vec(vec![10.0f32, 20.0, 30.0], [3]);
    println!("x + bias =\n{}", &x + &bias);
    println!("x * 2 - 1 =\n{}", &x * 2.0 - 1.0);

    println!("\n== Views share storage ==");
    let t = x.t();
    println!("x.t() is a view: shares storage = {}", t.shares_storage(&x));
    let row = x.select(0, 1);
    row.mul_(&Tensor::scalar(-1.0f32));
    println!("after x.select(0, 1).mul_(-1), x =\n{x}");

    println!("\n== Reductions and composites ==");
    println!("sum = {}, mean over rows = {}", x.sum(), x.mean_dims(&[0], false));
    println!("softmax(x, -1) =\n{}", x.softmax(-1));
    let logits = Tensor::from_vec(vec![2.0f32, 0.5, -1.0], [1, 3]);
    let target = Tensor::from_vec(vec![0i64], [1]);
    println!("cross_entropy = {}", logits.cross_entropy(&target));

    println!("\n== Matrix products and convolution ==");
    let mut g = Generator::new(0);
    let a = Tensor::randn([4, 3], DType::F32, &mut g);
    let b = Tensor::randn([3, 2], DType::F32, &mut g);
    println!("a @ b =\n{}", a.matmul(&b));
    let img = Tensor::randn([1, 1, 5, 5], DType::F32, &mut g);
    let k = Tensor::randn([2, 1, 3, 3], DType::F32, &mut g);
    let y = img.conv2d(&k, None, Conv2dOptions { padding: (1, 1), ..Default::default() });
    println!("conv2d -> shape {}; max_pool2d -> shape {}", y.shape(), y.max_pool2d((2, 2), (2, 2), (0, 0)).shape());

    println!("\n== vmap: write a function of one example, run it on a batch ==");
    let w = Tensor::from_vec(vec![1.0f32, 0.5, -1.0], [3]);
    let score = |x: &Tensor| x.dot(&w).tanh();
    let batch = Tensor::randn([4, 3], DType::F32, &mut g);
    println!("vmap(score)(batch [4, 3]) = {}", vmap(score)(&batch));
    let by_columns = vmap_with(|c: &Tensor| c.sum(), VmapOptions::new().in_dims(1));
    println!("vmap over columns (in_dims 1) = {}", by_columns(&batch));

    println!("\n== grad, per-sample gradients, Jacobians, Hessians ==");
    let f = |x: &Tensor| (x.sin() * x).sum();
    let x0 = Tensor::from_vec(vec![0.0f32, 1.0, 2.0], [3]);
    println!("grad(sum(sin(x) * x)) at {x0} = {}", grad(f)(&x0));
    let loss = |(w, x, y): &(Tensor, Tensor, Tensor)| (x.dot(w) - y).square();
    let ys = Tensor::from_vec(vec![1.0f32, 0.0, -1.0, 2.0], [4]);
    let per_sample = vmap_with(grad(loss), VmapOptions::new().in_dims((None, Some(0), Some(0))));
    let (gw, _, _) = per_sample(&(w.clone(), batch.clone(), ys));
    println!("per-sample gradients of a squared error, one row per example:\n{gw}");
    let predict = |x: &Tensor| x.linear(&a.t(), None).tanh();
    let xin = Tensor::randn([4], DType::F32, &mut g);
    println!("jacrev(predict) [3, 4] =\n{}", jacrev(predict)(&xin));
    println!("jacfwd agrees: max |difference| = {}", (jacrev(predict)(&xin) - jacfwd(predict)(&xin)).abs().max());
    println!("hessian(sum(sin(x) * x)) =\n{}", hessian(f)(&x0));
    let v = Tensor::ones([3], DType::F32);
    let (_, hvp) = jvp(grad(f), &x0, &v);
    println!("Hessian-vector product jvp(grad(f), x, v) = {hvp}");

    println!("\n== functionalize and make_graph: programs without mutation ==");
    // A buffer made inside the function, written in place with the input:
    // under vmap alone, copy_ would write a batched value into an unbatched
    // buffer (an error naming functionalize as the fix).
    let fill = |x: &Tensor| {
        let buf = Tensor::zeros([3], DType::F32);
        buf.copy_(x);
        buf.slice(0, 1, 3, 1).mul_scalar_(10.0);
        buf
    };
    println!("vmap(functionalize(fill))(batch [4, 3]) =\n{}", vmap(functionalize(fill))(&batch));
    let x3 = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3]);
    println!("make_graph(fill): the in-place writes are copy_ nodes\n{}", make_graph(fill, &x3));
    let pure = make_graph(functionalize_with(fill, Remove::MutationsAndViews), &x3);
    println!("make_graph(functionalize(fill, views removed)): no write, no view\n{pure}");
    println!("evaluated again on new values: {}", pure.eval(&Tensor::from_vec(vec![-1.0f32, 0.5, 2.0], [3])));
    println!("make_graph(grad(f)) shows the backward pass:\n{}", make_graph(grad(f), &x0));
    // As jax.jit does: drop what nothing reads (the value of f that grad
    // discards) and merge repeated operations.
    let mut hvp_graph = make_graph(|(x, v): &(Tensor, Tensor)| jvp(grad(f), x, v).1, &(x0.clone(), v.clone()));
    let done = hvp_graph.simplify();
    println!(
        "make_graph(hvp) simplified ({} dead nodes, {} repeats merged, {} products with ones):\n{hvp_graph}",
        done.dead, done.merged, done.identities
    );

    println!("\n== Errors name the operation and the shapes ==");
    let err = x.try_matmul(&x).unwrap_err();
    println!("x.try_matmul(&x): {err}");
    let err = x.try_reshape(&[4, -1]).unwrap_err();
    println!("x.try_reshape(&[4, -1]): {err}");
}
