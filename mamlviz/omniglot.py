"""Omniglot as one compact, deterministic uint8 array: 28x28 shipped inside the package, 105x105 built once.

The app must train offline on a fresh machine, so the 32,460 images at 28x28 (Finn et al.'s size) live in
``mamlviz/data/omniglot28.npz`` (about 6.6 MB). The original 105x105 images (the seed tutorial's size) are
built on first use from the original zips (the ones named by ``$MAMLVIZ_OMNIGLOT_SOURCE``, a ``shared/data/omniglot``
folder beside the repository, or torchvision's download) into a cache file whose sha256 is kept beside it.
This module builds and loads both, refusing a file whose sha256 or shapes are off. It needs only numpy and
Pillow: no torch at import time.
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

from .config import IMAGE_SIZES

SPLITS = ("images_background", "images_evaluation")
N_CHARACTERS = 1623
N_DRAWINGS = 20
SIZE = 28  # the shipped array's
SIZES = IMAGE_SIZES  # the image sizes a run may ask for: Finn et al.'s, and the originals (the seed tutorial's)
ORIGINAL = 105
SHIPPED = Path(__file__).with_name("data") / "omniglot28.npz"
# sha256 of the shipped file; the builder writes byte-identical files, so a rebuild from the
# original PNGs reproduces it exactly (tests/test_data.py checks that).
SHIPPED_SHA256 = "5dade4d4fd4c1014ed2be0a172b794448accb2bb5474dc0f12fcedfc3108af02"
# sha256 of the 105x105 images array's bytes (C order) as built from the original PNGs: a cache built from
# other images is refused (the file's own sha256 depends on the zlib that compressed it, so it is kept beside it)
ORIGINAL_IMAGES_SHA256 = "061691d78adaa9b335b1e4876c121f2cbe4dde34762da3b948fbd8f91dfb85d9"
_PNG = re.compile(r"^(images_background|images_evaluation)/([^/]+)/(character\d+)/(\d+_\d+)\.png$")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Omniglot:
    """All characters: ``images[c, d]`` is drawing d of character c, ink = 255, background = 0."""

    images: np.ndarray  # [1623, 20, size, size] uint8
    alphabets: np.ndarray  # [1623] str
    characters: np.ndarray  # [1623] str, e.g. "character07"
    splits: np.ndarray  # [1623] str, "images_background" or "images_evaluation"


def _resize(png: bytes, size: int = SIZE) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        # The files are mode "1"; Pillow would silently use NEAREST for that mode, so go
        # through 8-bit grey first so LANCZOS (as in the original MAML code) really applies.
        grey = im.convert("L")
        if grey.size != (size, size):
            grey = grey.resize((size, size), resample=Image.LANCZOS)
        return 255 - np.asarray(grey, dtype=np.uint8)


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


def build(source: str | os.PathLike, size: int = SIZE) -> Omniglot:
    """Read the 32,460 PNGs under ``source``, resized to ``size`` (105: as they are), in a fixed order."""
    if size not in SIZES:
        raise ValueError(f"image_size: must be one of {', '.join(map(str, SIZES))}, got {size!r}")
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
    images = np.empty((N_CHARACTERS, N_DRAWINGS, size, size), dtype=np.uint8)
    for c, key in enumerate(keys):
        files = sorted(drawings[key])
        if len(files) != N_DRAWINGS:
            raise ValueError(f"{key}: {len(files)} drawings, expected {N_DRAWINGS}")
        for d, (_, png) in enumerate(files):
            images[c, d] = _resize(png, size)
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


def save(data: Omniglot, path: str | os.PathLike, level: int = 9) -> str:
    """Write ``data`` as a byte-reproducible npz (fixed zip timestamps), atomically; returns sha256. ``level``:
    the deflate level (9 for the shipped file; the 105x105 cache takes 6, ten times faster for 4 % more)."""
    from .records import atomic_writer

    with atomic_writer(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("images", "splits", "alphabets", "characters"):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(getattr(data, name)), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=level)
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
    size = data.images.shape[-1] if data.images.ndim == 4 else None
    if (
        size not in SIZES
        or data.images.shape != (N_CHARACTERS, N_DRAWINGS, size, size)
        or data.images.dtype != np.uint8
    ):
        raise ValueError(
            f"{path}: images have shape {data.images.shape} {data.images.dtype}, "
            f"expected (1623, 20, S, S) uint8 with S one of {', '.join(map(str, SIZES))}"
        )
    return data


SOURCE_ENV = "MAMLVIZ_OMNIGLOT_SOURCE"  # a folder holding images_background/evaluation (.zip or extracted)
CACHE_ENV = "MAMLVIZ_DATA_DIR"  # where the 105x105 array is cached (default ~/.cache/mamlviz)


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "mamlviz"


def cached_path(size: int) -> Path:
    """Where the array of ``size`` lives: the shipped file for 28, the cache for 105."""
    return SHIPPED if size == SIZE else cache_dir() / f"omniglot{size}.npz"


def sources() -> list[Path]:
    """Folders that may hold the original zips, in the order they are tried."""
    env = os.environ.get(SOURCE_ENV, "").strip()
    found = [Path(env).expanduser()] if env else []
    return found + [Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot"]


def original_source() -> Path | None:
    """The first of ``sources()`` that holds both splits of the original images, or None."""
    return next((s for s in sources() if all((s / f"{x}.zip").is_file() or (s / x).is_dir() for x in SPLITS)), None)


def is_ready(size: int) -> bool:
    """True when ``load_size(size)`` needs no build (the shipped array, or a cache already there)."""
    path = cached_path(size)
    return path.is_file() and (size == SIZE or Path(f"{path}.sha256").is_file())


def build_cache(size: int, source: str | os.PathLike | None = None) -> Path:
    """Build the array of ``size`` from the original images (``source``, else the first of ``sources()`` that
    has them, else torchvision's download), check its pixels, and cache it with its sha256 beside it."""
    if source is None:
        source = original_source()
    if source is None:
        import tempfile

        try:
            with tempfile.TemporaryDirectory() as tmp:
                data = build(download(tmp), size)
        except Exception as e:  # offline, or torchvision missing
            raise FileNotFoundError(
                f"image_size: {size}x{size} needs the original Omniglot images, built once into {cached_path(size)}; "
                f"none found (tried ${SOURCE_ENV}, {', '.join(map(str, sources()))}) and the download failed "
                f"({type(e).__name__}: {e}). Run `python -m mamlviz data build --size {size} --from DIR` with DIR "
                "holding images_background.zip and images_evaluation.zip, or use image_size 28."
            ) from None
    else:
        data = build(source, size)
    if size == ORIGINAL:
        digest = hashlib.sha256(np.ascontiguousarray(data.images).tobytes()).hexdigest()
        if digest != ORIGINAL_IMAGES_SHA256:
            raise ValueError(
                f"{source}: these are not the original Omniglot images (pixels' sha256 {digest[:12]}…, "
                f"expected {ORIGINAL_IMAGES_SHA256[:12]}…)"
            )
    path = cached_path(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    from .records import write_atomic

    write_atomic(Path(f"{path}.sha256"), (save(data, path, level=6) + "\n").encode())
    return path


def load_size(size: int) -> Omniglot:
    """The array at ``size``: the shipped 28x28 one, or the 105x105 cache (built on first use), sha256-checked;
    a corrupt cache is refused with how to rebuild it."""
    if size not in SIZES:
        raise ValueError(f"image_size: must be one of {', '.join(map(str, SIZES))}, got {size!r}")
    if size == SIZE:
        return load()
    path = cached_path(size)
    if not is_ready(size):
        build_cache(size)
    expected = Path(f"{path}.sha256").read_text().strip()
    try:
        data = load(path, expected_sha256=expected)
    except ValueError as e:
        raise ValueError(
            f"{e}. Delete {path} and its .sha256 to rebuild it, or run `python -m mamlviz data build --size {size}`"
        ) from None
    if data.images.shape[-1] != size:
        raise ValueError(f"{path}: holds {data.images.shape[-1]}x{data.images.shape[-1]} images, expected {size}")
    return data


def split_characters(seed: int = 0, n_train: int = 1200) -> tuple[np.ndarray, np.ndarray]:
    """Finn et al. 2017: 1,200 characters for meta-training chosen at random, the other 423 for test."""
    order = np.random.default_rng(seed).permutation(N_CHARACTERS)
    return np.sort(order[:n_train]), np.sort(order[n_train:])
