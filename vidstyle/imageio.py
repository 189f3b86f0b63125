"""Still images in and out: the one place image files become tensors and back.

Handles RGB, greyscale, palette, alpha, 16-bit PNG and EXIF orientation. Images
cross into the library as float RGB ``(1, 3, H, W)`` in [0, 1].
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from .errors import InputError, OutputError
from .outputs import atomic_path

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Image:
    """A decoded image: ``rgb`` ``(1, 3, H, W)`` and optional ``alpha`` ``(1, 1, H, W)``, float in [0, 1]."""

    rgb: torch.Tensor
    alpha: torch.Tensor | None = None
    bits: int = 8

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)"""
        return int(self.rgb.shape[-2]), int(self.rgb.shape[-1])


def _png_is_16bit(head: bytes) -> bool:
    # IHDR follows the 8-byte magic: length(4) 'IHDR'(4) width(4) height(4) depth(1).
    return head.startswith(PNG_MAGIC) and len(head) > 24 and head[24] == 16


def _read_png16(path: Path) -> Image:
    # Pillow truncates 16-bit RGB PNGs to 8 bits; FFmpeg's PNG decoder keeps all 16.
    import av

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        has_alpha = "a" in frame.format.name
        arr = frame.to_ndarray(format="rgba64le" if has_alpha else "rgb48le").astype(np.float32) / 65535.0
    t = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()
    return Image(t[:, :3], t[:, 3:4] if has_alpha else None, bits=16)


def read_image(path: str | Path) -> Image:
    """Decode an image file, upright (EXIF orientation applied). InputError if it cannot be read."""
    from PIL import Image as PILImage, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"image not found: {path}")
    with open(path, "rb") as f:
        head = f.read(32)
    if not head:
        raise InputError(f"{path} is empty")
    try:
        if _png_is_16bit(head):
            img = PILImage.open(path)
            if img.mode in ("RGB", "RGBA"):  # colour 16-bit: Pillow would lose the low byte
                return _read_png16(path)
        img = ImageOps.exif_transpose(PILImage.open(path))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{path} is not a readable image ({exc.__class__.__name__})") from None
    return _from_pil(img)


def _from_pil(img) -> Image:
    bits = 8
    alpha = None
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32)
        scale = 65535.0 if img.mode != "I" or arr.max() > 255 else 255.0
        bits = 16 if scale > 255 else 8
        grey = torch.from_numpy(arr / scale).clamp(0, 1)
        return Image(grey.expand(3, -1, -1).unsqueeze(0).contiguous(), None, bits)
    if img.mode == "F":
        grey = torch.from_numpy(np.asarray(img, dtype=np.float32)).clamp(0, 1)
        return Image(grey.expand(3, -1, -1).unsqueeze(0).contiguous(), None, 8)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("LA", "RGBA", "PA") or img.mode.endswith("A"):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = torch.from_numpy(rgba[..., 3]).reshape(1, 1, *rgba.shape[:2])
        rgb = rgba[..., :3]
    else:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).unsqueeze(0).contiguous()
    return Image(t, alpha, bits)


def to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """``(1, C, H, W)`` float in [0, 1] -> ``(H, W, C)`` uint8, rounded (never truncated)."""
    return (rgb[0].clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def write_image(path: str | Path, image: Image, *, overwrite: bool = True, inputs: tuple[Path, ...] = ()) -> None:
    """Encode atomically to ``path``; the format follows the extension (alpha kept where it fits)."""
    from PIL import Image as PILImage

    path = Path(path)
    fmt = PILImage.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise OutputError(f"unknown image format for {path}: use .png, .jpg, .webp or .tif")
    rgb = image.rgb if image.alpha is None or fmt not in ("PNG", "WEBP", "TIFF") else torch.cat([image.rgb, image.alpha], 1)
    with atomic_path(path, overwrite=overwrite, inputs=inputs) as tmp:
        if image.bits == 16 and fmt == "PNG":
            _write_png16(tmp, rgb)
            return
        mode = "RGBA" if rgb.shape[1] == 4 else "RGB"
        params = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
        PILImage.fromarray(to_uint8(rgb), mode).save(tmp, format=fmt, **params)


def _write_png16(path: Path, rgb: torch.Tensor) -> None:
    import av

    arr = (rgb[0].clamp(0, 1) * 65535.0).round().to(torch.int32).permute(1, 2, 0).numpy().astype(np.uint16)
    fmt = "rgba64le" if arr.shape[2] == 4 else "rgb48le"
    with av.open(str(path), "w", format="image2") as out:
        stream = out.add_stream("png", rate=1)
        stream.width, stream.height = arr.shape[1], arr.shape[0]
        stream.pix_fmt = "rgba64be" if arr.shape[2] == 4 else "rgb48be"
        frame = av.VideoFrame.from_ndarray(arr, format=fmt)
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


# The smallest side the network works at: relu4_1 is 1/8 of the picture, and
# the decoder's first reflection padding needs at least 2 features each way.
MIN_WORKING_SIDE = 16


def working_size(height: int, width: int, max_side: int, multiple: int = 8) -> tuple[int, int]:
    """The size the network works at: longest side at most ``max_side``, sides multiples of 8, at least 16.

    Multiples of 8 because the encoder pools three times and the decoder upsamples
    three times: other sizes would come back cropped. At least 16 so that a tiny
    picture (a 2x2 video) still gives the decoder 2x2 features to pad; it is
    scaled back down afterwards.

    >>> working_size(1080, 1920, 512), working_size(2, 2, 512)
    ((288, 512), (16, 16))
    """
    scale = min(1.0, max_side / max(height, width))
    side = math.ceil(MIN_WORKING_SIDE / multiple) * multiple
    h = max(side, int(round(height * scale / multiple)) * multiple)
    w = max(side, int(round(width * scale / multiple)) * multiple)
    return h, w


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``(B, C, H, W)`` to ``size`` (antialiased when shrinking)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def resize_short(x: torch.Tensor, short: int) -> torch.Tensor:
    """Resize ``(B, C, H, W)`` so that its shorter side is ``short``."""
    h, w = x.shape[-2:]
    s = short / min(h, w)
    return resize(x, (max(1, math.floor(h * s + 0.5)), max(1, math.floor(w * s + 0.5))))
