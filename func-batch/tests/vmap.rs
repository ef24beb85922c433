//! vmap semantics and its error messages.

use func_batch::{Randomness, VmapOptions, try_vmap, vmap, vmap_with};
use func_core::{DType, Generator, Tensor};
use func_testkit::RefBackend;

type T = Tensor<RefBackend>;

fn t(v: &[f64], shape: &[usize]) -> T {
    T::from_vec(v.to_vec(), shape.to_vec())
}

fn panic_message(f: impl FnOnce()) -> String {
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
    e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

fn seq(shape: &[usize]) -> T {
    let n: usize = shape.iter().product();
    T::from_vec((0..n).map(|i| i as f64 * 0.5 - 1.0).collect::<Vec<_>>(), shape.to_vec())
}

#[test]
fn matches_a_loop_over_slices() {
    let x = seq(&[4, 3]);
    let w = seq(&[3, 2]);
    let f = |x: &T| (x.matmul(&w) + 1.0).tanh().sum_dims(&[0], false);
    let batched = vmap(f)(&x);
    let looped = T::stack(&(0..4).map(|i| f(&x.select(0, i))).collect::<Vec<_>>(), 0);
    assert_eq!(batched.to_vec::<f64>(), looped.to_vec::<f64>());
}

#[test]
fn negative_in_dims_and_out_dims() {
    let x = seq(&[2, 3]);
    let f = vmap_with(|c: &T| c.exp(), VmapOptions::new().in_dims(-1).out_dims(-1));
    assert_eq!(f(&x).to_vec::<f64>(), x.exp().to_vec::<f64>());
}

#[test]
fn tree_outputs_and_unbatched_outputs() {
    let x = seq(&[3, 2]);
    let k = seq(&[2]);
    let f = vmap_with(|x: &T| (x + &k, k.clone()), VmapOptions::new().out_dims((Some(0), None)));
    let (a, b) = f(&x);
    assert_eq!(a.dims(), &[3, 2]);
    assert_eq!(b.to_vec::<f64>(), k.to_vec::<f64>());
    // out_dims 0 for an unbatched output expands it.
    let (_, c) = vmap(|x: &T| (x.clone(), k.clone()))(&x);
    assert_eq!(c.dims(), &[3, 2]);
}

#[test]
fn nested_vmap_three_levels() {
    let x = seq(&[2, 3, 4]);
    let f = vmap(vmap(vmap(|v: &T| v * v + 1.0)));
    assert_eq!(f(&x).to_vec::<f64>(), (&x * &x + 1.0).to_vec::<f64>());
}

#[test]
fn chunked_equals_unchunked() {
    let x = seq(&[7, 3]);
    let f = |x: &T| x.softmax(-1);
    let a = vmap(f)(&x);
    let b = vmap_with(f, VmapOptions::new().chunk_size(3))(&x);
    assert_eq!(a.to_vec::<f64>(), b.to_vec::<f64>());
}

#[test]
fn in_place_on_batched_writes_through_to_storage() {
    let x = seq(&[3, 2]);
    let y = x.deep_copy();
    vmap(|r: &T| {
        r.add_(&T::scalar(1.0f64));
        r.clone()
    })(&y);
    assert_eq!(y.to_vec::<f64>(), (&x + 1.0).to_vec::<f64>());
}

#[test]
fn random_follows_the_randomness_mode() {
    let x = T::zeros([4, 3], DType::F64);
    let draw = |x: &T| x + &T::randn([3], DType::F64, &mut Generator::new(7));
    let msg = panic_message(|| {
        vmap(draw)(&x);
    });
    assert!(msg.contains("randomness error mode") && msg.contains("'same' or 'different'"), "{msg}");
    let same = vmap_with(draw, VmapOptions::new().randomness(Randomness::Same))(&x).to_vec::<f64>();
    assert!(same[0..3] == same[3..6] && same[0..3] == same[9..12]);
    let diff = vmap_with(draw, VmapOptions::new().randomness(Randomness::Different))(&x).to_vec::<f64>();
    assert!(diff[0..3] != diff[3..6]);
}

#[test]
fn error_batch_sizes_differ() {
    let f = try_vmap(|(a, b): &(T, T)| a.try_add(b), VmapOptions::new());
    let err = f(&(seq(&[2, 3]), seq(&[4, 3]))).unwrap_err().to_string();
    assert!(err.contains("same size in the mapped dimension") && err.contains("[2, 4]"), "{err}");
}

#[test]
fn error_nothing_batched() {
    let f = try_vmap(|(a, b): &(T, T)| a.try_add(b), VmapOptions::new().in_dims(None));
    let err = f(&(seq(&[2]), seq(&[2]))).unwrap_err().to_string();
    assert!(err.contains("at least one input must be batched"), "{err}");
    assert!(err.contains("Expected at least one Tensor to vmap over"), "{err}");
}

#[test]
fn error_in_dim_out_of_range() {
    let msg = panic_message(|| {
        vmap_with(|x: &T| x.exp(), VmapOptions::new().in_dims(2))(&seq(&[2, 3]));
    });
    assert!(msg.contains("in_dim=2") && msg.contains("-2 <= in_dim < 2") && msg.contains("[2, 3]"), "{msg}");
}

#[test]
fn error_in_dims_structure() {
    let f = try_vmap(|(a, b): &(T, T)| a.try_add(b), VmapOptions::new().in_dims((Some(0), Some(0), None)));
    let err = f(&(seq(&[2]), seq(&[2]))).unwrap_err().to_string();
    assert!(err.contains("in_dims is not compatible with the structure of the inputs"), "{err}");
    assert!(err.contains("(0, 0, None)") && err.contains("(Tensor[2], Tensor[2])"), "{err}");
}

#[test]
fn error_chunk_size_zero() {
    let f = try_vmap(|x: &T| Ok(x.exp()), VmapOptions::new().chunk_size(0));
    let err = f(&seq(&[2])).unwrap_err().to_string();
    assert!(err.contains("chunk_size") && err.contains("got 0"), "{err}");
}

#[test]
fn error_item_and_to_vec_under_vmap() {
    let msg = panic_message(|| {
        vmap(|x: &T| if x.sum().item::<f64>() > 0.0 { x.clone() } else { -x })(&seq(&[2, 2]));
    });
    assert!(msg.contains("item()") && msg.contains("data-dependent control flow"), "{msg}");
    assert!(msg.contains("where_"), "{msg}");
    let msg = panic_message(|| {
        vmap(|x: &T| {
            let _ = x.to_vec::<f64>();
            x.clone()
        })(&seq(&[2, 2]));
    });
    assert!(msg.contains("to_vec()"), "{msg}");
}

#[test]
fn error_in_place_into_unbatched_from_batched() {
    let target = T::zeros([3], DType::F64);
    let msg = panic_message(|| {
        vmap(|x: &T| {
            target.add_(x);
            x.clone()
        })(&seq(&[2, 3]));
    });
    assert!(msg.contains("add_") && msg.contains("vmapped over at level"), "{msg}");
    assert!(msg.contains("out-of-place") && msg.contains("functionalize"), "{msg}");
    assert_eq!(target.to_vec::<f64>(), vec![0.0; 3]);
}

#[test]
fn captured_unbatched_tensors_are_constants() {
    let w = t(&[1.0, 2.0], &[2]);
    let f = vmap(|x: &T| x * &w);
    assert_eq!(f(&t(&[1.0, 1.0, 3.0, 3.0], &[2, 2])).to_vec::<f64>(), vec![1.0, 2.0, 3.0, 6.0]);
}

#[test]
fn vmapped_matmul_is_one_batched_matmul() {
    use func_testkit::record_primitives;
    let w = seq(&[3, 4]);
    let xs = seq(&[5, 2, 3]);
    // Batched lhs, plain rhs: the batch folds into M (one GEMM).
    let (y, names) = record_primitives(|xs: &T| vmap(|x: &T| x.matmul(&w))(xs), &xs);
    assert_eq!(names.iter().filter(|n| **n == "matmul").count(), 1, "{names:?}");
    assert!(!names.iter().any(|n| *n == "concat" || *n == "slice"), "{names:?}");
    assert_eq!(y.dims(), &[5, 2, 4]);
    // Both batched.
    let ws = seq(&[5, 3, 4]);
    let (_, names) = record_primitives(
        |(xs, ws): &(T, T)| vmap(|(x, w): &(T, T)| x.matmul(w))(&(xs.clone(), ws.clone())),
        &(xs, ws),
    );
    assert_eq!(names.iter().filter(|n| **n == "matmul").count(), 1, "{names:?}");
}

#[test]
fn vmapped_conv_is_one_conv_of_a_larger_batch() {
    use func_core::Conv2dOptions;
    use func_testkit::record_primitives;
    let k = seq(&[2, 1, 2, 2]);
    let imgs = seq(&[4, 1, 1, 3, 3]);
    let conv = |x: &T| x.conv2d(&k, None, Conv2dOptions::default());
    let (y, names) = record_primitives(|xs: &T| vmap(conv)(xs), &imgs);
    assert_eq!(names.iter().filter(|n| **n == "conv2d").count(), 1, "{names:?}");
    assert!(!names.iter().any(|n| *n == "im2col" || *n == "matmul"), "{names:?}");
    let looped = T::stack(&(0..4).map(|i| conv(&imgs.select(0, i))).collect::<Vec<_>>(), 0);
    assert_eq!(y.to_vec::<f64>(), looped.to_vec::<f64>());
}

/// Batched weights (an ensemble's, or the tangents of an NTK's): one im2col
/// of the images, batched or not, and one batched matmul, with groups.
#[test]
fn conv_with_batched_weights_is_one_im2col_and_one_matmul() {
    use func_core::Conv2dOptions;
    use func_testkit::record_primitives;
    let opts = Conv2dOptions { groups: 2, padding: (1, 0), ..Conv2dOptions::default() };
    let ks = seq(&[3, 4, 1, 2, 2]);
    for imgs in [seq(&[3, 2, 2, 3, 4]), seq(&[2, 2, 3, 4])] {
        let batched = imgs.ndim() == 5;
        let conv = |k: &T, x: &T| x.conv2d(k, None, opts);
        let in_dims = if batched { (Some(0), Some(0)) } else { (Some(0), None) };
        let (y, names) = record_primitives(
            |ks: &T| {
                vmap_with(|(k, x): &(T, T)| conv(k, x), VmapOptions::new().in_dims(in_dims))(&(
                    ks.clone(),
                    imgs.clone(),
                ))
            },
            &ks,
        );
        // (The images' im2col does not depend on the weights: not recorded.)
        assert_eq!(names.iter().filter(|n| **n == "matmul").count(), 1, "{names:?}");
        assert!(!names.contains(&"conv2d"), "{names:?}");
        let looped = T::stack(
            &(0..3)
                .map(|i| conv(&ks.select(0, i), &if batched { imgs.select(0, i) } else { imgs.clone() }))
                .collect::<Vec<_>>(),
            0,
        );
        let (a, b) = (y.to_vec::<f64>(), looped.to_vec::<f64>());
        assert_eq!(y.dims(), looped.dims());
        assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() <= 1e-12 * (1.0 + q.abs())), "{a:?} vs {b:?}");
    }
}

#[test]
fn plain_matrix_times_stacked_transposed_weights_is_one_gemm() {
    use func_testkit::record_primitives;
    let x = seq(&[4, 3]);
    let ws = seq(&[5, 2, 3]);
    let f = |w: &T| x.matmul(&w.t());
    let (y, names) = record_primitives(|ws: &T| vmap(f)(ws), &ws);
    assert_eq!(names.iter().filter(|n| **n == "matmul").count(), 1, "{names:?}");
    let looped = T::stack(&(0..5).map(|i| f(&ws.select(0, i))).collect::<Vec<_>>(), 0);
    assert_eq!(y.dims(), &[5, 4, 2]);
    let (a, b) = (y.to_vec::<f64>(), looped.to_vec::<f64>());
    assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-12), "{a:?} vs {b:?}");
    // A contiguous batch (not foldable when transposed) takes the general path.
    let g = |w: &T| x.matmul(w);
    let wc = seq(&[5, 3, 2]);
    let looped = T::stack(&(0..5).map(|i| g(&wc.select(0, i))).collect::<Vec<_>>(), 0);
    assert_eq!(vmap(g)(&wc).to_vec::<f64>(), looped.to_vec::<f64>());
}

#[test]
fn out_dims_as_a_one_element_tuple_for_one_output() {
    // torch: vmap(f, out_dims=(1,)) for a function with one output.
    let x = T::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]);
    let want = vmap_with(|r: &T| r * 2.0, VmapOptions::new().out_dims(1))(&x);
    let got = vmap_with(|r: &T| r * 2.0, VmapOptions::new().out_dims((1,)))(&x);
    assert_eq!(got.dims(), &[3, 2]);
    assert_eq!(got.to_vec::<f64>(), want.to_vec::<f64>());
    // The same for a map output and for in_dims of one tensor.
    let m = vmap_with(
        |r: &T| std::collections::BTreeMap::from([("y".to_string(), r.sum())]),
        VmapOptions::new().in_dims((0,)).out_dims((0,)),
    )(&x);
    assert_eq!(m["y"].to_vec::<f64>(), vec![6.0, 15.0]);
}

#[test]
fn new_zeros_under_vmap_is_batched_and_takes_batched_writes() {
    // torch: y = x.new_zeros(x.shape); y.copy_(x) inside vmap.
    let x = T::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]);
    let f = |r: &T| {
        let y = r.new_zeros([3]);
        y.copy_(r);
        let z = r.new_ones([2]);
        z.mul_scalar_(4.0);
        let w = r.new_full([1], -1.0);
        (y, z, w)
    };
    let (y, z, w) = vmap(f)(&x);
    assert_eq!(y.to_vec::<f64>(), x.to_vec::<f64>());
    assert_eq!((z.dims(), z.to_vec::<f64>()), (&[2, 2][..], vec![4.0; 4]));
    assert_eq!((w.dims(), w.to_vec::<f64>()), (&[2, 1][..], vec![-1.0; 2]));
    // A slice of the new buffer takes a batched write too.
    let g = |r: &T| {
        let y = r.new_zeros([2, 3]);
        y.select(0, 1).copy_(r);
        y
    };
    assert_eq!(vmap(g)(&x).to_vec::<f64>(), vec![0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 4.0, 5.0, 6.0]);
    // Eagerly it is a plain tensor of the source's dtype.
    let e = T::ones([2], DType::F32).new_zeros([3]);
    assert_eq!((e.dtype(), e.to_vec::<f32>()), (DType::F32, vec![0.0; 3]));
}

#[test]
fn vmapped_vector_products_match_a_loop() {
    use func_testkit::record_primitives;
    // `torch.matmul` with a 1-D operand on either side, batched on either
    // or both sides, against a loop over the examples.
    let (bsz, m, k, n) = (3, 2, 4, 5);
    let lhs: [&[usize]; 3] = [&[k], &[m, k], &[2, m, k]];
    let rhs: [&[usize]; 3] = [&[k], &[k, n], &[2, k, n]];
    let mut checked = 0;
    for a_shape in lhs {
        for b_shape in rhs {
            if a_shape.len() > 1 && b_shape.len() > 1 {
                continue;
            }
            for (ba, bb) in [(true, false), (false, true), (true, true)] {
                let batch = |shape: &[usize], on: bool, shift: f64| {
                    let full: Vec<usize> =
                        if on { [bsz].iter().chain(shape).copied().collect() } else { shape.to_vec() };
                    seq(&full) + shift
                };
                let (a, b) = (batch(a_shape, ba, 0.25), batch(b_shape, bb, -0.5));
                let dims = VmapOptions::new().in_dims((ba.then_some(0), bb.then_some(0)));
                let (got, names) = record_primitives(
                    |(a, b): &(T, T)| vmap_with(|(x, y): &(T, T)| x.matmul(y), dims.clone())(&(a.clone(), b.clone())),
                    &(a.clone(), b.clone()),
                );
                let pick = |t: &T, on: bool, i: usize| if on { t.select(0, i as isize) } else { t.clone() };
                let want = T::stack(&(0..bsz).map(|i| pick(&a, ba, i).matmul(&pick(&b, bb, i))).collect::<Vec<_>>(), 0);
                assert_eq!(got.dims(), want.dims(), "{a_shape:?} ({ba}) @ {b_shape:?} ({bb})");
                assert_eq!(got.to_vec::<f64>(), want.to_vec::<f64>(), "{a_shape:?} ({ba}) @ {b_shape:?} ({bb})");
                assert_eq!(names.iter().filter(|n| **n == "matmul").count(), 1, "{names:?}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 15);
    // A batch of vectors times a plain matrix is the one product of the
    // physical operands: no reshape around it.
    let (w, xs) = (seq(&[k, n]), seq(&[bsz, k]));
    let (_, names) = record_primitives(|xs: &T| vmap(|x: &T| x.matmul(&w))(xs), &xs);
    assert_eq!(names, vec!["matmul"], "{names:?}");
}
