"""Writes mlp_bn.safetensors, the state dict of
Sequential(Linear(3, 4), BatchNorm1d(4), ReLU, Linear(4, 2)) in torch's
state-dict names, with Python's safetensors package and numpy (f32 tensors,
an i64 scalar num_batches_tracked), and mlp_bn_io.safetensors, an input and
the eval-mode output computed with numpy.

Run once: pip install safetensors numpy; python make_safetensors_fixture.py
Every value is k / 16 for a small integer k (exact in f32), from the formula
in value(), so the Rust test can rebuild them.
"""

import numpy as np
from safetensors.numpy import save_file


def value(shape, offset):
    n = int(np.prod(shape))
    k = (np.arange(n) * 5 + offset) % 11 - 5
    return (k / 16.0).astype(np.float32).reshape(shape)


state = {
    "0.weight": value((4, 3), 0),
    "0.bias": value((4,), 1),
    "1.weight": 1.0 + value((4,), 2),
    "1.bias": value((4,), 3),
    "1.running_mean": value((4,), 4),
    "1.running_var": 1.0 + np.abs(value((4,), 5)),
    "1.num_batches_tracked": np.array(7, dtype=np.int64),
    "3.weight": value((2, 4), 6),
    "3.bias": value((2,), 7),
}
save_file(state, "mlp_bn.safetensors")

x = value((5, 3), 8)
h = x @ state["0.weight"].T + state["0.bias"]
h = (h - state["1.running_mean"]) / np.sqrt(state["1.running_var"] + np.float32(1e-5)) * state["1.weight"] + state["1.bias"]
h = np.maximum(h, 0)
y = (h @ state["3.weight"].T + state["3.bias"]).astype(np.float32)
save_file({"x": x, "y": y}, "mlp_bn_io.safetensors")
