"""From RGB uint8 images to a network's input space and back.

``x = (pixels_in_channel_order * scale - mean) / std`` where ``mean`` is a
per-channel value or a mean image, both in the network's channel order and
scaled units. Images of another size go through the original pipeline:
resize (Caffe: warp to ``resize`` x ``resize``; torchvision: shorter side to
``resize``), then centre-crop to the input size.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from jaxvis.errors import ConfigError, InputImageError


@dataclasses.dataclass(frozen=True)
class PreprocessSpec:
    """How a network expects its input.

    input_size: (H, W). channel_order: "BGR" (Caffe) or "RGB".
    scale: multiplier on 0..255 pixels (1 for Caffe, 1/255 for torchvision).
    mean: per-channel tuple, or a mean image [h, w, 3] (centre-cropped to
    input_size), in network channel order and scaled units.
    std: per-channel divisor (1 for Caffe).
    resize: side used by the resize step for images not already input-sized.
    resize_mode: "warp" (both sides to ``resize``) or "shorter_side".
    class_names: names of the output classes, when known.
    color_statistics: the colour statistics of the images the network was
    trained on, which the Fourier and MaCo image families decorrelate colours
    by (docs/feature_vis.md): "imagenet" (Lucid's published ImageNet colour
    matrix), "demo_world" (estimated from the generated demo world),
    "folder:PATH" (estimated from a folder of images), or a 3x3 matrix
    (decorrelated colour -> RGB, Lucid's ``color_correlation_svd_sqrt``);
    None: not declared (a job estimates them from its own image source when it
    has one, else identity colours with a warning).
    """

    input_size: tuple[int, int]
    channel_order: str = "BGR"
    scale: float = 1.0
    mean: tuple[float, ...] | np.ndarray = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    resize: int | None = None
    resize_mode: str = "warp"
    class_names: tuple[str, ...] | None = None
    color_statistics: str | tuple[tuple[float, float, float], ...] | None = None

    def __post_init__(self):
        object.__setattr__(self, "color_statistics", check_color_statistics(self.color_statistics))

    def mean_array(self) -> np.ndarray:
        """[3] or [H, W, 3] float32, a mean image centre-cropped to input_size."""
        mean = np.asarray(self.mean, np.float32)
        if mean.ndim == 3:
            mean = center_crop(mean, self.input_size)
        return mean

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["mean"] = np.asarray(self.mean).tolist()
        return d

    @classmethod
    def from_json(cls, d: dict) -> "PreprocessSpec":
        d = dict(d)
        mean = np.asarray(d["mean"], np.float32)
        d["mean"] = mean if mean.ndim == 3 else tuple(float(v) for v in mean)
        for key in ("input_size", "std", "class_names"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


COLOR_DATASETS = ("imagenet", "demo_world")


def check_color_statistics(value):
    """A spec's ``color_statistics`` as stored (a name, "folder:PATH", a 3x3
    tuple of tuples, or None); ConfigError for anything else."""
    if value is None or value in COLOR_DATASETS:
        return value
    if isinstance(value, str):
        if value.startswith("folder:") and value[len("folder:"):]:
            return value
        raise ConfigError(f"PreprocessSpec.color_statistics: unknown {value!r}; expected one of "
                          f"{', '.join(map(repr, COLOR_DATASETS))}, 'folder:PATH' (a folder of images) or a 3x3 matrix")
    try:
        matrix = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        matrix = None
    if matrix is None or matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)) or not np.any(matrix):
        raise ConfigError(f"PreprocessSpec.color_statistics: expected a finite, non-zero 3x3 matrix (decorrelated "
                          f"colour -> RGB), 'imagenet', 'demo_world' or 'folder:PATH'; got {value!r}")
    return tuple(tuple(float(v) for v in row) for row in matrix)


def center_crop(img: np.ndarray, size: tuple[int, int], torchvision: bool = False) -> np.ndarray:
    """img: [..., H, W, C] -> [..., size[0], size[1], C], centred: Caffe's offsets
    (the margin halved, rounded down), or torchvision's CenterCrop (rounded half to even)."""
    h, w = img.shape[-3:-1]
    th, tw = size
    if h < th or w < tw:
        raise InputImageError(f"cannot centre-crop {h}x{w} to {th}x{tw}: image is smaller")
    if torchvision:
        top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
    else:
        top, left = (h - th) // 2, (w - tw) // 2
    return img[..., top : top + th, left : left + tw, :]


def _resize_one(img: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    h, w = img.shape[:2]
    side = spec.resize or max(spec.input_size)
    torchvision = spec.resize_mode == "shorter_side"
    if torchvision:  # torchvision's Resize(side): the longer side truncated, as its _compute_resized_output_size
        if h <= w:
            size = (side, int(side * w / h))
        else:
            size = (int(side * h / w), side)
    else:
        size = (max(side, spec.input_size[0]), max(side, spec.input_size[1]))
    out = Image.fromarray(img).resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return center_crop(np.asarray(out), spec.input_size, torchvision)


def check_images(images) -> np.ndarray:
    """Validates RGB uint8 images; returns [B, H, W, 3] (a single [H, W, 3] gains B=1)."""
    try:
        arr = np.asarray(images)
    except ValueError as e:  # ragged nested lists
        raise InputImageError(f"expected RGB images as one uint8 array [B, H, W, 3] or [H, W, 3]; got "
                              f"{type(images).__name__} that is not one array ({e})") from None
    if arr.dtype != np.uint8:
        hint = ""
        if np.issubdtype(arr.dtype, np.floating):
            hint = " (for floats in 0..1 use (x * 255).round().astype(np.uint8))"
        raise InputImageError(f"expected RGB images as uint8 in 0..255, got dtype {arr.dtype}{hint}")
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise InputImageError(
            f"expected RGB images shaped [B, H, W, 3] or [H, W, 3], got shape {arr.shape}"
            " (convert grayscale or RGBA images to RGB first)"
        )
    if 0 in arr.shape[1:3]:
        raise InputImageError(f"expected RGB images of at least 1x1 pixels, got shape {arr.shape}")
    return arr


def preprocess(images, spec: PreprocessSpec) -> np.ndarray:
    """images: [B, H, W, 3] or [H, W, 3] uint8 RGB -> [B, h, w, 3] float32 network input."""
    arr = check_images(images)
    if arr.shape[1:3] != tuple(spec.input_size):
        arr = (np.stack([_resize_one(img, spec) for img in arr]) if len(arr)
               else np.zeros((0, *spec.input_size, 3), np.uint8))
    x = normalize(arr.astype(np.float32), spec.channel_order == "BGR", np.float32(spec.scale), spec.mean_array(),
                  np.asarray(spec.std, np.float32))
    return x.astype(np.float32)


def normalize(pixels, bgr: bool, scale, mean, std):
    """RGB pixel values in 0..255 (numpy or traced jax arrays [..., 3]) -> the
    network's input: its channel order, times ``scale``, minus ``mean``, over
    ``std``. ``preprocess`` and the ascent's new image families share it."""
    if bgr:
        pixels = pixels[..., ::-1]
    return (pixels * scale - mean) / std


def deprocess(x, spec: PreprocessSpec) -> np.ndarray:
    """x: [B, h, w, 3] network input -> [B, h, w, 3] uint8 RGB (clipped, rounded)."""
    x = np.asarray(x, np.float32) * np.asarray(spec.std, np.float32) + spec.mean_array()
    x = x / np.float32(spec.scale)
    if spec.channel_order == "BGR":
        x = x[..., ::-1]
    return np.clip(np.round(x), 0, 255).astype(np.uint8)
