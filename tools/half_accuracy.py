#!/usr/bin/env python3
"""Half-precision storage against float32 on a training run's validation images.

    tools/half_accuracy.py build/tools/segcl RUN_DIR [--device N]

Runs `segcl predict --save-logits` and `segcl eval --split val --json` on the run's
validation images with --precision fp32 and fp16 and prints, per image and in the worst
case, what the acceptance of half storage asks for: max |l16 - l32| against 1e-2 * max |l32|,
the share of mask pixels (logit > 0, the network's output) that agree (>= 99.5%), and the
Dice difference (<= 0.002). Exit status 1 when any image misses one. Standard library only.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile


def read_npy(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        raise ValueError(path + ": not a .npy file")
    major = data[6]
    hlen = struct.unpack("<H" if major == 1 else "<I", data[8:10] if major == 1 else data[8:12])[0]
    start = (10 if major == 1 else 12) + hlen
    header = data[start - hlen:start].decode("latin1")
    if "'<f4'" not in header:
        raise ValueError(path + ": not float32")
    body = data[start:]
    return struct.unpack("<%df" % (len(body) // 4), body)


def validation_inputs(run):
    with open(os.path.join(run, "args.json")) as f:
        args = json.load(f)
    names = set(args["split"]["validation"])
    roots = [v for k, v in args["data"].items() if isinstance(v, str) and os.path.isdir(v)]
    found = {}
    for root in roots:
        for base, _, files in os.walk(root):
            for name in files:
                if name in names and name not in found and "mask" not in base.lower() \
                        and "lesion" not in base.lower() and "truth" not in base.lower():
                    found[name] = os.path.join(base, name)
    missing = names - set(found)
    if missing:
        raise SystemExit("validation images not found: %s" % sorted(missing)[:5])
    return [found[n] for n in sorted(found)]


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    segcl, run, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    inputs = validation_inputs(run)
    logits, dice = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for p in ("fp32", "fp16"):
            out = os.path.join(tmp, p)
            subprocess.run([segcl] + extra + ["predict", "--model", run, "--out", out,
                            "--overlay", "none", "--save-logits", "--precision", p] + inputs,
                           check=True, stdout=subprocess.DEVNULL)
            logits[p] = {n[:-len("_logits.npy")]: read_npy(os.path.join(out, n))
                         for n in os.listdir(out) if n.endswith("_logits.npy")}
            ev = subprocess.run([segcl] + extra + ["eval", "--split", "val", run, "--json",
                                 "--precision", p], check=True, capture_output=True, text=True)
            result = json.loads(ev.stdout)
            dice[p] = {e["name"]: e["dice"] for e in result["images"]}
            dice[p + " mean"] = result["dice"]
    worst_rel, worst_same, worst_dice, ok = 0.0, 1.0, 0.0, True
    for stem in sorted(logits["fp32"]):
        a, b = logits["fp32"][stem], logits["fp16"][stem]
        most = max(abs(v) for v in a)
        diff = max(abs(x - y) for x, y in zip(a, b))
        same = sum((x > 0) == (y > 0) for x, y in zip(a, b)) / len(a)
        rel = diff / most if most else 0.0
        worst_rel, worst_same = max(worst_rel, rel), min(worst_same, same)
        ok = ok and diff <= 1e-2 * most and same >= 0.995
        print("%-20s max|l16-l32| %.4g of max|l32| %.4g (%.2e)  masks %.5f the same"
              % (stem, diff, most, rel, same))
    for name, d32 in dice["fp32"].items():
        d16 = dice["fp16"].get(name)
        if d32 is None or d16 is None:
            continue
        worst_dice = max(worst_dice, abs(d32 - d16))
        ok = ok and abs(d32 - d16) <= 0.002
    print("%d images: worst logit error %.2e of the largest logit (limit 1e-2), worst mask "
          "agreement %.5f (limit 0.995), worst Dice difference %.5f (limit 0.002); mean Dice "
          "fp32 %.4f fp16 %.4f: %s" % (len(logits["fp32"]), worst_rel, worst_same, worst_dice,
                                       dice["fp32 mean"], dice["fp16 mean"],
                                       "pass" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
