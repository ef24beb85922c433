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

/// Logical `a [.., m, k] @ b [.., k, n]` (batch dims broadcast; a 1-D
/// operand is a vector, see [`vector`]).
///
/// - Only `a` batched and `b` a plain matrix: fold the batch into M and run
///   one GEMM `[B*..*m, k] @ [k, n]`.
/// - A plain matrix times a batch whose transpose folds into a matrix, for
///   `k > 1`: the transposed product `(b^T a^T)^T` folds the batch into M.
/// - Otherwise align the batch dimension in front of the broadcast batch dims
///   (size-1 dims after it where one side has fewer) and run one batched
///   matmul; an unbatched side broadcasts with stride 0.
pub(crate) fn matmul<B: Backend>(it: &BatchInterp, a: &Arg<B>, b: &Arg<B>) -> Result<Out<B>> {
    let (ra, rb) = (a.value.ndim() - a.batched as usize, b.value.ndim() - b.batched as usize);
    if ra == 1 || rb == 1 {
        return vector(it, a, b, ra, rb);
    }
    product(a, b, None)
}

/// Logical `c + a [.., m, k] @ b [.., k, n]` (both at least 2-D, `c`
/// broadcast to the product): [`matmul`]'s cases, with `c` brought into
/// the coordinates of the product each computes, so the addition stays in
/// the backend's product. When only `c` is batched, the product is not:
/// then it is the product plus the batch of `c`.
pub(crate) fn addmm<B: Backend>(c: &Arg<B>, a: &Arg<B>, b: &Arg<B>) -> Result<Out<B>> {
    let rank = (a.value.ndim() - a.batched as usize).max(b.value.ndim() - b.batched as usize);
    let rc = c.value.ndim() - c.batched as usize;
    if !c.batched {
        return product(a, b, Some(c.value.clone()));
    }
    // The batch dimension in front of the logical product's dims.
    let c = pad_after_batch(&c.value, rank - rc)?;
    if !a.batched && !b.batched {
        return batched(c.try_add(&a.value.try_matmul(&b.value)?)?);
    }
    product(a, b, Some(c))
}

/// `a @ b` (logical ranks at least 2), plus `c` when given: `c` unbatched
/// (broadcast from the right), or batched with its batch dimension aligned
/// with the product's (`pad_after_batch`).
fn product<B: Backend>(a: &Arg<B>, b: &Arg<B>, c: Option<Tensor<B>>) -> Result<Out<B>> {
    let (ra, rb) = (a.value.ndim() - a.batched as usize, b.value.ndim() - b.batched as usize);
    let rank = ra.max(rb);
    let mm = |x: &Tensor<B>, y: &Tensor<B>, c: Option<Tensor<B>>| match c {
        Some(c) => c.try_addmm(x, y),
        None => x.try_matmul(y),
    };
    // `c` as a `[rows, n]` operand of a product whose result, reshaped to
    // `shape` and with its last two dims swapped when `swap`, is the output
    // (`[rows, 1]` when `c` is constant along the product's columns, so
    // that only one element per row is laid out).
    let flat = |c: &Tensor<B>, shape: &Shape, swap: bool, rows: usize, n: usize| -> Result<Tensor<B>> {
        let mut out = shape.dims().to_vec();
        let nd = out.len();
        if swap {
            out.swap(nd - 2, nd - 1);
        }
        // The output dim that is the product's columns, and `c`'s size there.
        let col = if swap { nd - 2 } else { nd - 1 };
        let lead = nd - c.ndim().min(nd);
        let along = if col >= lead { c.dims()[col - lead] } else { 1 };
        if along == 1 {
            out[col] = 1;
        }
        let full = c.try_broadcast_to(Shape::from(out))?;
        let full = if swap { full.transpose(-1, -2) } else { full };
        full.try_reshape_to([rows, if along == 1 { 1 } else { n }])
    };
    match (a.batched, b.batched) {
        (true, false) if rb == 2 => {
            let k = a.value.dims()[a.value.ndim() - 1];
            let n = b.value.dims()[1];
            let mut out_shape = Shape::from(&a.value.dims()[..a.value.ndim() - 1]);
            out_shape.push(n);
            let rows: usize = a.value.dims()[..a.value.ndim() - 1].iter().product();
            let flat_a = a.value.try_reshape_to([rows, k])?;
            // A bias over the last dim adds to every row as it is.
            let c = match c {
                Some(c) if c.ndim() > 1 => Some(flat(&c, &out_shape, false, rows, n)?),
                c => c,
            };
            batched(mm(&flat_a, &b.value, c)?.try_reshape_to(out_shape)?)
        }
        (true, false) => batched(mm(&pad_after_batch(&a.value, rank - ra)?, &b.value, c)?),
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
            let c = c.map(|c| flat(&c, &out_shape, true, rows, m)).transpose()?;
            let prod = mm(&bt.try_reshape_to([rows, k])?, &a.value.t(), c)?;
            batched(prod.try_reshape_to(out_shape)?.transpose(-1, -2))
        }
        (false, true) => batched(mm(&a.value, &pad_after_batch(&b.value, rank - rb)?, c)?),
        (true, true) => {
            let a2 = pad_after_batch(&a.value, rank - ra)?;
            let b2 = pad_after_batch(&b.value, rank - rb)?;
            batched(mm(&a2, &b2, c)?)
        }
        (false, false) => Ok(Out { value: mm(&a.value, &b.value, c)?, batched: false }),
    }
}

/// [`matmul`] with a 1-D logical operand (`a` a row, `b` a column, as
/// `torch.matmul` takes them).
///
/// - Where the physical operands' product is the batch of products, it is
///   taken as it is: a batch times a plain vector, a batch of vectors
///   times a plain matrix (`x @ W` per example: `[B, k] @ [k, n]`), a plain
///   vector times a batch. A plain matrix times a batch of vectors
///   (`W @ x`) is `[B, k] @ [k, m]` of the matrix's transpose.
/// - Otherwise the vectors become a row (`[.., 1, k]`) and a column
///   (`[.., k, 1]`), the product of matrices is batched as above, and the
///   added dimensions are dropped from it.
fn vector<B: Backend>(it: &BatchInterp, a: &Arg<B>, b: &Arg<B>, ra: usize, rb: usize) -> Result<Out<B>> {
    match (a.batched, b.batched) {
        (false, false) => return Ok(Out { value: a.value.try_matmul(&b.value)?, batched: false }),
        // `[B, .., m, k] @ [k]`, and `[B, k] @ [k, n]`.
        (true, false) if rb == 1 || (ra == 1 && rb == 2) => return batched(a.value.try_matmul(&b.value)?),
        // `[k] @ [B, .., k, n]`.
        (false, true) if ra == 1 && rb >= 2 => return batched(a.value.try_matmul(&b.value)?),
        // `[m, k] @ [k]` per example: `[B, k] @ [k, m]`.
        (false, true) if rb == 1 && ra == 2 => return batched(b.value.try_matmul(&a.value.t())?),
        _ => {}
    }
    // The batch dimension is in front: a vector's dimension is the last.
    let row = |x: &Arg<B>| Arg { value: x.value.unsqueeze(-2), batched: x.batched };
    let col = |x: &Arg<B>| Arg { value: x.value.unsqueeze(-1), batched: x.batched };
    let a2 = if ra == 1 { row(a) } else { a.clone() };
    let b2 = if rb == 1 { col(b) } else { b.clone() };
    let out = matmul(it, &a2, &b2)?;
    let mut value = out.value;
    if rb == 1 {
        value = value.try_squeeze_dim(-1)?;
    }
    if ra == 1 {
        value = value.try_squeeze_dim(if rb == 1 { -1 } else { -2 })?;
    }
    Ok(Out { value, batched: out.batched })
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
