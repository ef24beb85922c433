//! Graph capture: [`make_graph`] records the primitives a function runs as
//! an SSA list of nodes, like JAX's `make_jaxpr` or torch's `make_fx`.
//!
//! NOTE: [graph capture] The capture is an interpreter like any transform.
//! Its tracer holds a variable of the graph and the value one level down (so
//! shapes, dtypes and custom ops' outputs come from running the function
//! once on the example inputs):
//! - each primitive bound on its tracers becomes a node: the primitive, its
//!   input variables and its output variables (shape, dtype). A custom op is
//!   one node with its name. Constants (`x * 2.0`) are `full` nodes, since
//!   they go through bind (NOTE: [constants go through bind] in func-core);
//!   a tensor the function captured from outside, or made on the host (the
//!   index tables of a write through a view), is a `constant` node holding
//!   it;
//! - an in-place write is a `Write` node (`copy_`), whose output variable
//!   the written tensor is rebound to, so every variable is assigned once.
//!   Tracing writes nothing: the example inputs keep their values, and
//!   evaluating the graph performs the writes, on the tensors it is given;
//! - reading a traced value (`item()`, `to_vec()`) is an error: a graph
//!   records operations, not values, so it cannot follow data-dependent
//!   control flow (JAX's `ConcretizationTypeError`).
//!
//! [`Graph::eval`] runs the nodes again through
//! [`bind_multi`](func_core::bind_multi) and plain tensor writes, so a graph
//! is an ordinary function of tensors: vmap, grad and functionalize apply to
//! it as to the function it was made from.

mod capture;
mod display;
mod eval;
mod simplify;

pub use capture::make_graph;
pub use simplify::Simplified;

use func_core::{Backend, DType, Primitive, Shape, Tensor};
use std::fmt;
use std::marker::PhantomData;

/// A variable of a [`Graph`]: `%id`, assigned once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub usize);

impl fmt::Display for VarId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// A variable with its shape and dtype.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Var {
    /// The variable.
    pub id: VarId,
    /// Its shape.
    pub shape: Shape,
    /// Its dtype.
    pub dtype: DType,
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}{}", self.id, self.dtype, self.shape)
    }
}

/// What a [`Node`] does.
#[derive(Clone, Debug)]
pub enum NodeOp<B: Backend> {
    /// A tensor the function used but did not compute from its inputs: one
    /// captured from outside, or made on the host (no inputs).
    Constant(Tensor<B>),
    /// A primitive applied to the inputs (a custom op is one
    /// [`Primitive::Custom`]).
    Primitive(Primitive),
    /// The in-place write `inputs[0].copy_(inputs[1])` (`inputs[1]` already
    /// holds the result of the in-place operation `op`, computed out of
    /// place); the output is the written tensor after the write.
    Write {
        /// The in-place operation the function called (`add_`, `copy_`, ...).
        op: String,
    },
}

/// One step of a [`Graph`]: an operation, the variables it reads and the
/// variables it defines.
#[derive(Clone, Debug)]
pub struct Node<B: Backend> {
    /// The operation.
    pub op: NodeOp<B>,
    /// The variables read, in operand order.
    pub inputs: Vec<VarId>,
    /// The variables defined (several only for a custom op).
    pub outputs: Vec<Var>,
}

impl<B: Backend> Node<B> {
    /// The name printed for the node: the primitive's name (a custom op's
    /// own), `constant`, or `copy_` for a write.
    pub fn name(&self) -> &str {
        match &self.op {
            NodeOp::Constant(_) => "constant",
            NodeOp::Primitive(p) => p.name(),
            NodeOp::Write { .. } => "copy_",
        }
    }

    /// Whether the node writes a tensor in place.
    pub fn is_write(&self) -> bool {
        matches!(self.op, NodeOp::Write { .. })
    }

    /// Whether the node makes a view of its operand ([`Primitive::is_view`]).
    pub fn is_view(&self) -> bool {
        matches!(&self.op, NodeOp::Primitive(p) if p.is_view())
    }

    /// The primitive, for a primitive node.
    pub fn primitive(&self) -> Option<&Primitive> {
        match &self.op {
            NodeOp::Primitive(p) => Some(p),
            _ => None,
        }
    }
}

/// The primitives a function runs, captured by [`make_graph`]: an SSA list
/// of [`Node`]s over [`Var`]s, printed like a jaxpr (`{graph}`), and
/// evaluated again on new inputs of the same shapes ([`Graph::eval`]).
/// Evaluation drops each intermediate after the last node that reads it,
/// so its buffer serves later nodes (NOTE: [dead values] in eval.rs).
///
/// `X` and `Y` are the function's input and output trees.
pub struct Graph<B: Backend, X, Y> {
    inputs: Vec<Var>,
    nodes: Vec<Node<B>>,
    outputs: Vec<VarId>,
    /// For each variable (`last_use.len()` is their number), the index of
    /// the last node that reads it ([`KEEP`] for the graph's outputs):
    /// NOTE: [dead values] in eval.rs.
    last_use: Vec<usize>,
    template: Y,
    _input: PhantomData<fn(&X)>,
}

/// [`Graph::last_use`] of a variable kept to the end: an output.
const KEEP: usize = usize::MAX;

/// For each of `num_vars` variables, the index of the last of `nodes` that
/// reads it, [`KEEP`] for `outputs`, and 0 for a variable no node reads.
fn last_uses<B: Backend>(nodes: &[Node<B>], outputs: &[VarId], num_vars: usize) -> Vec<usize> {
    let mut last = vec![0; num_vars];
    for (i, node) in nodes.iter().enumerate() {
        for id in &node.inputs {
            last[id.0] = i;
        }
    }
    for id in outputs {
        last[id.0] = KEEP;
    }
    last
}

impl<B: Backend, X, Y> fmt::Debug for Graph<B, X, Y> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph")
            .field("inputs", &self.inputs)
            .field("nodes", &self.nodes.len())
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl<B: Backend, X, Y> Graph<B, X, Y> {
    /// The input variables, one per leaf of the input tree.
    pub fn inputs(&self) -> &[Var] {
        &self.inputs
    }

    /// The nodes, in execution order.
    pub fn nodes(&self) -> &[Node<B>] {
        &self.nodes
    }

    /// The output variables, one per leaf of the output tree.
    pub fn outputs(&self) -> &[VarId] {
        &self.outputs
    }

    /// The name of every node, in order ([`Node::name`]).
    pub fn names(&self) -> Vec<&str> {
        self.nodes.iter().map(Node::name).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use func_testkit::RefBackend;

    type T = Tensor<RefBackend>;

    /// NOTE: [dead values] (eval.rs): after node `i`, a variable is still
    /// held exactly when a later node reads it or it is an output, the
    /// definition checked here against `last_uses` for every variable after
    /// every node.
    #[test]
    fn each_variable_is_held_until_its_last_reader_and_no_longer() {
        let f = |x: &T| {
            let a = x.sin();
            let b = &a * 2.0;
            let _unused = x.cos();
            let v = b.slice(0, 0, 2, 1);
            v.add_scalar_(1.0);
            ((&b + &a).sum(), x.exp())
        };
        let g = make_graph(f, &T::from_vec(vec![0.5f64, 1.0, 2.0], [3]));
        let (mut checked, mut dropped_early, mut never_read) = (0, 0, 0);
        for v in 0..g.last_use.len() {
            let id = VarId(v);
            let output = g.outputs.contains(&id);
            for i in 0..g.nodes.len() {
                let wanted = output || g.nodes[i + 1..].iter().any(|n| n.inputs.contains(&id));
                assert_eq!(g.last_use[v] > i, wanted, "{id} after node {i} in\n{g}");
                checked += 1;
            }
            let defined_at = g.nodes.iter().position(|n| n.outputs.iter().any(|o| o.id == id));
            let last_read = g.nodes.iter().rposition(|n| n.inputs.contains(&id));
            match (defined_at, last_read) {
                (Some(_), None) if !output => never_read += 1,
                (Some(_), Some(r)) if !output && r + 1 < g.nodes.len() => dropped_early += 1,
                _ => {}
            }
        }
        assert!(checked >= 10 * g.nodes.len(), "{checked} checks");
        assert!(never_read >= 1, "the unused cos is dropped as it is defined\n{g}");
        assert!(dropped_early >= 3, "intermediates are dropped before the end\n{g}");
    }
}
