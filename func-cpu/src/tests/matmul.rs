//! Batched matmul against a naive product.

use super::*;

fn naive_matmul(a: &[f64], la: &Layout, b: &[f64], lb: &Layout) -> Vec<f64> {
    let nd = la.ndim();
    let (m, k, n) = (la.dims()[nd - 2], la.dims()[nd - 1], lb.dims()[nd - 1]);
    let (ea, eb) = (elems(a, la), elems(b, lb));
    let batch: usize = la.dims()[..nd - 2].iter().product();
    let mut out = vec![0.0; batch * m * n];
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                out[(bi * m + i) * n + j] = (0..k).map(|p| ea[(bi * m + i) * k + p] * eb[(bi * k + p) * n + j]).sum();
            }
        }
    }
    out
}

#[test]
fn matmul_matches_reference() {
    let v = vals(40_000);
    let t = |shape: &[usize]| {
        let mut perm: Vec<usize> = (0..shape.len()).collect();
        perm.swap(shape.len() - 1, shape.len() - 2);
        Layout::contiguous(shape).permute(&perm)
    };
    let cases: Vec<(Layout, Layout)> = vec![
        (Layout::contiguous([3, 4]), Layout::contiguous([4, 5])),
        (t(&[4, 3]), t(&[5, 4])),
        (Layout::contiguous([2, 3, 4]), Layout::contiguous([2, 4, 5])),
        (Layout::contiguous([2, 3, 4]), Layout::contiguous([4, 5]).broadcast_to(&Shape::from([2, 4, 5]))),
        (t(&[2, 4, 3]), Layout::contiguous([4, 5]).broadcast_to(&Shape::from([2, 4, 5]))),
        (Layout::contiguous([3, 4]).broadcast_to(&Shape::from([2, 3, 4])), t(&[2, 5, 4])),
        (Layout::contiguous([2, 1, 3, 4]).broadcast_to(&Shape::from([2, 3, 3, 4])), Layout::contiguous([2, 3, 4, 5])),
        (
            Layout::contiguous([5, 3, 4]).slice(0, 1, 5, 2),
            Layout::contiguous([4, 5]).broadcast_to(&Shape::from([2, 4, 5])),
        ),
        (Layout::contiguous([256, 8, 9]), Layout::contiguous([256, 9, 7])),
        (Layout::contiguous([64, 8, 9]), Layout::contiguous([9, 7]).broadcast_to(&Shape::from([64, 9, 7]))),
        (t(&[150, 120]), Layout::contiguous([150, 130])),
        (Layout::contiguous([1, 4]), Layout::contiguous([4, 1])),
        // Rank-1 products (k = 1), written directly: contiguous, and batched
        // with strided rows and columns.
        (Layout::contiguous([64, 1]), Layout::contiguous([1, 300])),
        (t(&[3, 1, 40]), t(&[3, 50, 1])),
        // A batch too short to share as tasks, of products large enough to
        // be split into row blocks.
        (Layout::contiguous([2, 100, 110]), Layout::contiguous([2, 110, 100])),
        (Layout::contiguous([4, 20, 30]), Layout::contiguous([30, 25]).broadcast_to(&Shape::from([4, 30, 25]))),
        (t(&[3, 30, 20]), Layout::contiguous([3, 30, 25])),
        (Layout::contiguous([1, 30]).broadcast_to(&Shape::from([20, 30])), t(&[25, 30])),
        // Small matrix-vector products (n = 1): contiguous, transposed, a
        // strided column, and batched.
        (Layout::contiguous([20, 40]), Layout::contiguous([40, 1])),
        (t(&[40, 20]), t(&[1, 40])),
        (Layout::contiguous([6, 30]), Layout::contiguous([30, 3]).slice(1, 2, 3, 1)),
        (Layout::contiguous([4, 20, 40]), t(&[4, 1, 40])),
        (Layout::contiguous([0, 4]), Layout::contiguous([4, 5])),
        (Layout::contiguous([3, 0]), Layout::contiguous([0, 5])),
        (Layout::contiguous([3, 4]), Layout::contiguous([4, 0])),
        (Layout::contiguous([0, 3, 4]), Layout::contiguous([0, 4, 5])),
    ];
    for dt in FLOATS {
        let (s, r) = (st(&v, dt), rounded(&v, dt));
        for (la, lb) in &cases {
            let got = host(&Cpu.matmul(&s, la, &s, lb).unwrap());
            let tol = if dt == DType::F32 { 1e-4 } else { 1e-10 };
            assert!(close(&got, &naive_matmul(&r, la, &r, lb), tol), "{dt} {la:?} {lb:?}");
        }
    }
    let i = st(&v[..20], DType::I64);
    assert!(Cpu.matmul(&i, &Layout::contiguous([4, 5]), &i, &Layout::contiguous([5, 4])).is_err());
    let f = st(&v[..20], DType::F32);
    assert!(Cpu.matmul(&f, &Layout::contiguous([4, 5]), &f, &Layout::contiguous([4, 5])).is_err());
}

/// Products with a long contraction and a small output, split along `k`
/// across threads (NOTE: [long k]): contiguous, transposed, at an offset,
/// batched, and with an uneven last slice, against a naive product. Each
/// element is held to the rounding bound of its own sum, `k * eps *
/// sum(|a| |b|)`, a tight check in f64 (a slice read at a wrong offset, or
/// left out, is off by a sizeable part of the sum).
#[test]
fn long_contractions_split_along_k_match_a_naive_product() {
    let (k, big) = (40_001, 1_000_000);
    let v = vals(big);
    let t = |shape: &[usize], offset: usize| {
        let mut perm: Vec<usize> = (0..shape.len()).collect();
        perm.swap(shape.len() - 1, shape.len() - 2);
        let mut rev = shape.to_vec();
        rev.swap(shape.len() - 1, shape.len() - 2);
        let l = Layout::contiguous(&rev[..]).permute(&perm);
        Layout::new(l.shape().clone(), l.strides(), offset)
    };
    let cases = [
        (Layout::contiguous([6, k]), Layout::contiguous([k, 5])),
        (t(&[6, k], 7), t(&[k, 5], 300_000)),
        (Layout::new([7, k], &[k, 1], 13), Layout::contiguous([k, 3])),
        (Layout::contiguous([2, 6, k]), Layout::new([2, k, 5], &[5 * k, 5, 1], 500_000)),
    ];
    let mut checked = 0;
    for dt in FLOATS {
        let (s, r) = (st(&v, dt), rounded(&v, dt));
        let eps = if dt == DType::F32 { f32::EPSILON as f64 } else { f64::EPSILON };
        for (la, lb) in &cases {
            let got = host(&Cpu.matmul(&s, la, &s, lb).unwrap());
            let want = naive_matmul(&r, la, &r, lb);
            let abs: Vec<f64> = r.iter().map(|x| x.abs()).collect();
            let bound = naive_matmul(&abs, la, &abs, lb);
            for ((g, w), b) in got.iter().zip(&want).zip(&bound) {
                assert!((g - w).abs() <= k as f64 * eps * b, "{dt} {la:?} {lb:?}: {g} against {w} (bound {b})");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * (30 + 30 + 21 + 60));
}
