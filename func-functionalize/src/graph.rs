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
//! [`Graph::eval`] runs the nodes again through [`bind_multi`] and plain
//! tensor writes, so a graph is an ordinary function of tensors: vmap, grad
//! and functionalize apply to it as to the function it was made from.

use func_core::{
    Backend, DType, Error, Interpreter, Level, Outputs, Primitive, Result, Shape, Tensor, TensorTree, bind_multi,
};
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

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
///
/// `X` and `Y` are the function's input and output trees.
pub struct Graph<B: Backend, X, Y> {
    inputs: Vec<Var>,
    nodes: Vec<Node<B>>,
    outputs: Vec<VarId>,
    num_vars: usize,
    template: Y,
    _input: PhantomData<fn(&X)>,
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
    Graph { inputs, nodes: rec.nodes, outputs, num_vars: rec.next, template, _input: PhantomData }
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
        let mut env: Vec<Option<Tensor<B>>> = vec![None; self.num_vars];
        for (v, t) in self.inputs.iter().zip(inputs) {
            env[v.id.0] = Some(t.clone());
        }
        let get = |env: &[Option<Tensor<B>>], id: VarId| -> Result<Tensor<B>> {
            env.get(id.0)
                .cloned()
                .flatten()
                .ok_or_else(|| Error::invalid("Graph::eval", format!("internal: {id} is read before it is defined")))
        };
        for node in &self.nodes {
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
            for (v, t) in node.outputs.iter().zip(outs) {
                env[v.id.0] = Some(t);
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

/// The parameters of a primitive, as printed between brackets.
fn params(p: &Primitive) -> String {
    let list = |xs: &[usize]| format!("{xs:?}");
    match p {
        Primitive::Full { value, .. } => format!("value={value}"),
        Primitive::Arange { start, step, .. } => format!("start={start}, step={step}"),
        Primitive::Random { dist, seed, .. } => format!("dist={dist:?}, seed={seed}"),
        Primitive::Unary(_)
        | Primitive::Binary(_)
        | Primitive::Compare(_)
        | Primitive::Select
        | Primitive::Copy
        | Primitive::Matmul
        | Primitive::StopGradient
        | Primitive::Custom(_) => String::new(),
        Primitive::Cast(d) => format!("dtype={d}"),
        Primitive::Reduce { axes, keepdim, .. } => format!("axes={}, keepdim={keepdim}", list(axes)),
        Primitive::ArgReduce { axis, keepdim, .. } => format!("axis={axis}, keepdim={keepdim}"),
        Primitive::Cumsum { axis } | Primitive::Concat { axis } => format!("axis={axis}"),
        Primitive::Gather { axis } | Primitive::ScatterAdd { axis } => format!("axis={axis}"),
        Primitive::Reshape { shape } | Primitive::BroadcastTo { shape } => format!("shape={shape}"),
        Primitive::Permute { perm } => format!("perm={}", list(perm)),
        Primitive::Slice { axis, start, stop, step } => {
            format!("axis={axis}, start={start}, stop={stop}, step={step}")
        }
        Primitive::Diagonal { offset, dim1, dim2 } => format!("offset={offset}, dim1={dim1}, dim2={dim2}"),
        Primitive::Pad { pads, value } => format!("pads={:?}, value={value}", pads.as_slice()),
        Primitive::Flip { axes } => format!("axes={}", list(axes)),
        Primitive::Im2col(g) | Primitive::Col2im(g) => {
            format!("kernel={:?}, stride={:?}, padding={:?}, dilation={:?}", g.kernel, g.stride, g.padding, g.dilation)
        }
        Primitive::ViewCopy(view) => params(view),
    }
}

impl<B: Backend> fmt::Display for Node<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.outputs.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{v}")?;
        }
        write!(f, " = {}", self.name())?;
        match &self.op {
            NodeOp::Constant(t) => {
                // Small concrete constants are shown with their values.
                if t.is_concrete() && t.numel() <= 6 {
                    let vals: Option<Vec<String>> = if t.dtype() == DType::Bool {
                        t.try_to_vec::<bool>().ok().map(|v| v.iter().map(bool::to_string).collect())
                    } else {
                        t.try_to_vec::<f64>().ok().map(|v| v.iter().map(f64::to_string).collect())
                    };
                    if let Some(vals) = vals {
                        write!(f, "[{}]", vals.join(", "))?;
                    }
                }
            }
            NodeOp::Primitive(p) => {
                let ps = params(p);
                if !ps.is_empty() {
                    write!(f, "[{ps}]")?;
                }
            }
            // `copy_[mul_] %0 %8`: %8 (the result of `mul_`) written into %0.
            NodeOp::Write { op } if op != "copy_" => write!(f, "[{op}]")?,
            NodeOp::Write { .. } => {}
        }
        for i in &self.inputs {
            write!(f, " {i}")?;
        }
        Ok(())
    }
}

impl<B: Backend, X, Y> fmt::Display for Graph<B, X, Y> {
    /// Print like a jaxpr: the inputs, one line per node
    /// (`%3: f64[2] = mul %1 %2`), the outputs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "graph(")?;
        for (i, v) in self.inputs.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{v}")?;
        }
        writeln!(f, ") {{")?;
        for n in &self.nodes {
            writeln!(f, "  {n}")?;
        }
        let outs: Vec<String> = self.outputs.iter().map(VarId::to_string).collect();
        writeln!(f, "  return ({})", outs.join(", "))?;
        write!(f, "}}")
    }
}
