//! Simplifying a captured [`Graph`]: nodes whose results nothing reads are
//! removed, a node that repeats an earlier one is merged into it, and a
//! product with ones is replaced by its other operand (NOTE: [graph
//! simplification]).
//!
//! NOTE: [graph simplification] A function run under transforms computes
//! values no one reads, and computes some twice: `jvp(grad(f))` of
//! `f(x) = sum(sin(x))` evaluates `f`'s value and its tangent, which
//! `grad` drops, and `sin` and `cos` of `x` twice each (the JVP rule of
//! `sin` and the VJP rule's derivative `cos(x)`, run at the JVP level,
//! each evaluate `cos`; `cos`'s own JVP rule evaluates `sin` again). Eager
//! evaluation cannot know, when an operation runs, whether a later one
//! reads its result or repeats it; a captured graph holds the whole
//! program, so [`Graph::simplify`] does what jax.jit's compiler does with
//! a jaxpr:
//! - **dead-code elimination**: a node is kept when a kept node reads one
//!   of its outputs, when one is a graph output, or when it has an effect:
//!   an in-place write (`copy_`), or a custom op (its forward may run host
//!   code). The rest are removed.
//! - **common-subexpression elimination**: a primitive node with the same
//!   primitive (parameters included) and the same input variables as an
//!   earlier kept node computes the same values, and its outputs are
//!   renamed to the earlier node's. Three cases are excluded, because
//!   tensors here are mutable and merging would change what a later write
//!   or a caller sees:
//!   - a node whose output shares storage (itself, or through view nodes)
//!     with a tensor written in place, with a graph output, or with an
//!     operand of a custom op (whose outputs may be its operands, and be
//!     written): two `x.deep_copy()` merged into one would make a write
//!     into the first visible in the second, and two equal outputs would
//!     be one buffer the caller could write through;
//!   - a node after an in-place write with one before it: the write may
//!     have changed the storage both read. Capture rebinds a written
//!     tensor and the views of it it knows, but the inputs of an evaluation
//!     may alias each other (a tensor and a view of it, passed as two
//!     inputs), so a write into one changes what the other's variable
//!     reads. The table of earlier nodes is emptied at every write (and at
//!     every custom op);
//!   - constants and custom ops, which are never merged.
//! - **products with ones**: `mul(a, ones)` (either operand order), where
//!   `ones` is a `full` of 1 or a view of one (the seeds of `grad` and
//!   the `x * 1.0` of a rule), computes `a`'s values, and its output is
//!   renamed to `a`. x * 1 is x, bit for bit, for every float (signed
//!   zeros and infinities included; only a signaling NaN, which the
//!   product would have made quiet, keeps its bits) and every integer.
//!   Refused where renaming could change what a write or the caller sees:
//!   - when the ones share storage with a written tensor (or a graph
//!     output, or a custom op's operand): they may no longer be ones;
//!   - when a write or a custom op follows the product: a later reader of
//!     the output would read `a` after it, perhaps written through an
//!     aliased input;
//!   - when `a` shares storage with a graph output (two outputs would be
//!     one buffer), or with a written tensor or a custom op's operand;
//!   - when the output is (the storage of) a graph output and `a` is an
//!     input or a view of one: the caller would get its own input back.
//!     An output may become an intermediate `a` of its own.
//!
//! Simplification never reorders nodes or changes a kept node's operation,
//! so a simplified graph evaluates to the values of the unsimplified one,
//! bit for bit: the law `simplify_law_random_programs_evaluate_as_before`
//! in the crate's tests checks it on random programs with products with
//! ones, writes through views and aliased inputs.

use super::{Graph, Node, NodeOp, VarId, last_uses};
use func_core::{Backend, BinaryOp, DType, Primitive, Shape};
use std::collections::HashMap;

/// What [`Graph::simplify`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Simplified {
    /// Nodes that repeated an earlier node, merged into it.
    pub merged: usize,
    /// Nodes whose outputs nothing read, removed.
    pub dead: usize,
    /// Products with a tensor of ones, replaced by their other operand.
    pub identities: usize,
}

/// Whether a node has an effect beyond its outputs (NOTE: [graph
/// simplification]): an in-place write, or a custom op.
fn has_effect<B: Backend>(node: &Node<B>) -> bool {
    node.is_write() || matches!(node.primitive(), Some(Primitive::Custom(_)))
}

impl<B: Backend, X, Y> Graph<B, X, Y> {
    /// Remove the nodes whose results nothing reads, merge the nodes that
    /// repeat an earlier one and replace products with ones by their other
    /// operand (NOTE: [graph simplification]), as jax.jit's compiler does;
    /// the graph evaluates to the same values, with fewer operations.
    /// Returns how many nodes each step removed.
    ///
    /// # Examples
    ///
    /// A Hessian-vector product computes `f`'s value and its tangent, which
    /// `grad` drops, and `sin` and `cos` of `x` twice each; the product
    /// itself needs one `sin`:
    ///
    /// ```
    /// use func_autodiff::{grad, jvp};
    /// use func_core::Tensor;
    /// use func_functionalize::make_graph;
    /// use func_testkit::RefBackend;
    /// type T = Tensor<RefBackend>;
    ///
    /// let f = |x: &T| x.sin().sum();
    /// let hvp = |(x, v): &(T, T)| jvp(grad(f), x, v).1;
    /// let x = T::from_vec(vec![0.5f64, 1.0, 2.0], [3]);
    /// let v = T::from_vec(vec![1.0f64, -1.0, 0.5], [3]);
    /// let mut graph = make_graph(hvp, &(x.clone(), v.clone()));
    /// let trig = |g: &[&str]| g.iter().filter(|n| ["sin", "cos"].contains(n)).count();
    /// assert_eq!(trig(&graph.names()), 4);
    /// let done = graph.simplify();
    /// assert!(done.dead > 0);
    /// assert_eq!(trig(&graph.names()), 1);
    /// // The Hessian of sum(sin(x)) is diag(-sin(x)).
    /// let hv = graph.eval(&(x.clone(), v.clone())).to_vec::<f64>();
    /// let want = (x.sin().neg() * &v).to_vec::<f64>();
    /// assert!(hv.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 1e-12 * b.abs().max(1.0)));
    /// ```
    pub fn simplify(&mut self) -> Simplified {
        let (merged, identities) = self.merge_repeats();
        let dead = self.remove_dead();
        self.last_use = last_uses(&self.nodes, &self.outputs, self.last_use.len());
        Simplified { merged, dead, identities }
    }

    /// Common-subexpression elimination and products with ones (NOTE:
    /// [graph simplification]): the number of nodes merged, and of products
    /// replaced by their operand.
    fn merge_repeats(&mut self) -> (usize, usize) {
        let vars = self.last_use.len();
        // The variable owning each variable's storage: a view, or a write's
        // output (the written tensor), shares its first input's.
        let mut root: Vec<usize> = (0..vars).collect();
        for node in &self.nodes {
            if let (true, Some(src)) = (node.is_view() || node.is_write(), node.inputs.first()) {
                for out in &node.outputs {
                    root[out.id.0] = root[src.0];
                }
            }
        }
        // Storage written in place, returned to the caller, or read by a
        // custom op (whose outputs may be its operands, or views of them,
        // and then written).
        let mut protected = vec![false; vars];
        for node in &self.nodes {
            let reached: &[VarId] = match (&node.op, node.inputs.first()) {
                (NodeOp::Write { .. }, Some(target)) => std::slice::from_ref(target),
                (NodeOp::Primitive(Primitive::Custom(_)), _) => &node.inputs,
                _ => &[],
            };
            for id in reached {
                protected[root[id.0]] = true;
            }
        }
        for out in &self.outputs {
            protected[root[out.0]] = true;
        }
        let mut rename: Vec<VarId> = (0..vars).map(VarId).collect();
        // Each variable's shape and dtype, and whether it holds ones: a
        // `full` of 1, or a view of ones.
        let mut var: Vec<Option<(Shape, DType)>> = vec![None; vars];
        for v in self.inputs.iter().chain(self.nodes.iter().flat_map(|n| &n.outputs)) {
            var[v.id.0] = Some((v.shape.clone(), v.dtype));
        }
        let mut ones = vec![false; vars];
        let mut input = vec![false; vars];
        for v in &self.inputs {
            input[v.id.0] = true;
        }
        // Products with ones are replaced only after the last write or custom op.
        let after_effects = self.nodes.iter().rposition(has_effect).map_or(0, |i| i + 1);
        // Kept primitive nodes since the last write, by name and inputs.
        let mut seen: HashMap<(&'static str, Vec<VarId>), Vec<usize>> = HashMap::new();
        let mut kept: Vec<Node<B>> = Vec::with_capacity(self.nodes.len());
        let (mut merged, mut identities) = (0, 0);
        for (at, mut node) in std::mem::take(&mut self.nodes).into_iter().enumerate() {
            for id in &mut node.inputs {
                *id = rename[id.0];
            }
            let makes_ones = match (node.primitive(), node.inputs.first()) {
                (Some(Primitive::Full { value, .. }), _) => *value == 1.0,
                (Some(p), Some(src)) => p.is_view() && ones[src.0],
                _ => false,
            };
            for out in &node.outputs {
                ones[out.id.0] = makes_ones;
            }
            if has_effect(&node) {
                seen.clear();
                kept.push(node);
                continue;
            }
            let Some(p) = node.primitive() else {
                kept.push(node);
                continue;
            };
            if let ([out], [a, b], Primitive::Binary(BinaryOp::Mul), true) =
                (&node.outputs[..], &node.inputs[..], p, at >= after_effects)
            {
                // Ones whose storage nothing writes.
                let is_ones = |v: &VarId| ones[v.0] && !protected[root[v.0]];
                let operand = if is_ones(b) {
                    Some(*a)
                } else if is_ones(a) {
                    Some(*b)
                } else {
                    None
                };
                let same = |v: VarId| var[v.0].as_ref().is_some_and(|(s, d)| *s == out.shape && *d == out.dtype);
                // No write follows, so a protected output here is (the
                // storage of) a graph output: it may become `a` when `a` is
                // an intermediate of its own.
                let output = protected[root[out.id.0]];
                if let Some(v) = operand.filter(|&v| same(v) && !protected[root[v.0]] && !(output && input[root[v.0]]))
                {
                    rename[out.id.0] = v;
                    identities += 1;
                    continue;
                }
            }
            if node.outputs.iter().any(|o| protected[root[o.id.0]]) {
                kept.push(node);
                continue;
            }
            let key = (p.name(), node.inputs.clone());
            let earlier = seen.get(&key).and_then(|at| at.iter().copied().find(|&j| kept[j].primitive() == Some(p)));
            if let Some(j) = earlier {
                for (out, to) in node.outputs.iter().zip(&kept[j].outputs) {
                    rename[out.id.0] = to.id;
                }
                merged += 1;
                continue;
            }
            seen.entry(key).or_default().push(kept.len());
            kept.push(node);
        }
        self.nodes = kept;
        for out in &mut self.outputs {
            *out = rename[out.0];
        }
        (merged, identities)
    }

    /// Dead-code elimination (NOTE: [graph simplification]): the number of
    /// nodes removed.
    fn remove_dead(&mut self) -> usize {
        let mut read = vec![false; self.last_use.len()];
        for out in &self.outputs {
            read[out.0] = true;
        }
        let mut live = vec![false; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate().rev() {
            if has_effect(node) || node.outputs.iter().any(|o| read[o.id.0]) {
                live[i] = true;
                for id in &node.inputs {
                    read[id.0] = true;
                }
            }
        }
        let before = self.nodes.len();
        let nodes = std::mem::take(&mut self.nodes);
        self.nodes = nodes.into_iter().zip(live).filter_map(|(node, live)| live.then_some(node)).collect();
        before - self.nodes.len()
    }
}
