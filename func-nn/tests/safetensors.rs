//! State dicts as safetensors files: a file written by Python's safetensors
//! package (tests/data/make_safetensors_fixture.py) loads into a model that
//! then gives numpy's output; round trips; errors for wrong shape, dtype,
//! missing and unexpected keys.

use func_core::{DType, Generator, Tensor};
use func_nn::io::{
    load_safetensors, load_safetensors_into, save_safetensors, state_dict_from_bytes, state_dict_to_bytes,
};
use func_nn::*;
use std::path::{Path, PathBuf};

type B = func_cpu::Cpu;
type T = Tensor<B>;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn model(dtype: DType, out: usize) -> Sequential<B> {
    let g = &mut Generator::new(0);
    Sequential::new()
        .append(Linear::new_with(3, 4, true, dtype, g))
        .append(BatchNorm::new_1d(4, BatchNormConfig { dtype, ..Default::default() }))
        .append(ReLU::new())
        .append(Linear::new_with(4, out, true, dtype, g))
}

/// The script's `value(shape, offset)`: `((5 i + offset) mod 11 - 5) / 16`.
fn value(n: usize, offset: usize) -> Vec<f32> {
    (0..n).map(|i| (((i * 5 + offset) % 11) as f32 - 5.0) / 16.0).collect()
}

#[test]
fn a_file_written_by_python_safetensors_loads_and_runs() {
    let mut m = model(DType::F32, 2);
    load_safetensors_into(&mut m, data("mlp_bn.safetensors"), true).expect("the fixture fits the model");
    let s = m.state_dict();
    assert_eq!(s["0.weight"].to_vec::<f32>(), value(12, 0));
    assert_eq!(s["3.bias"].to_vec::<f32>(), value(2, 7));
    assert_eq!(s["1.num_batches_tracked"].to_vec::<i64>(), vec![7]);
    let io = load_safetensors::<B>(data("mlp_bn_io.safetensors")).unwrap();
    m.eval();
    let y = m.forward(&io["x"]);
    for (a, b) in y.to_vec::<f32>().iter().zip(io["y"].to_vec::<f32>()) {
        assert!((a - b).abs() < 1e-5, "{a} vs numpy {b}");
    }
}

#[test]
fn state_dicts_round_trip_through_files_and_bytes() {
    let m = model(DType::F64, 2);
    let mut s = m.state_dict();
    s.insert("mask".into(), T::from_vec(vec![true, false, true], [3]));
    let path = std::env::temp_dir().join(format!("func_nn_roundtrip_{}.safetensors", std::process::id()));
    save_safetensors(&s, &path).unwrap();
    let back = load_safetensors::<B>(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(back.keys().collect::<Vec<_>>(), s.keys().collect::<Vec<_>>());
    for (k, v) in &s {
        assert_eq!(back[k].dtype(), v.dtype(), "{k}");
        assert_eq!(back[k].dims(), v.dims(), "{k}");
        assert_eq!(back[k].to_vec::<f64>(), v.to_vec::<f64>(), "{k}");
    }
    let bytes = state_dict_to_bytes(&s).unwrap();
    assert_eq!(state_dict_from_bytes::<B>(&bytes, Path::new("mem")).unwrap().len(), s.len());
}

#[test]
fn wrong_shape_is_an_error_naming_the_tensor() {
    let mut m = model(DType::F32, 3);
    let before = m.state_dict()["0.weight"].to_vec::<f32>();
    let e = load_safetensors_into(&mut m, data("mlp_bn.safetensors"), true).unwrap_err().to_string();
    assert!(e.contains("size mismatch for 3.weight") && e.contains("[2, 4]") && e.contains("[3, 4]"), "{e}");
    assert_eq!(m.state_dict()["0.weight"].to_vec::<f32>(), before, "nothing is written on error");
}

#[test]
fn wrong_dtype_is_an_error_naming_the_tensor() {
    let mut m = model(DType::F64, 2);
    let e = load_safetensors_into(&mut m, data("mlp_bn.safetensors"), true).unwrap_err().to_string();
    assert!(e.contains("dtype mismatch for 0.weight") && e.contains("f32") && e.contains("f64"), "{e}");
}

#[test]
fn missing_and_unexpected_keys_are_errors_when_strict() {
    let g = &mut Generator::new(0);
    let mut m = Sequential::<B>::new().append(Linear::new(3, 4, g)).append(ReLU::new()).append(Linear::new(4, 2, g));
    let e = load_safetensors_into(&mut m, data("mlp_bn.safetensors"), true).unwrap_err().to_string();
    assert!(e.contains("Unexpected key(s): \"1.bias\""), "{e}");
    assert!(
        e.contains("Missing key(s): \"2.bias\", \"2.weight\"")
            || e.contains("Missing key(s): \"2.weight\", \"2.bias\""),
        "{e}"
    );
    // Not strict: the matching keys load.
    load_safetensors_into(&mut m, data("mlp_bn.safetensors"), false).unwrap();
    assert_eq!(m.state_dict()["0.bias"].to_vec::<f32>(), value(4, 1));
}

#[test]
fn a_file_that_is_not_safetensors_is_an_error() {
    let e = load_safetensors::<B>(data("torch_nn.json")).unwrap_err().to_string();
    assert!(e.contains("not a valid safetensors file") && e.contains("torch_nn.json"), "{e}");
    let e = load_safetensors::<B>(data("no_such_file.safetensors")).unwrap_err().to_string();
    assert!(e.contains("no_such_file.safetensors"), "{e}");
}
