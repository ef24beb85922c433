"""Golden values for custom ops, computed by torch's autograd.Function under
torch.func in float64. Writes custom_ops_golden.json next to this file, in
the format of torch_func_golden.json (CUSTOM_OPS.md describes the cases).

Run: python custom_ops_golden.py   (needs `pip install torch`, CPU wheel)
"""

import json
import os

import torch
from torch.func import grad, hessian, jacfwd, jacrev, vmap

torch.set_default_dtype(torch.float64)
SEED = 0
CLIP_LO, CLIP_HI = -0.5, 0.5


class Log1pExp(torch.autograd.Function):
    """log(1 + e^x) with the derivative sigmoid(x)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return torch.log1p(torch.exp(x))

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.sigmoid(x)

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return t * torch.sigmoid(x)


class RoundSte(torch.autograd.Function):
    """round(x) with the identity derivative (straight-through)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return torch.round(x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, g):
        return g

    @staticmethod
    def jvp(ctx, t):
        return t


class ClipGradient(torch.autograd.Function):
    """The identity, with the cotangent clipped to [CLIP_LO, CLIP_HI]."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, g):
        return g.clamp(CLIP_LO, CLIP_HI)

    @staticmethod
    def jvp(ctx, t):
        return t


OPS = {"log1pexp": Log1pExp.apply, "round_ste": RoundSte.apply, "clip_gradient": ClipGradient.apply}


def tensor(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def main():
    gen = torch.Generator().manual_seed(SEED)
    cases = []
    for name, op in OPS.items():
        x = torch.randn(5, generator=gen) * 2.0
        xs = torch.randn(3, 5, generator=gen) * 2.0
        if name == "log1pexp":
            # Where the naive derivative of log(1 + e^x) fails.
            x[4] = 100.0
            xs[1, 2] = 100.0

        def vec(x, op=op):
            return op(x)

        def scalar(x, op=op):
            return (op(x) * torch.sin(x)).sum()

        runs = [
            ("value", vec, x),
            ("vmap", vmap(vec), xs),
            ("jacfwd", jacfwd(vec), x),
            ("jacrev", jacrev(vec), x),
            ("grad", grad(scalar), x),
            ("hessian", hessian(scalar), x),
            ("vmap_grad", vmap(grad(scalar)), xs),
            ("vmap_jacrev", vmap(jacrev(vec)), xs),
        ]
        for transform, f, inp in runs:
            cases.append(
                {"function": name, "transform": transform, "inputs": [tensor(inp)], "expected": tensor(f(inp))}
            )
    out = {"reference": "torch " + torch.__version__, "dtype": "float64", "seed": SEED, "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "custom_ops_golden.json")
    with open(path, "w") as fh:
        json.dump(out, fh)
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
