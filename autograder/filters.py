"""Measures of learned filters: are they oriented and localized, like edge detectors?

The notes' result (§4) is that a sparse autoencoder trained on whitened
natural-image patches learns edge detectors "at different positions and
orientations". These functions turn that into numbers, so a test can assert
it instead of a person looking at a picture.

Every function takes filters as rows: W1 of shape (h, sz*sz).
"""

from __future__ import annotations

import math

import numpy as np


def _as_patches(W1) -> np.ndarray:
    """(h, sz*sz) -> (h, sz, sz), each filter's mean removed."""
    W1 = np.asarray(W1, dtype=np.float64)
    h, n = W1.shape
    sz = math.isqrt(n)
    if sz * sz != n:
        raise ValueError(f"filters must be square patches, got {n} values per row")
    F = W1.reshape(h, sz, sz)
    return F - F.mean(axis=(1, 2), keepdims=True)


def _power_and_angles(W1) -> tuple[np.ndarray, np.ndarray]:
    """Power spectra (h, sz, sz) of the filters (DC set to 0) and the direction of each frequency."""
    F = _as_patches(W1)
    P = np.abs(np.fft.fft2(F)) ** 2  # no zero-padding: padding smears a straight edge's power
    k = np.fft.fftfreq(F.shape[1])
    P[:, 0, 0] = 0.0
    return P, np.arctan2(k[:, None], k[None, :])


def orientation_selectivity(W1) -> np.ndarray:
    """How much of each filter's spectral power lies along one orientation: (h,) in [0, 1].

    With P(k) the power spectrum (the filter's own DFT, DC excluded) and theta(k)
    the direction of the frequency k, the score is the length of the mean
    doubled-angle vector |sum P e^{2i theta}| / sum P: 1 for a grating or a
    straight edge, near 0 for an isotropic blob or white noise.
    """
    P, theta = _power_and_angles(W1)
    total = P.sum(axis=(1, 2))
    vec = np.abs((P * np.exp(2j * theta)).sum(axis=(1, 2)))
    return np.divide(vec, total, out=np.zeros_like(vec), where=total > 0)


def preferred_orientation(W1) -> np.ndarray:
    """Each filter's dominant edge direction in degrees, in [0, 180): (h,).

    The direction of the edge is perpendicular to the dominant frequency.
    """
    P, theta = _power_and_angles(W1)
    freq_angle = np.angle((P * np.exp(2j * theta)).sum(axis=(1, 2))) / 2.0
    return (np.degrees(freq_angle) + 90.0) % 180.0


def energy_concentration(W1, fraction: float = 0.25) -> np.ndarray:
    """Share of each filter's energy held by its strongest `fraction` of pixels: (h,).

    A localized filter (an edge in one part of the patch) puts most of its
    energy in few pixels; white noise of 64 pixels puts about 0.55 of it in
    the strongest quarter.
    """
    F = _as_patches(W1)
    e = np.sort((F * F).reshape(F.shape[0], -1), axis=1)[:, ::-1]
    top = max(1, int(round(fraction * e.shape[1])))
    total = e.sum(axis=1)
    return np.divide(e[:, :top].sum(axis=1), total, out=np.zeros_like(total), where=total > 0)


def energy_centroid(W1) -> np.ndarray:
    """Each filter's centre of energy (row, column) in pixels: (h, 2)."""
    F = _as_patches(W1)
    e = F * F
    e = e / e.sum(axis=(1, 2), keepdims=True)
    idx = np.arange(F.shape[1], dtype=np.float64)
    return np.stack([(e.sum(axis=2) * idx).sum(axis=1), (e.sum(axis=1) * idx).sum(axis=1)], axis=1)
