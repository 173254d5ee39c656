#!/usr/bin/env python3
"""The PyTorch side of `cargo xtask bench --peer pytorch`.

The project's claim is speed against PyTorch on the same machine, so the peer is timed by the
same harness, in the same run: `cargo xtask bench` starts this script once, then sends it one
case at a time, alternating with its own timing of the same case, so that machine drift hits
both sides alike. The case definitions (block shapes, batch sizes, repeat counts) come from the
xtask in each request; this file only says how PyTorch runs each kind of case.

Protocol: JSON lines. On start the script writes one line describing itself
(`{"peer": "pytorch", "torch": ..., "threads": ..., ...}`); then for every request line read
from stdin it writes one result line. It also runs standalone:
`python3 xtask/peer/pytorch_bench.py --threads 2 < requests.jsonl > results.jsonl`.

Requests:
  {"case": {"kind": "block", "pass": "forward"|"forward_backward", "batch": B, "channels": C,
            "size": S, "filters": K, "kernel": 5, "padding": P, "input_grad": bool},
   "repeats": {"warmup": W, "fixed": N or null, "budget_ms": T}}
  {"case": {"kind": "network", "pass": "train_step"|"inference", "network": "lenet5"|"convnet"|
            "mlp", "batch": B, "dropout": D}, "repeats": {...}}
  {"epoch": {"network": ..., "dropout": D, "train_images": path, "train_labels": path,
             "valid": M, "batch": B, "valid_batch": V, "lr": ..., "epsilon": ...,
             "mean": ..., "std": ..., "seed": ...}}
Results: {"runs", "min_ms", "median_ms", "max_ms"} for a case; {"seconds", "train_seconds",
"step_seconds", "valid_seconds", "images", "train_loss", "valid_accuracy"} for an epoch;
{"error": "..."} when a request fails.

Requires Python 3, PyTorch and numpy only.
"""

import argparse
import gzip
import json
import platform
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Timed runs stop at this many even when the time budget is not spent (as in the xtask).
MAX_RUNS = 200
# Timed runs when the budget is spent early (as in the xtask).
MIN_RUNS = 5
# The 2x2 max-pool after every conv of both CNNs.
POOL = 2


class LeNet5(nn.Module):
    """conv 5x5 pad 2 (6) + ReLU + pool, conv 5x5 (16) + ReLU + pool, fc 400-120-84-10."""

    def __init__(self, dropout):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), POOL)
        x = F.max_pool2d(F.relu(self.conv2(x)), POOL)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class ConvNet(nn.Module):
    """conv 5x5 SAME (32) + ReLU + pool, conv 5x5 SAME (64) + ReLU + pool, fc 3136-1024 + ReLU,
    dropout, fc 1024-10."""

    def __init__(self, dropout):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(64 * 7 * 7, 1024)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), POOL)
        x = F.max_pool2d(F.relu(self.conv2(x)), POOL)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


class Mlp(nn.Module):
    """784-1200-1200-1200-10 with ReLU."""

    def __init__(self, dropout):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 1200)
        self.fc2 = nn.Linear(1200, 1200)
        self.fc3 = nn.Linear(1200, 1200)
        self.fc4 = nn.Linear(1200, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = F.relu(self.fc3(x))
        return self.fc4(x)


NETWORKS = {"lenet5": LeNet5, "convnet": ConvNet, "mlp": Mlp}


def network(spec):
    try:
        return NETWORKS[spec["network"]](spec.get("dropout", 0.0))
    except KeyError:
        raise ValueError(f"unknown network {spec.get('network')!r} (expected one of {sorted(NETWORKS)})")


def time_runs(repeats, run):
    """The xtask's timing rule: warm-up runs, then timed runs until `fixed` runs or, without a
    fixed count, until the budget is spent (at least MIN_RUNS, at most MAX_RUNS)."""
    for _ in range(repeats["warmup"]):
        run()
    fixed, budget = repeats.get("fixed"), repeats["budget_ms"] / 1e3
    samples = []
    started = time.perf_counter()
    while True:
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1e3)
        if fixed is not None:
            if len(samples) >= fixed:
                break
        elif len(samples) >= MAX_RUNS or (
            len(samples) >= MIN_RUNS and time.perf_counter() - started >= budget
        ):
            break
    samples.sort()
    mid = len(samples) // 2
    median = samples[mid] if len(samples) % 2 else (samples[mid - 1] + samples[mid]) / 2
    return {"runs": len(samples), "min_ms": samples[0], "median_ms": median, "max_ms": samples[-1]}


def block_case(case):
    """conv + bias + ReLU + 2x2 max-pool; forward under no_grad, or forward + backward of the
    sum (weight and bias gradients, and the input gradient when `input_grad`)."""
    b, c, s, k, kk = case["batch"], case["channels"], case["size"], case["filters"], case["kernel"]
    padding = case["padding"]
    x = torch.randn(b, c, s, s)
    w = torch.randn(k, c, kk, kk) * (2.0 / (c * kk * kk)) ** 0.5
    bias = torch.zeros(k)

    def block(x, w, bias):
        return F.max_pool2d(F.relu(F.conv2d(x, w, bias, padding=padding)), POOL)

    if case["pass"] == "forward":

        def run():
            with torch.no_grad():
                block(x, w, bias)

        return run
    if case["pass"] != "forward_backward":
        raise ValueError(f"unknown block pass {case['pass']!r}")
    x.requires_grad_(case["input_grad"])
    w.requires_grad_(True)
    bias.requires_grad_(True)

    def run():
        for t in (x, w, bias):
            t.grad = None
        block(x, w, bias).sum().backward()

    return run


def network_case(case):
    """A training step (forward, cross-entropy, backward, Adam) or inference (argmax of the
    logits) of a whole network, on stand-in images and labels (speed does not depend on them)."""
    model = network(case)
    batch = case["batch"]
    images = torch.randn(batch, 1, 28, 28)
    labels = torch.arange(batch) % 10
    if case["pass"] == "train_step":
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def run():
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()

        return run
    if case["pass"] == "inference":
        model.eval()

        def run():
            with torch.inference_mode():
                model(images).argmax(1)

        return run
    raise ValueError(f"unknown network pass {case['pass']!r}")


def read_idx(path, header):
    """The payload of an IDX file, raw or gzip-compressed (the project verifies these files;
    the peer only reads them)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return np.frombuffer(data[header:], dtype=np.uint8)


def epoch(spec):
    """One training epoch as a PyTorch user writes it for MNIST held in memory: a seeded
    train/validation split, the normalised images as one tensor, shuffled batches, Adam, the
    running loss and accuracy, then a validation pass. Timed from the first batch to the end
    of validation; loading and normalising the files is not timed."""
    torch.manual_seed(spec["seed"])
    pixels = read_idx(spec["train_images"], 16).reshape(-1, 1, 28, 28)
    targets = torch.from_numpy(read_idx(spec["train_labels"], 8).astype(np.int64))
    images = (torch.from_numpy(pixels.astype(np.float32)) / 255.0 - spec["mean"]) / spec["std"]
    order = torch.randperm(len(images))
    valid, train = order[: spec["valid"]], order[spec["valid"] :]
    train_x, train_y = images[train], targets[train]
    valid_x, valid_y = images[valid], targets[valid]
    model = network(spec)
    optimizer = torch.optim.Adam(model.parameters(), lr=spec["lr"], eps=spec["epsilon"])

    start = time.perf_counter()
    model.train()
    loss_sum, correct = 0.0, 0
    # The time in training steps (zero_grad to optimizer.step, what a step case times) and in
    # the validation pass; the rest of the epoch is the loop's own work (batch indexing, the
    # running loss and accuracy).
    step_seconds = 0.0
    for batch in torch.randperm(len(train_x)).split(spec["batch"]):
        x, y = train_x[batch], train_y[batch]
        step_start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        optimizer.step()
        step_seconds += time.perf_counter() - step_start
        loss_sum += loss.item() * len(batch)
        correct += (logits.argmax(1) == y).sum().item()
    train_seconds = time.perf_counter() - start
    model.eval()
    valid_correct = 0
    with torch.inference_mode():
        for i in range(0, len(valid_x), spec["valid_batch"]):
            x, y = valid_x[i : i + spec["valid_batch"]], valid_y[i : i + spec["valid_batch"]]
            valid_correct += (model(x).argmax(1) == y).sum().item()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "train_seconds": train_seconds,
        "step_seconds": step_seconds,
        "valid_seconds": seconds - train_seconds,
        "images": len(train_x),
        "train_loss": loss_sum / len(train_x),
        "train_accuracy": 100.0 * correct / len(train_x),
        "valid_accuracy": 100.0 * valid_correct / max(len(valid_x), 1),
    }


def answer(request):
    if "epoch" in request:
        return epoch(request["epoch"])
    case = request["case"]
    if case["kind"] == "block":
        run = block_case(case)
    elif case["kind"] == "network":
        run = network_case(case)
    else:
        raise ValueError(f"unknown case kind {case['kind']!r}")
    return time_runs(request["repeats"], run)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, required=True, help="torch.set_num_threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    # The project's binaries flush subnormal floats to zero; so does the peer.
    torch.set_flush_denormal(True)
    hello = {
        "peer": "pytorch",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
    }
    print(json.dumps(hello), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            result = answer(json.loads(line))
        except Exception as error:  # reported to the xtask, which names the case
            result = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
