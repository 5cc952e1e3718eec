#!/usr/bin/python3
"""PyTorch reference for `tune bench`: the same network, data size, optimiser and measurement.

Reference only (never a dependency of flowtune). Needs Debian's python3-torch
(`apt-get install -y python3-torch`, PyTorch 1.13); run it with /usr/bin/python3:

    /usr/bin/python3 bench/torch_reference.py --network FILE.json [--threads 2] [--epochs 1]

FILE.json is a flowtune network spec: what a report prints under "Network as JSON", or what
`npx tsx bench/tfjs_bench.ts --network NAME --print-spec` prints for a named bench network
(bench/compare.mjs writes these files itself).

What is identical to src/training/bench.ts (loop.ts and evaluate.ts `evaluateUploaded`):
  - network: built layer by layer from the spec: conv (bias; 'same' padding as TensorFlow pads,
    the extra row/column at the bottom/right), batchnorm (eps 1e-5, running statistics updated as
    model.ts's momentum 0.9 = PyTorch's momentum 0.1), relu, maxpool ('valid'), dropout, flatten
    before the first fc; softmax cross-entropy from logits.
  - data: 4,096 Fashion-MNIST training images (/usr/share/datasets/fashion-mnist) scaled to 0..1,
    held in one tensor; every epoch a new permutation, batches taken with index_select. (flowtune
    takes a stratified subset, this the first images: which images does not change the speed.)
  - sgdm: learning rate 0.01, momentum 0.9 (PyTorch's and tfjs's momentum updates are the same
    while the rate is constant), L2 1e-4 on conv/fc weights only (weight_decay in a parameter
    group = MATLAB's L2Regularization as loop.ts applies it).
  - per iteration the loss and the number of correct predictions are read back (loop.ts syncs
    once per iteration for the same numbers).
  - one warm-up epoch, then the timed epochs; images/s of the median epoch.
  - evaluation: model.eval() under torch.no_grad(), 10,000 images in batches of 1,000, per-image
    cross-entropy, predictions and their sums (what evaluateUploaded returns), after a warm-up batch.
Prints one JSON object.
"""
import argparse
import gzip
import json
import math
import os
import statistics
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
EVAL_BATCH_SIZE = 1000


def load_images(count):
    images_path = os.path.join(FASHION_DIR, "train-images-idx3-ubyte.gz")
    labels_path = os.path.join(FASHION_DIR, "train-labels-idx1-ubyte.gz")
    if os.path.exists(images_path) and os.path.exists(labels_path) and count <= 60000:
        with gzip.open(images_path, "rb") as f:
            magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
            assert magic == 2051 and rows == 28 and cols == 28
            pixels = f.read(count * 784)
        with gzip.open(labels_path, "rb") as f:
            magic, n = struct.unpack(">II", f.read(8))
            assert magic == 2049
            labels = f.read(count)
        x = torch.frombuffer(bytearray(pixels), dtype=torch.uint8).float().div_(255).reshape(count, 1, 28, 28)
        y = torch.frombuffer(bytearray(labels), dtype=torch.uint8).long()
        return x, y, "fashion"
    g = torch.Generator().manual_seed(12345)
    return torch.rand(count, 1, 28, 28, generator=g), torch.randint(0, 10, (count,), generator=g), "random"


def same_padding(size, kernel, stride):
    """TensorFlow's 'same': output ceil(size/stride), the odd pixel of padding at the end."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


def build(spec):
    height, width, channels = spec["inputShape"]
    flat = None  # features once flattened
    layers = []
    for layer in spec["layers"]:
        kind = layer["type"]
        if kind == "conv":
            k, stride, pad = layer["kernelSize"], layer.get("stride", 1), layer.get("padding", "same")
            if pad == "same":
                top, bottom, out_h = same_padding(height, k, stride)
                left, right, out_w = same_padding(width, k, stride)
                if top == bottom and left == right:
                    layers.append(nn.Conv2d(channels, layer["filters"], k, stride=stride, padding=(top, left)))
                else:
                    layers += [nn.ZeroPad2d((left, right, top, bottom)), nn.Conv2d(channels, layer["filters"], k, stride=stride)]
            else:
                out_h, out_w = (height - k) // stride + 1, (width - k) // stride + 1
                layers.append(nn.Conv2d(channels, layer["filters"], k, stride=stride))
            height, width, channels = out_h, out_w, layer["filters"]
        elif kind == "batchnorm":
            layers.append(nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1) if flat is None else nn.BatchNorm1d(flat, eps=1e-5, momentum=0.1))
        elif kind == "relu":
            layers.append(nn.ReLU())
        elif kind == "maxpool":
            p, s = layer["poolSize"], layer["stride"]
            layers.append(nn.MaxPool2d(p, s))
            height, width = (height - p) // s + 1, (width - p) // s + 1
        elif kind == "dropout":
            layers.append(nn.Dropout(layer["rate"]))
        elif kind == "fc":
            if flat is None:
                flat = height * width * channels
                layers.append(nn.Flatten())
            layers.append(nn.Linear(flat, layer["units"]))
            flat = layer["units"]
        else:
            raise SystemExit(f"unknown layer type {kind!r}")
    return nn.Sequential(*layers)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--network", required=True, help="a flowtune network spec (JSON file)")
    parser.add_argument("--name", default=None, help="the network's name in the output (default: the file's)")
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs after the warm-up epoch")
    parser.add_argument("--eval-images", type=int, default=10000, help="images evaluated forward only (0: none)")
    args = parser.parse_args()
    with open(args.network) as f:
        spec = json.load(f)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y, source = load_images(max(args.images, args.eval_images))
    xt, yt = x[: args.images], y[: args.images]
    model = build(spec)
    weights = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1]
    others = [p for n, p in model.named_parameters() if not (n.endswith("weight") and p.dim() > 1)]
    optimizer = torch.optim.SGD(
        [{"params": weights, "weight_decay": 1e-4}, {"params": others, "weight_decay": 0.0}],
        lr=0.01,
        momentum=0.9,
    )
    loss_fn = nn.CrossEntropyLoss()
    batches = args.images // args.batch

    def epoch():
        model.train()
        order = torch.randperm(args.images)
        started = time.perf_counter()
        for b in range(batches):
            idx = order[b * args.batch : (b + 1) * args.batch]
            xb, yb = xt.index_select(0, idx), yt.index_select(0, idx)
            optimizer.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            optimizer.step()
            loss.item()
            (logits.argmax(1) == yb).sum().item()
        return time.perf_counter() - started

    def evaluate(xe, ye):
        model.eval()
        started = time.perf_counter()
        with torch.no_grad():
            sums = torch.zeros(2)
            losses, predictions = [], []
            for start in range(0, xe.shape[0], EVAL_BATCH_SIZE):
                xb, yb = xe[start : start + EVAL_BATCH_SIZE], ye[start : start + EVAL_BATCH_SIZE]
                logits = model(xb)
                each = F.cross_entropy(logits, yb, reduction="none")
                predicted = logits.argmax(1)
                sums += torch.stack([each.sum(), (predicted == yb).sum().float()])
                losses.append(each)
                predictions.append(predicted)
            torch.cat(losses).numpy(), torch.cat(predictions).numpy(), sums.tolist()
        return time.perf_counter() - started

    epoch()  # warm-up
    seconds = [epoch() for _ in range(args.epochs)]
    median = statistics.median(seconds)
    result = {
        "framework": "pytorch",
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "network": args.name or os.path.splitext(os.path.basename(args.network))[0],
        "miniBatchSize": args.batch,
        "images": batches * args.batch,
        "data": source,
        "imagesPerSecond": round(batches * args.batch / median),
        "epochSeconds": [round(s, 4) for s in seconds],
        "evaluation": None,
    }
    if args.eval_images > 0:
        xe, ye = x[: args.eval_images], y[: args.eval_images]
        evaluate(xe[:EVAL_BATCH_SIZE], ye[:EVAL_BATCH_SIZE])  # warm-up
        result["evaluation"] = {
            "images": args.eval_images,
            "batchSize": EVAL_BATCH_SIZE,
            "imagesPerSecond": round(args.eval_images / evaluate(xe, ye)),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
