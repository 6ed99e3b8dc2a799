"""The whitened natural images: rebuilt from scikit-image, committed small, really whitened."""

from __future__ import annotations

import numpy as np
import pytest

from autograder import data


@pytest.fixture(scope="module")
def committed():
    return np.load(data.IMAGES_PATH, allow_pickle=False)


def _radial_power(image):
    """(frequencies, mean power) of an (N, N) image on integer radial bins 1 .. N/2 - 1."""
    n = image.shape[0]
    power = np.abs(np.fft.fft2(image - image.mean())) ** 2
    f = np.fft.fftfreq(n) * n
    radius = np.rint(np.hypot(f[:, None], f[None, :])).astype(int)
    bins = np.arange(1, n // 2)
    return bins, np.array([power[radius == r].mean() for r in bins])


def test_committed_images_are_small_square_grey_and_unit_scaled(committed):
    assert committed.dtype == np.float32 and committed.shape == (10, 256, 256)
    assert data.IMAGES_PATH.stat().st_size < 3_000_000
    assert np.all(np.isfinite(committed))
    np.testing.assert_allclose(committed.reshape(10, -1).var(axis=1), 0.1, rtol=0.15)  # as IMAGES.mat
    assert np.abs(committed.reshape(10, -1).mean(axis=1)).max() < 1e-3  # the filter removes DC


def test_committed_images_are_what_the_builder_makes_now(committed):
    """`python -m autograder data` must reproduce the committed file (else rebuild and commit it)."""
    np.testing.assert_allclose(data.whitened_images(), committed, atol=1e-5)


def test_whitening_flattens_the_1_over_f_spectrum():
    """Natural images have power falling like 1/f^2 or faster (slope <= -2 in log-log, about -2.7
    for these resized photographs); the filter multiplies the power by f^2 (slope + 2, a little
    less where its exp(-(f/f0)^4) roll-off starts), so the whitened spectrum is much flatter."""
    raw = data.natural_images()
    slopes_raw, slopes_white = [], []
    for image in raw:
        f, p_raw = _radial_power(image)
        _, p_white = _radial_power(data.whiten(image))
        mid = (f >= 4) & (f <= 0.3 * image.shape[0])
        slopes_raw.append(np.polyfit(np.log(f[mid]), np.log(p_raw[mid]), 1)[0])
        slopes_white.append(np.polyfit(np.log(f[mid]), np.log(p_white[mid]), 1)[0])
    slopes_raw, slopes_white = np.array(slopes_raw), np.array(slopes_white)
    assert np.median(slopes_raw) < -2.0, slopes_raw
    assert np.all(slopes_white - slopes_raw > 1.7), slopes_white - slopes_raw
    assert abs(np.median(slopes_white)) < 0.5 * abs(np.median(slopes_raw)), slopes_white


def test_whiten_rejects_non_square_images():
    with pytest.raises(ValueError, match="square"):
        data.whiten(np.zeros((4, 5)))


def test_write_images_round_trips(tmp_path):
    path = data.write_images(tmp_path / "IMAGES.npy")
    loaded = data.load_images(path)
    assert loaded.dtype == np.float64 and loaded.shape == (10, 256, 256)
