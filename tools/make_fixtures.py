#!/usr/bin/python3
"""Writes the small image fixtures under tests/data/fixtures/ (committed; tests never run this).

Layouts: ph2/ (PH2's original folders; photos 24-bit bottom-up BMP, masks 1-bit palettised,
24-bit top-down with 0/255 greys, and 8-bit palettised BMP), mads/ (images/ + masks/ with the
same names inside the zip's nested duplicate folder), folder/ (JPEG/PNG/BMP photos matched to
masks by stem, one photo without a mask), corrupt/ (truncated and malformed files).
Needs Debian's python3-pil for JPEG and PNG.
"""
import os
import struct

from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "fixtures")
W, H = 21, 14


def photo(seed):
    img = Image.new("RGB", (W, H))
    img.putdata([((x * 11 + seed * 40) % 256, (y * 17 + seed * 7) % 256, (x * y + seed) % 256)
                 for y in range(H) for x in range(W)])
    return img


def mask_bits(seed):
    cx, cy = 8 + seed, 6
    return [[1 if (x - cx) ** 2 / 30 + (y - cy) ** 2 / 12 < 1 else 0 for x in range(W)]
            for y in range(H)]


def bmp_24(path, img, top_down=False):
    w, h = img.size
    stride = (w * 3 + 3) & ~3
    rows = []
    px = img.load()
    order = range(h) if top_down else range(h - 1, -1, -1)
    for y in order:
        row = b"".join(bytes((px[x, y][2], px[x, y][1], px[x, y][0])) for x in range(w))
        rows.append(row + b"\0" * (stride - len(row)))
    data = b"".join(rows)
    header = struct.pack("<2sIHHI", b"BM", 54 + len(data), 0, 0, 54)
    dib = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, 24, 0, len(data), 2835,
                      2835, 0, 0)
    with open(path, "wb") as f:
        f.write(header + dib + data)


def bmp_palettised(path, bits, depth):
    h, w = len(bits), len(bits[0])
    stride = ((w * depth + 31) // 32) * 4
    palette = [(0, 0, 0), (255, 255, 255)] + [(i, i, i) for i in range(2, 2 ** depth)]
    pal = b"".join(bytes((b, g, r, 0)) for r, g, b in palette[: 2 ** depth])
    rows = []
    for y in range(h - 1, -1, -1):
        row = bytearray(stride)
        for x in range(w):
            v = bits[y][x]
            if depth == 1:
                row[x // 8] |= v << (7 - x % 8)
            elif depth == 8:
                row[x] = v
        rows.append(bytes(row))
    data = b"".join(rows)
    off = 54 + len(pal)
    header = struct.pack("<2sIHHI", b"BM", off + len(data), 0, 0, off)
    dib = struct.pack("<IiiHHIIiiII", 40, w, h, 1, depth, 0, len(data), 2835, 2835,
                      2 ** depth, 0)
    with open(path, "wb") as f:
        f.write(header + dib + pal + data)


def grey_mask(bits):
    img = Image.new("L", (W, H))
    img.putdata([255 * bits[y][x] for y in range(H) for x in range(W)])
    return img


def main():
    # PH2: three cases, three mask encodings; a fourth case without a lesion mask is skipped
    cases = os.path.join(ROOT, "ph2", "PH2Dataset", "PH2 Dataset images")
    for i, name in enumerate(["IMD001", "IMD002", "IMD003", "IMD004"]):
        d = os.path.join(cases, name)
        os.makedirs(os.path.join(d, f"{name}_Dermoscopic_Image"), exist_ok=True)
        bmp_24(os.path.join(d, f"{name}_Dermoscopic_Image", f"{name}.bmp"), photo(i))
        if name == "IMD004":
            continue
        os.makedirs(os.path.join(d, f"{name}_lesion"), exist_ok=True)
        os.makedirs(os.path.join(d, f"{name}_roi"), exist_ok=True)
        m = os.path.join(d, f"{name}_lesion", f"{name}_lesion.bmp")
        if i == 0:
            bmp_palettised(m, mask_bits(i), 1)
        elif i == 1:
            bmp_24(m, grey_mask(mask_bits(i)).convert("RGB"), top_down=True)
        else:
            bmp_palettised(m, mask_bits(i), 8)
    # MADS: the zip's outer folder holding images/, masks/ and a nested duplicate of itself
    outer = os.path.join(ROOT, "mads", "segmentation_full_body_mads_dataset_1192_img")
    for base in (outer, os.path.join(outer, "segmentation_full_body_mads_dataset_1192_img")):
        os.makedirs(os.path.join(base, "images"), exist_ok=True)
        os.makedirs(os.path.join(base, "masks"), exist_ok=True)
        for i in range(3):
            photo(i).save(os.path.join(base, "images", f"Kata_F{i}.png"))
            grey_mask(mask_bits(i)).save(os.path.join(base, "masks", f"Kata_F{i}.png"))
    # folder: stems matched across extensions; b.jpg has no mask
    f = os.path.join(ROOT, "folder")
    os.makedirs(os.path.join(f, "images"), exist_ok=True)
    os.makedirs(os.path.join(f, "masks"), exist_ok=True)
    photo(0).save(os.path.join(f, "images", "a.jpg"), quality=95)
    grey_mask(mask_bits(0)).save(os.path.join(f, "masks", "a.png"))
    photo(1).save(os.path.join(f, "images", "b.jpg"), quality=95)
    bmp_24(os.path.join(f, "images", "c.bmp"), photo(2))
    grey_mask(mask_bits(2)).save(os.path.join(f, "masks", "c.bmp"))
    photo(3).save(os.path.join(f, "images", "d.png"))
    grey_mask(mask_bits(3)).save(os.path.join(f, "masks", "d.jpeg"), quality=100)
    # corrupt files
    c = os.path.join(ROOT, "corrupt")
    os.makedirs(c, exist_ok=True)
    bmp_24(os.path.join(c, "whole.bmp"), photo(0))
    raw = open(os.path.join(c, "whole.bmp"), "rb").read()
    open(os.path.join(c, "truncated.bmp"), "wb").write(raw[: len(raw) // 2])
    open(os.path.join(c, "header_only.bmp"), "wb").write(raw[:20])
    bad = bytearray(raw)
    struct.pack_into("<i", bad, 18, 100000)  # width far beyond the data
    open(os.path.join(c, "bad_size.bmp"), "wb").write(bytes(bad))
    photo(1).save(os.path.join(c, "whole.png"))
    png = open(os.path.join(c, "whole.png"), "rb").read()
    open(os.path.join(c, "truncated.png"), "wb").write(png[: len(png) - 30])
    photo(1).save(os.path.join(c, "whole.jpg"), quality=90)
    jpg = open(os.path.join(c, "whole.jpg"), "rb").read()
    open(os.path.join(c, "truncated.jpg"), "wb").write(jpg[:40])
    open(os.path.join(c, "not_an_image.png"), "wb").write(b"hello, this is text\n")
    open(os.path.join(c, "empty.jpg"), "wb").write(b"")


if __name__ == "__main__":
    main()
