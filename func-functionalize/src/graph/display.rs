//! Printing a [`Graph`] like a jaxpr.

use super::{Graph, Node, NodeOp, VarId};
use func_core::{Backend, DType, Primitive};
use std::fmt;

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
        | Primitive::Addmm
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
        Primitive::Conv2d { geom: g, groups } | Primitive::ConvTranspose2d { geom: g, groups } => {
            format!("stride={:?}, padding={:?}, dilation={:?}, groups={groups}", g.stride, g.padding, g.dilation)
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
