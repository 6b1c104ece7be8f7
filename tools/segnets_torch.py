"""The lesson's SegNet and U-Net in PyTorch, with the state_dict names segcl uses.

Development tool only (Debian's python3-torch): reference vectors and side-by-side benchmarks.
Outputs are logits; there is no final sigmoid.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class _Encoder(nn.Module):
    def __init__(self, width=16, depth=4):
        super().__init__()
        chans = [3] + [width * 2 ** i for i in range(depth)]
        for i in range(depth):
            setattr(self, f"enc_conv{i}", nn.Conv2d(chans[i], chans[i + 1], 3, padding=1))
            setattr(self, f"bn{i}", nn.BatchNorm2d(chans[i + 1]))
        self.pool = nn.MaxPool2d(2, 2)
        self.bottleneck_conv = nn.Conv2d(chans[depth], chans[depth] * 2, 3, padding=1)
        self.upsample = nn.UpsamplingBilinear2d(scale_factor=2)
        self.depth = depth
        self.chans = chans

    def encode(self, x):
        skips = []
        for i in range(self.depth):
            x = getattr(self, f"bn{i}")(F.relu(getattr(self, f"enc_conv{i}")(x)))
            skips.append(x)
            x = self.pool(x)
        return self.bottleneck_conv(x), skips


class SegNet(_Encoder):
    def __init__(self, classes=1, width=16, depth=4):
        super().__init__(width, depth)
        c = self.chans
        for j in range(depth - 1):
            cin = c[depth] * 2 if j == 0 else c[depth - j + 1]
            setattr(self, f"dec_conv{j}", nn.Conv2d(cin, c[depth - j], 3, padding=1))
            setattr(self, f"dec_bn{j}", nn.BatchNorm2d(c[depth - j]))
        setattr(self, f"dec_conv{depth - 1}", nn.Conv2d(c[2], classes, 1))

    def forward(self, x):
        x, _ = self.encode(x)
        for j in range(self.depth - 1):
            x = self.upsample(x)
            x = getattr(self, f"dec_bn{j}")(F.relu(getattr(self, f"dec_conv{j}")(x)))
        return getattr(self, f"dec_conv{self.depth - 1}")(self.upsample(x))


class UNet(_Encoder):
    def __init__(self, classes=1, width=16, depth=4):
        super().__init__(width, depth)
        c = self.chans
        prev = c[depth] * 2
        for j in range(depth - 1):
            skip = c[depth - j]
            setattr(self, f"dec_conv{j}", nn.Conv2d(prev + skip, c[depth - j], 3, padding=1))
            setattr(self, f"dec_bn{j}", nn.BatchNorm2d(c[depth - j]))
            prev = c[depth - j]
        setattr(self, f"dec_conv{depth - 1}", nn.Conv2d(prev + c[1], classes, 1))

    def forward(self, x):
        x, skips = self.encode(x)
        for j in range(self.depth - 1):
            x = torch.cat([self.upsample(x), skips[self.depth - 1 - j]], 1)
            x = getattr(self, f"dec_bn{j}")(F.relu(getattr(self, f"dec_conv{j}")(x)))
        x = torch.cat([self.upsample(x), skips[0]], 1)
        return getattr(self, f"dec_conv{self.depth - 1}")(x)


def build(arch, classes=1, width=16, depth=4):
    return {"unet": UNet, "segnet": SegNet}[arch](classes, width, depth)
