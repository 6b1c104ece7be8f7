#!/usr/bin/python3
"""Loads a segcl checkpoint into the PyTorch model of tools/segnets_torch.py (strict: every
state_dict name and shape must match) and optionally saves it as a PyTorch .pt file.

    /usr/bin/python3 tools/segcl_to_torch.py RUN/best.safetensors [--save model.pt]
"""
import argparse
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import segnets_torch  # noqa: E402
from gen_reference import load_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--save")
    args = ap.parse_args()
    with open(args.checkpoint, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        meta = json.loads(f.read(n)).get("__metadata__", {})
    model = segnets_torch.build(meta.get("arch", "unet"), int(meta.get("classes", 1)),
                                int(meta.get("width", 16)), int(meta.get("depth", 4)))
    tensors = load_safetensors(args.checkpoint)
    state = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
    model.load_state_dict(state, strict=True)
    print(f"loaded {len(state)} tensors into {meta.get('arch', 'unet')} "
          f"(classes {meta.get('classes', 1)}, width {meta.get('width', 16)}, "
          f"depth {meta.get('depth', 4)}); training size {meta.get('size', '?')}")
    if args.save:
        torch.save(model.state_dict(), args.save)
        print(f"saved {args.save}")


if __name__ == "__main__":
    main()
