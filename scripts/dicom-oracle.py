#!/usr/bin/env python3
"""DICOM series for segviz's tests, written and read with pydicom (independent of GDCM, which segviz uses).

  dicom-oracle.py write DIR KIND   writes a series of KIND into DIR (see KINDS)
  dicom-oracle.py read DIR OUT     reads the series in DIR: OUT.json (dims, RAS affine) and OUT.f32 (HU, float32,
                                   column index fastest, then row, then slice sorted along the normal)

Geometry follows DICOM PS3.3 C.7.6.2.1.1: pixel (column c, row r) of a slice sits at
ImagePositionPatient + c * PixelSpacing[1] * row_direction + r * PixelSpacing[0] * column_direction (LPS);
values are stored * RescaleSlope + RescaleIntercept.
"""
import json
import os
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless,
                         generate_uid)


def rotation(a, b, c):
    ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    rz = np.array([[ca, -sa, 0], [sa, ca, 0], [0, 0, 1]])
    ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
    rx = np.array([[1, 0, 0], [0, cc, -sc], [0, sc, cc]])
    return rz @ ry @ rx


# kind: row/column directions (LPS), pixel spacing (row, column), slice step, size, storage
KINDS = {
    "axial": dict(rot=np.eye(3), spacing=(0.7, 0.8), step=2.5, rows=24, cols=20, slices=12, signed=False,
                  slope=1.0, intercept=-1024.0, syntax=ExplicitVRLittleEndian),
    "oblique-rle": dict(rot=rotation(0.4, -0.3, 0.25), spacing=(1.1, 0.6), step=3.0, rows=18, cols=22, slices=9,
                        signed=True, slope=0.5, intercept=-100.0, syntax=RLELossless),
    "sagittal": dict(rot=np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], float), spacing=(1.0, 1.25), step=1.5,
                     rows=16, cols=14, slices=10, signed=True, slope=1.0, intercept=0.0, syntax=ImplicitVRLittleEndian),
}


def slice_dataset(kind, k, series_uid, origin, rng, with_pixels=True):
    p = KINDS[kind]
    rot = p["rot"]
    row_dir, col_dir, normal = rot[:, 0], rot[:, 1], np.cross(rot[:, 0], rot[:, 1])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian if p["syntax"] == RLELossless else p["syntax"]
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = series_uid
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.Modality = "CT"
    ds.InstanceNumber = k + 1
    pos = origin + k * p["step"] * normal
    ds.ImagePositionPatient = [f"{v:.6f}" for v in pos]
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in list(row_dir) + list(col_dir)]
    ds.PixelSpacing = [f"{v:g}" for v in p["spacing"]]
    ds.SliceThickness = f"{p['step']:g}"
    ds.RescaleSlope = f"{p['slope']:g}"
    ds.RescaleIntercept = f"{p['intercept']:g}"
    if with_pixels:
        ds.Rows, ds.Columns = p["rows"], p["cols"]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if p["signed"] else 0
        r, c = np.mgrid[0:p["rows"], 0:p["cols"]]
        hu = 40 * np.sin(r / 3.0 + k) + 30 * np.cos(c / 4.0) + 7 * c - 5 * r + 11 * k + rng.integers(-50, 50, r.shape)
        stored = np.round((hu - p["intercept"]) / p["slope"])
        arr = stored.astype(np.int16 if p["signed"] else np.uint16)
        ds.PixelData = arr.tobytes()
        if p["syntax"] == RLELossless:
            ds.compress(RLELossless, arr, encoding_plugin="pydicom")
    return ds


def write(folder, kind):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(7)
    base = kind.split(":")[0]
    variant = kind.split(":")[1] if ":" in kind else ""
    p = KINDS[base]
    uid = generate_uid()
    origin = np.array([-31.5, 12.25, -80.0])
    order = rng.permutation(p["slices"])  # written in shuffled order under shuffled names
    for n, k in enumerate(order):
        if variant == "missing" and k == p["slices"] // 2:
            continue
        ds = slice_dataset(base, int(k), uid, origin, rng, with_pixels=variant != "noimage")
        if variant == "mixed" and k % 4 == 0:
            ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.2"
        if variant == "spacing" and k == p["slices"] // 2:
            normal = np.cross(p["rot"][:, 0], p["rot"][:, 1])
            pos = origin + (k + 0.4) * p["step"] * normal
            ds.ImagePositionPatient = [f"{v:.6f}" for v in pos]
        ds.save_as(os.path.join(folder, f"IM{n:04d}"), enforce_file_format=True)
    with open(os.path.join(folder, "README.txt"), "w") as f:
        f.write("not DICOM: ignored by the reader\n")


def read(folder, out):
    slices = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        try:
            ds = pydicom.dcmread(path)
        except pydicom.errors.InvalidDicomError:
            continue
        if "PixelData" in ds:
            slices.append(ds)
    iop = np.array([float(v) for v in slices[0].ImageOrientationPatient])
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    slices.sort(key=lambda d: float(np.dot(normal, [float(v) for v in d.ImagePositionPatient])))
    pos = np.array([[float(v) for v in d.ImagePositionPatient] for d in slices])
    row_spacing, col_spacing = (float(v) for v in slices[0].PixelSpacing)
    step = (pos[-1] - pos[0]) / (len(slices) - 1) if len(slices) > 1 else normal
    lps = np.eye(4)
    lps[:3, 0] = row_dir * col_spacing
    lps[:3, 1] = col_dir * row_spacing
    lps[:3, 2] = step
    lps[:3, 3] = pos[0]
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    hu = np.stack([d.pixel_array.astype(np.float64) * float(getattr(d, "RescaleSlope", 1))
                   + float(getattr(d, "RescaleIntercept", 0)) for d in slices])  # (slice, row, column)
    with open(out + ".json", "w") as f:
        json.dump({"dims": [int(slices[0].Columns), int(slices[0].Rows), len(slices)],
                   "affine": ras.ravel().tolist()}, f)
    hu.astype("<f4").tofile(out + ".f32")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "read":
        read(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
