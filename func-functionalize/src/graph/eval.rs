//! Running a captured [`Graph`] again on new inputs.

use super::{Graph, NodeOp, VarId};
use func_core::{Backend, Error, Result, Tensor, TensorTree, bind_multi};

impl<B: Backend, X, Y> Graph<B, X, Y> {
    /// Run the graph on new inputs (the leaves of the input tree), with the
    /// shapes and dtypes it was made with, and return the output leaves.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for the wrong number of inputs,
    /// [`Error::ShapeMismatch`] or [`Error::DType`] for an input unlike the
    /// example it was traced with, and the errors of the operations
    /// themselves (an in-place write into a broadcast view, a write a
    /// transform cannot express).
    pub fn try_eval_leaves(&self, inputs: &[Tensor<B>]) -> Result<Vec<Tensor<B>>> {
        if inputs.len() != self.inputs.len() {
            return Err(Error::invalid(
                "Graph::eval",
                format!(
                    "the graph was made with {} input tensors, but got {}; pass inputs of the structure it was \
                     traced with",
                    self.inputs.len(),
                    inputs.len()
                ),
            ));
        }
        for (i, (v, t)) in self.inputs.iter().zip(inputs).enumerate() {
            if &v.shape != t.shape() {
                return Err(Error::shape_mismatch(
                    "Graph::eval",
                    &v.shape,
                    t.shape(),
                    format!(
                        "(traced and given, input {i}) differ: a graph runs only on inputs of the shapes it was \
                         made with; call make_graph again with an example of the new shape"
                    ),
                ));
            }
            if v.dtype != t.dtype() {
                return Err(Error::dtype(
                    "Graph::eval",
                    t.dtype(),
                    format!("input {i} was traced as {}; convert it, or call make_graph again", v.dtype),
                ));
            }
        }
        let mut env: Vec<Option<Tensor<B>>> = vec![None; self.last_use.len()];
        for (v, t) in self.inputs.iter().zip(inputs) {
            env[v.id.0] = Some(t.clone());
        }
        let get = |env: &[Option<Tensor<B>>], id: VarId| -> Result<Tensor<B>> {
            env.get(id.0)
                .cloned()
                .flatten()
                .ok_or_else(|| Error::invalid("Graph::eval", format!("internal: {id} is read before it is defined")))
        };
        // NOTE: [dead values] A variable is dropped after the last node that
        // reads it (one no node reads, as soon as it is defined), as XLA's
        // buffer assignment reuses a buffer after its last use: its buffer
        // then goes back to the backend's allocator while it is still in
        // cache, and serves a later node, instead of every intermediate
        // living to the end of the call. Dropping a reference never changes
        // a value: a view of the variable, or a write through one, holds its
        // storage itself.
        for (i, node) in self.nodes.iter().enumerate() {
            let values: Vec<Tensor<B>> = node.inputs.iter().map(|&id| get(&env, id)).collect::<Result<_>>()?;
            let outs: Vec<Tensor<B>> = match &node.op {
                NodeOp::Constant(t) => vec![t.clone()],
                NodeOp::Primitive(p) => {
                    let refs: Vec<&Tensor<B>> = values.iter().collect();
                    bind_multi(p.clone(), &refs)?.into_vec()
                }
                NodeOp::Write { .. } => {
                    values[0].try_copy_(&values[1])?;
                    vec![values[0].clone()]
                }
            };
            for id in &node.inputs {
                if self.last_use[id.0] == i {
                    env[id.0] = None;
                }
            }
            for (v, t) in node.outputs.iter().zip(outs) {
                if self.last_use[v.id.0] > i {
                    env[v.id.0] = Some(t);
                }
            }
        }
        self.outputs.iter().map(|&id| get(&env, id)).collect()
    }
}

impl<B: Backend, X: TensorTree<B>, Y: TensorTree<B>> Graph<B, X, Y> {
    /// Run the graph on `x` (of the input tree and shapes it was made
    /// with): the function it was made from, as a function of tensors, so
    /// `grad`, `vmap` and `functionalize` apply to it.
    ///
    /// # Errors
    ///
    /// As [`try_eval_leaves`](Self::try_eval_leaves).
    ///
    /// # Examples
    ///
    /// ```
    /// use func_core::{Error, Tensor};
    /// use func_functionalize::make_graph;
    /// use func_testkit::RefBackend;
    /// type T = Tensor<RefBackend>;
    /// let g = make_graph(|x: &T| x * x, &T::from_vec(vec![1.0f64, 2.0], [2]));
    /// let err = g.try_eval(&T::from_vec(vec![1.0f64, 2.0, 3.0], [3])).unwrap_err();
    /// assert!(matches!(err, Error::ShapeMismatch { .. }));
    /// ```
    pub fn try_eval(&self, x: &X) -> Result<Y> {
        let outs = self.try_eval_leaves(&x.leaves())?;
        Ok(self.template.rebuild(&mut outs.into_iter()))
    }

    /// [`try_eval`](Self::try_eval), panicking on error.
    ///
    /// # Panics
    ///
    /// As [`try_eval`](Self::try_eval) errs.
    pub fn eval(&self, x: &X) -> Y {
        self.try_eval(x).unwrap_or_else(|e| panic!("{e}"))
    }
}
