//! Views and in-place writes under vmap behave as they do eagerly on each
//! slice: the same values, and the same mutations of the inputs.

use func_batch::{VmapOptions, vmap, vmap_with};
use func_core::Tensor;
use func_testkit::RefBackend;

type T = Tensor<RefBackend>;

fn seq(shape: &[usize]) -> T {
    let n: usize = shape.iter().product();
    T::from_vec((0..n).map(|i| i as f64 * 0.5 - 1.0).collect::<Vec<_>>(), shape.to_vec())
}

/// The eager program on each slice `xs.select(dim, k)` of a fresh copy,
/// stacked back along `dim`: the expected input after the call.
fn eager_mutation(xs: &T, dim: isize, f: impl Fn(&T)) -> T {
    let slices: Vec<T> = (0..xs.size(dim)).map(|k| xs.select(dim, k as isize).deep_copy()).collect();
    for s in &slices {
        f(s);
    }
    T::stack(&slices, dim)
}

#[test]
fn contiguous_of_a_contiguous_value_is_an_alias_under_vmap() {
    // Eagerly each slice is a fresh contiguous tensor, so `contiguous()`
    // returns it and the write reaches the input; under vmap with in_dims 1
    // the batched value is not contiguous, but the per-sample value is.
    let f = |x: &T| {
        let y = x.contiguous();
        y.add_scalar_(1.0);
    };
    let xs = seq(&[2, 3]);
    let want = eager_mutation(&xs, 1, f);
    let got = xs.deep_copy();
    vmap_with(
        move |x: &T| {
            f(x);
            x.sum()
        },
        VmapOptions::new().in_dims(1),
    )(&got);
    assert_eq!(got.to_vec::<f64>(), want.to_vec::<f64>());
    assert_eq!(got.to_vec::<f64>(), (&xs + 1.0).to_vec::<f64>());
}

#[test]
fn write_through_a_reshape_whose_batched_value_is_not_viewable() {
    // Per sample, x is a contiguous [2, 3] and `reshape([6])` is a view; the
    // batched value (batch at dim 1 of the input) cannot be reshaped without
    // a copy, so the write goes through the per-sample root instead.
    let f = |x: &T| {
        x.reshape(&[6]).slice(0, 1, 4, 1).mul_scalar_(10.0);
    };
    let xs = seq(&[2, 4, 3]);
    let want = eager_mutation(&xs, 1, f);
    let got = xs.deep_copy();
    let out = vmap_with(
        move |x: &T| {
            f(x);
            x.reshape(&[6])
        },
        VmapOptions::new().in_dims(1),
    )(&got);
    assert_eq!(got.to_vec::<f64>(), want.to_vec::<f64>());
    assert_eq!(out.to_vec::<f64>(), want.movedim(1, 0).reshape(&[4, 6]).to_vec::<f64>());
    assert_ne!(got.to_vec::<f64>(), xs.to_vec::<f64>());
}

#[test]
fn sibling_views_see_a_write_through_one_of_them() {
    // `a` and `b` are views of the same row; writing through `a` is seen by
    // `b` and by the input.
    let xs = seq(&[3, 4]);
    let got = xs.deep_copy();
    let out = vmap(|x: &T| {
        let a = x.slice(0, 0, 2, 1);
        let b = x.reshape(&[2, 2]).select(0, 0);
        a.mul_scalar_(-2.0);
        &b + 0.0
    })(&got);
    let mut want = xs.to_vec::<f64>();
    for r in 0..3 {
        want[r * 4] *= -2.0;
        want[r * 4 + 1] *= -2.0;
    }
    assert_eq!(got.to_vec::<f64>(), want);
    let firsts: Vec<f64> = (0..3).flat_map(|r| [want[r * 4], want[r * 4 + 1]]).collect();
    assert_eq!(out.to_vec::<f64>(), firsts);
}

#[test]
fn a_long_chain_of_views_is_written_through_and_dropped() {
    // 60,000 views, each of the one before: a write through the last
    // reaches the input (the chain is replayed in order), and the chain is
    // freed without recursing once per link (which overflowed the stack).
    const LINKS: usize = 30_000;
    let xs = seq(&[3, 4]);
    let got = xs.deep_copy();
    let out = vmap(|x: &T| {
        let mut v = x.clone();
        for _ in 0..LINKS {
            v = v.unsqueeze(0).squeeze_dim(0);
        }
        assert!(v.view_root().is_some(), "the last view is a view of the input");
        v.add_scalar_(1.0);
        v.sum()
    })(&got);
    let want: Vec<f64> = xs.to_vec::<f64>().iter().map(|x| x + 1.0).collect();
    assert_eq!(got.to_vec::<f64>(), want);
    let sums: Vec<f64> = want.chunks(4).map(|r| r.iter().sum()).collect();
    assert_eq!(out.to_vec::<f64>(), sums);
}
