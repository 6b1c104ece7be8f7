#!/usr/bin/python3
"""PyTorch side of tools/bench_ops: the lesson U-Net's convolution layers and whole training
step on the CPU, timed the same way as segcl. Prints one JSON object.

Run with Debian's python3-torch, ideally with tcmalloc preloaded (PyTorch's fastest CPU
setting here):  LD_PRELOAD=libtcmalloc_minimal.so.4 /usr/bin/python3 tools/bench_torch.py
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segnets_torch  # noqa: E402


SYNC = lambda: None  # noqa: E731  (torch.cuda.synchronize on a GPU)


def timed(fn, seconds):
    fn()
    SYNC()
    reps, start = 0, time.perf_counter()
    while True:
        fn()
        SYNC()
        reps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and reps >= 2:
            return elapsed / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--arch", default="unet")
    ap.add_argument("--layers", default="")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (the same model on the GPU)")
    args = ap.parse_args()
    global SYNC
    dev = torch.device(args.device)
    if dev.type == "cuda":
        SYNC = torch.cuda.synchronize
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "threads": args.threads, "device": str(dev), "layers": {}}
    if dev.type == "cuda":
        out["device_name"] = torch.cuda.get_device_name(dev)
    # "name:cin:cout:h:k" entries, the same list tools/bench_ops.c times
    for spec in filter(None, args.layers.split(",")):
        name, cin, cout, h, k = spec.split(":")
        cin, cout, h, k = int(cin), int(cout), int(h), int(k)
        x = torch.randn(args.batch, cin, h, h, requires_grad=True, device=dev)
        conv = torch.nn.Conv2d(cin, cout, k, padding=k // 2).to(dev)
        g = torch.randn(args.batch, cout, h, h, device=dev)
        with torch.no_grad():
            fwd = timed(lambda: conv(x), args.seconds)
        y = conv(x)
        bwd = timed(lambda: torch.autograd.grad(y, [x, conv.weight, conv.bias], g,
                                                retain_graph=True), args.seconds)
        out["layers"][name] = {"forward_s": fwd, "backward_s": bwd}
    model = segnets_torch.build(args.arch).to(dev)
    x = torch.rand(args.batch, 3, args.size, args.size, device=dev)
    t = (torch.rand(args.batch, 1, args.size, args.size, device=dev) > 0.5).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-6)

    def step():
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(x), t).backward()
        opt.step()

    model.train()
    out["train_step_s"] = timed(step, args.seconds * 3)
    model.eval()
    with torch.no_grad():
        out["infer_batch_s"] = timed(lambda: model(x), args.seconds * 2)
    out["train_images_per_s"] = args.batch / out["train_step_s"]
    out["infer_images_per_s"] = args.batch / out["infer_batch_s"]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
