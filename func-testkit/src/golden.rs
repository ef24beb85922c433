//! The torch.func golden conformance cases: loading and comparing.
//!
//! `data/torch_func_golden.json` holds values computed by PyTorch's
//! torch.func in float64 (`data/CASES.md` describes each function and
//! transform). [`load`] reads the file named by the environment variable
//! `FUNC_CONFORMANCE`, or the committed copy, so the same suite runs against
//! any golden file of this format (other seeds, other sizes): tests find
//! cases by `function` and `transform` and take shapes from the data, never
//! from a case's position or size.
//!
//! JSON is parsed with `serde_json`, the standard Rust JSON parser.

use func_core::{Backend, Tensor};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A value in a golden case: a tensor, a name-to-value map or a list.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A float64 tensor in row-major order.
    Tensor {
        /// The shape.
        shape: Vec<usize>,
        /// The elements.
        data: Vec<f64>,
    },
    /// A list of values.
    List(Vec<Value>),
    /// Named values (parameter dicts).
    Dict(BTreeMap<String, Value>),
}

impl Value {
    /// This value as an f64 tensor on backend `B`.
    ///
    /// # Panics
    ///
    /// When the value is not a tensor.
    pub fn tensor<B: Backend>(&self) -> Tensor<B> {
        match self {
            Value::Tensor { shape, data } => Tensor::from_vec(data.clone(), shape.clone()),
            other => panic!("golden value: expected a tensor, got {other:?}"),
        }
    }

    /// This value as a dict of f64 tensors.
    ///
    /// # Panics
    ///
    /// When the value is not a dict of tensors.
    pub fn dict<B: Backend>(&self) -> BTreeMap<String, Tensor<B>> {
        match self {
            Value::Dict(m) => m.iter().map(|(k, v)| (k.clone(), v.tensor())).collect(),
            other => panic!("golden value: expected a dict, got {other:?}"),
        }
    }

    /// The elements of a list value.
    ///
    /// # Panics
    ///
    /// When the value is not a list.
    pub fn list(&self) -> &[Value] {
        match self {
            Value::List(v) => v,
            other => panic!("golden value: expected a list, got {other:?}"),
        }
    }
}

/// One golden case.
#[derive(Clone, Debug, Deserialize)]
pub struct Case {
    /// The function's name in CASES.md (`sin_x`, `predict`, ...).
    pub function: String,
    /// The transform applied (`grad`, `vmap_vmap`, ...).
    pub transform: String,
    /// The inputs, in the order CASES.md gives.
    pub inputs: Vec<Value>,
    /// The expected result.
    pub expected: Value,
}

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

/// The path of the golden file: `$FUNC_CONFORMANCE` or the committed copy.
pub fn path() -> String {
    std::env::var("FUNC_CONFORMANCE")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/data/torch_func_golden.json").to_string())
}

/// All cases of the golden file.
///
/// # Panics
///
/// When the file cannot be read or parsed (the message names the path).
pub fn load() -> Vec<Case> {
    load_from(&path())
}

/// The path of the custom-op golden file (`data/custom_ops_golden.json`,
/// made by `data/custom_ops_golden.py` with torch's `autograd.Function`):
/// `$FUNC_CUSTOM_CONFORMANCE` or the committed copy.
pub fn custom_ops_path() -> String {
    std::env::var("FUNC_CUSTOM_CONFORMANCE")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/data/custom_ops_golden.json").to_string())
}

/// The path of the tree-shaped Jacobian golden file
/// (`data/tree_jacobians_golden.json`, made by
/// `data/tree_jacobians_golden.py` with torch.func; `data/TREE_JACOBIANS.md`
/// describes the cases): `$FUNC_TREE_CONFORMANCE` or the committed copy.
pub fn tree_jacobians_path() -> String {
    std::env::var("FUNC_TREE_CONFORMANCE")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/data/tree_jacobians_golden.json").to_string())
}

/// All cases of the golden file at `p` (in this module's format).
///
/// # Panics
///
/// When the file cannot be read or parsed (the message names the path).
pub fn load_from(p: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read golden file {p}: {e}"));
    let file: File = serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse golden file {p}: {e}"));
    file.cases
}

/// The cases of `function` with `transform` (there may be several).
pub fn cases(function: &str, transform: &str) -> Vec<Case> {
    load().into_iter().filter(|c| c.function == function && c.transform == transform).collect()
}

/// Assert that `actual` equals the golden tensor `expected` in shape and to
/// `tol` absolute + relative in every element.
///
/// # Panics
///
/// On a mismatch, naming `what`, the shapes or the first differing element.
pub fn assert_close<B: Backend>(what: &str, actual: &Tensor<B>, expected: &Value, tol: f64) {
    let Value::Tensor { shape, data } = expected else { panic!("{what}: golden value is not a tensor") };
    assert_eq!(actual.dims(), &shape[..], "{what}: shape {} differs from torch.func's {shape:?}", actual.shape());
    let got = actual.to_vec::<f64>();
    for (i, (a, e)) in got.iter().zip(data).enumerate() {
        assert!(
            (a - e).abs() <= tol * (1.0 + e.abs()),
            "{what}: element {i} is {a}, torch.func gives {e} (tolerance {tol})"
        );
    }
}

/// [`assert_close`] for each entry of a golden dict.
///
/// # Panics
///
/// On a missing key or a mismatch.
pub fn assert_dict_close<B: Backend>(what: &str, actual: &BTreeMap<String, Tensor<B>>, expected: &Value, tol: f64) {
    let Value::Dict(m) = expected else { panic!("{what}: golden value is not a dict") };
    assert_eq!(actual.keys().collect::<Vec<_>>(), m.keys().collect::<Vec<_>>(), "{what}: keys differ");
    for (k, v) in m {
        assert_close(&format!("{what}[{k}]"), &actual[k], v, tol);
    }
}
