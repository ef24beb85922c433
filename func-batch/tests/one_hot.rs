//! `try_vmap_one_hot`: the same values as vmap over the dense identity rows,
//! and matmuls of one-hot rows with a matrix run as row copies (no matmul).

use func_batch::{VmapOptions, try_vmap, try_vmap_one_hot};
use func_core::{Backend, BinaryOp, DType, Result, Tensor, with_backend};
use func_testkit::{Profiled, RefBackend};

type T = Tensor<RefBackend>;
/// Tensors on the kernel-counting backend.
type P = Tensor<Profiled<RefBackend>>;
type Case<'a> = Box<dyn Fn(&T) -> Result<T> + 'a>;

fn seq<B: Backend>(shape: &[usize]) -> Tensor<B> {
    let n: usize = shape.iter().product();
    Tensor::from_vec((0..n).map(|i| i as f64 * 0.25 - 1.0).collect::<Vec<_>>(), shape.to_vec())
}

/// Rows `start..start + len` of the n x n identity, dense.
fn dense_rows(start: usize, len: usize, n: usize) -> T {
    T::eye(n, DType::F64).narrow(0, start, len)
}

#[test]
fn one_hot_rows_give_the_values_of_the_dense_rows() {
    let w = seq(&[5, 3]);
    let d = seq(&[5]);
    // Plain, scaled (elementwise product first, as a vjp of tanh does), and
    // reshaped to a row vector before the matmul.
    let fs: Vec<Case> = vec![
        Box::new(|e: &T| e.try_matmul(&w)),
        Box::new(|e: &T| e.try_mul(&d)?.try_matmul(&w)),
        Box::new(|e: &T| (&d * e).reshape_to([1, 5]).try_matmul(&w)),
        Box::new(|e: &T| Ok(e.try_matmul(&w)? + e.sum())),
        // Through the fused activation backwards (as a vjp of tanh or
        // sigmoid runs), then a matmul; and an unscaled one first.
        Box::new(|e: &T| e.try_binary(BinaryOp::TanhBackward, &d)?.try_matmul(&w)),
        Box::new(|e: &T| e.try_mul(&d)?.try_binary(BinaryOp::SigmoidBackward, &(&d * 0.3))?.try_matmul(&w)),
        // Relu's mask (as a vjp of relu runs): some entries are cut.
        Box::new(|e: &T| e.try_binary(BinaryOp::ReluBackward, &(&d + 0.6))?.try_matmul(&w)),
        // Linear in its first operand only: a one-hot second operand is dense.
        Box::new(|e: &T| d.try_binary(BinaryOp::TanhBackward, e)?.try_matmul(&w)),
        Box::new(|e: &T| (&d + 0.6).try_binary(BinaryOp::ReluBackward, e)?.try_matmul(&w)),
    ];
    for f in &fs {
        for (start, len) in [(0, 5), (1, 2), (4, 1)] {
            let got: T = try_vmap_one_hot(f, &VmapOptions::new(), &T::zeros([5], DType::F64), start, len).unwrap();
            let want: T = try_vmap(f, VmapOptions::new())(&dense_rows(start, len, 5)).unwrap();
            assert_eq!(got.dims(), want.dims());
            assert_eq!(got.to_vec::<f64>(), want.to_vec::<f64>(), "rows {start}..{}", start + len);
        }
    }
}

#[test]
fn rows_split_over_a_tree_of_leaves() {
    // A template (a [2], b [3]): rows 1..4 put the one in a, then in b.
    let (wa, wb) = (seq(&[2, 4]), seq(&[3, 4]));
    let f = |(a, b): &(T, T)| Ok(a.try_matmul(&wa)? + b.try_matmul(&wb)?);
    let template = (T::zeros([2], DType::F64), T::zeros([3], DType::F64));
    let got: T = try_vmap_one_hot(f, &VmapOptions::new(), &template, 1, 3).unwrap();
    let rows = dense_rows(1, 3, 5);
    let dense = (rows.narrow(1, 0, 2), rows.narrow(1, 2, 3));
    let want: T = try_vmap(f, VmapOptions::new())(&dense).unwrap();
    assert_eq!(got.to_vec::<f64>(), want.to_vec::<f64>());
}

/// Scaled one-hot rows whose ones start past a leaf (a negative shift in
/// `b`, rows past the end in `a`), scaled twice before the product: the
/// values of the dense rows.
#[test]
fn scaled_rows_split_over_a_tree_of_leaves() {
    let checked = scaled_rows_of_two_leaves((2, 3), &[(0, 5), (1, 3), (2, 1), (3, 2), (0, 1)], false);
    assert_eq!(checked, 4 * 12);
}

/// Rows `blocks` (start, len) of the identity split over two leaves of
/// `ka` and `kb` elements, each scaled twice, then multiplied by a matrix
/// (and, with `sums`, also read by `sum`), against vmap over the dense
/// rows; the number of elements compared.
fn scaled_rows_of_two_leaves((ka, kb): (usize, usize), blocks: &[(usize, usize)], sums: bool) -> usize {
    let (wa, wb) = (seq(&[ka, 4]), seq(&[kb, 4]));
    let (da, db) = (seq(&[ka]) * 0.01 + 3.0, seq(&[kb]) * 0.005);
    let f = |(a, b): &(T, T)| {
        let a = a.try_mul(&da)?.try_binary(BinaryOp::TanhBackward, &(&da * 0.1))?;
        let b = b.try_binary(BinaryOp::SigmoidBackward, &db)?.try_mul(&db)?;
        let y = a.try_matmul(&wa)? + b.try_matmul(&wb)?;
        Ok(if sums { y + a.sum() + b.sum() } else { y })
    };
    let template = (T::zeros([ka], DType::F64), T::zeros([kb], DType::F64));
    let mut checked = 0;
    for &(start, len) in blocks {
        let got: T = try_vmap_one_hot(f, &VmapOptions::new(), &template, start, len).unwrap();
        let rows = dense_rows(start, len, ka + kb);
        let dense = (rows.narrow(1, 0, ka), rows.narrow(1, ka, kb));
        let want: T = try_vmap(f, VmapOptions::new())(&dense).unwrap();
        assert_eq!(got.dims(), want.dims());
        assert_eq!(got.to_vec::<f64>(), want.to_vec::<f64>(), "rows {start}..{}", start + len);
        checked += got.numel();
    }
    checked
}

/// Counted as kernel calls (the Profiled backend sees every kernel, whichever
/// rule ran): the one-hot rows' product is a row copy, the dense rows' a
/// matmul.
#[test]
fn a_matmul_of_one_hot_rows_runs_no_matmul() {
    let prof = Profiled::new(RefBackend);
    with_backend(prof.clone(), || {
        let w: P = seq(&[6, 3]);
        let f = |e: &P| Ok(e.matmul(&w).tanh());
        prof.reset();
        let y = try_vmap_one_hot(f, &VmapOptions::new(), &P::zeros([6], DType::F64), 0, 6).unwrap();
        assert_eq!(prof.calls("matmul"), 0, "{prof}");
        let want = try_vmap(f, VmapOptions::new())(&P::eye(6, DType::F64)).unwrap();
        assert_eq!(prof.calls("matmul"), 1, "{prof}");
        assert_eq!(y.to_vec::<f64>(), w.tanh().to_vec::<f64>());
        assert_eq!(y.to_vec::<f64>(), want.to_vec::<f64>());
    });
}

/// A Jacobian of `tanh(x @ w)` (or of sigmoid or relu), by `jacrev`'s
/// one-hot cotangents: the cotangent through the activation (`tanh_backward`
/// and the others) stays a scaled one-hot, so the backward matmul is a copy
/// of scaled rows of `w^T`: no matmul kernel runs.
#[test]
fn a_matmul_after_a_fused_activation_backward_runs_no_matmul() {
    let prof = Profiled::new(RefBackend);
    let mut checked = 0;
    with_backend(prof.clone(), || {
        // y = [-0.5, -0.375, -0.25] + 0.4: relu's mask keeps two of three.
        let (w, y): (P, P) = (seq(&[6, 3]), seq::<Profiled<RefBackend>>(&[3]) * 0.5 + 0.4);
        for op in [BinaryOp::TanhBackward, BinaryOp::SigmoidBackward, BinaryOp::ReluBackward] {
            let f = |e: &P| e.try_binary(op, &y)?.try_matmul(&w.t());
            let zeros = P::zeros([3], DType::F64);
            prof.reset();
            let got = try_vmap_one_hot(f, &VmapOptions::new(), &zeros, 0, 3).unwrap();
            assert_eq!(prof.calls("matmul"), 0, "{op:?}: {prof}");
            let rows = P::eye(3, DType::F64);
            let want = try_vmap(f, VmapOptions::new())(&rows).unwrap();
            assert_eq!(prof.calls("matmul"), 1, "{op:?}: {prof}");
            assert_eq!(got.to_vec::<f64>(), want.to_vec::<f64>(), "{op:?}");
            checked += got.numel();
        }
    });
    assert_eq!(checked, 3 * 18);
}

#[test]
fn after_an_in_place_write_the_structure_is_not_relied_on() {
    let w = seq(&[3, 2]);
    let f = |e: &T| {
        e.mul_scalar_(2.0);
        e.try_matmul(&w)
    };
    let got: T = try_vmap_one_hot(f, &VmapOptions::new(), &T::zeros([3], DType::F64), 0, 3).unwrap();
    assert_eq!(got.to_vec::<f64>(), (&w * 2.0).to_vec::<f64>());
}

#[test]
fn rows_past_the_template_are_an_error() {
    let err = try_vmap_one_hot(|e: &T| Ok(e.clone()), &VmapOptions::new(), &T::zeros([3], DType::F64), 2, 2)
        .map(|_: T| ())
        .unwrap_err();
    assert!(matches!(err, func_core::Error::Transform { .. }), "{err}");
}

/// The scale of a product with an unbatched tensor is that tensor's value
/// at the product: writing the tensor afterwards (a write below the vmap
/// level, which vmap does not see) changes neither the product nor a later
/// matmul of it, as with dense rows.
#[test]
fn a_scale_written_after_the_product_keeps_its_old_value() {
    let w = seq(&[5, 3]);
    let run = |one_hot: bool| -> Vec<f64> {
        let d = seq(&[5]);
        let f = |e: &T| -> Result<T> {
            let y = e.try_mul(&d)?;
            d.add_scalar_(10.0);
            y.try_matmul(&w)
        };
        let got: T = if one_hot {
            try_vmap_one_hot(f, &VmapOptions::new(), &T::zeros([5], DType::F64), 0, 5).unwrap()
        } else {
            try_vmap(f, VmapOptions::new())(&dense_rows(0, 5, 5)).unwrap()
        };
        got.to_vec::<f64>()
    };
    let (got, want) = (run(true), run(false));
    assert_eq!(got.len(), 15);
    assert_eq!(got, want);
}

/// A matmul of one-hot rows is a new tensor, as the dense product is: a
/// later write of the matrix does not reach it, and a write of it does not
/// reach the matrix. Also for a column-major matrix (`w^T`), small and
/// large.
#[test]
fn a_matmul_of_one_hot_rows_does_not_alias_the_matrix() {
    for (rows, cols, transposed) in [(5, 3, false), (5, 3, true), (8, 2048, true)] {
        one_hot_rows_of_a_matrix_do_not_alias_it(rows, cols, transposed);
    }
}

fn one_hot_rows_of_a_matrix_do_not_alias_it(rows: usize, cols: usize, transposed: bool) {
    let matrix = || if transposed { seq::<RefBackend>(&[cols, rows]).t() } else { seq(&[rows, cols]) };
    let run = |one_hot: bool| -> (Vec<f64>, Vec<f64>) {
        let (w, v) = (matrix(), matrix());
        assert_eq!(w.layout().is_column_major(), transposed);
        let f = |e: &T| -> Result<T> {
            let y = e.try_matmul(&w)?;
            w.add_scalar_(10.0);
            let z = e.try_matmul(&v)?;
            z.add_scalar_(100.0);
            Ok(&y + &z)
        };
        let got: T = if one_hot {
            try_vmap_one_hot(f, &VmapOptions::new(), &T::zeros([rows], DType::F64), 0, rows).unwrap()
        } else {
            try_vmap(f, VmapOptions::new())(&dense_rows(0, rows, rows)).unwrap()
        };
        (got.to_vec::<f64>(), v.to_vec::<f64>())
    };
    let (got, want) = (run(true), run(false));
    assert_eq!(got.0.len(), rows * cols);
    assert_eq!(got, want);
    assert_eq!(want.1, matrix().to_vec::<f64>(), "the matrix is unchanged");
}

/// Bases above 65536 elements are deferred (NOTE: [one-hot bases]): their
/// values are computed only when a rule other than the shortcuts reads
/// them, and then equal the dense rows' exactly. `n = 300` (90000
/// elements) with rows that make both deferred (`len * n > 65536`) and
/// small (computed at once) bases.
#[test]
fn deferred_bases_give_the_values_of_the_dense_rows() {
    let n = 300;
    let w = seq(&[n, 3]);
    let d = seq(&[n]) * 0.01;
    let fs: Vec<Case> = vec![
        Box::new(|e: &T| e.try_matmul(&w)),
        Box::new(|e: &T| e.try_mul(&d)?.try_matmul(&w)),
        Box::new(|e: &T| (&d * e).reshape_to([1, n]).try_matmul(&w)),
        // Read by other rules: the basis, and products of it, computed.
        Box::new(|e: &T| Ok(e.try_matmul(&w)? + e.sum())),
        Box::new(|e: &T| Ok(e.try_binary(BinaryOp::TanhBackward, &d)?.tanh())),
        Box::new(|e: &T| Ok(e.try_mul(&d)?.try_binary(BinaryOp::SigmoidBackward, &(&d * 0.3))?.sum_dims(&[0], true))),
        Box::new(|e: &T| {
            let y = e.try_binary(BinaryOp::ReluBackward, &(&d + 0.6))?;
            Ok(y.try_matmul(&w)? + y.try_matmul(&w.t().contiguous().t())?.sum())
        }),
        // Linear in its first operand only: a one-hot second operand is dense.
        Box::new(|e: &T| d.try_binary(BinaryOp::TanhBackward, e)?.try_matmul(&w)),
        // The basis itself is the output.
        Box::new(|e: &T| Ok(e.clone())),
    ];
    let mut checked = 0;
    for f in &fs {
        for (start, len) in [(0, n), (40, 250), (299, 1), (7, 200)] {
            let got: T = try_vmap_one_hot(f, &VmapOptions::new(), &T::zeros([n], DType::F64), start, len).unwrap();
            let want: T = try_vmap(f, VmapOptions::new())(&dense_rows(start, len, n)).unwrap();
            assert_eq!(got.dims(), want.dims());
            assert_eq!(got.to_vec::<f64>(), want.to_vec::<f64>(), "rows {start}..{}", start + len);
            checked += got.numel();
        }
    }
    // Six cases of [len, 3], two of [len, n], one of [len, 1]; 751 rows each.
    assert_eq!(checked, (6 * 3 + 2 * n + 1) * 751);
}

/// A deferred Jacobian row block of `tanh(x @ w)`'s pullback never builds
/// the identity: no diagonal is written, no matmul runs, and no kernel sees
/// more than one example's elements and the result.
#[test]
fn a_deferred_basis_is_never_built_by_the_shortcuts() {
    let prof = Profiled::new(RefBackend);
    with_backend(prof.clone(), || {
        let n = 400;
        let (w, y): (P, P) = (seq(&[3, n]), seq::<Profiled<RefBackend>>(&[n]) * 0.001);
        let f = |e: &P| e.try_binary(BinaryOp::TanhBackward, &y)?.try_matmul(&w.t());
        prof.reset();
        let got = try_vmap_one_hot(f, &VmapOptions::new(), &P::zeros([n], DType::F64), 0, n).unwrap();
        assert_eq!((prof.calls("matmul"), prof.calls("write_strided")), (0, 0), "{prof}");
        let want = try_vmap(f, VmapOptions::new())(&P::eye(n, DType::F64)).unwrap();
        assert_eq!(got.to_vec::<f64>(), want.to_vec::<f64>());
        assert_eq!(got.numel(), 3 * n);
    });
}

/// Writes and deferred values. A product made before an in-place write of
/// the basis at the level keeps the basis's old values (every deferred
/// value is computed before the write); a product whose unbatched operand
/// is written afterwards (below the level, unseen by vmap) keeps that
/// operand's old values. Both against the dense rows.
#[test]
fn deferred_values_are_not_changed_by_later_writes() {
    let n = 300;
    let w = seq(&[n, 2]);
    let run = |one_hot: bool, write_basis: bool| -> Vec<f64> {
        let d = seq(&[n]) * 0.01;
        let f = |e: &T| -> Result<T> {
            let y = e.try_mul(&d)?;
            if write_basis {
                e.mul_scalar_(2.0);
            } else {
                d.add_scalar_(10.0);
            }
            Ok(y.try_matmul(&w)? + y.sum() + e.try_matmul(&w)?)
        };
        let got: T = if one_hot {
            try_vmap_one_hot(f, &VmapOptions::new(), &T::zeros([n], DType::F64), 0, n).unwrap()
        } else {
            try_vmap(f, VmapOptions::new())(&dense_rows(0, n, n)).unwrap()
        };
        got.to_vec::<f64>()
    };
    for write_basis in [true, false] {
        let (got, want) = (run(true, write_basis), run(false, write_basis));
        assert_eq!(got.len(), 2 * n);
        assert_eq!(got, want, "write_basis: {write_basis}");
    }
}

/// Rows split over two leaves, one deferred (`350 x 200` elements) and one
/// computed at once (`350 x 150`), scaled twice and read both by the
/// shortcuts and by other rules: the values of the dense rows.
#[test]
fn deferred_and_small_leaves_of_one_tree() {
    let checked = scaled_rows_of_two_leaves((200, 150), &[(0, 350), (150, 200), (199, 2)], true);
    assert_eq!(checked, 4 * (350 + 200 + 2));
}
