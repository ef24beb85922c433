//! Reverse mode: a tape per `vjp` call, and one VJP rule per primitive.
//!
//! A reverse tracer is (primal, node). Each node holds a pullback closure
//! over the primals it needs, all values one level down. After the function
//! returns, the tape is immutable and owned by the `vjp_fn`, which can run it
//! any number of times, under any transform (jacrev runs it under vmap):
//! the pullbacks are tensor programs (NOTE: [rules are tensor programs]).

use crate::derivs;
use crate::jvp::captured_mutation;
use func_core::{
    Backend, CustomOp, CustomOpRef, CustomRule, Error, Interpreter, Level, Outputs, Primitive, ReduceOp, Result, Shape,
    Tensor, bind, bind_multi, check_count, missing_rule, reenter,
};
use smallvec::{SmallVec, smallvec};
use std::sync::Mutex;

/// Per-operand lists of one operation, inline for the usual few operands
/// (this runs on every traced operation).
pub(crate) type PerOperand<T> = SmallVec<[T; 3]>;

/// Cotangents for each operand of a primitive (`None`: zero or not needed).
type Cotangents<B> = PerOperand<Option<Tensor<B>>>;

/// A pullback: the output cotangent to the operands' cotangents.
pub(crate) type Pullback<B> = Box<dyn Fn(&Tensor<B>) -> Result<Cotangents<B>> + Send + Sync>;

/// The pullback of a primitive with several outputs (a custom op): the
/// outputs' cotangents (`None`: zero) to the operands' cotangents.
pub(crate) type MultiPullback<B> = Box<dyn Fn(&[Option<Tensor<B>>]) -> Result<Cotangents<B>> + Send + Sync>;

pub(crate) struct Node<B: Backend> {
    /// For each operand, the node it came from (if it was traced here).
    pub(crate) parents: PerOperand<Option<usize>>,
    /// `None` for an input (a leaf), and for the outputs of a multi-output
    /// node (their cotangents are read by the node that owns them).
    pub(crate) pullback: Option<Pullback<B>>,
    /// For a primitive with several outputs: the pullback and the nodes of
    /// its outputs (recorded right after this one).
    pub(crate) multi: Option<(MultiPullback<B>, std::ops::Range<usize>)>,
    /// Whether a cotangent can flow from this node to an input: false for
    /// constants to this level (factory outputs, stop_gradient results, and
    /// values computed from constants only).
    pub(crate) depends: bool,
}

/// The recording of one `vjp` call.
pub(crate) struct Tape<B: Backend> {
    pub(crate) nodes: Mutex<Vec<Node<B>>>,
}

impl<B: Backend> Tape<B> {
    /// Give node `node` the pullback of a primitive with several outputs.
    pub(crate) fn set_multi(&self, node: usize, pb: MultiPullback<B>, outputs: std::ops::Range<usize>) {
        let mut n = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        n[node].multi = Some((pb, outputs));
    }

    pub(crate) fn new() -> Tape<B> {
        Tape { nodes: Mutex::new(Vec::new()) }
    }

    /// Whether a recorded operation read node `node`'s value.
    pub(crate) fn has_consumer(&self, node: usize) -> bool {
        let nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        nodes.iter().any(|n| n.parents.contains(&Some(node)))
    }

    /// Whether node `node` depends on an input (see [`Node::depends`]).
    pub(crate) fn depends(&self, node: usize) -> bool {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())[node].depends
    }

    /// Record an operation reading `parents`: it depends on an input when a
    /// parent does (one lock for the lookup and the push). Returns the node
    /// and whether it depends on an input.
    pub(crate) fn push_op(&self, parents: PerOperand<Option<usize>>, pullback: Option<Pullback<B>>) -> (usize, bool) {
        let mut n = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        let depends = parents.iter().flatten().any(|&p| n[p].depends);
        n.push(Node { parents, pullback, multi: None, depends });
        (n.len() - 1, depends)
    }

    pub(crate) fn push(&self, node: Node<B>) -> usize {
        let mut n = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        n.push(node);
        n.len() - 1
    }

    /// Run the tape backwards from `seeds` (node, cotangent) and return the
    /// cotangents of `wanted` nodes (`None` where nothing flowed).
    pub(crate) fn backward(
        &self,
        seeds: impl IntoIterator<Item = (usize, Tensor<B>)>,
        wanted: &[usize],
    ) -> Result<PerOperand<Option<Tensor<B>>>> {
        let nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        let mut ct: Vec<Option<Tensor<B>>> = vec![None; nodes.len()];
        let mut top = 0;
        for (n, g) in seeds {
            top = top.max(n + 1);
            ct[n] = Some(match ct[n].take() {
                Some(prev) => prev.try_add(&g)?,
                None => g,
            });
        }
        for i in (0..top).rev() {
            let parent_cts = if let Some((pb, outs)) = nodes[i].multi.as_ref() {
                let cts: Vec<Option<Tensor<B>>> = outs.clone().map(|o| ct.get(o).cloned().flatten()).collect();
                if cts.iter().all(Option::is_none) {
                    continue;
                }
                pb(&cts)?
            } else {
                let (Some(g), Some(pb)) = (ct[i].clone(), nodes[i].pullback.as_ref()) else { continue };
                pb(&g)?
            };
            for (p, c) in nodes[i].parents.iter().zip(parent_cts) {
                if let (Some(p), Some(c)) = (p, c) {
                    ct[*p] = Some(match ct[*p].take() {
                        Some(prev) => prev.try_add(&c)?,
                        None => c,
                    });
                }
            }
        }
        Ok(wanted.iter().map(|&w| ct[w].take()).collect())
    }
}

/// The data of a reverse tracer: (primal, node). An in-place op rebinds the
/// tracer to new data (NOTE: [autodiff in-place rebinds]).
pub(crate) struct Rev<B: Backend> {
    primal: Tensor<B>,
    node: usize,
}

pub(crate) struct VjpInterp<B: Backend> {
    pub(crate) level: Level,
    /// Held in the interpreter's allocation; a `vjp_fn` keeps the
    /// interpreter to keep the tape.
    pub(crate) tape: Tape<B>,
}

impl<B: Backend> VjpInterp<B> {
    /// A fresh input (leaf) tracer.
    pub(crate) fn input(&self, primal: Tensor<B>) -> (Tensor<B>, usize) {
        let node = self.tape.push(Node { parents: PerOperand::new(), pullback: None, multi: None, depends: true });
        (self.make(primal, node), node)
    }

    /// A tracer of this level that depends on no input: a leaf no cotangent
    /// flows out of.
    fn constant(&self, primal: Tensor<B>) -> Tensor<B> {
        let node = self.tape.push(Node { parents: PerOperand::new(), pullback: None, multi: None, depends: false });
        self.make(primal, node)
    }

    fn make(&self, primal: Tensor<B>, node: usize) -> Tensor<B> {
        let (shape, dtype) = (primal.shape().clone(), primal.dtype());
        Tensor::new_tracer(&self.level, shape, dtype, Rev { primal, node })
    }

    /// (primal, node) of `t` at this level.
    pub(crate) fn unwrap(&self, t: &Tensor<B>) -> (Tensor<B>, Option<usize>) {
        t.with_tracer_data(&self.level, |r: &Rev<B>| (r.primal.clone(), Some(r.node)))
            .unwrap_or_else(|| (t.clone(), None))
    }
}

fn dims_of<B: Backend>(t: &Tensor<B>) -> Shape {
    t.shape().clone()
}

/// The pullback of `prim` at `primals` with output `y`; `needs[i]` says
/// whether operand `i` wants a cotangent.
pub(crate) fn vjp_rule<B: Backend>(
    prim: &Primitive,
    primals: &[Tensor<B>],
    y: &Tensor<B>,
    needs: &[bool],
) -> Result<Pullback<B>> {
    let need = |i: usize| needs.get(i).copied().unwrap_or(false);
    Ok(match prim {
        Primitive::Full { .. }
        | Primitive::Arange { .. }
        | Primitive::Random { .. }
        | Primitive::Compare(_)
        | Primitive::ArgReduce { .. } => {
            let n = primals.len();
            Box::new(move |_g| Ok(smallvec![None; n]))
        }
        Primitive::Unary(op) => {
            let d = derivs::unary(*op, &primals[0], y)?;
            Box::new(move |g| Ok(smallvec![d.scale(g)?]))
        }
        Primitive::Binary(op) => {
            let (da, db) = derivs::binary(*op, &primals[0], &primals[1], y)?;
            let (na, nb) = (need(0), need(1));
            Box::new(move |g| Ok(smallvec![if na { da.scale(g)? } else { None }, if nb { db.scale(g)? } else { None }]))
        }
        Primitive::Select => {
            let c = primals[0].clone();
            Box::new(move |g| {
                let z = g.zeros_like();
                Ok(smallvec![None, Some(Tensor::try_where_(&c, g, &z)?), Some(Tensor::try_where_(&c, &z, g)?)])
            })
        }
        Primitive::Cast(_) => {
            let d = primals[0].dtype();
            Box::new(move |g| Ok(smallvec![if d.is_float() { Some(g.try_to_dtype(d)?) } else { None }]))
        }
        Primitive::Copy => Box::new(|g| Ok(smallvec![Some(g.clone())])),
        Primitive::Reduce { op, axes, keepdim } => {
            let shape = dims_of(&primals[0]);
            let (axes, keepdim) = (axes.to_vec(), *keepdim);
            let weights = match op {
                ReduceOp::Sum => None,
                ReduceOp::Max | ReduceOp::Min => Some(derivs::extreme_weights(&primals[0], y, &axes, keepdim)?),
                ReduceOp::Prod => Some(derivs::prod_partials(&primals[0], y, &axes, keepdim)?),
            };
            Box::new(move |g| {
                let e = derivs::expand_reduced(g, &axes, keepdim, &shape)?;
                Ok(smallvec![Some(match &weights {
                    Some(w) => e.try_mul(w)?,
                    None => e,
                })])
            })
        }
        Primitive::Cumsum { axis } => {
            let a = *axis as isize;
            Box::new(move |g| Ok(smallvec![Some(g.flip(&[a]).cumsum(a).flip(&[a]))]))
        }
        Primitive::Matmul => {
            let (a, b) = (primals[0].clone(), primals[1].clone());
            let (na, nb) = (need(0), need(1));
            // `(g^T a)^T` for a column-major `b`: the gradient comes out with
            // `b`'s layout (NOTE: [gradient layout]).
            let b_col_major = derivs::column_major(&b);
            Box::new(move |g| {
                let [ga, gb] = derivs::matmul_cotangents(g, (&a, &b), (na, nb), b_col_major)?;
                Ok(smallvec![ga, gb])
            })
        }
        Primitive::Addmm => {
            let (a, b) = (primals[1].clone(), primals[2].clone());
            let (nc, na, nb) = (need(0), need(1), need(2));
            let c_shape = dims_of(&primals[0]);
            let b_col_major = derivs::column_major(&b);
            Box::new(move |g| {
                let [ga, gb] = derivs::matmul_cotangents(g, (&a, &b), (na, nb), b_col_major)?;
                let gc = if nc { Some(derivs::unbroadcast(g, &c_shape)?) } else { None };
                Ok(smallvec![gc, ga, gb])
            })
        }
        Primitive::Reshape { .. } => {
            let shape = dims_of(&primals[0]);
            Box::new(move |g| Ok(smallvec![Some(g.try_reshape_to(shape.clone())?)]))
        }
        Primitive::Permute { perm } => {
            let inv = derivs::inverse_perm(perm);
            Box::new(move |g| Ok(smallvec![Some(g.try_permute(&inv)?)]))
        }
        Primitive::BroadcastTo { .. } => {
            let shape = dims_of(&primals[0]);
            Box::new(move |g| Ok(smallvec![Some(derivs::unbroadcast(g, &shape)?)]))
        }
        Primitive::Slice { axis, start, step, .. } => {
            let (axis, start, step) = (*axis, *start, *step);
            let n = primals[0].dims()[axis];
            Box::new(move |g| Ok(smallvec![Some(derivs::unslice(g, axis, start, step, n)?)]))
        }
        Primitive::Diagonal { offset, dim1, dim2 } => {
            let (shape, offset, d1, d2) = (dims_of(&primals[0]), *offset, *dim1, *dim2);
            Box::new(move |g| Ok(smallvec![Some(derivs::undiagonal(g, &shape, offset, d1, d2)?)]))
        }
        Primitive::Concat { axis } => {
            let sizes: Vec<usize> = primals.iter().map(|p| p.dims()[*axis]).collect();
            let needs: Vec<bool> = (0..primals.len()).map(need).collect();
            let a = *axis as isize;
            Box::new(move |g| {
                let mut start = 0;
                let mut out = Cotangents::with_capacity(sizes.len());
                for (s, n) in sizes.iter().zip(&needs) {
                    out.push(if *n { Some(g.try_slice(a, start as isize, (start + s) as isize, 1)?) } else { None });
                    start += s;
                }
                Ok(out)
            })
        }
        Primitive::Pad { pads, .. } => {
            let pads = pads.to_vec();
            let shape = dims_of(&primals[0]);
            Box::new(move |g| {
                let mut r = g.clone();
                for (d, (&(before, _), &n)) in pads.iter().zip(shape.iter()).enumerate() {
                    if r.dims()[d] != n {
                        r = r.try_slice(d as isize, before as isize, (before + n) as isize, 1)?;
                    }
                }
                Ok(smallvec![Some(r)])
            })
        }
        Primitive::Flip { axes } => {
            let axes: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
            Box::new(move |g| Ok(smallvec![Some(g.flip(&axes))]))
        }
        Primitive::Gather { axis } => {
            let (shape, idx, axis) = (dims_of(&primals[0]), primals[1].clone(), *axis);
            Box::new(move |g| {
                let z = Tensor::zeros(shape.clone(), g.dtype());
                Ok(smallvec![Some(z.try_scatter_add(axis as isize, &idx, g)?), None])
            })
        }
        Primitive::ScatterAdd { axis } => {
            let (idx, axis) = (primals[1].clone(), *axis as isize);
            let (nb, ns) = (need(0), need(2));
            Box::new(move |g| {
                let gs = if ns { Some(g.try_gather(axis, &idx)?) } else { None };
                Ok(smallvec![if nb { Some(g.clone()) } else { None }, None, gs])
            })
        }
        Primitive::Im2col(geom) => {
            let geom = *geom;
            Box::new(move |g| {
                Ok(smallvec![Some(g.try_fold(
                    (geom.h, geom.w),
                    geom.kernel,
                    geom.stride,
                    geom.padding,
                    geom.dilation
                )?)])
            })
        }
        Primitive::Col2im(geom) => {
            let geom = *geom;
            Box::new(move |g| {
                Ok(smallvec![Some(g.try_unfold(geom.kernel, geom.stride, geom.padding, geom.dilation)?)])
            })
        }
        Primitive::Conv2d { geom, groups } | Primitive::ConvTranspose2d { geom, groups } => {
            let (x, w) = (primals[0].clone(), primals[1].clone());
            let conv = (*geom, *groups, matches!(prim, Primitive::ConvTranspose2d { .. }));
            let needs = (need(0), need(1));
            Box::new(move |g| {
                let [gx, gw] = derivs::conv_cotangents(g, (&x, &w), conv, needs)?;
                Ok(smallvec![gx, gw])
            })
        }
        Primitive::StopGradient => Box::new(|_g| Ok(smallvec![None])),
        // NOTE: [view copies] (func-core): the view's pullback (a copy's is
        // the identity).
        Primitive::ViewCopy(view) => return vjp_rule(view, primals, y, needs),
        Primitive::Custom(c) => {
            return Err(Error::invalid(c.name(), "internal: custom ops have several outputs; see VjpInterp::custom"));
        }
    })
}

impl<B: Backend> VjpInterp<B> {
    /// A primitive with one output.
    fn process_one(&self, prim: &Primitive, args: &[&Tensor<B>]) -> Result<Tensor<B>> {
        let (primals, parents): (PerOperand<_>, PerOperand<_>) = args.iter().map(|a| self.unwrap(a)).unzip();
        let refs: PerOperand<&Tensor<B>> = primals.iter().collect();
        let y = bind(prim.clone(), &refs)?;
        let needs: PerOperand<bool> =
            parents.iter().zip(&primals).map(|(p, x)| p.is_some() && x.dtype().is_float()).collect();
        if prim.is_factory() && y.dtype().is_float() {
            // NOTE: [factories belong to the transform] A buffer made inside
            // the function is a leaf of this tape, so traced values can be
            // written into it.
            return Ok(self.constant(y));
        }
        // stop_gradient's result is a constant to this level: a leaf of the
        // tape that no cotangent flows out of. It stays a tracer so that, as
        // a view of its operand, a write into the operand reaches it
        // (func-core's NOTE: [traced views]).
        if prim.stops_gradient() && y.dtype().is_float() && needs.iter().any(|&n| n) {
            return Ok(self.constant(y));
        }
        if !y.dtype().is_float() || !needs.iter().any(|&n| n) {
            return Ok(y);
        }
        let pullback = vjp_rule(prim, &primals, &y, &needs)?;
        let parents: PerOperand<Option<usize>> =
            parents.into_iter().zip(&needs).map(|(p, &n)| if n { p } else { None }).collect();
        let (node, _) = self.tape.push_op(parents, Some(pullback));
        Ok(self.make(y, node))
    }

    /// A custom op (NOTE: [custom op rules] in func-core): its VJP rule, else
    /// its JVP rule transposed, else reverse mode through its forward.
    fn custom(&self, c: &CustomOpRef, args: &[&Tensor<B>]) -> Result<Outputs<B>> {
        let op = c.typed::<B>()?.clone();
        let (has_vjp, has_jvp) = (op.has_rule(CustomRule::Vjp), op.has_rule(CustomRule::Jvp));
        if !has_vjp && !has_jvp {
            if !op.forward_is_traceable() {
                return Err(missing_rule(c.name(), CustomRule::Vjp));
            }
            let inputs: Vec<Tensor<B>> = args.iter().map(|a| (*a).clone()).collect();
            return Ok(reenter::<B, _>(|| op.forward(&inputs))?.into());
        }
        let (primals, parents): (Vec<_>, Vec<_>) = args.iter().map(|a| self.unwrap(a)).unzip();
        let refs: Vec<&Tensor<B>> = primals.iter().collect();
        let ys: Vec<Tensor<B>> = bind_multi(Primitive::Custom(c.clone()), &refs)?.into_vec();
        let needs: Vec<bool> = parents.iter().zip(&primals).map(|(p, x)| p.is_some() && x.dtype().is_float()).collect();
        if !ys.iter().any(|y| y.dtype().is_float()) || !needs.iter().any(|&n| n) {
            return Ok(ys.into());
        }
        let name = c.name();
        let (xs, outs) = (primals.clone(), ys.clone());
        let pullback: MultiPullback<B> = if has_vjp {
            Box::new(move |cts| {
                let r = op.vjp(&xs, &outs, cts)?;
                check_count(name, "vjp", "VJP rule", r.len(), xs.len())?;
                check_shapes(name, "vjp", "VJP rule's cotangent", &r, &xs)?;
                Ok(r.into())
            })
        } else {
            let needs = needs.clone();
            Box::new(move |cts| transposed_jvp(&*op, name, &xs, &outs, &needs, cts))
        };
        let parents: PerOperand<Option<usize>> =
            parents.into_iter().zip(&needs).map(|(p, &n)| if n { p } else { None }).collect();
        let (first, depends) = self.tape.push_op(parents, None);
        let mut result = Outputs::new();
        for y in ys {
            if y.dtype().is_float() {
                let node = self.tape.push(Node { parents: PerOperand::new(), pullback: None, multi: None, depends });
                result.push(self.make(y, node));
            } else {
                // Keep the output ranges contiguous: a placeholder node.
                self.tape.push(Node { parents: PerOperand::new(), pullback: None, multi: None, depends: false });
                result.push(y);
            }
        }
        let range = first + 1..first + 1 + result.len();
        self.tape.set_multi(first, pullback, range);
        Ok(result)
    }
}

/// The VJP of a custom op from its JVP rule, which is linear in the
/// tangents: the transpose is the VJP of `t -> jvp(x, y, t)` (at `t = 0`).
fn transposed_jvp<B: Backend>(
    op: &dyn CustomOp<B>,
    name: &str,
    xs: &[Tensor<B>],
    ys: &[Tensor<B>],
    needs: &[bool],
    cts: &[Option<Tensor<B>>],
) -> Result<Cotangents<B>> {
    let idx: Vec<usize> = (0..xs.len()).filter(|&i| needs[i]).collect();
    let zeros: Vec<Tensor<B>> = idx.iter().map(|&i| xs[i].zeros_like()).collect();
    let lin = |ts: &Vec<Tensor<B>>| -> Result<Vec<Tensor<B>>> {
        let mut tans: Vec<Option<Tensor<B>>> = vec![None; xs.len()];
        for (k, &i) in idx.iter().enumerate() {
            tans[i] = Some(ts[k].clone());
        }
        let r = op
            .jvp(xs, ys, &tans)
            .and_then(|r| check_count(name, "vjp", "JVP rule", r.len(), ys.len()).map(|()| r))
            .and_then(|r| check_shapes(name, "vjp", "JVP rule's tangent", &r, ys).map(|()| r))?;
        Ok(ys
            .iter()
            .zip(r)
            .filter(|(y, _)| y.dtype().is_float())
            .map(|(y, t)| t.unwrap_or_else(|| y.zeros_like()))
            .collect())
    };
    let (_, back) = crate::try_vjp(lin, &zeros)?;
    let g: Vec<Tensor<B>> = ys
        .iter()
        .zip(cts)
        .filter(|(y, _)| y.dtype().is_float())
        .map(|(y, c)| c.clone().unwrap_or_else(|| y.zeros_like()))
        .collect();
    let got = back(&g)?;
    let mut out: Cotangents<B> = smallvec![None; xs.len()];
    for (k, &i) in idx.iter().enumerate() {
        out[i] = Some(got[k].clone());
    }
    Ok(out)
}

/// Check that each tangent or cotangent a custom op's rule returned has the
/// shape of the value it belongs to.
pub(crate) fn check_shapes<B: Backend>(
    name: &str,
    transform: &str,
    what: &str,
    got: &[Option<Tensor<B>>],
    like: &[Tensor<B>],
) -> Result<()> {
    for (i, (g, l)) in got.iter().zip(like).enumerate() {
        if let Some(g) = g
            && g.shape() != l.shape()
        {
            return Err(Error::transform(
                transform,
                format!(
                    "custom op `{name}`: its {what} {i} has shape {}, but the value it belongs to has shape {}",
                    g.shape(),
                    l.shape()
                ),
            ));
        }
    }
    Ok(())
}

impl<B: Backend> Interpreter<B> for VjpInterp<B> {
    fn level(&self) -> &Level {
        &self.level
    }

    fn process(&self, prim: &Primitive, args: &[&Tensor<B>]) -> Result<Outputs<B>> {
        if let Primitive::Custom(c) = prim {
            return self.custom(c, args);
        }
        Ok([self.process_one(prim, args)?].into())
    }

    fn copy_into(&self, dst: &Tensor<B>, src: &Tensor<B>, op: &str) -> Result<()> {
        let (sp, sn) = self.unwrap(src);
        if dst.level() != Some(&self.level) {
            // A value with no derivative here (computed from stop_gradient
            // results and constants, as BatchNorm's running statistics are)
            // is written into the captured tensor one level down, as torch
            // does; a value that depends on the inputs is refused.
            if sn.is_none_or(|n| !self.tape.depends(n)) {
                return dst.try_copy_(&sp);
            }
            return Err(captured_mutation("vjp", op, dst));
        }
        // NOTE: [autodiff in-place rebinds]
        let node = match sn {
            Some(n) => n,
            // A constant written in: the tensor no longer depends on anything.
            None => self.tape.push(Node { parents: PerOperand::new(), pullback: None, multi: None, depends: false }),
        };
        dst.rebind_tracer(&self.make(sp, node))
    }

    fn lower_for_read(&self, t: &Tensor<B>, _op: &str) -> Result<Tensor<B>> {
        Ok(self.unwrap(t).0)
    }
}
