//! Batched matrix multiplication through `matrixmultiply`, which reads both
//! operands through arbitrary row and column strides: transposed and other
//! strided views are never copied.

use crate::elem::Real;
use crate::strided::{Plan, istrides, try_alloc, try_filled};
use func_core::{Error, Layout, Result};
use rayon::prelude::*;

/// Below this many multiply-adds a batch runs on one thread.
const PAR_FLOPS: usize = 1 << 16;
/// From `m*k + k*n` this large, matrixmultiply threads a single product
/// itself (its own heuristic), so the batch loop stays sequential.
const GEMM_THREADS: usize = 1 << 14;
/// Up to this many multiply-adds, a direct loop beats gemm's packing.
const SMALL: usize = 1024;

/// A strided matrix operand: data, offset, row stride, column stride.
type Mat<'a, T> = (&'a [T], isize, isize, isize);

/// `c = a b` for a zeroed, contiguous `c` with `n` columns, by direct loops:
/// each row of `c` accumulates rows of `b` scaled by entries of `a`.
fn small<T: Real>((a, oa, rsa, csa): Mat<'_, T>, (b, ob, rsb, csb): Mat<'_, T>, k: usize, n: usize, c: &mut [T]) {
    for (i, row) in c.chunks_exact_mut(n).enumerate() {
        for p in 0..k as isize {
            let x = a[(oa + i as isize * rsa + p * csa) as usize];
            let bo = ob + p * rsb;
            if csb == 1 {
                let bo = bo as usize;
                row.iter_mut().zip(&b[bo..bo + n]).for_each(|(y, &z)| *y = *y + x * z);
            } else {
                row.iter_mut().enumerate().for_each(|(j, y)| *y = *y + x * b[(bo + j as isize * csb) as usize]);
            }
        }
    }
}

fn err_size(la: &Layout, lb: &Layout) -> Error {
    Error::shape_mismatch("matmul", la.shape(), lb.shape(), "give a product whose number of elements overflows usize")
}

pub(crate) fn matmul<T: Real>(a: &[T], la: &Layout, b: &[T], lb: &Layout) -> Result<Vec<T>> {
    let nd = la.ndim();
    if nd < 2 || lb.ndim() != nd || la.dims()[..nd - 2] != lb.dims()[..nd - 2] || la.dims()[nd - 1] != lb.dims()[nd - 2]
    {
        return Err(Error::shape_mismatch("matmul", la.shape(), lb.shape(), "must be [..., m, k] and [..., k, n]"));
    }
    let (m, k, n) = (la.dims()[nd - 2], la.dims()[nd - 1], lb.dims()[nd - 1]);
    let bdims = &la.dims()[..nd - 2];
    // Sizes with checked products (an empty operand may have a batch whose product overflows).
    let batch = bdims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let len = match batch.and_then(|b| b.checked_mul(m)?.checked_mul(n)) {
        Some(len) => len,
        None if m == 0 || n == 0 => 0,
        None => return Err(err_size(la, lb)),
    };
    let mut out = try_filled(len, T::ZERO)?;
    let Some(batch) = batch.filter(|_| len > 0 && k > 0) else {
        return Ok(out);
    };
    let (sa, sb) = (istrides(la), istrides(lb));
    let (rsa, csa, rsb, csb) = (sa[nd - 2], sa[nd - 1], sb[nd - 2], sb[nd - 1]);
    let product = |rows: usize, oa: isize, ob: isize, rs: isize, c: &mut [T]| {
        if rows.saturating_mul(k).saturating_mul(n) <= SMALL {
            small((a, oa, rs, csa), (b, ob, rsb, csb), k, n, c);
        } else {
            // SAFETY: `Cpu::matmul` checked `storage_span() <= len` for both
            // layouts (`check` in lib.rs), and a layout's span is computed
            // without overflow (func-core's NOTE: [layout invariant]), so every
            // element addressed from these offsets with these strides (exact
            // conversions: `istrides`) is in bounds of `a` and `b`; the rows
            // folded into `rows` step by one stride `rs` (a one-dimensional
            // plan of the layout's own elements); `c` is a distinct,
            // exclusively borrowed, contiguous buffer of `rows * n` elements.
            unsafe {
                let (pa, pb) = (a.as_ptr().offset(oa), b.as_ptr().offset(ob));
                T::gemm((rows, k, n), pa, rs, csa, pb, rsb, csb, c.as_mut_ptr(), n as isize);
            }
        }
    };
    // Unbatched right operand and the batch and m rows of `a` at one stride:
    // one product with the batch folded into m.
    if bdims.iter().zip(&sb).all(|(&d, &s)| d == 1 || s == 0) {
        let rows = Plan::new(&la.dims()[..nd - 1], [&sa[..nd - 1]], [la.offset() as isize]);
        if rows.outer.is_empty() {
            product(batch * m, la.offset() as isize, lb.offset() as isize, rows.istr[0], &mut out);
            return Ok(out);
        }
    }
    let p = Plan::new(bdims, [&sa[..nd - 2], &sb[..nd - 2]], [la.offset() as isize, lb.offset() as isize]);
    let mut offs = try_alloc(batch)?;
    p.walk(0, batch, |_, len, [oa, ob]| {
        offs.extend((0..len as isize).map(|j| (oa + j * p.istr[0], ob + j * p.istr[1])));
    });
    let flops = m.saturating_mul(n).saturating_mul(k);
    if batch > 1
        && m.saturating_mul(k).saturating_add(k.saturating_mul(n)) < GEMM_THREADS
        && flops.saturating_mul(batch) >= PAR_FLOPS
    {
        out.par_chunks_mut(m * n).zip(&offs).for_each(|(c, &(oa, ob))| product(m, oa, ob, rsa, c));
    } else {
        out.chunks_mut(m * n).zip(&offs).for_each(|(c, &(oa, ob))| product(m, oa, ob, rsa, c));
    }
    Ok(out)
}
