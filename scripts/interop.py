#!/usr/bin/env python3
"""MONAI's own pipeline on a segviz model, compared with `segviz infer` (run by scripts/interop.sh in a throwaway
virtual environment with PyPI's torch and monai).

  interop.py EXPORT_DIR CT SEGVIZ_MASK STRATEGY

EXPORT_DIR holds `segviz export`'s state dicts (model.safetensors, or one <organ>.safetensors per organ for a heads
model). Each loads strictly into monai.networks.nets.UNet; the CT goes through LoadImage, EnsureChannelFirst,
Orientation("RAS"), Spacing(pixdim, bilinear), ScaleIntensityRange(window, 0..1, clip) and sliding_window_inference
(roi_ijk, overlap 0.5 as segviz infer's default, gaussian); the softmax is resampled back onto the CT's grid (bilinear) and reduced to labels
as segviz does (argmax; heads: the organ whose head is most confident above 0.5), then MONAI's
KeepLargestConnectedComponent(applied_labels, independent=True, connectivity=3), segviz infer's default
post-processing. Prints Dice per organ against
SEGVIZ_MASK and exits 1 if any is below 0.99 or the mask's grid differs from the CT's.
"""
import json
import os
import sys

import nibabel as nib
import numpy as np
import torch
from monai.data import MetaTensor
from monai.inferers import sliding_window_inference
from monai.networks.nets import UNet
from monai.transforms import (Compose, EnsureChannelFirst, KeepLargestConnectedComponent, LoadImage, Orientation,
                              ScaleIntensityRange, Spacing, SpatialResample)
from safetensors import safe_open
from safetensors.torch import load_file

torch.set_num_threads(max(1, os.cpu_count() or 1))


def probabilities(weights, ct):
    with safe_open(weights, "pt") as f:
        meta = f.metadata()
    arch = json.loads(meta["architecture"])
    net = UNet(**arch)
    net.load_state_dict(load_file(weights), strict=True)  # MONAI's names and shapes, nothing missing or extra
    net.eval()
    spacing, window, roi = json.loads(meta["spacing"]), json.loads(meta["window"]), json.loads(meta["roi_ijk"])
    pre = Compose([LoadImage(image_only=True), EnsureChannelFirst(), Orientation(axcodes="RAS"),
                   Spacing(pixdim=spacing, mode="bilinear"),
                   ScaleIntensityRange(a_min=window[0], a_max=window[1], b_min=0.0, b_max=1.0, clip=True)])
    x = pre(ct)
    with torch.no_grad():
        logits = sliding_window_inference(x[None], roi_size=roi, sw_batch_size=1, predictor=net, overlap=0.5,
                                          mode="gaussian")
    p = MetaTensor(torch.softmax(logits[0], dim=0), affine=x.affine)
    original = EnsureChannelFirst()(LoadImage(image_only=True)(ct))
    back = SpatialResample(mode="bilinear", padding_mode="border")(p, dst_affine=original.affine,
                                                                  spatial_size=original.shape[1:])
    return np.asarray(back), np.asarray(original.affine)


def main(export_dir, ct, segviz_mask, strategy):
    ours = nib.load(segviz_mask)
    image = nib.load(ct)
    ok = ours.shape == image.shape and np.allclose(ours.affine, image.affine, atol=1e-4)
    print(f"segviz mask grid {ours.shape} {'equals' if ok else 'DIFFERS from'} the CT's {image.shape}")
    seg = np.asarray(ours.dataobj).astype(int)
    if strategy == "single":
        p, _ = probabilities(os.path.join(export_dir, "model.safetensors"), ct)
        monai = p.argmax(0)
        with safe_open(os.path.join(export_dir, "model.safetensors"), "pt") as f:
            organs = json.loads(f.metadata()["classes"])[1:]
    else:
        heads = []
        for name in os.listdir(export_dir):
            if name.endswith(".safetensors"):
                with safe_open(os.path.join(export_dir, name), "pt") as f:
                    heads.append((int(f.metadata()["label"]), f.metadata()["organ"]))
        organs = [organ for _, organ in sorted(heads)]  # label order
        best = None
        for n, organ in enumerate(organs):
            p, _ = probabilities(os.path.join(export_dir, organ + ".safetensors"), ct)
            if best is None:
                best, monai = np.full(p.shape[1:], 0.5, np.float32), np.zeros(p.shape[1:], int)
            better = p[1] > best
            best[better], monai[better] = p[1][better], n + 1
    keep = KeepLargestConnectedComponent(applied_labels=list(range(1, len(organs) + 1)), is_onehot=False,
                                         independent=True, connectivity=3)
    monai = np.asarray(keep(torch.as_tensor(monai[None])))[0]
    for n, organ in enumerate(organs):
        a, b = monai == n + 1, seg == n + 1
        total = a.sum() + b.sum()
        dice = 1.0 if total == 0 else 2.0 * (a & b).sum() / total
        print(f"{strategy} {organ}: dice={dice:.4f} monai_voxels={a.sum()} segviz_voxels={b.sum()}")
        ok = ok and dice >= 0.99
    print("interop " + ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
