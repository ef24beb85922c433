"""Golden values for Jacobians of functions with tree outputs and Hessians of
tree inputs, computed by torch.func in float64. Writes
tree_jacobians_golden.json next to this file, in the format of
torch_func_golden.json (TREE_JACOBIANS.md describes the cases).

Nesting: a tuple is a JSON list, a dict is a JSON object, a tensor is
{"shape": [...], "data": [...]} in row-major order. torch.func nests a
Jacobian as the output structure, then the input structure; `argnums=(0, 1)`
is written as a function of one tuple argument here, as func-rs spells it.

Run: python tree_jacobians_golden.py   (needs `pip install torch`, CPU wheel)
"""

import json
import os

import torch
from torch.func import hessian, jacfwd, jacrev

torch.set_default_dtype(torch.float64)
torch.manual_seed(0)


def enc(v):
    if isinstance(v, torch.Tensor):
        return {"shape": list(v.shape), "data": v.detach().reshape(-1).tolist()}
    if isinstance(v, (tuple, list)):
        return [enc(x) for x in v]
    if isinstance(v, dict):
        return {k: enc(x) for k, x in sorted(v.items())}
    raise TypeError(type(v))


def sin_and_sum(x):
    return (x.sin(), (x * x).sum())


def to_map(x):
    return {"exp": x.exp(), "norm": (x * x).sum(), "head": x[:2] * 3.0}


def pair_to_pair(ab):
    a, b = ab
    return (a * b.sum(), (a.unsqueeze(1) * b).tanh())


def pair_scalar(ab):
    a, b = ab
    return (a.sin() * b.sum()).sum() + (a * a).sum() * (b ** 3).sum()


W_X = torch.randn(3)


def model_loss(p):
    return ((p["w"] @ W_X + p["b"]).tanh() ** 2).sum()


x3 = torch.randn(3)
a2, b3 = torch.randn(2), torch.randn(3)
params = {"w": torch.randn(2, 3), "b": torch.randn(2)}

cases = []


def add(function, transform, inputs, expected):
    cases.append({"function": function, "transform": transform, "inputs": [enc(i) for i in inputs],
                  "expected": enc(expected)})


for name, tr in [("jacrev", jacrev), ("jacfwd", jacfwd)]:
    add("sin_and_sum", name, [x3], tr(sin_and_sum)(x3))
    add("to_map", name, [x3], tr(to_map)(x3))
    add("pair_to_pair", name, [a2, b3], tr(lambda a, b: pair_to_pair((a, b)), argnums=(0, 1))(a2, b3))
add("pair_scalar", "hessian", [a2, b3], hessian(lambda a, b: pair_scalar((a, b)), argnums=(0, 1))(a2, b3))
add("model_loss", "hessian", [params, W_X], hessian(model_loss)(params))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tree_jacobians_golden.json")
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "dtype": "float64", "cases": cases}, f)
print(f"wrote {len(cases)} cases to {out}")
