"""The MFCC front end: shapes, conventions and known-signal properties."""

import numpy as np
import pytest

from accelsim.accuracy.mfcc import (
    KWS_MFCC,
    dct_matrix,
    log_mel_spectrogram,
    mel_band_centres_hz,
    mel_filterbank,
    mfcc,
    mfcc_chunked,
)

RATE = 16_000
T = np.arange(RATE) / RATE


def tone(f_hz, amplitude=0.5):
    return amplitude * np.sin(2 * np.pi * f_hz * T)


def test_kws_parameters_give_49_frames_of_10_coefficients():
    assert (KWS_MFCC.window_samples, KWS_MFCC.stride_samples, KWS_MFCC.frames) == (480, 320, 49)
    rng = np.random.default_rng(0)
    out = mfcc(rng.standard_normal((3, RATE)) * 0.1)
    assert out.shape == (3, 49, 10) and out.dtype == np.float32
    assert mfcc(tone(440)).shape == (1, 49, 10)


def test_batch_equals_one_clip_at_a_time_and_chunking_changes_nothing():
    rng = np.random.default_rng(1)
    clips = rng.standard_normal((5, RATE)) * 0.2
    batch = mfcc(clips)
    single = np.concatenate([mfcc(c) for c in clips])
    np.testing.assert_allclose(batch, single, rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(mfcc_chunked(clips, chunk=2), batch)


def test_short_clip_is_zero_padded_and_long_clip_cut():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(12_000) * 0.1
    padded = np.concatenate([x, np.zeros(RATE - x.size)])
    np.testing.assert_array_equal(mfcc(x), mfcc(padded))
    longer = np.concatenate([padded, rng.standard_normal(4000)])
    np.testing.assert_array_equal(mfcc(longer), mfcc(padded))


@pytest.mark.parametrize("f_hz", [200.0, 500.0, 1000.0, 2000.0, 3500.0])
def test_pure_tone_energy_lands_in_the_mel_band_of_its_frequency(f_hz):
    log_mel = log_mel_spectrogram(tone(f_hz))[0].mean(axis=0)
    centres = mel_band_centres_hz()
    loudest = int(log_mel.argmax())
    # the loudest band is one of the two whose centres bracket the tone
    nearest = np.argsort(np.abs(centres - f_hz))[:2]
    assert loudest in nearest
    # and it stands well above bands far from the tone
    far = np.abs(centres - f_hz) > 3 * np.abs(centres[loudest] - centres[max(loudest - 1, 0)] + 1)
    assert log_mel[loudest] > log_mel[far].max() + 3.0


def test_tone_above_the_top_band_edge_barely_reaches_the_mel_bands():
    # only the Hann window's side lobes leak in: > 10 nats (a factor 2e4) below an in-band tone
    outside = log_mel_spectrogram(tone(6000.0)).max()
    inside = log_mel_spectrogram(tone(1000.0)).max()
    assert inside - outside > 10.0


def test_silence_gives_the_log_floor_in_coefficient_zero_only():
    out = mfcc(np.zeros(RATE))[0]
    np.testing.assert_allclose(out[:, 0], np.log(1e-6) * np.sqrt(40), rtol=1e-6)
    np.testing.assert_allclose(out[:, 1:], 0.0, atol=1e-4)


def test_gain_shifts_only_coefficient_zero_by_log_gain_times_sqrt_bins():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(RATE) * 0.1
    a, b = mfcc(x)[0], mfcc(4.0 * x)[0]
    np.testing.assert_allclose(b[:, 0] - a[:, 0], np.log(4.0) * np.sqrt(40), rtol=1e-3)
    np.testing.assert_allclose(b[:, 1:], a[:, 1:], atol=1e-3)


def test_dct_is_orthonormal_and_filterbank_is_triangular_between_20_and_4000_hz():
    d = dct_matrix(40, 40)
    np.testing.assert_allclose(d.T @ d, np.eye(40), atol=1e-12)
    fb = mel_filterbank()
    assert fb.shape == (257, 40) and fb.min() >= 0.0 and fb.max() <= 1.0
    freqs = np.arange(257) * RATE / 512
    covered = freqs[fb.sum(axis=1) > 0]
    assert covered.min() >= 20.0 and covered.max() <= 4000.0
    # each filter peaks at its centre frequency (to within one FFT bin)
    peaks = freqs[fb.argmax(axis=0)]
    assert np.all(np.abs(peaks - mel_band_centres_hz()) <= RATE / 512)
