"""Peak resident memory of torch.func on the workloads of the bench runner's
`--peak` mode, measured the same way: one workload per fresh process, the
peak RSS during one call minus the RSS once the inputs are built (the peak
is reset through /proc/self/clear_refs first; Linux only).

    python3 benches/peak_torch.py jacrev_32to2048 hessian_512to32 psg_cnn_b64

Prints one JSON line per workload: {"work": ..., "system": "torch.func",
"peak_mib": first call, "second_call_peak_mib": a second call in the same process}.
Needs PyTorch; the project's tests never run it.
"""
import json, subprocess, sys


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def workload(name):
    import torch, torch.nn as nn, torch.nn.functional as F
    from torch.func import vmap, grad, jacrev, hessian, functional_call

    torch.manual_seed(0)
    torch.set_grad_enabled(False)
    pred = lambda w, b, x: F.linear(x, w, b).tanh()
    if name in ("jacrev_32to2048", "hessian_512to32"):
        din, dout = (32, 2048) if name == "jacrev_32to2048" else (512, 32)
        w, b, x = torch.randn(dout, din), torch.randn(dout), torch.randn(din)
        t = jacrev if name == "jacrev_32to2048" else hessian
        return lambda: t(pred, argnums=2)(w, b, x)
    if name == "psg_cnn_b64":
        class CNN(nn.Module):
            def __init__(s):
                super().__init__()
                s.conv1 = nn.Conv2d(1, 32, 3, 1); s.conv2 = nn.Conv2d(32, 64, 3, 1)
                s.fc1 = nn.Linear(9216, 128); s.fc2 = nn.Linear(128, 10)

            def forward(s, x):
                x = F.relu(s.conv1(x)); x = F.relu(s.conv2(x)); x = F.max_pool2d(x, 2)
                x = torch.flatten(x, 1); x = F.relu(s.fc1(x)); return F.log_softmax(s.fc2(x), dim=1)

        m = CNN(); params = {k: v.detach() for k, v in m.named_parameters()}
        x = torch.randn(64, 1, 28, 28); y = torch.randint(0, 10, (64,))

        def loss(p, xi, yi):
            return F.nll_loss(functional_call(m, p, (xi.unsqueeze(0),)), yi.unsqueeze(0))

        f = vmap(grad(loss), in_dims=(None, 0, 0))
        return lambda: f(params, x, y)
    raise SystemExit(f"unknown workload {name}")


def peak_mib(f):
    with open("/proc/self/clear_refs", "w") as c:
        c.write("5")  # reset the peak (VmHWM) to the current RSS
    base = status_kib("VmRSS:")
    out = f()
    peak = status_kib("VmHWM:")
    del out
    return round((peak - base) / 1024, 1)


def measure(name):
    f = workload(name)
    first = peak_mib(f)  # the first call, including one-time initialisation
    second = peak_mib(f)  # a second call in the same process
    print(json.dumps({"work": name, "system": "torch.func", "peak_mib": first, "second_call_peak_mib": second}))


if __name__ == "__main__":
    names = sys.argv[1:]
    if len(names) == 1:
        measure(names[0])
    else:
        for n in names:  # one fresh process each
            print(subprocess.run([sys.executable, __file__, n], capture_output=True, text=True).stdout, end="")
