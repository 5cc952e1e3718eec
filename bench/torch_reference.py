#!/usr/bin/python3
"""PyTorch reference for `tune bench`: the same network, data, optimiser and measurement.

Reference only (never a dependency of flowtune). Needs Debian's python3-torch
(`apt-get install -y python3-torch`, PyTorch 1.13); run it with /usr/bin/python3.

What is identical to src/training/bench.ts (default loop = trainer.ts benchEpochs):
  - network: 28x28x1 -> [conv 3x3 'same' (bias) -> batchnorm (eps 1e-5) -> relu -> maxpool 2x2/2]
    x blocks -> fc 10; softmax cross-entropy from logits. default = [20], deep2 = [20, 40],
    deep3 = [20, 40, 80] filters.
  - data: the first N Fashion-MNIST training images (/usr/share/datasets/fashion-mnist), scaled
    to 0..1, held in one tensor; every epoch a new permutation, batches taken with index_select;
    seeded random images when the files are absent.
  - sgdm: learning rate 0.01, momentum 0.9 (PyTorch's and tfjs's momentum updates are the same
    while the rate is constant), L2 1e-4 on conv/fc weights only (weight_decay in a parameter
    group = MATLAB's L2Regularization as trainer.ts applies it).
  - per iteration the loss and the number of correct predictions are read back (trainer.ts syncs
    once per iteration for the same numbers).
  - one warm-up epoch, then the timed epochs; images/s of the median epoch.
Prints one JSON object.
"""
import argparse
import gzip
import json
import os
import statistics
import struct
import time

import torch
import torch.nn as nn

NETWORKS = {"default": [20], "deep2": [20, 40], "deep3": [20, 40, 80]}
FASHION_DIR = "/usr/share/datasets/fashion-mnist"


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
        return x, y, "fashion-mnist"
    g = torch.Generator().manual_seed(12345)
    return torch.rand(count, 1, 28, 28, generator=g), torch.randint(0, 10, (count,), generator=g), "random"


def build(filters):
    layers = []
    channels, size = 1, 28
    for f in filters:
        layers += [
            nn.Conv2d(channels, f, 3, stride=1, padding=1, bias=True),
            nn.BatchNorm2d(f, eps=1e-5, momentum=0.1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
        ]
        channels, size = f, size // 2
    layers += [nn.Flatten(), nn.Linear(channels * size * size, 10)]
    return nn.Sequential(*layers)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--network", choices=sorted(NETWORKS), default="default")
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs after the warm-up epoch")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y, source = load_images(args.images)
    model = build(NETWORKS[args.network])
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
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            optimizer.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            optimizer.step()
            loss.item()
            (logits.argmax(1) == yb).sum().item()
        return time.perf_counter() - started

    epoch()  # warm-up
    seconds = [epoch() for _ in range(args.epochs)]
    median = statistics.median(seconds)
    print(
        json.dumps(
            {
                "framework": "pytorch",
                "version": torch.__version__,
                "threads": torch.get_num_threads(),
                "network": args.network,
                "miniBatchSize": args.batch,
                "images": batches * args.batch,
                "data": source,
                "imagesPerSecond": round(batches * args.batch / median),
                "epochSeconds": [round(s, 4) for s in seconds],
            }
        )
    )


if __name__ == "__main__":
    main()
