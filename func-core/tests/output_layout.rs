//! Elementwise results are laid out in their operands' memory order (NOTE:
//! [output layout] in eval.rs): the first operand that covers the result
//! densely sets the order. Values never depend on it; these tests check
//! both the values (against loops over row-major copies) and the strides.

use func_core::{DType, Tensor};
use func_testkit::RefBackend;

type T = Tensor<RefBackend>;

fn vals(n: usize, f: impl Fn(f64) -> f64) -> Vec<f64> {
    (0..n).map(|i| f(i as f64)).collect()
}

/// The dimensions of `t`'s layout ordered by decreasing stride (outermost
/// first), ignoring size-1 dimensions.
fn order(t: &T) -> Vec<usize> {
    let l = t.layout();
    let mut dims: Vec<usize> = (0..l.ndim()).filter(|&d| l.dims()[d] > 1).collect();
    dims.sort_by(|&i, &j| l.strides()[j].cmp(&l.strides()[i]));
    dims
}

/// Whether `t` covers its storage densely: its strides, by decreasing
/// size, are those of a contiguous tensor in that order.
fn dense(t: &T) -> bool {
    let l = t.layout();
    let mut expect = 1;
    for &d in order(t).iter().rev() {
        if l.strides()[d] != expect {
            return false;
        }
        expect *= l.dims()[d];
    }
    true
}

/// Elementwise `f` over row-major copies of `a` and `b` (same shape).
fn expected(a: &T, b: &T, f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    let (x, y) = (a.to_vec::<f64>(), b.to_vec::<f64>());
    x.iter().zip(&y).map(|(&p, &q)| f(p, q)).collect()
}

#[test]
fn transposed_operands_give_a_transposed_result_with_the_same_values() {
    let x = T::from_vec(vals(12, |t| (t * 0.3).sin()), [3, 4]).t();
    let y = T::from_vec(vals(12, |t| (t * 0.7).cos()), [3, 4]).t();
    let mut checked = 0;
    for (name, r, want) in [
        ("x^T + y^T", &x + &y, expected(&x, &y, |p, q| p + q)),
        ("x^T * 2", &x * 2.0, expected(&x, &x, |p, _| p * 2.0)),
        ("relu(x^T)", x.relu(), expected(&x, &x, |p, _| p.max(0.0))),
        ("(x^T).exp()", x.exp(), expected(&x, &x, |p, _| p.exp())),
    ] {
        assert_eq!(r.dims(), &[4, 3], "{name}");
        assert_eq!(r.to_vec::<f64>(), want, "{name}");
        assert_eq!(order(&r), vec![1, 0], "{name}: laid out as its transposed operands");
        assert!(dense(&r) && !r.layout().is_contiguous(), "{name}");
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn the_first_dense_operand_sets_the_order() {
    let x = T::from_vec(vals(12, |t| t - 5.0), [3, 4]);
    let xt = T::from_vec(vals(12, |t| t * 0.5), [4, 3]).t();
    // Row-major first: row-major result, the transposed operand gathered.
    let r = &x + &xt;
    assert!(r.layout().is_contiguous());
    assert_eq!(r.to_vec::<f64>(), expected(&x, &xt, |p, q| p + q));
    // Transposed first: transposed result.
    let r = &xt - &x;
    assert_eq!(order(&r), vec![1, 0]);
    assert_eq!(r.to_vec::<f64>(), expected(&xt, &x, |p, q| p - q));
    // A broadcast operand does not qualify; the next one sets the order.
    let row = T::from_vec(vals(4, |t| t + 1.0), [4]);
    let r = &row * &xt;
    assert_eq!(order(&r), vec![1, 0]);
    assert_eq!(r.to_vec::<f64>(), expected(&row.broadcast_to([3, 4]), &xt, |p, q| p * q));
    // An operand with gaps (a strided slice) does not qualify either: no
    // dense operand, so the result is row-major.
    let gappy = T::from_vec(vals(24, |t| t), [3, 8]).slice(1, 0, 8, 2);
    let r = &gappy + 1.0;
    assert!(r.layout().is_contiguous());
    assert_eq!(r.to_vec::<f64>(), expected(&gappy, &gappy, |p, _| p + 1.0));
}

#[test]
fn a_permuted_3d_operand_keeps_its_order_through_compare_select_and_cast() {
    // Stored [4, 2, 3], viewed as [2, 3, 4] (dims 1, 2, 0 of the storage).
    let base = T::from_vec(vals(24, |t| (t * 1.3).sin()), [4, 2, 3]);
    let x = base.permute(&[1, 2, 0]);
    let zero = T::zeros([2, 3, 4], DType::F64);
    let pos = x.gt(&zero);
    assert_eq!(order(&pos), vec![2, 0, 1]);
    let want_pos: Vec<bool> = x.to_vec::<f64>().iter().map(|&v| v > 0.0).collect();
    assert_eq!(pos.to_vec::<bool>(), want_pos);
    let clipped = T::where_(&pos, &x, &zero);
    assert_eq!(order(&clipped), vec![2, 0, 1]);
    assert_eq!(clipped.to_vec::<f64>(), expected(&x, &x, |p, _| p.max(0.0)));
    let single = x.to_dtype(DType::F32);
    assert_eq!(order(&single), vec![2, 0, 1]);
    let want: Vec<f32> = x.to_vec::<f64>().iter().map(|&v| v as f32).collect();
    assert_eq!(single.to_vec::<f32>(), want);
    // A reshape of the permuted result cannot be a view: it copies, with
    // the values in logical order.
    assert_eq!(clipped.reshape(&[24]).to_vec::<f64>(), clipped.to_vec::<f64>());
}

/// `a @ b` by loops over row-major copies (`a`: [.., m, k], `b`: [.., k, n],
/// equal batch dims).
fn product(a: &T, b: &T) -> Vec<f64> {
    let (nd, x, y) = (a.ndim(), a.to_vec::<f64>(), b.to_vec::<f64>());
    let (m, k, n) = (a.dims()[nd - 2], a.dims()[nd - 1], b.dims()[nd - 1]);
    let batch = x.len() / (m * k);
    let mut out = Vec::new();
    for t in 0..batch {
        for i in 0..m {
            for j in 0..n {
                out.push((0..k).map(|p| x[t * m * k + i * k + p] * y[t * k * n + p * n + j]).sum());
            }
        }
    }
    out
}

#[test]
fn a_product_of_column_major_matrices_is_column_major() {
    let mut checked = 0;
    // [3, 4]^T @ [5, 3]^T, and a batch of three [2, 4]^T @ [3, 2]^T.
    for (a, b) in [
        (
            T::from_vec(vals(12, |t| (t * 0.3).sin()), [3, 4]).t(),
            T::from_vec(vals(15, |t| (t * 0.2).cos()), [5, 3]).t(),
        ),
        (
            T::from_vec(vals(24, |t| (t * 0.5).sin()), [3, 2, 4]).transpose(1, 2),
            T::from_vec(vals(18, |t| 1.0 - t * 0.1), [3, 3, 2]).transpose(1, 2),
        ),
    ] {
        let r = a.matmul(&b);
        let nd = r.ndim();
        assert_eq!(close(&r, &product(&a, &b)), r.numel());
        assert!(dense(&r) && order(&r)[nd - 2..] == [nd - 1, nd - 2], "{:?}", r.layout());
        checked += 1;
    }
    assert_eq!(checked, 2);
    // One row-major operand: a row-major result.
    let a = T::from_vec(vals(12, |t| t * 0.25), [4, 3]);
    let b = T::from_vec(vals(15, |t| (t * 0.2).cos()), [5, 3]).t();
    let r = a.matmul(&b);
    assert!(r.layout().is_contiguous());
    assert_eq!(close(&r, &product(&a, &b)), r.numel());
}

/// The number of elements of `t` within 1e-12 (relative, per element) of `want`.
fn close(t: &T, want: &[f64]) -> usize {
    let got = t.to_vec::<f64>();
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).filter(|&(&g, &w)| (g - w).abs() <= 1e-12 * w.abs().max(1.0)).count()
}
