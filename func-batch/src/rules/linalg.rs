//! The matmul rule: one batched matmul, never a loop.

use super::{Out, batched};
use crate::interp::{Arg, BatchInterp};
use func_core::{Backend, Result, Shape, Tensor};

/// Insert `n` size-1 dims after the batch dim (a view).
fn pad_after_batch<B: Backend>(t: &Tensor<B>, n: usize) -> Result<Tensor<B>> {
    if n == 0 {
        return Ok(t.clone());
    }
    let mut shape = Shape::from([t.dims()[0]]);
    shape.extend(std::iter::repeat_n(1, n));
    shape.extend_from_slice(&t.dims()[1..]);
    t.try_reshape_to(shape)
}

/// Logical `a [.., m, k] @ b [.., k, n]` (ranks >= 2, batch dims broadcast).
///
/// - Only `a` batched and `b` a plain matrix: fold the batch into M and run
///   one GEMM `[B*..*m, k] @ [k, n]`.
/// - A plain matrix times a batch whose transpose folds into a matrix, for
///   `k > 1`: the transposed product `(b^T a^T)^T` folds the batch into M.
/// - Otherwise align the batch dimension in front of the broadcast batch dims
///   (size-1 dims after it where one side has fewer) and run one batched
///   matmul; an unbatched side broadcasts with stride 0.
pub(crate) fn matmul<B: Backend>(_it: &BatchInterp, a: &Arg<B>, b: &Arg<B>) -> Result<Out<B>> {
    let (ra, rb) = (a.value.ndim() - a.batched as usize, b.value.ndim() - b.batched as usize);
    let rank = ra.max(rb);
    match (a.batched, b.batched) {
        (true, false) if rb == 2 => {
            let k = a.value.dims()[a.value.ndim() - 1];
            let n = b.value.dims()[1];
            let mut out_shape = Shape::from(&a.value.dims()[..a.value.ndim() - 1]);
            out_shape.push(n);
            let rows: usize = a.value.dims()[..a.value.ndim() - 1].iter().product();
            let flat = a.value.try_reshape_to([rows, k])?;
            batched(flat.try_matmul(&b.value)?.try_reshape_to(out_shape)?)
        }
        (true, false) => batched(pad_after_batch(&a.value, rank - ra)?.try_matmul(&b.value)?),
        (false, true) if ra == 2 && a.value.dims()[1] > 1 && foldable_transpose(&b.value) => {
            // A plain matrix times a batch: `(b^T a^T)^T`, so the batch folds
            // into the rows of one GEMM (the common case of stacked weights
            // used as `w.t()`, whose transpose is contiguous). Not for a
            // rank-1 product (`k = 1`): an outer product is memory-bound and
            // gains nothing from one GEMM, while the transposed formulation
            // leaves its result permuted, so a later reshape (a Jacobian's
            // flatten) would copy it with a strided pass.
            let bt = b.value.transpose(-1, -2);
            let k = bt.dims()[bt.ndim() - 1];
            let rows: usize = bt.dims()[..bt.ndim() - 1].iter().product();
            let m = a.value.dims()[0];
            let mut out_shape = Shape::from(&bt.dims()[..bt.ndim() - 1]);
            out_shape.push(m);
            let prod = bt.try_reshape_to([rows, k])?.try_matmul(&a.value.t())?;
            batched(prod.try_reshape_to(out_shape)?.transpose(-1, -2))
        }
        (false, true) => batched(a.value.try_matmul(&pad_after_batch(&b.value, rank - rb)?)?),
        (true, true) => {
            let a2 = pad_after_batch(&a.value, rank - ra)?;
            let b2 = pad_after_batch(&b.value, rank - rb)?;
            batched(a2.try_matmul(&b2)?)
        }
        (false, false) => Ok(Out { value: a.value.try_matmul(&b.value)?, batched: false }),
    }
}

/// Whether the transpose of a concrete batched right operand folds into a
/// matrix without a copy (so the transposed formulation saves work).
fn foldable_transpose<B: Backend>(b: &Tensor<B>) -> bool {
    match b.concrete() {
        Some((_, l)) => {
            let nd = l.ndim();
            let mut perm: Vec<usize> = (0..nd).collect();
            perm.swap(nd - 2, nd - 1);
            let t = l.permute(&perm);
            let rows: usize = t.dims()[..nd - 1].iter().product();
            t.reshape(&Shape::from([rows, t.dims()[nd - 1]])).is_some()
        }
        None => false,
    }
}
