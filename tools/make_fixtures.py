#!/usr/bin/python3
"""Writes the small image fixtures under tests/data/fixtures/ (committed; tests never run this).

Layouts: ph2/ (PH2's original folders; photos 24-bit bottom-up BMP, masks 1-bit palettised,
24-bit top-down with 0/255 greys, and 8-bit palettised BMP), mads/ (images/ + masks/ with the
same names inside the zip's nested duplicate folder), folder/ (JPEG/PNG/BMP photos matched to
masks by stem, one photo without a mask), corrupt/ (truncated and malformed files),
realworld/ (what phones, editors and publishers write: EXIF orientation, 16-bit and RGBA PNG,
CMYK JPEG, a truncated JPEG, BMP colour masks, sizes that must be refused), sizes/ and
sizes_bad/ (masks stored smaller than their photos, 0/1 masks, a mask of another shape), empty/
(masks without foreground).
Needs Debian's python3-pil for JPEG and PNG.
"""
import json
import os
import struct
import zlib

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


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_raw(path, w, h, bit_depth, color_type, rows, extra=b""):
    """A PNG written by hand: 16-bit colour and claims no other tool writes."""
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    raw = b"".join(b"\0" + r for r in rows)
    data = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra +
            png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)


def realworld():
    r = os.path.join(ROOT, "realworld")
    os.makedirs(r, exist_ok=True)
    # a phone photo stored sideways with EXIF orientation 6 (show turned 90 degrees clockwise)
    exif = Image.Exif()
    exif[0x0112] = 6
    photo(4).transpose(Image.ROTATE_90).save(os.path.join(r, "exif6.jpg"), quality=95,
                                             exif=exif.tobytes())
    # a mask PNG stored turned the other way with orientation 8, in an eXIf chunk
    exif = Image.Exif()
    exif[0x0112] = 8
    grey_mask(mask_bits(1)).transpose(Image.ROTATE_270).save(os.path.join(r, "exif8.png"),
                                                            exif=exif.tobytes())
    # 16-bit RGB with a gAMA chunk of 1.0: read plainly, v16 = 257 * v8 must give v8 back
    px = photo(5).load()
    rows = [b"".join(struct.pack(">HHH", *(257 * c for c in px[x, y])) for x in range(W))
            for y in range(H)]
    png_raw(os.path.join(r, "rgb16.png"), W, H, 16, 2, rows,
            png_chunk(b"gAMA", struct.pack(">I", 100000)))
    # a 16-bit grey mask, 0 and 65535
    bits = mask_bits(2)
    rows = [b"".join(struct.pack(">H", 65535 * bits[y][x]) for x in range(W)) for y in range(H)]
    png_raw(os.path.join(r, "gray16.png"), W, H, 16, 0, rows)
    # RGBA: the left half fully transparent, colours stored as usual
    rgba = photo(6).convert("RGBA")
    rgba.putalpha(Image.new("L", (W, H)))
    a = rgba.load()
    for y in range(H):
        for x in range(W // 2, W):
            a[x, y] = a[x, y][:3] + (255,)
    rgba.save(os.path.join(r, "rgba.png"))
    # a mask with alpha: its colour channels hold the mask, alpha holds anything
    m = grey_mask(mask_bits(0)).convert("RGBA")
    m.putalpha(128)
    m.save(os.path.join(r, "rgba_mask.png"))
    # CMYK, as editors write for print (Adobe's inverted CMYK)
    photo(7).convert("CMYK").save(os.path.join(r, "cmyk.jpg"), quality=95)
    # a JPEG cut off in its data: the headers are whole
    big = Image.new("RGB", (64, 48))
    big.putdata([((x * 4) % 256, (y * 5) % 256, (x * y) % 256) for y in range(48) for x in range(64)])
    big.save(os.path.join(r, "whole64.jpg"), quality=90)
    raw = open(os.path.join(r, "whole64.jpg"), "rb").read()
    open(os.path.join(r, "half.jpg"), "wb").write(raw[: len(raw) * 6 // 10])
    # tiny files that claim 16384 x 16384 pixels
    png_raw(os.path.join(r, "huge.png"), 16384, 16384, 8, 0, [b"\0" * 16])
    jpg = bytearray(raw)
    sof = jpg.find(b"\xff\xc0")
    struct.pack_into(">HH", jpg, sof + 5, 16000, 16000)
    open(os.path.join(r, "huge.jpg"), "wb").write(bytes(jpg))
    # BMP with BI_BITFIELDS: 32-bit with colours in unusual places, and 16-bit 5-6-5
    img = photo(8)
    p8 = img.load()
    data32 = b"".join(struct.pack("<I", (p8[x, y][0] << 8) | (p8[x, y][1] << 16) | (p8[x, y][2] << 24))
                      for y in range(H - 1, -1, -1) for x in range(W))
    masks = struct.pack("<III", 0x0000FF00, 0x00FF0000, 0xFF000000)
    off = 14 + 40 + 12
    header = struct.pack("<2sIHHI", b"BM", off + len(data32), 0, 0, off)
    dib = struct.pack("<IiiHHIIiiII", 40, W, H, 1, 32, 3, len(data32), 2835, 2835, 0, 0)
    open(os.path.join(r, "bitfields32.bmp"), "wb").write(header + dib + masks + data32)
    stride = (W * 2 + 3) & ~3
    rows = []
    for y in range(H - 1, -1, -1):
        row = b"".join(struct.pack("<H", ((p8[x, y][0] >> 3) << 11) | ((p8[x, y][1] >> 2) << 5) |
                                   (p8[x, y][2] >> 3)) for x in range(W))
        rows.append(row + b"\0" * (stride - len(row)))
    data16 = b"".join(rows)
    masks = struct.pack("<III", 0xF800, 0x07E0, 0x001F)
    header = struct.pack("<2sIHHI", b"BM", off + len(data16), 0, 0, off)
    dib = struct.pack("<IiiHHIIiiII", 40, W, H, 1, 16, 3, len(data16), 2835, 2835, 0, 0)
    open(os.path.join(r, "rgb565.bmp"), "wb").write(header + dib + masks + data16)
    # pixel data said to start inside the headers
    bmp_24(os.path.join(r, "bad_offset.bmp"), photo(0))
    bad = bytearray(open(os.path.join(r, "bad_offset.bmp"), "rb").read())
    struct.pack_into("<I", bad, 10, 20)
    open(os.path.join(r, "bad_offset.bmp"), "wb").write(bytes(bad))


def big_mask_bits(w, h, seed):
    cx, cy = w * (0.4 + 0.05 * seed), h * 0.5
    return [[1 if (x - cx) ** 2 / (w * w / 9) + (y - cy) ** 2 / (h * h / 9) < 1 else 0
             for x in range(w)] for y in range(h)]


def sizes():
    """Masks as publishers store them: smaller than their photos (same aspect), and 0/1."""
    for name in ("sizes", "sizes_bad"):
        d = os.path.join(ROOT, name)
        os.makedirs(os.path.join(d, "photos"), exist_ok=True)
        os.makedirs(os.path.join(d, "truth"), exist_ok=True)
        for i in range(4):
            img = Image.new("RGB", (40, 30))
            img.putdata([((x * 6 + i * 30) % 256, (y * 8) % 256, 100) for y in range(30)
                         for x in range(40)])
            img.save(os.path.join(d, "photos", f"p{i}.jpg"), quality=95)
            if i == 0:  # full size, 0/255
                m = big_mask_bits(40, 30, i)
                vals = [255 * m[y][x] for y in range(30) for x in range(40)]
                size = (40, 30)
            elif i in (1, 2):  # half size, 0/255
                m = big_mask_bits(20, 15, i)
                vals = [255 * m[y][x] for y in range(15) for x in range(20)]
                size = (20, 15)
            else:  # full size, 0/1
                m = big_mask_bits(40, 30, i)
                vals = [m[y][x] for y in range(30) for x in range(40)]
                size = (40, 30)
            mask = Image.new("L", size)
            mask.putdata(vals)
            if name == "sizes_bad" and i == 2:  # another aspect ratio: 40 x 10
                mask = mask.resize((40, 10), Image.NEAREST)
            mask.save(os.path.join(d, "truth", f"p{i}.png"))


def empty():
    """Photos whose masks hold no foreground at all."""
    d = os.path.join(ROOT, "empty")
    os.makedirs(os.path.join(d, "images"), exist_ok=True)
    os.makedirs(os.path.join(d, "masks"), exist_ok=True)
    for i in range(8):
        img = Image.new("RGB", (24, 24))
        img.putdata([((x * 9 + i * 20) % 256, (y * 7) % 256, 60) for y in range(24) for x in range(24)])
        img.save(os.path.join(d, "images", f"e{i}.png"))
        Image.new("L", (24, 24)).save(os.path.join(d, "masks", f"e{i}.png"))


def segcl_checkpoint(path):
    """A small checkpoint with segcl's metadata, as `segcl train` writes it (a seed for the
    checkpoint fuzzer; the tensors are placeholders)."""
    md = {"format": "segcl", "segcl_version": "0.2.0", "arch": "unet", "classes": "1",
          "width": "4", "depth": "2", "in_channels": "3", "size": "32", "mean": "0,0,0",
          "std": "1,1,1", "epoch": "1", "step": "3", "seed": "42", "best_dice": "0.5",
          "best_loss": "0.7", "loss": "bce", "optimizer": "adam", "lr": "0.001",
          "weight_decay": "1e-06", "momentum": "0", "nesterov": "0", "optimizer_step": "3",
          "data": "/data", "masks": "", "data_format": "folder", "epochs": "2", "batch": "4",
          "batch_in_epoch": "0", "lr_schedule": "none", "base_lr": "0.001",
          "val_fraction": "0.1", "augment": "hflip,color,scale", "shuffle": "1",
          "skip_bad": "0", "max_steps": "0", "seconds": "1.5"}
    header = {"__metadata__": md}
    data = b""
    for name, shape in (("enc_conv0.weight", [4, 3, 3, 3]), ("enc_conv0.bias", [4]),
                        ("bn0.num_batches_tracked", [])):
        n = 1
        for d in shape:
            n *= d
        dtype, size = ("I64", 8) if not shape else ("F32", 4)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + n * size]}
        data += bytes(n * size)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def fuzz_corpus():
    """Seed corpora for tests/fuzz: the fixtures' images, masks (with the two bytes that choose
    the class count and the photo's shape) and checkpoints."""
    base = os.path.join(ROOT, "..", "..", "fuzz", "corpus")
    for kind in ("image", "mask", "checkpoint"):
        os.makedirs(os.path.join(base, kind), exist_ok=True)
    images = []
    for d, _, files in sorted(os.walk(ROOT)):
        for name in sorted(files):
            path = os.path.join(d, name)
            if name.lower().endswith((".bmp", ".png", ".jpg", ".jpeg")) and os.path.getsize(path) < 4096:
                images.append(path)
    for i, path in enumerate(images):
        raw = open(path, "rb").read()
        rel = os.path.relpath(path, ROOT).replace(os.sep, "_")
        open(os.path.join(base, "image", rel), "wb").write(raw)
        if "mask" in path or "truth" in path or "lesion" in path or path.endswith(("exif8.png", "gray16.png")):
            open(os.path.join(base, "mask", rel), "wb").write(bytes((i % 5, i % 4)) + raw)
    segcl_checkpoint(os.path.join(base, "checkpoint", "segcl.safetensors"))
    torch_file = os.path.join(ROOT, "..", "pytorch_unet_w4_d2.safetensors")
    open(os.path.join(base, "checkpoint", "pytorch.safetensors"), "wb").write(open(torch_file, "rb").read())


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
    realworld()
    sizes()
    empty()
    fuzz_corpus()


if __name__ == "__main__":
    main()
