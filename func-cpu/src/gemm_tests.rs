//! The GEMM paths of [`Cpu::matmul`] against a naive f64 product: the `gemm`
//! crate, column-major right operands with aliasing strides (repacked:
//! NOTE: [aliasing columns] in matmul.rs; or read by `matrixmultiply`:
//! NOTE: [gemm choice]), row and column blocks, batches
//! as tasks, rank-1, single-row, single-column and tiny products; odd sizes, transposed, sliced,
//! offset and broadcast operands, `k = 0`, f32 and f64.

use super::*;
use crate::matmul::packs_better;
use func_core::Shape;

/// Deterministic values in [-1, 1], not a lattice (no exact cancellations).
fn vals(n: usize) -> Vec<f64> {
    (0..n).map(|i| ((i as f64) * 0.618_033_988_7 + 0.1).sin()).collect()
}

fn storage(v: &[f64], dt: DType) -> CpuStorage {
    Cpu.from_host(HostData::from_f64(v, dt)).unwrap()
}

/// `v` as the backend stores it in `dt` (rounded to f32 when `dt` is f32).
fn stored(v: &[f64], dt: DType) -> Vec<f64> {
    HostData::from_f64(v, dt).to_f64_vec()
}

/// The batched product the naive way, in f64, and for each output element
/// the sum of `|a_ip b_pj|` (the scale of its rounding error).
fn naive(a: &[f64], la: &Layout, b: &[f64], lb: &Layout) -> (Vec<f64>, Vec<f64>) {
    let nd = la.ndim();
    let (m, k, n) = (la.dims()[nd - 2], la.dims()[nd - 1], lb.dims()[nd - 1]);
    let ea: Vec<f64> = la.offsets().map(|o| a[o]).collect();
    let eb: Vec<f64> = lb.offsets().map(|o| b[o]).collect();
    let batch: usize = la.dims()[..nd - 2].iter().product();
    let (mut out, mut scale) = (vec![0.0; batch * m * n], vec![0.0; batch * m * n]);
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let at = (bi * m + i) * n + j;
                for p in 0..k {
                    let x = ea[(bi * m + i) * k + p] * eb[(bi * k + p) * n + j];
                    out[at] += x;
                    scale[at] += x.abs();
                }
            }
        }
    }
    (out, scale)
}

/// The matrix `[rows, cols]` read through its transpose: a column-major
/// view of a contiguous `[cols, rows]` buffer (column stride `rows`).
fn t2(rows: usize, cols: usize) -> Layout {
    Layout::contiguous([cols, rows]).permute(&[1, 0])
}

/// `[batch, rows, cols]` with each matrix read through its transpose.
fn t3(batch: usize, rows: usize, cols: usize) -> Layout {
    Layout::contiguous([batch, cols, rows]).permute(&[0, 2, 1])
}

/// Check `Cpu.matmul` on `(la, lb)` over one buffer of values, in f32 and f64.
fn check(la: &Layout, lb: &Layout) {
    let len = la.storage_span().max(lb.storage_span());
    let v = vals(len);
    for dt in [DType::F32, DType::F64] {
        let (s, r) = (storage(&v, dt), stored(&v, dt));
        let got = Cpu.matmul(&s, la, &s, lb).unwrap();
        assert_eq!(got.dtype(), dt);
        let got = Cpu.to_host(&got, &Layout::contiguous([got.len()])).unwrap().to_f64_vec();
        let (want, scale) = naive(&r, la, &r, lb);
        assert_eq!(got.len(), want.len(), "{dt} {la:?} {lb:?}");
        // The error bound of a k-term dot product: a few units of roundoff
        // of the sum of the magnitudes of its terms.
        let eps = if dt == DType::F32 { 1e-5 } else { 1e-13 };
        for (i, ((g, w), sc)) in got.iter().zip(&want).zip(&scale).enumerate() {
            assert!((g - w).abs() <= eps * (1.0 + sc), "{dt} {la:?} {lb:?}: element {i} is {g}, expected {w}");
        }
    }
}

#[test]
fn column_major_right_operands_with_aliasing_strides_go_to_matrixmultiply() {
    // 1024 f32 = 4 KiB, 512 f64 = 4 KiB: same cache sets, packed first.
    assert!(packs_better(4, 1, 1024));
    assert!(packs_better(4, 1, 9216));
    assert!(packs_better(8, 1, 512));
    assert!(packs_better(4, -1, 2048));
    // Strides that do not alias, row-major and broadcast operands: gemm.
    assert!(!packs_better(4, 1, 784));
    assert!(!packs_better(8, 1, 784));
    assert!(!packs_better(4, 1, 512));
    assert!(!packs_better(4, 1024, 1));
    assert!(!packs_better(4, 9216, 1));
    assert!(!packs_better(4, 1, 1));
    assert!(!packs_better(4, 1, 0));
    assert!(!packs_better(4, 0, 1024));
}

#[test]
fn gemm_path_odd_sizes_and_layouts() {
    // Odd sizes around the kernels' register tiles, row-major.
    check(&Layout::contiguous([17, 33]), &Layout::contiguous([33, 19]));
    check(&Layout::contiguous([67, 45]), &Layout::contiguous([45, 129]));
    // Transposed left, right, and both.
    check(&t2(23, 41), &Layout::contiguous([41, 29]));
    check(&Layout::contiguous([23, 41]), &t2(41, 29));
    check(&t2(31, 37), &t2(37, 43));
    // One row, one column (gemv-like) and a tall-skinny product.
    check(&Layout::contiguous([1, 300]), &Layout::contiguous([300, 70]));
    check(&Layout::contiguous([70, 300]), &Layout::contiguous([300, 1]));
    check(&Layout::contiguous([513, 3]), &Layout::contiguous([3, 9]));
    // Sliced operands: every other row of `a`, a column window of `b`, at an offset.
    check(&Layout::contiguous([40, 30]).slice(0, 1, 40, 2), &Layout::contiguous([30, 50]).slice(1, 3, 40, 1));
    // Broadcast rows (stride 0) in the left operand.
    check(&Layout::contiguous([1, 25]).broadcast_to(&Shape::from([20, 25])), &Layout::contiguous([25, 21]));
}

#[test]
fn aliasing_column_major_weights_are_repacked() {
    // `x @ w^T` with w [n, k], k = 1024 (f32: 4 KiB) and 512 (f64: 4 KiB);
    // odd m and n; below `REPACK_ROWS` rows (read in place by
    // matrixmultiply) and from it (repacked).
    for m in [13, 129] {
        check(&Layout::contiguous([m, 1024]), &t2(1024, 11));
        check(&Layout::contiguous([m, 512]), &t2(512, 35));
        // The same read through a batch of transposed weights (one copy each).
        check(&Layout::contiguous([3, m, 1024]), &t3(3, 1024, 7));
        // One weight broadcast over the batch (copied once), and rows of the
        // weight at an offset (a window of w's rows: columns 2..13 of w^T).
        check(&Layout::contiguous([3, m, 1024]), &t2(1024, 7).broadcast_to(&Shape::from([3, 1024, 7])));
        check(&Layout::contiguous([m, 1024]), &Layout::contiguous([16, 1024]).slice(0, 2, 13, 1).permute(&[1, 0]));
    }
}

#[test]
fn a_repacked_operand_keeps_every_element_and_its_broadcasts() {
    // [2 (broadcast), 3, 1024, 5]: three distinct column-major matrices.
    let lb = Layout::contiguous([3, 5, 1024]).permute(&[0, 2, 1]).broadcast_to(&Shape::from([2, 3, 1024, 5]));
    let v = f32s(&vals(lb.storage_span()));
    let (copy, strides) = crate::matmul::repack(&v, &lb).expect("a small copy is allocated");
    let ks = 1024 + 16;
    assert_eq!(&strides[..], &[0, (ks * 5) as isize, 1, ks as isize]);
    assert_eq!(copy.len(), 3 * 5 * ks);
    // Column stride 1040 f32 = 4160 bytes: no longer a multiple of 4 KiB.
    assert!(!packs_better(4, strides[2], strides[3]));
    let mut checked = 0;
    for (index, from) in lb.offsets().enumerate() {
        let (j, i, t) = (index % 5, (index / 5) % 1024, (index / 5120) % 3);
        assert_eq!(copy[t * ks * 5 + j * ks + i], v[from], "element {index}");
        checked += 1;
    }
    assert_eq!(checked, 2 * 3 * 1024 * 5);
}

#[test]
fn matrixmultiply_reads_aliasing_operands_in_place() {
    // The fallback when a repacked copy cannot be allocated: `Real::gemm`
    // itself sends an aliasing column-major `b` to matrixmultiply.
    let (m, k, n) = (5, 1024, 3);
    let a = vals(m * k);
    let b = vals(n * k);
    let mut c = vec![f64::NAN; m * n];
    // SAFETY: `a` is [m, k] row-major (m*k elements), `b` is [k, n]
    // column-major read from a [n, k] buffer (n*k elements), and `c` is a
    // distinct [m, n] row-major buffer; every addressed element is in bounds.
    unsafe {
        <f64 as crate::elem::Real>::gemm(
            (m, k, n),
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            1,
            k as isize,
            c.as_mut_ptr(),
            n as isize,
        )
    };
    let (want, scale) = naive(&a, &Layout::contiguous([m, k]), &b, &t2(k, n));
    for (i, ((g, w), sc)) in c.iter().zip(&want).zip(&scale).enumerate() {
        assert!((g - w).abs() <= 1e-13 * (1.0 + sc), "element {i}: {g} vs {w}");
    }
}

#[test]
fn k_zero_gives_zeros_and_empty_products_are_empty() {
    let v = vals(16);
    for dt in [DType::F32, DType::F64] {
        let s = storage(&v, dt);
        let out = Cpu.matmul(&s, &Layout::contiguous([3, 0]), &s, &Layout::contiguous([0, 5])).unwrap();
        assert_eq!(Cpu.to_host(&out, &Layout::contiguous([15])).unwrap().to_f64_vec(), vec![0.0; 15]);
        let out = Cpu.matmul(&s, &Layout::contiguous([2, 3, 0]), &s, &Layout::contiguous([2, 0, 4])).unwrap();
        assert_eq!(Cpu.to_host(&out, &Layout::contiguous([24])).unwrap().to_f64_vec(), vec![0.0; 24]);
        let out = Cpu.matmul(&s, &Layout::contiguous([0, 4]), &s, &Layout::contiguous([4, 3])).unwrap();
        assert_eq!(out.len(), 0);
    }
}

#[test]
fn batched_products_as_tasks_and_with_shared_operands() {
    // An ensemble's layer: one minibatch x [m, k] shared by ten models'
    // weights, each read through its transpose (`x @ w[i]^T`).
    let x = Layout::contiguous([16, 100]).broadcast_to(&Shape::from([10, 16, 100]));
    check(&x, &t3(10, 100, 24));
    // Each model on its own minibatch.
    check(&Layout::contiguous([10, 16, 100]), &t3(10, 100, 24));
    // A shared left operand (an im2col weight), batched right operand.
    check(&Layout::contiguous([8, 27]).broadcast_to(&Shape::from([12, 8, 27])), &Layout::contiguous([12, 27, 50]));
    // A shared right operand: the batch is folded into the rows.
    check(&Layout::contiguous([6, 9, 31]), &Layout::contiguous([31, 13]).broadcast_to(&Shape::from([6, 31, 13])));
    // Odd batch of odd transposed products, and a batch of tiny ones.
    check(&t3(7, 19, 23), &t3(7, 23, 5));
    check(&Layout::contiguous([33, 3, 4]), &Layout::contiguous([33, 4, 2]));
    // Rank-1 products (k = 1), batched.
    check(&Layout::contiguous([9, 17, 1]), &Layout::contiguous([9, 1, 21]));
}

/// One row times a matrix (`m = 1`, `row_product`): dot products down
/// contiguous columns (with a 4 KiB-aliasing column stride, and with a
/// strided row), scaled rows of a row-major `b`, an offset `b`, and a batch
/// of single rows.
#[test]
fn single_rows_times_a_matrix() {
    check(&Layout::contiguous([1, 1024]), &t2(1024, 40));
    check(&Layout::contiguous([1, 1000]), &t2(1000, 37));
    check(&t2(1, 300), &t2(300, 33));
    check(&Layout::new([1, 300], &[0, 3], 5), &t2(300, 20));
    check(&Layout::contiguous([1, 300]), &Layout::contiguous([300, 45]));
    check(&Layout::contiguous([1, 300]), &Layout::new([300, 40], &[50, 1], 7));
    check(&Layout::contiguous([3, 1, 200]), &t3(3, 200, 30));
}

/// `n = 1` (NOTE: [thin products] in matmul.rs): a dot product per row of
/// a row-major `a`, scaled columns of a column-major `a` summed in blocks
/// of 16 outputs (whole blocks, a partial last block, fewer than one
/// block), `small`'s loop for an `a` with neither stride 1, a strided `b`,
/// and batches; and one row times a row-major `b` of exactly one block.
#[test]
fn matrices_times_a_single_column() {
    for m in [7usize, 16, 40, 1000] {
        check(&Layout::contiguous([m, 16]), &Layout::contiguous([16, 1]));
        check(&Layout::contiguous([m, 37]), &t2(37, 1));
        check(&t2(m, 16), &Layout::contiguous([16, 1]));
        check(&t2(m, 1000), &Layout::new([1000, 1], &[3, 1], 2));
    }
    check(&Layout::new([50, 30], &[70, 2], 1), &Layout::contiguous([30, 1]));
    check(&Layout::contiguous([3, 64, 20]), &Layout::contiguous([3, 20, 1]));
    check(&t3(3, 64, 20), &Layout::contiguous([20, 1]).broadcast_to(&Shape::from([3, 20, 1])));
    check(&Layout::contiguous([1, 1000]), &Layout::contiguous([1000, 16]));
}

#[test]
fn large_products_split_into_row_blocks() {
    // More than `PAR_GEMM` multiply-adds in one product: row blocks, with
    // a partial last block (m not a multiple of the block).
    check(&Layout::contiguous([203, 151]), &Layout::contiguous([151, 171]));
    check(&t2(203, 151), &t2(151, 171));
    // Two products, each large enough to split.
    check(&Layout::contiguous([2, 130, 120]), &t3(2, 120, 110));
}

/// Products of fewer than 128 rows and more than `PAR_GEMM` multiply-adds
/// share their columns between threads (NOTE: [column blocks] in
/// matmul.rs): a partial last block, a transposed `b`, an aliasing
/// column-major `b` (read by matrixmultiply), and a batch of two products,
/// each split.
#[test]
fn short_products_split_into_column_blocks() {
    check(&Layout::contiguous([64, 300]), &Layout::contiguous([300, 100]));
    check(&Layout::contiguous([100, 200]), &t2(200, 70));
    check(&Layout::contiguous([16, 1024]), &t2(1024, 80));
    check(&t3(2, 64, 200), &Layout::contiguous([2, 200, 96]));
}

#[test]
fn batch_dims_over_which_b_is_broadcast_fold_into_rows() {
    let bc = |l: Layout, dims: &[usize]| l.broadcast_to(&Shape::from(dims));
    // b shared over the inner batch dim only: [4, 3, 5, 7] @ [4, (3), 7, 6]
    // folds the 3 into m (m = 15, a batch of 4).
    check(&Layout::contiguous([4, 3, 5, 7]), &bc(Layout::contiguous([4, 1, 7, 6]), &[4, 3, 7, 6]));
    // The same batch dim, but `a`'s slices are not one row stride apart:
    // no fold.
    check(
        &Layout::contiguous([3, 4, 5, 7]).permute(&[1, 0, 2, 3]),
        &bc(Layout::contiguous([4, 1, 7, 6]), &[4, 3, 7, 6]),
    );
    // m = 1 rows taken from a wider buffer: the fold's row stride is the
    // batch dim's own.
    check(&Layout::contiguous([4, 3, 2, 7]).slice(2, 0, 1, 1), &bc(Layout::contiguous([4, 1, 7, 6]), &[4, 3, 7, 6]));
    // Size-1 dims between folded ones, and a fully shared b (one product).
    check(&Layout::contiguous([2, 1, 3, 5, 7]), &bc(Layout::contiguous([7, 6]), &[2, 1, 3, 7, 6]));
    // A Jacobian's shape under `vmap(jvp)`: a varies over dims 0 and 2, b
    // over dim 1; dim 2 folds (m = 4 * 8), dims 0 and 1 stay a batch.
    check(
        &bc(Layout::contiguous([2, 1, 4, 1, 8, 9]), &[2, 3, 4, 1, 8, 9]),
        &bc(Layout::contiguous([1, 3, 1, 1, 9, 10]), &[2, 3, 4, 1, 9, 10]),
    );
    // Both operands broadcast over a batch dim: nothing to fold (row stride 0).
    check(&bc(Layout::contiguous([1, 5, 7]), &[3, 5, 7]), &bc(Layout::contiguous([7, 6]), &[3, 7, 6]));
    check(&bc(Layout::contiguous([1, 1, 7]), &[3, 1, 7]), &bc(Layout::contiguous([7, 6]), &[3, 7, 6]));
    // A fold large enough to split into row blocks.
    check(&Layout::contiguous([2, 6, 40, 60]), &bc(Layout::contiguous([2, 1, 60, 90]), &[2, 6, 60, 90]));
}

#[test]
fn products_of_a_small_row_major_and_a_wide_column_major_operand_run_transposed() {
    use crate::matmul::transposes_better;
    // `x @ w^T` with few rows and many output columns: computed as
    // `(w x^T)^T` and copied back (NOTE: [transposed product]).
    assert!(transposes_better((64, 784, 128), (784, 1), (1, 784)));
    assert!(transposes_better((32, 512, 256), (512, 1), (1, 512)));
    // Not when the copy would eat the gain, when `a` is the larger, or for
    // other layouts.
    assert!(!transposes_better((64, 128, 128), (128, 1), (1, 128)));
    assert!(!transposes_better((1280, 784, 64), (784, 1), (1, 784)));
    assert!(!transposes_better((64, 784, 128), (784, 1), (128, 1)));
    assert!(!transposes_better((64, 784, 128), (1, 64), (1, 784)));
    let mut checked = 0;
    for (m, k, n) in [(5, 97, 33), (16, 300, 130), (64, 784, 128)] {
        assert!(transposes_better((m, k, n), (k as isize, 1), (1, k as isize)), "{m}x{k}x{n}");
        check(&Layout::contiguous([m, k]), &t2(k, n));
        // Batched, with the rows of `a` at an offset and a broadcast weight.
        check(
            &Layout::contiguous([3, m + 1, k]).slice(1, 1, m + 1, 1),
            &t2(k, n).broadcast_to(&Shape::from([3, k, n])),
        );
        checked += 2;
    }
    assert_eq!(checked, 6);
}

#[test]
fn long_products_of_k_contiguous_operands_take_their_last_columns_as_dot_products() {
    use crate::matmul::takes_tail_columns;
    // `J1 @ J2^T` with a width one to four columns past a multiple of 16:
    // the full tiles through the GEMM, slice by slice of `k`, the rest as
    // dot products (NOTE: [tail columns]).
    assert!(takes_tail_columns((200, 108160, 50), 1, 1));
    assert!(takes_tail_columns((8, 4096, 20), 1, 1));
    // Not for a multiple of 16, more than four extra columns, a short `k`,
    // or an operand not contiguous along `k`.
    assert!(!takes_tail_columns((200, 108160, 48), 1, 1));
    assert!(!takes_tail_columns((200, 108160, 16 + 5), 1, 1));
    assert!(!takes_tail_columns((200, 4095, 50), 1, 1));
    assert!(!takes_tail_columns((200, 108160, 50), 200, 1));
    assert!(!takes_tail_columns((200, 108160, 50), 1, 50));
    let mut checked = 0;
    // Split along `k` into slices of 4500 (two threads) or whole (one), by
    // rows into blocks of 128, and a batch with `a` at an offset; the last
    // slice of `k` is partial in each.
    for (m, k, n) in [(40, 9000, 17), (256, 4500, 50), (36, 9000, 36)] {
        check(&Layout::contiguous([m, k]), &t2(k, n));
        checked += 1;
    }
    check(
        &Layout::contiguous([2, 41, 9000]).slice(1, 1, 41, 1),
        &t2(9000, 18).broadcast_to(&Shape::from([2, 9000, 18])),
    );
    checked += 1;
    // Rows past the last four-row tile of the dot products and a last
    // slice of `k` ending in a partial vector (4103 = 4 * 1024 + 7).
    check(&Layout::contiguous([43, 4103]), &t2(4103, 19));
    checked += 1;
    assert_eq!(checked, 5);
}

/// `dots_f32` (the tail columns' dot products, NOTE: [tail columns] in
/// matmul.rs) called directly: every width it takes (1 to 4 columns), row
/// counts around its tiles (four rows with AVX-512, two with AVX2), lengths
/// around its 8- and 16-lane vectors
/// (the last under a mask), against the naive product in f64 with a bound
/// per element; and the layouts it must decline.
#[test]
fn tail_dot_products_in_register_tiles() {
    use crate::tiles::{DOTS_MAX, dots_f32};
    let tiles = crate::tiles::available();
    let mut checked = 0;
    for m in [1, 3, 4, 5, 9] {
        for k in [1, 15, 16, 17, 100] {
            for n in 1..=DOTS_MAX {
                // `a` row-major with rows `k + 3` apart; `b` column-major
                // with columns `k + 5` apart, after `a` in one buffer.
                let (rsa, csb) = (k + 3, k + 5);
                let ob = m * rsa;
                let v = vals(ob + n * csb);
                let v32 = f32s(&v);
                let mut c = vec![std::mem::MaybeUninit::<f32>::uninit(); m * n];
                let am = (&v32[..], 0, rsa as isize, 1);
                let bm = (&v32[..], ob as isize, 1, csb as isize);
                if !dots_f32((m, k, n), am, bm, &mut c) {
                    assert!(!tiles, "dots_f32 declined {m}x{k}x{n} on a CPU with AVX-512F or AVX2");
                    continue;
                }
                // SAFETY: `dots_f32` wrote every element (it returned `true`).
                let got: Vec<f32> = c.into_iter().map(|x| unsafe { x.assume_init() }).collect();
                let r: Vec<f64> = v32.iter().map(|&x| x as f64).collect();
                for i in 0..m {
                    for j in 0..n {
                        let terms = (0..k).map(|p| r[i * rsa + p] * r[ob + j * csb + p]);
                        let (want, scale) = terms.fold((0.0, 0.0), |(s, a), t| (s + t, a + t.abs()));
                        let g = got[i * n + j] as f64;
                        assert!(
                            (g - want).abs() <= 1e-5 * (1.0 + scale),
                            "{m}x{k}x{n} ({i}, {j}): {g}, expected {want}"
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(!tiles || checked == 5 * 5 * DOTS_MAX, "checked {checked}");
    // Declined: too wide, `a` not contiguous along `k`, `b` not contiguous
    // along `k`, a mismatched output, an operand past its buffer.
    let v = f32s(&vals(64));
    let mut c = vec![std::mem::MaybeUninit::<f32>::uninit(); 10];
    assert!(!dots_f32((2, 4, 5), (&v, 0, 4, 1), (&v, 0, 1, 4), &mut c));
    assert!(!dots_f32((2, 4, 2), (&v, 0, 1, 2), (&v, 0, 1, 4), &mut c[..4]));
    assert!(!dots_f32((2, 4, 2), (&v, 0, 4, 1), (&v, 0, 2, 1), &mut c[..4]));
    assert!(!dots_f32((2, 4, 2), (&v, 0, 4, 1), (&v, 0, 1, 4), &mut c[..5]));
    assert!(!dots_f32((2, 4, 2), (&v, 0, 4, 1), (&v, 60, 1, 4), &mut c[..4]));
}

/// The f32 elements of a layout's storage, as `matmul` sees them.
fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// `tiled_f32` called directly on `(la, lb)` (2-d layouts): `None` when it
/// declines (neither AVX-512F nor AVX2 with FMA), else its product.
fn tiled_direct(v: &[f32], la: &Layout, lb: &Layout) -> Option<Vec<f32>> {
    let (m, k, n) = (la.dims()[0], la.dims()[1], lb.dims()[1]);
    let (sa, sb) = (crate::strided::istrides(la), crate::strided::istrides(lb));
    let mut c = vec![std::mem::MaybeUninit::<f32>::uninit(); m * n];
    let am = (v, la.offset() as isize, sa[0], sa[1]);
    let bm = (v, lb.offset() as isize, sb[0], sb[1]);
    // SAFETY (of `assume_init` below): `tiled_f32` writes every element
    // when it returns `true`.
    crate::tiles::tiled_f32((m, k, n), am, bm, &mut c)
        .then(|| c.into_iter().map(|x| unsafe { x.assume_init() }).collect())
}

/// Small f32 products in register tiles (NOTE: [small tiles] in
/// tiles.rs): row counts around the four-row tile (a last partial tile),
/// widths around the 16-lane vectors and the 48-column tile (masked last
/// vectors), row-major, column-major (transposed in 16 x 16 blocks, with
/// partial blocks) and strided right operands, transposed and sliced left
/// operands, and batches. Each product is checked against the naive one
/// through `Cpu::matmul` (f32 and f64), and, where the CPU has AVX-512F or AVX2,
/// `tiled_f32` itself must take it and give `Cpu::matmul`'s f32 result
/// bit for bit (so the dispatch sent it there).
#[test]
fn small_f32_products_run_in_register_tiles() {
    let tiles = crate::tiles::available();
    let (mut checked, mut tiled) = (0, 0);
    for m in [4, 5, 7, 13, 80] {
        for k in [2, 17, 40] {
            for n in [2, 15, 16, 17, 33, 48, 49, 70] {
                let pairs = [
                    (Layout::contiguous([m, k]), Layout::contiguous([k, n])),
                    (t2(m, k), Layout::contiguous([k, n])),
                    (Layout::contiguous([m, k]), t2(k, n)),
                    // Every other row of `a`; every other column of `b` at an offset.
                    (
                        Layout::contiguous([2 * m, k]).slice(0, 0, 2 * m, 2),
                        Layout::contiguous([k, 2 * n + 1]).slice(1, 1, 2 * n + 1, 2),
                    ),
                ];
                for (la, lb) in &pairs {
                    check(la, lb);
                    checked += 1;
                    let v = f32s(&vals(la.storage_span().max(lb.storage_span())));
                    let direct = tiled_direct(&v, la, lb);
                    assert_eq!(direct.is_some(), tiles, "tiled_f32 {la:?} {lb:?}");
                    let dispatched = m * k * n > crate::matmul::SMALL && crate::matmul::tiles_size((m, k, n));
                    if let Some(direct) = direct.filter(|_| dispatched) {
                        let s = Cpu.from_host(HostData::F32(v.clone())).unwrap();
                        let got = Cpu.matmul(&s, la, &s, lb).unwrap();
                        let got = Cpu.to_host(&got, &Layout::contiguous([m * n])).unwrap().to_f64_vec();
                        let same = got.iter().zip(&direct).all(|(&g, &d)| g.to_bits() == (d as f64).to_bits());
                        assert!(same, "{la:?} {lb:?}: Cpu::matmul did not take the register tiles");
                        tiled += 1;
                    }
                }
            }
        }
    }
    // Batches: the MAML workload's products, per task and transposed.
    check(&Layout::contiguous([4, 20, 40]), &t3(4, 40, 40));
    check(&t3(4, 40, 20), &Layout::contiguous([4, 20, 40]));
    check(&Layout::contiguous([4, 40, 40]), &t3(4, 40, 20));
    assert_eq!(checked, 5 * 3 * 8 * 4);
    // The products above `SMALL` multiply-adds: all but the tiny ones
    // (m k n <= 1024). The largest (80 x 40 x 48 and up, above `TILED`)
    // are tiled for their short `k` (`TILED_SHORT_K`).
    assert_eq!(tiled, if tiles { 328 } else { 0 });
}

/// Products at most one vector wide, tiled at any height (NOTE: [narrow
/// tiles] in tiles.rs): eight-row tiles with a partial last one and fewer
/// rows than one, long contractions that went to gemm before (a weight
/// gradient `h^T g`), a column-major right operand (copied row-major) up to
/// the `NARROW_KN` bound, and one past it (gemm). Checked against the naive
/// product, and where the CPU has AVX-512F or AVX2, `Cpu::matmul`'s f32 result must
/// be `tiled_f32`'s bit for bit exactly when `tiles_size` admits the shape.
#[test]
fn narrow_products_run_in_register_tiles_at_any_height() {
    let tiles = crate::tiles::available();
    let (mut checked, mut tiled) = (0, 0);
    let shapes = [(1000, 16, 16), (16, 1000, 16), (13, 3000, 9), (5, 700, 1 + 15), (300, 40, 7), (9, 8193, 16)];
    for (m, k, n) in shapes {
        for (la, lb) in [(Layout::contiguous([m, k]), Layout::contiguous([k, n])), (t2(m, k), t2(k, n))] {
            check(&la, &lb);
            checked += 1;
            let admitted = crate::matmul::tiles_size((m, k, n));
            assert_eq!(admitted, k * n <= crate::matmul::NARROW_KN, "{m}x{k}x{n}");
            let v = f32s(&vals(la.storage_span().max(lb.storage_span())));
            if let Some(direct) = tiled_direct(&v, &la, &lb).filter(|_| tiles) {
                let s = Cpu.from_host(HostData::F32(v.clone())).unwrap();
                let got = Cpu.matmul(&s, &la, &s, &lb).unwrap();
                let got = Cpu.to_host(&got, &Layout::contiguous([m * n])).unwrap().to_f64_vec();
                let same = got.iter().zip(&direct).all(|(&g, &d)| g.to_bits() == (d as f64).to_bits());
                assert_eq!(same, admitted, "{la:?} {lb:?}: tiles taken {same}, admitted {admitted}");
                tiled += usize::from(same);
            }
        }
    }
    assert_eq!(checked, 12);
    assert_eq!(tiled, if tiles { 10 } else { 0 });
}

/// Batched rank-1 products whose output is above the streaming threshold
/// (NOTE: [streamed stores] in stream.rs), with an odd row length (rows
/// start at every alignment) and a strided right operand: every element is
/// one product, so it must equal `x * z` exactly, in f32 and f64.
#[test]
fn rank_1_products_larger_than_the_cache_are_exact() {
    let (batch, n) = (4usize, 4099usize);
    for dt in [DType::F32, DType::F64] {
        let size = if dt == DType::F32 { 4 } else { 8 };
        let m = crate::stream::stream_threshold().div_ceil(batch * n * size) + 1;
        let la = Layout::contiguous([batch, m, 1]);
        // `b` read with column stride 2 (gathered once per product).
        let lb = Layout::new([batch, 1, n], &[2 * n, 2 * n, 2], 0);
        let (av, bv) = (vals(batch * m), vals(2 * batch * n));
        let (sa, sb) = (storage(&av, dt), storage(&bv, dt));
        let got = Cpu.matmul(&sa, &la, &sb, &lb).unwrap();
        let got = Cpu.to_host(&got, &Layout::contiguous([got.len()])).unwrap().to_f64_vec();
        assert_eq!(got.len(), batch * m * n);
        assert!(got.len() * size >= crate::stream::stream_threshold());
        let (ar, br) = (stored(&av, dt), stored(&bv, dt));
        let mut checked = 0usize;
        for p in 0..batch {
            for i in 0..m {
                for j in 0..n {
                    let x = ar[p * m + i] * br[p * 2 * n + 2 * j];
                    // f32: the product of two f32 rounded once to f32.
                    let want = if dt == DType::F32 { x as f32 as f64 } else { x };
                    let g = got[(p * m + i) * n + j];
                    assert!(g == want, "{dt}: [{p}, {i}, {j}] is {g}, expected {want}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, batch * m * n);
    }
}

/// A batch of products (`k > 1`) whose whole output is above the streaming
/// threshold: each product is computed into a scratch buffer and streamed
/// to the output (NOTE: [streamed stores] in stream.rs). Every element
/// against its f64 dot product, in f32 and f64; `b` transposed.
#[test]
fn batched_products_larger_than_the_cache_match_the_naive_product() {
    let (m, k, n) = (64usize, 3usize, 1001usize);
    for dt in [DType::F32, DType::F64] {
        let size = if dt == DType::F32 { 4 } else { 8 };
        let batch = crate::stream::stream_threshold().div_ceil(m * n * size) + 1;
        let la = Layout::contiguous([batch, m, k]);
        let lb = t3(batch, k, n);
        let (av, bv) = (vals(batch * m * k), vals(batch * k * n + 5));
        let (sa, sb) = (storage(&av, dt), storage(&bv, dt));
        let got = Cpu.matmul(&sa, &la, &sb, &lb).unwrap();
        let got = Cpu.to_host(&got, &Layout::contiguous([got.len()])).unwrap().to_f64_vec();
        assert!(got.len() * size >= crate::stream::stream_threshold());
        let (ar, br) = (stored(&av, dt), stored(&bv, dt));
        let eps = if dt == DType::F32 { 1e-5 } else { 1e-13 };
        let mut checked = 0usize;
        for p in 0..batch {
            for i in 0..m {
                for j in 0..n {
                    // `b[p, q, j]` of the transposed layout: `[batch, n, k]` in memory.
                    let terms = (0..k).map(|q| ar[(p * m + i) * k + q] * br[(p * n + j) * k + q]);
                    let (want, scale) = terms.fold((0.0, 0.0), |(s, a), t| (s + t, a + f64::abs(t)));
                    let g = got[(p * m + i) * n + j];
                    assert!((g - want).abs() <= eps * (1.0 + scale), "{dt}: [{p}, {i}, {j}] is {g}, expected {want}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, batch * m * n);
    }
}

/// Both transposing copies of a product computed transposed (NOTE:
/// [transposed product] in matmul.rs), against the index formula bit for
/// bit: `tiles::transpose_f32` (16 x 16 blocks, AVX-512F only) and
/// `strided::transpose_into` (8 x 8 AVX blocks for 4- and 8-byte elements,
/// else element by element), the latter in f32 and f64 and with rows
/// padded apart, at sizes around both block sizes.
#[test]
fn the_register_transposes_match_the_index_formula_at_odd_sizes() {
    use std::mem::MaybeUninit;
    let sizes = [(1usize, 1usize), (5, 33), (8, 8), (9, 7), (16, 16), (17, 3), (64, 128), (31, 47)];
    let (mut checked, mut tiled) = (0, 0);
    for (m, n) in sizes {
        let t: Vec<f32> = vals(m * n).iter().map(|&v| v as f32).collect();
        let mut out = vec![MaybeUninit::<f32>::uninit(); m * n];
        if crate::tiles::transpose_f32(&t, (m, n), &mut out) {
            for i in 0..m {
                for j in 0..n {
                    // SAFETY: `transpose_f32` returned true, so it wrote all
                    // `m * n` elements.
                    let got = unsafe { out[i * n + j].assume_init() };
                    assert_eq!(got.to_bits(), t[j * m + i].to_bits(), "{m}x{n} at ({i}, {j})");
                    tiled += 1;
                }
            }
        }
        for pad in [0, 3] {
            let stride = m + pad;
            let t64 = vals(n * stride);
            let t32: Vec<f32> = t64.iter().map(|&v| v as f32).collect();
            let mut o64 = vec![MaybeUninit::<f64>::uninit(); m * n];
            let mut o32 = vec![MaybeUninit::<f32>::uninit(); m * n];
            crate::strided::transpose_into(&t64, (m, n), stride, &mut o64);
            crate::strided::transpose_into(&t32, (m, n), stride, &mut o32);
            for i in 0..m {
                for j in 0..n {
                    // SAFETY: `transpose_into` writes every element of its output.
                    let (g64, g32) = unsafe { (o64[i * n + j].assume_init(), o32[i * n + j].assume_init()) };
                    assert_eq!(g64.to_bits(), t64[j * stride + i].to_bits(), "f64 {m}x{n}+{pad} at ({i}, {j})");
                    assert_eq!(g32.to_bits(), t32[j * stride + i].to_bits(), "f32 {m}x{n}+{pad} at ({i}, {j})");
                    checked += 2;
                }
            }
        }
    }
    // Sizes that do not match write nothing.
    let mut short = vec![MaybeUninit::<f32>::uninit(); 4];
    assert!(!crate::tiles::transpose_f32(&[0.0; 6], (2, 3), &mut short));
    let all: usize = sizes.iter().map(|&(m, n)| m * n).sum();
    assert_eq!(checked, 4 * all);
    let avx512 = cfg!(target_arch = "x86_64") && std::arch::is_x86_feature_detected!("avx512f");
    assert_eq!(tiled, if avx512 { all } else { 0 });
}

/// `strided::transpose_into` refuses a source too short for its rows.
#[test]
#[should_panic(expected = "does not fit")]
fn a_transposing_copy_checks_its_source() {
    let mut out = vec![std::mem::MaybeUninit::<f32>::uninit(); 6];
    // 3 rows 4 apart need 2 * 4 + 2 = 10 elements.
    crate::strided::transpose_into(&[0.0f32; 9], (2, 3), 4, &mut out);
}

/// Inputs of `addmm` over a product of shape `out` (`[.., m, n]`): a bias
/// row `[n]`, a column `[m, 1]`, a scalar (all broadcast), the full shape,
/// the full shape read through its transpose, and with batch dims, one row
/// per batch (`[.., 1, n]`).
fn bias_layouts(out: &[usize]) -> Vec<Layout> {
    let nd = out.len();
    let (m, n) = (out[nd - 2], out[nd - 1]);
    let shape = Shape::from(out);
    let mut ls = vec![
        Layout::contiguous([n]).broadcast_to(&shape),
        Layout::contiguous([m, 1]).broadcast_to(&shape),
        Layout::new(out, &vec![0; nd], 3),
        Layout::contiguous(out),
    ];
    let mut swapped = out.to_vec();
    swapped.swap(nd - 2, nd - 1);
    let mut perm: Vec<usize> = (0..nd).collect();
    perm.swap(nd - 2, nd - 1);
    ls.push(Layout::contiguous(swapped).permute(&perm));
    if nd > 2 {
        let mut rows = out.to_vec();
        rows[nd - 2] = 1;
        ls.push(Layout::contiguous(rows).broadcast_to(&shape));
    }
    ls
}

/// `Cpu::addmm` against the naive product plus the input, element by
/// element, for every input layout of [`bias_layouts`], in f32 and f64;
/// returns the number of elements compared.
fn check_addmm(la: &Layout, lb: &Layout) -> usize {
    let nd = la.ndim();
    let mut out = la.dims()[..nd - 1].to_vec();
    out.push(lb.dims()[nd - 1]);
    let len = la.storage_span().max(lb.storage_span());
    let v = vals(len);
    let mut compared = 0;
    for lc in bias_layouts(&out) {
        let cv: Vec<f64> = vals(lc.storage_span() + 7).iter().map(|x| 2.0 * x + 0.5).collect();
        for dt in [DType::F32, DType::F64] {
            let (s, r) = (storage(&v, dt), stored(&v, dt));
            let (sc, rc) = (storage(&cv, dt), stored(&cv, dt));
            let got = Cpu.addmm(&sc, &lc, &s, la, &s, lb).unwrap();
            assert_eq!(got.dtype(), dt);
            let got = Cpu.to_host(&got, &Layout::contiguous([got.len()])).unwrap().to_f64_vec();
            let (prod, scale) = naive(&r, la, &r, lb);
            let bias: Vec<f64> = lc.offsets().map(|o| rc[o]).collect();
            assert_eq!(got.len(), prod.len(), "{dt} {la:?} {lb:?} {lc:?}");
            assert_eq!(bias.len(), prod.len());
            let eps = if dt == DType::F32 { 1e-5 } else { 1e-13 };
            for (i, g) in got.iter().enumerate() {
                let want = prod[i] + bias[i];
                let tol = eps * (1.0 + scale[i] + bias[i].abs());
                assert!((g - want).abs() <= tol, "{dt} {la:?} {lb:?} {lc:?}: element {i} is {g}, expected {want}");
                compared += 1;
            }
        }
    }
    compared
}

/// `addmm` adds its input as each block of rows is written (NOTE: [bias
/// epilogue] in matmul.rs): through every product path (tiny, thin, tiles,
/// gemm, transposed, row blocks, column blocks, a split along `k`, batches
/// as tasks, folded batches, products streamed through scratch buffers),
/// with row, column, scalar, full, transposed and per-batch inputs.
#[test]
fn addmm_adds_its_input_on_every_product_path() {
    let bc = |l: Layout, dims: &[usize]| l.broadcast_to(&Shape::from(dims));
    let pairs = [
        // Tiny, one row, one column, register tiles, gemm.
        (Layout::contiguous([3, 4]), Layout::contiguous([4, 5])),
        (Layout::contiguous([1, 300]), Layout::contiguous([300, 70])),
        (Layout::contiguous([70, 300]), Layout::contiguous([300, 1])),
        (Layout::contiguous([13, 40]), t2(40, 49)),
        (Layout::contiguous([67, 45]), Layout::contiguous([45, 129])),
        // Transposed product, row blocks, column blocks, split along `k`.
        (Layout::contiguous([64, 784]), t2(784, 128)),
        (Layout::contiguous([203, 151]), Layout::contiguous([151, 171])),
        (Layout::contiguous([64, 300]), Layout::contiguous([300, 100])),
        (Layout::contiguous([8, 40000]), t2(40000, 8)),
        // The ensemble's layers: batches as tasks and a shared input.
        (bc(Layout::contiguous([16, 100]), &[10, 16, 100]), t3(10, 100, 24)),
        (Layout::contiguous([10, 64, 128]), t3(10, 128, 128)),
        // A batch folded into rows, split into row blocks; rank-1 products.
        (Layout::contiguous([2, 6, 40, 60]), bc(Layout::contiguous([2, 1, 60, 90]), &[2, 6, 60, 90])),
        (Layout::contiguous([9, 17, 1]), Layout::contiguous([9, 1, 21])),
    ];
    let mut compared = 0;
    for (la, lb) in &pairs {
        compared += check_addmm(la, lb);
    }
    // Every layout, dtype and element: (5 inputs, 6 with a batch) x 2 dtypes.
    let want: usize = pairs
        .iter()
        .map(|(la, lb)| {
            let nd = la.ndim();
            let numel = la.dims()[..nd - 1].iter().product::<usize>() * lb.dims()[nd - 1];
            numel * 2 * if nd > 2 { 6 } else { 5 }
        })
        .sum();
    assert_eq!(compared, want);
}

/// A batch of products above the streaming threshold: each is computed in
/// a scratch buffer, gets its input added there, and is streamed out.
#[test]
fn addmm_adds_its_input_to_streamed_products() {
    let (m, k, n) = (64usize, 3usize, 1001usize);
    let batch = crate::stream::stream_threshold().div_ceil(m * n * 4) + 1;
    let (la, lb) = (Layout::contiguous([batch, m, k]), t3(batch, k, n));
    let lc = Layout::contiguous([batch, 1, n]).broadcast_to(&Shape::from([batch, m, n]));
    let (av, bv, cv) = (vals(batch * m * k), vals(batch * k * n), vals(batch * n));
    let (sa, sb, sc) = (storage(&av, DType::F32), storage(&bv, DType::F32), storage(&cv, DType::F32));
    let got = Cpu.addmm(&sc, &lc, &sa, &la, &sb, &lb).unwrap();
    let got = Cpu.to_host(&got, &Layout::contiguous([got.len()])).unwrap().to_f64_vec();
    assert!(got.len() * 4 >= crate::stream::stream_threshold());
    let (ar, br, cr) = (stored(&av, DType::F32), stored(&bv, DType::F32), stored(&cv, DType::F32));
    let mut checked = 0usize;
    for p in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let terms = (0..k).map(|q| ar[(p * m + i) * k + q] * br[(p * n + j) * k + q]);
                let (dot, scale) = terms.fold((0.0, 0.0), |(s, a), t| (s + t, a + f64::abs(t)));
                let want = dot + cr[p * n + j];
                let g = got[(p * m + i) * n + j];
                assert!(
                    (g - want).abs() <= 1e-5 * (1.0 + scale + want.abs()),
                    "[{p}, {i}, {j}] is {g}, expected {want}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, batch * m * n);
}

/// `k = 0`: the product is zero and the output is the input, broadcast.
/// A wrongly shaped input is an error naming `addmm`.
#[test]
fn addmm_with_an_empty_contraction_is_its_input_and_checks_shapes() {
    let (s, c) = (storage(&vals(4), DType::F32), storage(&[1.0, 2.0, 3.0], DType::F32));
    let lc = Layout::contiguous([3]).broadcast_to(&Shape::from([2, 3]));
    let out = Cpu.addmm(&c, &lc, &s, &Layout::contiguous([2, 0]), &s, &Layout::contiguous([0, 3])).unwrap();
    assert_eq!(Cpu.to_host(&out, &Layout::contiguous([6])).unwrap().to_f64_vec(), [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    let e = Cpu.addmm(&c, &Layout::contiguous([3]), &s, &Layout::contiguous([2, 2]), &s, &Layout::contiguous([2, 3]));
    assert!(e.unwrap_err().to_string().contains("addmm"));
}
