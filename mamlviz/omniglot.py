"""Omniglot as one compact, deterministic 28x28 uint8 array shipped inside the package.

The app must train offline on a fresh machine, so the 32,460 images live in
``mamlviz/data/omniglot28.npz`` (about 6.6 MB). This module builds that file from the
original zips (or extracted folders) and loads it back, checking its sha256. It needs
only numpy and Pillow: no torch at import time.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLITS = ("images_background", "images_evaluation")
N_CHARACTERS = 1623
N_DRAWINGS = 20
SIZE = 28
SHIPPED = Path(__file__).with_name("data") / "omniglot28.npz"
# sha256 of the shipped file; the builder writes byte-identical files, so a rebuild from the
# original PNGs reproduces it exactly (tests/test_data.py checks that).
SHIPPED_SHA256 = "5dade4d4fd4c1014ed2be0a172b794448accb2bb5474dc0f12fcedfc3108af02"
_PNG = re.compile(r"^(images_background|images_evaluation)/([^/]+)/(character\d+)/(\d+_\d+)\.png$")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Omniglot:
    """All characters: ``images[c, d]`` is drawing d of character c, ink = 255, background = 0."""

    images: np.ndarray  # [1623, 20, 28, 28] uint8
    alphabets: np.ndarray  # [1623] str
    characters: np.ndarray  # [1623] str, e.g. "character07"
    splits: np.ndarray  # [1623] str, "images_background" or "images_evaluation"


def _resize(png: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        # The files are mode "1"; Pillow would silently use NEAREST for that mode, so go
        # through 8-bit grey first so LANCZOS (as in the original MAML code) really applies.
        small = im.convert("L").resize((SIZE, SIZE), resample=Image.LANCZOS)
        return 255 - np.asarray(small, dtype=np.uint8)


def _iter_pngs(source: Path):
    """Yield (relative path, bytes) for every image in the two zips or extracted folders."""
    for split in SPLITS:
        zpath, folder = source / f"{split}.zip", source / split
        if folder.is_dir():
            for path in sorted(folder.rglob("*.png")):
                yield path.relative_to(source).as_posix(), path.read_bytes()
        elif zpath.is_file():
            with zipfile.ZipFile(zpath) as zf:
                for name in sorted(zf.namelist()):
                    if name.endswith(".png"):
                        yield name, zf.read(name)
        else:
            raise FileNotFoundError(f"{source}: neither {split}.zip nor an extracted {split}/ folder is there")


def build(source: str | os.PathLike) -> Omniglot:
    """Read the 32,460 PNGs under ``source`` and resize them to 28x28, in a fixed order."""
    source = Path(source)
    drawings: dict[tuple[str, str, str], list[tuple[str, bytes]]] = {}
    for rel, png in _iter_pngs(source):
        m = _PNG.match(rel)
        if not m:
            continue
        split, alphabet, character, stem = m.groups()
        drawings.setdefault((split, alphabet, character), []).append((stem, png))
    keys = sorted(drawings)  # byte order: background before evaluation, then alphabet, character
    if len(keys) != N_CHARACTERS:
        raise ValueError(f"{source}: found {len(keys)} characters, expected {N_CHARACTERS}")
    images = np.empty((N_CHARACTERS, N_DRAWINGS, SIZE, SIZE), dtype=np.uint8)
    for c, key in enumerate(keys):
        files = sorted(drawings[key])
        if len(files) != N_DRAWINGS:
            raise ValueError(f"{key}: {len(files)} drawings, expected {N_DRAWINGS}")
        for d, (_, png) in enumerate(files):
            images[c, d] = _resize(png)
    return Omniglot(
        images=images,
        splits=np.array([k[0] for k in keys]),
        alphabets=np.array([k[1] for k in keys]),
        characters=np.array([k[2] for k in keys]),
    )


def download(root: str | os.PathLike) -> Path:
    """Fetch the original zips with torchvision (needs internet); returns the folder holding them."""
    from torchvision.datasets import Omniglot as TVOmniglot

    for background in (True, False):
        TVOmniglot(root=str(root), background=background, download=True)
    return Path(root) / "omniglot-py"


def save(data: Omniglot, path: str | os.PathLike) -> str:
    """Write ``data`` as a byte-reproducible npz (fixed zip timestamps), atomically; returns sha256."""
    from .records import atomic_writer

    with atomic_writer(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("images", "splits", "alphabets", "characters"):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(getattr(data, name)), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)
    return sha256(path)


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load(path: str | os.PathLike | None = None, expected_sha256: str | None = None) -> Omniglot:
    """Load the array (the shipped one by default), refusing a file whose sha256 or shapes are off."""
    path = Path(path) if path is not None else SHIPPED
    if expected_sha256 is None and path == SHIPPED:
        expected_sha256 = SHIPPED_SHA256
    if not path.is_file():
        raise FileNotFoundError(f"{path}: Omniglot array missing; run `python -m mamlviz data build`")
    if expected_sha256 is not None and sha256(path) != expected_sha256:
        raise ValueError(
            f"{path}: sha256 mismatch (file corrupted or replaced); rebuild it with "
            "`python -m mamlviz data build --from DIR`"
        )
    with np.load(path, allow_pickle=False) as z:
        data = Omniglot(**{k: z[k] for k in ("images", "splits", "alphabets", "characters")})
    if data.images.shape != (N_CHARACTERS, N_DRAWINGS, SIZE, SIZE) or data.images.dtype != np.uint8:
        raise ValueError(
            f"{path}: images have shape {data.images.shape} {data.images.dtype}, "
            f"expected {(N_CHARACTERS, N_DRAWINGS, SIZE, SIZE)} uint8"
        )
    return data


def split_characters(seed: int = 0, n_train: int = 1200) -> tuple[np.ndarray, np.ndarray]:
    """Finn et al. 2017: 1,200 characters for meta-training chosen at random, the other 423 for test."""
    order = np.random.default_rng(seed).permutation(N_CHARACTERS)
    return np.sort(order[:n_train]), np.sort(order[n_train:])
