"""Writes torch_nn.json: outputs, gradients and updated buffers of torch.nn
layers and losses in float64, the reference for func-nn's tests.

Run once with PyTorch 2.x: python make_torch_fixture.py
Each layer case holds the layer's state dict (so the Rust test loads the same
weights), an input, the output, the gradients of sum(output * ct) with respect
to the input and the parameters, and the state dict after the call.
"""

import json
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


def t(x):
    x = x.detach()
    return {"shape": list(x.shape), "data": x.flatten().tolist()}


cases = []


def layer_case(name, module, x, train=True):
    module.train(train)
    # Randomise affine parameters so they matter (defaults are ones/zeros).
    with torch.no_grad():
        for pn, p in module.named_parameters():
            if pn.endswith("weight") and isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)):
                p.copy_(1.0 + 0.5 * torch.randn_like(p))
            elif pn.endswith("bias") and isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)):
                p.copy_(0.5 * torch.randn_like(p))
        for bn, b in module.named_buffers():
            if bn in ("running_mean",):
                b.copy_(0.3 * torch.randn_like(b))
            if bn in ("running_var",):
                b.copy_(1.0 + torch.rand_like(b))
    state = {k: t(v) for k, v in module.state_dict().items()}
    xin = x.clone().requires_grad_(x.is_floating_point())
    out = module(xin)
    ct = torch.randn_like(out)
    params = dict(module.named_parameters())
    wrt = ([xin] if x.is_floating_point() else []) + list(params.values())
    grads = torch.autograd.grad((out * ct).sum(), wrt) if wrt else []
    gd = {}
    i = 0
    if x.is_floating_point():
        gd["input"] = t(grads[0])
        i = 1
    for k in params:
        gd[k] = t(grads[i])
        i += 1
    cases.append({
        "name": name,
        "state": state,
        "input": t(x),
        "output": t(out),
        "cotangent": t(ct),
        "grads": gd,
        "state_after": {k: t(v) for k, v in module.state_dict().items()},
    })


layer_case("linear", nn.Linear(5, 3), torch.randn(4, 5))
layer_case("linear_nobias", nn.Linear(5, 3, bias=False), torch.randn(2, 4, 5))
layer_case("conv_basic", nn.Conv2d(3, 4, 3), torch.randn(2, 3, 7, 6))
layer_case("conv_full", nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2),
           torch.randn(2, 4, 9, 7))
layer_case("conv_nobias", nn.Conv2d(2, 2, 2, bias=False), torch.randn(1, 2, 4, 4))
layer_case("bn1d_train", nn.BatchNorm1d(3), torch.randn(6, 3))
layer_case("bn1d_train_3d", nn.BatchNorm1d(3, momentum=0.3), torch.randn(4, 3, 5))
layer_case("bn1d_eval", nn.BatchNorm1d(3), torch.randn(6, 3), train=False)
layer_case("bn2d_train", nn.BatchNorm2d(2), torch.randn(3, 2, 4, 5))
layer_case("bn2d_eval", nn.BatchNorm2d(2), torch.randn(3, 2, 4, 5), train=False)
layer_case("bn2d_cumulative", nn.BatchNorm2d(2, momentum=None), torch.randn(3, 2, 2, 2))
layer_case("bn1d_noaffine", nn.BatchNorm1d(3, affine=False), torch.randn(5, 3))
layer_case("layernorm", nn.LayerNorm([4, 3]), torch.randn(2, 5, 4, 3))
layer_case("groupnorm", nn.GroupNorm(2, 6), torch.randn(3, 6, 4))
layer_case("embedding", nn.Embedding(7, 3), torch.tensor([[1, 6, 0], [3, 3, 2]]))
layer_case("maxpool", nn.MaxPool2d(2), torch.randn(2, 3, 6, 5))
layer_case("maxpool_pad", nn.MaxPool2d(3, stride=2, padding=1), torch.randn(1, 2, 7, 7))
layer_case("avgpool_pad", nn.AvgPool2d(3, stride=2, padding=1), torch.randn(1, 2, 7, 6))
layer_case("flatten", nn.Flatten(), torch.randn(2, 3, 4))
layer_case("relu", nn.ReLU(), torch.randn(3, 4))
layer_case("tanh", nn.Tanh(), torch.randn(3, 4))
layer_case("gelu", nn.GELU(), torch.randn(3, 4))
layer_case("sigmoid", nn.Sigmoid(), torch.randn(3, 4))
layer_case("dropout_eval", nn.Dropout(0.5), torch.randn(3, 4), train=False)
seq = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                    nn.Linear(8, 3))
layer_case("sequential", seq, torch.randn(4, 1, 4, 4))

losses = []


def loss_case(name, fn, reduction, inp, target):
    inp = inp.clone().requires_grad_()
    out = fn(inp, target, reduction=reduction)
    g = torch.autograd.grad(out.sum(), inp)[0]
    losses.append({"name": name, "reduction": reduction, "input": t(inp), "target": t(target), "output": t(out),
                   "grad": t(g)})


for red in ["mean", "sum", "none"]:
    loss_case("cross_entropy_indices", F.cross_entropy, red, torch.randn(5, 4), torch.tensor([0, 3, 1, 1, 2]))
    loss_case("cross_entropy_probs", F.cross_entropy, red, torch.randn(5, 4), torch.softmax(torch.randn(5, 4), -1))
    loss_case("cross_entropy_indices_spatial", F.cross_entropy, red, torch.randn(2, 3, 4),
              torch.tensor([[0, 2, 1, 1], [2, 2, 0, 1]]))
    loss_case("cross_entropy_indices_1d", F.cross_entropy, red, torch.randn(4), torch.tensor(2))
    loss_case("nll_loss", F.nll_loss, red, torch.log_softmax(torch.randn(5, 4), -1), torch.tensor([0, 3, 1, 1, 2]))
    loss_case("mse_loss", F.mse_loss, red, torch.randn(3, 4), torch.randn(3, 4))

with open("torch_nn.json", "w") as f:
    json.dump({"reference": f"torch {torch.__version__}", "dtype": "float64", "layers": cases, "losses": losses}, f)

# Optimizers: a parameter pair driven by given gradients for 4 steps; the
# parameters after each step.
optims = []


def optim_case(name, make, p0, grads):
    ps = [p.clone().requires_grad_() for p in p0]
    opt = make(ps)
    after = []
    for step in grads:
        for p, g in zip(ps, step):
            p.grad = g.clone()
        opt.step()
        after.append([t(p) for p in ps])
    optims.append({"name": name, "params": [t(p) for p in p0], "grads": [[t(g) for g in s] for s in grads],
                   "after": after})


p0 = [torch.randn(3, 2), torch.randn(2)]
grads = [[torch.randn(3, 2), torch.randn(2)] for _ in range(4)]
optim_case("sgd", lambda ps: torch.optim.SGD(ps, lr=0.1), p0, grads)
optim_case("sgd_momentum_wd", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01), p0, grads)
optim_case("sgd_nesterov_dampening",
           lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True), p0, grads)
optim_case("sgd_dampening", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3), p0, grads)
optim_case("adam", lambda ps: torch.optim.Adam(ps, lr=0.01), p0, grads)
optim_case("adam_wd", lambda ps: torch.optim.Adam(ps, lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1),
           p0, grads)
optim_case("adamw", lambda ps: torch.optim.AdamW(ps, lr=0.02, weight_decay=0.1), p0, grads)

with open("torch_optim.json", "w") as f:
    json.dump({"reference": f"torch {torch.__version__}", "dtype": "float64", "cases": optims}, f)
