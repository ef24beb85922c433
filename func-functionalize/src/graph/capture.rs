//! The capture interpreter behind [`make_graph`] (NOTE: [graph capture]).

use super::{Graph, Node, NodeOp, Var, VarId};
use func_core::{Backend, Error, Interpreter, Level, Outputs, Primitive, Result, Tensor, TensorTree, bind_multi};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

/// The graph interpreter's tracer data: a variable and its value one level
/// down.
struct Traced<B: Backend> {
    id: VarId,
    value: Tensor<B>,
}

struct Recording<B: Backend> {
    nodes: Vec<Node<B>>,
    next: usize,
    /// Constants already recorded, by handle.
    constants: Vec<(Tensor<B>, VarId)>,
}

struct GraphInterp<B: Backend> {
    level: Level,
    rec: Mutex<Recording<B>>,
}

impl<B: Backend> GraphInterp<B> {
    fn rec(&self) -> std::sync::MutexGuard<'_, Recording<B>> {
        self.rec.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fresh(&self, like: &Tensor<B>) -> Var {
        let mut r = self.rec();
        let id = VarId(r.next);
        r.next += 1;
        Var { id, shape: like.shape().clone(), dtype: like.dtype() }
    }

    fn wrap(&self, id: VarId, value: Tensor<B>) -> Tensor<B> {
        Tensor::new_tracer(&self.level, value.shape().clone(), value.dtype(), Traced { id, value })
    }

    /// The variable and value one level down of an operand: this level's
    /// tracer, or a constant (recorded once per handle).
    fn operand(&self, t: &Tensor<B>) -> (VarId, Tensor<B>) {
        if let Some(d) = t.tracer_data::<Traced<B>>(&self.level) {
            return (d.id, d.value.clone());
        }
        if let Some(id) = self.rec().constants.iter().find(|(c, _)| c.same_handle(t)).map(|(_, id)| *id) {
            return (id, t.clone());
        }
        let var = self.fresh(t);
        let id = var.id;
        let mut r = self.rec();
        r.nodes.push(Node { op: NodeOp::Constant(t.clone()), inputs: vec![], outputs: vec![var] });
        r.constants.push((t.clone(), id));
        (id, t.clone())
    }
}

impl<B: Backend> Interpreter<B> for GraphInterp<B> {
    fn level(&self) -> &Level {
        &self.level
    }

    fn process(&self, prim: &Primitive, args: &[&Tensor<B>]) -> Result<Outputs<B>> {
        let (ids, values): (Vec<VarId>, Vec<Tensor<B>>) = args.iter().map(|a| self.operand(a)).unzip();
        let refs: Vec<&Tensor<B>> = values.iter().collect();
        let ys = bind_multi(prim.clone(), &refs)?;
        let vars: Vec<Var> = ys.iter().map(|y| self.fresh(y)).collect();
        let out = ys.into_iter().zip(&vars).map(|(y, v)| self.wrap(v.id, y)).collect();
        self.rec().nodes.push(Node { op: NodeOp::Primitive(prim.clone()), inputs: ids, outputs: vars });
        Ok(out)
    }

    fn copy_into(&self, dst: &Tensor<B>, src: &Tensor<B>, op: &str) -> Result<()> {
        // NOTE: [graph capture] Record the write; rebind a tracer of this
        // level to the written variable. Nothing is written while tracing.
        let (d, _) = self.operand(dst);
        let (s, value) = self.operand(src);
        let var = self.fresh(dst);
        let id = var.id;
        self.rec().nodes.push(Node {
            op: NodeOp::Write { op: op.to_string() },
            inputs: vec![d, s],
            outputs: vec![var],
        });
        if dst.level() == Some(&self.level) { dst.rebind_tracer(&self.wrap(id, value)) } else { Ok(()) }
    }

    fn lower_for_read(&self, t: &Tensor<B>, op: &str) -> Result<Tensor<B>> {
        Err(Error::transform(
            "make_graph",
            format!(
                "{op}() was called on a traced value (shape {}): a graph records operations, not values, so it \
                 cannot follow data-dependent control flow or read a value on the host. Compute the value outside \
                 the function and capture it, or use Tensor operations (e.g. Tensor::where_ instead of an `if` on \
                 a value).",
                t.shape()
            ),
        ))
    }
}

/// Capture the primitives `f` runs on `example_inputs` as a [`Graph`]
/// (JAX's `make_jaxpr`, torch's `make_fx`).
///
/// `f` runs once; the graph holds what it did, in order, with every
/// variable's shape and dtype, and can be printed (`{graph}`) and evaluated
/// again on new inputs of the same shapes. Transforms inside `f` show their
/// rules at work: `make_graph(grad(f), x)` holds the backward pass,
/// `make_graph(vmap(f), xs)` the batched primitives, and
/// `make_graph(functionalize(f), x)` no in-place operation except the
/// write-back of each mutated input at the end (as torch's).
///
/// Tracing does not modify `example_inputs`: their mutations are recorded
/// as `copy_` nodes, which [`Graph::eval`] performs (NOTE: [graph capture]).
///
/// # Panics
///
/// When `f` panics; in particular when `f` reads a traced value on the host
/// (`item()`, `to_vec()`, a bool for an `if`), with an
/// [`Error::Transform`] message naming `make_graph`: a graph cannot record
/// data-dependent control flow.
///
/// # Examples
///
/// ```
/// use func_core::Tensor;
/// use func_functionalize::make_graph;
/// use func_testkit::RefBackend;
/// type T = Tensor<RefBackend>;
///
/// let f = |x: &T| (x.sin() * 2.0).sum();
/// let graph = make_graph(f, &T::from_vec(vec![0.0f64, 1.0, 2.0], [3]));
/// let printed = graph.to_string();
/// assert!(printed.contains("= sin %0"), "{printed}");
/// // Evaluate again on other values of the same shape.
/// let y = graph.eval(&T::from_vec(vec![1.0f64, 1.0, 1.0], [3]));
/// assert!((y.item::<f64>() - 6.0 * 1f64.sin()).abs() < 1e-12);
/// ```
pub fn make_graph<B, X, Y, F>(f: F, example_inputs: &X) -> Graph<B, X, Y>
where
    B: Backend,
    X: TensorTree<B>,
    Y: TensorTree<B>,
    F: FnOnce(&X) -> Y,
{
    let interp = Arc::new(GraphInterp {
        level: Level::new("make_graph"),
        rec: Mutex::new(Recording { nodes: Vec::new(), next: 0, constants: Vec::new() }),
    });
    let it = interp.clone();
    let (inputs, outputs, template) = func_core::with_interpreter::<B, _>(interp.clone(), move || {
        let leaves = example_inputs.leaves();
        let inputs: Vec<Var> = leaves.iter().map(|l| it.fresh(l)).collect();
        let tracers: Vec<Tensor<B>> = leaves.iter().zip(&inputs).map(|(l, v)| it.wrap(v.id, l.clone())).collect();
        let y = f(&example_inputs.rebuild(&mut tracers.into_iter()));
        let (ids, values): (Vec<VarId>, Vec<Tensor<B>>) = y.leaves().iter().map(|l| it.operand(l)).unzip();
        (inputs, ids, y.rebuild(&mut values.into_iter()))
    });
    let rec = std::mem::replace(
        &mut *interp.rec.lock().unwrap_or_else(|p| p.into_inner()),
        Recording { nodes: Vec::new(), next: 0, constants: Vec::new() },
    );
    let last_use = super::last_uses(&rec.nodes, &outputs, rec.next);
    Graph { inputs, nodes: rec.nodes, outputs, last_use, template, _input: PhantomData }
}
