#!/usr/bin/python3
"""Writes PyTorch reference vectors ("goldens") for segcl's tests to tests/data/.

Run with Debian's python3-torch:  /usr/bin/python3 tools/gen_reference.py
The files are committed; tests never need torch.

File format (little-endian), read by tests/test_util.c (golden_load):
  magic "SEGCLGLD", u32 version (1), u32 entry count, then per entry:
  u16 name length, name bytes, u8 ndim, i64 shape[ndim], u32 stride, u64 count, f32 values[count]
  Values are the flattened tensor's elements 0, stride, 2*stride, ... (stride 1: all of them).

Network weights are not stored: both sides draw them from PCG32 (seed 1234, stream 0) in
state_dict order, so the file stays small; see tests/test_networks.c for the same procedure.
"""
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segnets_torch  # noqa: E402

VERSION = 1
MAX_SAMPLES = 2048


class Pcg32:
    """PCG32 XSH RR, identical to src/core/rng.c."""

    MASK = (1 << 64) - 1

    def __init__(self, seed, stream):
        self.state = 0
        self.inc = ((stream << 1) | 1) & self.MASK
        self.next()
        self.state = (self.state + seed) & self.MASK
        self.next()

    def next(self):
        old = self.state
        self.state = (old * 6364136223846793005 + self.inc) & self.MASK
        xorshifted = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        return ((xorshifted >> rot) | (xorshifted << ((-rot) & 31))) & 0xFFFFFFFF

    def uniform(self):
        return (self.next() >> 8) * (1.0 / 16777216.0)


class Writer:
    def __init__(self):
        self.entries = []

    def add(self, name, tensor, sample=False):
        t = tensor.detach().to(torch.float32).contiguous().reshape(-1)
        shape = tuple(tensor.shape)
        stride = 1
        if sample and t.numel() > MAX_SAMPLES:
            stride = math.ceil(t.numel() / MAX_SAMPLES)
        values = t[::stride].clone()  # a copy: the source may change in place later
        self.entries.append((name, shape, stride, values))

    def save(self, path):
        with open(path, "wb") as f:
            f.write(b"SEGCLGLD")
            f.write(struct.pack("<II", VERSION, len(self.entries)))
            for name, shape, stride, values in self.entries:
                raw = name.encode()
                f.write(struct.pack("<H", len(raw)))
                f.write(raw)
                f.write(struct.pack("<B", len(shape)))
                f.write(struct.pack(f"<{len(shape)}q", *shape))
                f.write(struct.pack("<IQ", stride, values.numel()))
                f.write(values.numpy().astype("<f4").tobytes())
        print(f"wrote {path}: {len(self.entries)} entries, {os.path.getsize(path)} bytes")


def rand(gen, *shape, lo=-1.0, hi=1.0):
    return torch.rand(*shape, generator=gen, dtype=torch.float64).mul(hi - lo).add(lo).float()


def op_goldens(w):
    gen = torch.Generator().manual_seed(20261125)

    # conv2d 3x3 pad 1 with bias on odd sizes
    x = rand(gen, 2, 3, 37, 29).requires_grad_()
    wt = rand(gen, 5, 3, 3, 3, lo=-0.5, hi=0.5).requires_grad_()
    b = rand(gen, 5, lo=-0.5, hi=0.5).requires_grad_()
    y = F.conv2d(x, wt, b, padding=1)
    dy = rand(gen, *y.shape)
    y.backward(dy)
    for k, v in dict(x=x, w=wt, b=b, y=y, dy=dy, dx=x.grad, dw=wt.grad, db=b.grad).items():
        w.add("conv2d." + k, v)

    # transposed conv 2x2 stride 2
    x = rand(gen, 2, 6, 7, 5).requires_grad_()
    wt = rand(gen, 6, 4, 2, 2, lo=-0.5, hi=0.5).requires_grad_()
    b = rand(gen, 4, lo=-0.5, hi=0.5).requires_grad_()
    y = F.conv_transpose2d(x, wt, b, stride=2)
    dy = rand(gen, *y.shape)
    y.backward(dy)
    for k, v in dict(x=x, w=wt, b=b, y=y, dy=dy, dx=x.grad, dw=wt.grad, db=b.grad).items():
        w.add("convt2d." + k, v)

    # batch norm, training mode, then running statistics
    bn = torch.nn.BatchNorm2d(5)
    with torch.no_grad():
        bn.weight.copy_(rand(gen, 5, lo=0.5, hi=1.5))
        bn.bias.copy_(rand(gen, 5, lo=-0.5, hi=0.5))
    x = rand(gen, 3, 5, 7, 9, lo=-2, hi=3).requires_grad_()
    y = bn(x)
    dy = rand(gen, *y.shape)
    y.backward(dy)
    for k, v in dict(x=x, gamma=bn.weight, beta=bn.bias, y=y, dy=dy, dx=x.grad,
                     dgamma=bn.weight.grad, dbeta=bn.bias.grad, running_mean=bn.running_mean,
                     running_var=bn.running_var).items():
        w.add("batchnorm." + k, v)

    # max-pool 2x2 on odd sizes
    x = rand(gen, 2, 3, 37, 29).requires_grad_()
    y = F.max_pool2d(x, 2, 2)
    dy = rand(gen, *y.shape)
    y.backward(dy)
    for k, v in dict(x=x, y=y, dy=dy, dx=x.grad).items():
        w.add("maxpool." + k, v)

    # bilinear x2, both corner modes
    for mode, align in (("align", True), ("halfpixel", False)):
        x = rand(gen, 2, 3, 8, 9).requires_grad_()
        y = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=align)
        dy = rand(gen, *y.shape)
        y.backward(dy)
        for k, v in dict(x=x, y=y, dy=dy, dx=x.grad).items():
            w.add(f"upsample_{mode}." + k, v)

    # BCE with logits (mean)
    x = rand(gen, 2, 1, 37, 29, lo=-4, hi=4).requires_grad_()
    t = (rand(gen, 2, 1, 37, 29, lo=0, hi=1) > 0.5).float()
    loss = F.binary_cross_entropy_with_logits(x, t)
    loss.backward()
    for k, v in dict(x=x, t=t, loss=loss.reshape(1), dx=x.grad).items():
        w.add("bce." + k, v)

    # softmax cross-entropy with class weights and ignore index
    x = rand(gen, 2, 4, 13, 11, lo=-4, hi=4).requires_grad_()
    t = torch.randint(0, 4, (2, 13, 11), generator=gen)
    t.view(-1)[::7] = 255
    cw = rand(gen, 4, lo=0.5, hi=2)
    loss = F.cross_entropy(x, t, weight=cw, ignore_index=255)
    loss.backward()
    for k, v in dict(x=x, t=t.float().unsqueeze(1), weights=cw, loss=loss.reshape(1),
                     dx=x.grad).items():
        w.add("ce." + k, v)


def fill_weights(model, seed=1234):
    """Same draws as tests/test_networks.c: conv weights and biases U(-b, b), b = 1/sqrt(fan_in)
    (PyTorch's default bounds); BN gamma U(0.5, 1.5), beta U(-0.1, 0.1)."""
    rng = Pcg32(seed, 0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            flat = p.view(-1)
            if name.startswith(("enc_conv", "dec_conv", "bottleneck_conv")):
                conv = getattr(model, name.split(".")[0])
                fan_in = conv.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                vals = [bound * (2.0 * rng.uniform() - 1.0) for _ in range(flat.numel())]
            elif name.endswith("weight"):
                vals = [0.5 + rng.uniform() for _ in range(flat.numel())]
            else:
                vals = [0.2 * rng.uniform() - 0.1 for _ in range(flat.numel())]
            flat.copy_(torch.tensor(vals, dtype=torch.float64).float())


def network_goldens(w, arch, size=64, batch=2, name=None, width=16):
    """The lesson network (width 16, depth 4) at size x size, batch images; entries named name
    (default: arch)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(7)
    model = segnets_torch.build(arch, width=width)
    fill_weights(model)
    x = torch.rand(batch, 3, size, size, generator=gen)
    # a blob-shaped binary target: inside an ellipse that differs per image
    k = size / 64.0
    yy, xx = torch.meshgrid(torch.arange(float(size)) / k, torch.arange(float(size)) / k,
                            indexing="ij")
    blobs = [((yy - 30) ** 2 / 300 + (xx - 34) ** 2 / 150 < 1).float(),
             ((yy - 20) ** 2 / 100 + (xx - 40) ** 2 / 400 < 1).float()]
    t = torch.stack([blobs[i % 2] for i in range(batch)]).unsqueeze(1)
    arch = name or arch
    w.add(f"{arch}.input", x)
    w.add(f"{arch}.target", t)
    init = {k: v.clone() for k, v in model.state_dict().items()}

    model.train()
    logits = model(x)
    loss = F.binary_cross_entropy_with_logits(logits, t)
    loss.backward()
    w.add(f"{arch}.logits", logits)
    w.add(f"{arch}.loss", loss.reshape(1))
    for name, p in model.named_parameters():
        w.add(f"{arch}.grad.{name}", p.grad, sample=True)
    for name, b in model.named_buffers():
        if "running" in name:
            w.add(f"{arch}.after_step.{name}", b)
    model.eval()
    with torch.no_grad():
        w.add(f"{arch}.eval_logits", model(x))

    # two optimizer steps from the same start, same batch
    for opt_name in ("adam", "sgd"):
        model.load_state_dict(init)
        model.train()
        if opt_name == "adam":
            opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-6)
        else:
            opt = torch.optim.SGD(model.parameters(), lr=1e-2)
        for _ in range(2):
            opt.zero_grad()
            F.binary_cross_entropy_with_logits(model(x), t).backward()
            opt.step()
        for name, p in model.named_parameters():
            w.add(f"{arch}.{opt_name}2.{name}", p, sample=True)
    # the same two steps in float64: the reference both PyTorch's float32 result and segcl's
    # are judged against (Adam divides each gradient by its own magnitude, so weights whose
    # gradient cancels to ~0 move by +-lr in float32 whatever the summation order)
    for opt_name in ("adam", "sgd"):
        model.load_state_dict(init)
        model64 = model.double()
        model64.train()
        if opt_name == "adam":
            opt = torch.optim.Adam(model64.parameters(), lr=1e-3, weight_decay=1e-6)
        else:
            opt = torch.optim.SGD(model64.parameters(), lr=1e-2)
        for _ in range(2):
            opt.zero_grad()
            F.binary_cross_entropy_with_logits(model64(x.double()), t.double()).backward()
            opt.step()
        for name, p in model64.named_parameters():
            w.add(f"{arch}.{opt_name}2_f64.{name}", p, sample=True)
        model = model64.float()


def save_safetensors(path, tensors, metadata=None):
    """A safetensors file from a dict of tensors (the format, without the safetensors package:
    8-byte little-endian header length, JSON header, raw little-endian data)."""
    import json
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous()
        dtype = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        raw = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """The tensors of a safetensors file (as PyTorch users load segcl checkpoints)."""
    import json
    import numpy as np
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        dt = {"F32": np.float32, "I64": np.int64}[e["dtype"]]
        out[name] = torch.from_numpy(np.frombuffer(data[b:end], dtype=dt).copy()).reshape(e["shape"])
    return out


def pytorch_export(out_dir):
    """A small U-Net state_dict saved from PyTorch (no segcl metadata) and its eval-mode output
    on a fixed input: segcl must load it with --arch unet --width 4 --depth 2 and agree."""
    torch.manual_seed(3)
    model = segnets_torch.build("unet", classes=1, width=4, depth=2)
    # one training-mode pass so the BN running statistics are not the defaults
    model.train()
    with torch.no_grad():
        model(torch.rand(2, 3, 32, 32))
    model.eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        y = model(x)
    save_safetensors(os.path.join(out_dir, "pytorch_unet_w4_d2.safetensors"), model.state_dict())
    w = Writer()
    w.add("input", x)
    w.add("logits", y)
    w.save(os.path.join(out_dir, "pytorch_unet_w4_d2.golden"))


def main():
    torch.set_num_threads(1)
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
    os.makedirs(out_dir, exist_ok=True)
    w = Writer()
    op_goldens(w)
    w.save(os.path.join(out_dir, "ops.golden"))
    w = Writer()
    for arch in ("unet", "segnet"):
        network_goldens(w, arch)
    # the same architecture four times narrower at 32x32: small enough for a simulator
    # (Oclgrind interprets every work-item)
    for arch in ("unet", "segnet"):
        network_goldens(w, arch, size=32, batch=2, name=arch + "_small", width=4)
    w.save(os.path.join(out_dir, "networks.golden"))
    pytorch_export(out_dir)


if __name__ == "__main__":
    main()
