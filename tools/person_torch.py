"""The PyTorch side of the person-photo comparison (issue 10's quality target).

Trains the lesson U-Net in PyTorch on exactly the images a segcl run trained on (read from the
run's args.json), with the same size, epochs, batch, optimiser, learning rate and loss, keeps
the epoch with the best validation Dice (as segcl's best.safetensors), and prints the mean
per-image IoU and Dice on held-out images (a folder pair), measured at the network's input
size as `segcl eval` does.

Development tool only (Debian's python3-torch and python3-pil), run with /usr/bin/python3:
  /usr/bin/python3 tools/person_torch.py --run RUN_DIR --test-images DIR --test-masks DIR
      [--augment hflip|none] [--loss bce|bce+dice] [--threads 2] [--seed 0] [--save M]
"""
import argparse
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from segnets_torch import build  # noqa: E402


def load_pair(image_path, mask_path, size):
    img = Image.open(image_path).convert("RGB").resize((size, size), Image.BILINEAR)
    # as segcl reads them: photos resized with antialiasing, masks with nearest neighbour
    mask = Image.open(mask_path).convert("L").resize((size, size), Image.NEAREST)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    y = torch.from_numpy((np.asarray(mask) > 127).astype(np.float32))[None]
    return x, y


def mask_for(masks_dir, image_name):
    stem = os.path.splitext(image_name)[0]
    for name in sorted(os.listdir(masks_dir)):
        if os.path.splitext(name)[0] == stem:
            return os.path.join(masks_dir, name)
    raise SystemExit(f"no mask for {image_name} in {masks_dir}")


def load_set(images_dir, masks_dir, names, size):
    xs, ys = zip(*(load_pair(os.path.join(images_dir, n), mask_for(masks_dir, n), size)
                   for n in names))
    return torch.stack(xs), torch.stack(ys)


def scores(model, x, y, batch=16):
    """Mean per-image foreground IoU and Dice over images whose masks hold foreground."""
    model.eval()
    ious, dices = [], []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            pred = model(x[i:i + batch]) > 0
            t = y[i:i + batch] > 0.5
            for p, q in zip(pred, t):
                tp = (p & q).sum().item()
                fp = (p & ~q).sum().item()
                fn = (~p & q).sum().item()
                if tp + fn == 0:
                    continue
                ious.append(tp / (tp + fp + fn))
                dices.append(2 * tp / (2 * tp + fp + fn))
    model.train()
    return float(np.mean(ious)), float(np.mean(dices))


def save_safetensors(state, path):
    """A state_dict as safetensors (F32, I64), without the safetensors package."""
    header, blobs, offset = {}, [], 0
    for name, t in state.items():
        t = t.detach().contiguous().cpu()
        dtype = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="a segcl run folder (its args.json)")
    ap.add_argument("--test-images", required=True)
    ap.add_argument("--test-masks", required=True)
    ap.add_argument("--augment", default="hflip", choices=["hflip", "none"])
    ap.add_argument("--epochs", type=int, help="override the run's epochs")
    ap.add_argument("--no-shuffle", action="store_true", help="batches in the split's order")
    ap.add_argument("--pad-last", action="store_true",
                    help="fill a short last batch with its first images, as segcl does")
    ap.add_argument("--init-out", help="save the initial weights (for segcl train --init)")
    ap.add_argument("--loss", default="bce", choices=["bce", "bce+dice"],
                    help="bce+dice: BCE plus 1 - soft Dice per image (smooth 1), as segcl")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", help="write the best model here as safetensors (segcl's names), "
                                   "so `segcl eval --arch unet` scores it as it scores segcl's")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    args = json.load(open(os.path.join(a.run, "args.json")))
    s, data = args["settings"], args["data"]
    base = os.path.dirname(os.path.abspath(os.path.join(a.run, "args.json")))
    images = data["images"] if os.path.isabs(data["images"]) else os.path.join(base, "..", data["images"])
    masks = data["masks"] if os.path.isabs(data["masks"]) else os.path.join(base, "..", data["masks"])
    size, batch, epochs = s["size"], s["batch"], a.epochs or s["epochs"]
    xtr, ytr = load_set(images, masks, args["split"]["training"], size)
    xva, yva = load_set(images, masks, args["split"]["validation"], size)
    test_names = sorted(n for n in os.listdir(a.test_images)
                        if n.lower().endswith((".jpg", ".jpeg", ".png", ".bmp")))
    xte, yte = load_set(a.test_images, a.test_masks, test_names, size)
    model = build(s["arch"], 1, s["width"], s["depth"])
    opt = torch.optim.Adam(model.parameters(), lr=s["lr"], weight_decay=s["weight_decay"])
    if a.init_out:
        save_safetensors(model.state_dict(), a.init_out)
    best, best_state = -1.0, None
    t0 = time.time()
    for epoch in range(epochs):
        order = torch.arange(len(xtr)) if a.no_shuffle else torch.randperm(len(xtr))
        losses = []
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            if a.pad_last and len(idx) < batch:
                idx = torch.cat([idx, idx[:batch - len(idx)]])
            x, y = xtr[idx].clone(), ytr[idx].clone()
            if a.augment == "hflip":
                flip = torch.rand(len(idx)) < 0.5
                x[flip] = x[flip].flip(-1)
                y[flip] = y[flip].flip(-1)
            logits = model(x)
            loss = F.binary_cross_entropy_with_logits(logits, y)
            if a.loss == "bce+dice":
                p = torch.sigmoid(logits).flatten(1)
                t = y.flatten(1)
                dice = (2 * (p * t).sum(1) + 1) / (p.sum(1) + t.sum(1) + 1)
                loss = loss + (1 - dice).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        _, dice = scores(model, xva, yva)
        if dice > best:
            best = dice
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        print(f"epoch {epoch + 1}/{epochs} train loss {np.mean(losses):.4f} val Dice {dice:.4f}",
              file=sys.stderr)
    model.load_state_dict(best_state)
    if a.save:
        save_safetensors(best_state, a.save)
    iou, dice = scores(model, xte, yte)
    print(json.dumps({"test_images": len(test_names), "iou": round(iou, 4), "dice": round(dice, 4),
                      "best_val_dice": round(best, 4), "augment": a.augment, "loss": a.loss, "seed": a.seed,
                      "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
