//! State dicts as safetensors files, the format the Rust ML ecosystem
//! (candle, burn) and Hugging Face read and write, so weights trained in
//! PyTorch load here. Reading and writing use the `safetensors` crate (the
//! format's reference implementation).
//!
//! Supported element types: F32, F64, I64 and BOOL (func-rs's dtypes); a file
//! holding another type (F16, BF16, I32, ...) is an error naming the tensor
//! and its type.
//!
//! ```
//! use func_core::{DType, Generator};
//! use func_nn::{Linear, Module, io};
//! type B = func_cpu::Cpu;
//! let fc = Linear::<B>::new(3, 2, &mut Generator::new(0));
//! let path = std::env::temp_dir().join("func_nn_io_doc.safetensors");
//! io::save_safetensors(&fc.state_dict(), &path).unwrap();
//! let mut other = Linear::<B>::new(3, 2, &mut Generator::new(1));
//! io::load_safetensors_into(&mut other, &path, true).unwrap();
//! assert_eq!(other.weight.to_vec::<f32>(), fc.weight.to_vec::<f32>());
//! # std::fs::remove_file(&path).ok();
//! ```

use crate::module::check_keys;
use crate::{Error, Module, Result, StateDict};
use func_core::{Backend, DType, HostData, Tensor};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::BTreeMap;
use std::path::Path;

fn file_err(op: &str, path: &Path, why: impl Into<String>) -> Error {
    Error::File { op: op.into(), path: path.display().to_string(), why: why.into() }
}

fn le_chunks<const N: usize>(data: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    data.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    })
}

/// The tensor of a safetensors view, or an error naming `name`.
fn view_to_tensor<B: Backend>(name: &str, v: &TensorView<'_>, path: &Path) -> Result<Tensor<B>> {
    let data = v.data();
    let host = match v.dtype() {
        Dtype::F32 => HostData::F32(le_chunks::<4>(data).map(f32::from_le_bytes).collect()),
        Dtype::F64 => HostData::F64(le_chunks::<8>(data).map(f64::from_le_bytes).collect()),
        Dtype::I64 => HostData::I64(le_chunks::<8>(data).map(i64::from_le_bytes).collect()),
        Dtype::BOOL => HostData::Bool(data.iter().map(|&b| b != 0).collect()),
        other => {
            return Err(file_err(
                "load_safetensors",
                path,
                format!(
                    "tensor {name:?} has element type {other:?}, which func-rs does not hold (F32, F64, I64 or BOOL); \
                     convert it when saving (for example tensor.float() in PyTorch)"
                ),
            ));
        }
    };
    Ok(Tensor::try_from_host(host, v.shape().to_vec())?)
}

/// Read every tensor of a safetensors byte buffer.
///
/// # Errors
///
/// [`Error::File`] when the buffer is not a valid safetensors file or holds
/// an unsupported element type (`path` is only used in messages).
pub fn state_dict_from_bytes<B: Backend>(bytes: &[u8], path: &Path) -> Result<StateDict<B>> {
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| file_err("load_safetensors", path, format!("not a valid safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let t = view_to_tensor(&name, &view, path)?;
        out.insert(name, t);
    }
    Ok(out)
}

/// Read every tensor of a safetensors file into a state dict.
///
/// # Errors
///
/// [`Error::File`] when the file cannot be read, is not a safetensors file,
/// or holds an unsupported element type.
pub fn load_safetensors<B: Backend>(path: impl AsRef<Path>) -> Result<StateDict<B>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| file_err("load_safetensors", path, e.to_string()))?;
    state_dict_from_bytes(&bytes, path)
}

struct Owned {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl safetensors::View for &Owned {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn to_owned<B: Backend>(t: &Tensor<B>) -> Result<Owned> {
    let shape = t.dims().to_vec();
    let (dtype, bytes) = match t.dtype() {
        DType::F32 => (Dtype::F32, t.try_to_vec::<f32>()?.iter().flat_map(|v| v.to_le_bytes()).collect()),
        DType::F64 => (Dtype::F64, t.try_to_vec::<f64>()?.iter().flat_map(|v| v.to_le_bytes()).collect()),
        DType::I64 => (Dtype::I64, t.try_to_vec::<i64>()?.iter().flat_map(|v| v.to_le_bytes()).collect()),
        DType::Bool => (Dtype::BOOL, t.try_to_vec::<bool>()?.iter().map(|&b| b as u8).collect()),
        other => {
            return Err(func_core::Error::dtype(
                "save_safetensors",
                other,
                "safetensors files hold f32, f64, i64 and bool here",
            )
            .into());
        }
    };
    Ok(Owned { dtype, shape, bytes })
}

/// A state dict as safetensors bytes.
///
/// # Errors
///
/// When a tensor cannot be read back (a tracer inside a transform), or the
/// serializer fails.
pub fn state_dict_to_bytes<B: Backend>(state: &StateDict<B>) -> Result<Vec<u8>> {
    let owned: Vec<(String, Owned)> =
        state.iter().map(|(k, t)| Ok((k.clone(), to_owned(t)?))).collect::<Result<_>>()?;
    safetensors::serialize(owned.iter().map(|(k, o)| (k.as_str(), o)), None)
        .map_err(|e| file_err("save_safetensors", Path::new("<memory>"), e.to_string()))
}

/// Write a state dict as a safetensors file.
///
/// # Errors
///
/// When a tensor cannot be read back, or the file cannot be written.
pub fn save_safetensors<B: Backend>(state: &StateDict<B>, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = state_dict_to_bytes(state)?;
    std::fs::write(path, bytes).map_err(|e| file_err("save_safetensors", path, e.to_string()))
}

/// Load a safetensors file into a module's parameters and buffers, in place.
/// Unlike [`Module::load_state_dict`] (which casts, as torch does), the
/// file's dtypes must match the module's, so an f64 checkpoint is not
/// silently rounded into an f32 model.
///
/// # Errors
///
/// [`Error::File`] as [`load_safetensors`]; [`Error::StateDict`] for missing
/// or unexpected keys (with `strict`), a wrong shape or a wrong dtype, naming
/// each tensor; nothing is written then.
pub fn load_safetensors_into<B: Backend, M: Module<B> + ?Sized>(
    module: &mut M,
    path: impl AsRef<Path>,
    strict: bool,
) -> Result<()> {
    let path = path.as_ref();
    let state = load_safetensors::<B>(path)?;
    let names = module.state_names();
    if strict {
        check_keys("load_safetensors", module.name(), &names, &state)
            .map_err(|e| Error::state_dict("load_safetensors", format!("{}: {e}", path.display())))?;
    }
    let mut problems = Vec::new();
    module.visit(&mut |n, _, t| {
        if let Some(v) = state.get(n) {
            if v.dims() != t.dims() {
                problems.push(format!(
                    "size mismatch for {n}: the file holds shape {}, the model has shape {}",
                    v.shape(),
                    t.shape()
                ));
            } else if v.dtype() != t.dtype() {
                problems.push(format!(
                    "dtype mismatch for {n}: the file holds {}, the model has {} (build the model in {} or convert \
                     the file)",
                    v.dtype(),
                    t.dtype(),
                    v.dtype()
                ));
            }
        }
    });
    if !problems.is_empty() {
        return Err(Error::state_dict(
            "load_safetensors",
            format!(
                "{}: Error(s) in loading state for {}:\n\t{}",
                path.display(),
                module.name(),
                problems.join("\n\t")
            ),
        ));
    }
    module.load_state_dict(&state, false)
}
