"""The course's data: whitened natural images, built from images inside scikit-image.

The original exercise trained on ``IMAGES.mat``: ten 512x512 natural images,
1/f-whitened by Olshausen & Field. Nothing may be downloaded here, so we
rebuild the same kind of data from photographs that ship inside the
scikit-image wheel (``skimage.data``), with Olshausen's whitening filter

    W(f) = f exp(-(f / f0)^4),   f0 = 0.4 N,

which flattens the 1/f amplitude spectrum of natural images (f) and rolls off
the corner frequencies where noise and aliasing dominate (the exponential).
Each whitened image is scaled to variance 0.1, as in IMAGES.mat.

The students' copy is a small ``.npy`` file in the assignment folder (they
need neither this module nor scikit-image's network-only images):

    python -m autograder data            # rewrites source/05_sparse_autoencoder/IMAGES.npy
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .course import COURSE_ROOT

#: Photographs of natural or everyday scenes in ``skimage.data`` that ship in the wheel
#: (``eagle``, ``lily`` and a few others need a download and are not used).
IMAGE_NAMES = (
    "camera",
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "stereo_motorcycle",
    "brick",
    "grass",
    "gravel",
    "moon",
)

IMAGE_SIZE = 256
IMAGES_PATH = COURSE_ROOT / "source" / "05_sparse_autoencoder" / "IMAGES.npy"


def natural_images(size: int = IMAGE_SIZE) -> np.ndarray:
    """The raw images, grey, centre-cropped square and resized: (10, size, size) in [0, 1]."""
    import skimage.color
    import skimage.data
    import skimage.transform
    import skimage.util

    out = []
    for name in IMAGE_NAMES:
        image = getattr(skimage.data, name)()
        if name == "stereo_motorcycle":
            image = image[0]  # (left, right, disparity): the left view
        image = skimage.util.img_as_float(image)
        if image.ndim == 3:
            image = skimage.color.rgb2gray(image[..., :3])
        h, w = image.shape
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        image = image[top : top + s, left : left + s]
        out.append(skimage.transform.resize(image, (size, size), anti_aliasing=True))
    return np.stack(out)


def whiten(image: np.ndarray) -> np.ndarray:
    """Olshausen's 1/f whitening of one square image, scaled to variance 0.1: (N, N) -> (N, N)."""
    image = np.asarray(image, dtype=np.float64)
    n = image.shape[0]
    if image.shape != (n, n):
        raise ValueError(f"whiten expects a square image, got shape {image.shape}")
    f = np.fft.fftfreq(n) * n  # integer frequencies in numpy's FFT order
    rho = np.hypot(f[:, None], f[None, :])
    filt = rho * np.exp(-((rho / (0.4 * n)) ** 4))
    white = np.real(np.fft.ifft2(np.fft.fft2(image - image.mean()) * filt))
    return np.sqrt(0.1) * white / np.sqrt(np.mean(np.var(white, axis=0)))


def whitened_images(size: int = IMAGE_SIZE) -> np.ndarray:
    """The course's IMAGES: (10, size, size) float32, each 1/f-whitened with variance 0.1."""
    return np.stack([whiten(im) for im in natural_images(size)]).astype(np.float32)


def load_images(path: str | Path = IMAGES_PATH) -> np.ndarray:
    """The committed IMAGES.npy as float64: (10, 256, 256)."""
    return np.load(path, allow_pickle=False).astype(np.float64)


def write_images(path: str | Path = IMAGES_PATH) -> Path:
    """Build the whitened images and save them as ``.npy`` (about 2.6 MB)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, whitened_images(), allow_pickle=False)
    return path
