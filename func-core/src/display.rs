//! `Display` and `Debug` for tensors, in the style of PyTorch's printing.

use crate::{Backend, DType, HostData, Tensor};
use std::fmt;

const EDGE: usize = 3;
const THRESHOLD: usize = 1000;

fn fmt_elem(h: &HostData, i: usize, float_prec: usize, out: &mut String) {
    use std::fmt::Write;
    let _ = match h {
        HostData::F32(v) => write!(out, "{:.*}", float_prec, v[i]),
        HostData::F64(v) => write!(out, "{:.*}", float_prec, v[i]),
        HostData::I64(v) => write!(out, "{}", v[i]),
        HostData::Bool(v) => write!(out, "{}", if v[i] { "True" } else { "False" }),
    };
}

fn render(h: &HostData, dims: &[usize], offset: usize, indent: usize, summarize: bool, out: &mut String) {
    if dims.is_empty() {
        fmt_elem(h, offset, 4, out);
        return;
    }
    let n = dims[0];
    let inner: usize = dims[1..].iter().product();
    out.push('[');
    let mut first = true;
    let mut i = 0;
    while i < n {
        if summarize && n > 2 * EDGE && i == EDGE {
            out.push_str(if dims.len() == 1 { ", ..." } else { ",\n" });
            if dims.len() > 1 {
                out.push_str(&" ".repeat(indent + 1));
                out.push_str("...");
            }
            i = n - EDGE;
            first = false;
        }
        if !first {
            if dims.len() == 1 {
                out.push_str(", ");
            } else {
                out.push(',');
                out.push_str(&"\n".repeat(dims.len() - 1));
                out.push_str(&" ".repeat(indent + 1));
            }
        }
        render(h, &dims[1..], offset + i * inner, indent + 1, summarize, out);
        first = false;
        i += 1;
    }
    out.push(']');
}

impl<B: Backend> fmt::Display for Tensor<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some((storage, layout)) = self.concrete() else {
            let level = self.level().map(|l| format!("{} (level {})", l.transform(), l.id())).unwrap_or_default();
            return write!(f, "Tensor(tracer of {level}, shape={}, dtype={})", self.shape(), self.dtype());
        };
        let host = storage.read("print").and_then(|g| storage.backend().to_host(&g, layout));
        let host = match host {
            Ok(h) => h,
            Err(e) => return write!(f, "tensor(<unreadable: {e}>)"),
        };
        let mut s = String::from("tensor(");
        render(&host, self.dims(), 0, 7, self.numel() > THRESHOLD, &mut s);
        if self.numel() == 0 {
            s.push_str(&format!(", size={}", self.shape()));
        }
        if self.dtype() != DType::F32 {
            s.push_str(&format!(", dtype={}", self.dtype()));
        }
        s.push(')');
        f.write_str(&s)
    }
}

impl<B: Backend> fmt::Debug for Tensor<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
