"""MFCC front end for keyword spotting, in numpy, vectorised over clips.

The parameters are those of the MLPerf Tiny keyword-spotting benchmark
(docs/sources.md s3.1): 16 kHz audio, 1 s clips, 30 ms windows every 20 ms
(49 frames), 40 mel bins between 20 and 4000 Hz, 10 cepstral coefficients.

Conventions (the benchmark's TensorFlow pipeline where it states one):

- window: periodic Hann of 480 samples, frames zero-padded to a 512-point FFT;
  frames are taken from the clip without padding at its ends, so a 16,000
  sample clip gives 1 + (16000 - 480) // 320 = 49 frames;
- no pre-emphasis;
- spectrum: magnitude |X(f)| (not power);
- mel scale: HTK, mel(f) = 1127 ln(1 + f / 700), triangular filters whose
  corners are equally spaced in mel, weights computed on the FFT bin
  frequencies (no area normalisation);
- log: natural log of (mel energy + 1e-6): the floor keeps silence finite;
- cepstrum: orthonormal DCT-II of the 40 log-mel values, first 10 kept
  (coefficient 0 is the sum of the log-mel values divided by sqrt(40)).

Clips shorter than 1 s are zero-padded at the end; longer ones are cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@dataclass(frozen=True)
class MfccParams:
    """Front-end parameters; the defaults are MLPerf Tiny KWS's."""

    sample_rate_hz: int = 16_000
    clip_s: float = 1.0
    window_ms: float = 30.0
    stride_ms: float = 20.0
    fft_size: int = 512
    mel_bins: int = 40
    f_low_hz: float = 20.0
    f_high_hz: float = 4_000.0
    coefficients: int = 10
    log_floor: float = 1e-6

    @property
    def clip_samples(self) -> int:
        return round(self.sample_rate_hz * self.clip_s)

    @property
    def window_samples(self) -> int:
        return round(self.sample_rate_hz * self.window_ms / 1000)

    @property
    def stride_samples(self) -> int:
        return round(self.sample_rate_hz * self.stride_ms / 1000)

    @property
    def frames(self) -> int:
        return 1 + (self.clip_samples - self.window_samples) // self.stride_samples

    def to_dict(self) -> dict:
        return {
            "sample_rate_hz": self.sample_rate_hz, "clip_s": self.clip_s,
            "window_ms": self.window_ms, "stride_ms": self.stride_ms,
            "fft_size": self.fft_size, "mel_bins": self.mel_bins,
            "f_low_hz": self.f_low_hz, "f_high_hz": self.f_high_hz,
            "coefficients": self.coefficients, "log_floor": self.log_floor,
        }


KWS_MFCC = MfccParams()


def hz_to_mel(f_hz):
    """HTK mel scale."""
    return 1127.0 * np.log1p(np.asarray(f_hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * np.expm1(np.asarray(mel, dtype=np.float64) / 1127.0)


def mel_band_centres_hz(p: MfccParams = KWS_MFCC) -> np.ndarray:
    """Centre frequency of each mel filter, Hz (``mel_bins`` values)."""
    edges = np.linspace(hz_to_mel(p.f_low_hz), hz_to_mel(p.f_high_hz), p.mel_bins + 2)
    return mel_to_hz(edges[1:-1])


def mel_filterbank(p: MfccParams = KWS_MFCC) -> np.ndarray:
    """Triangular mel filters as a matrix of (fft_size // 2 + 1) bins x mel_bins."""
    bin_mel = hz_to_mel(np.arange(p.fft_size // 2 + 1) * p.sample_rate_hz / p.fft_size)
    edges = np.linspace(hz_to_mel(p.f_low_hz), hz_to_mel(p.f_high_hz), p.mel_bins + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel[:, None] - lower) / (centre - lower)
    falling = (upper - bin_mel[:, None]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II as an n_in x n_out matrix (first n_out coefficients)."""
    n = np.arange(n_in)[:, None]
    k = np.arange(n_out)[None, :]
    basis = np.cos(np.pi * (2 * n + 1) * k / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[:, 0] = 1.0 / np.sqrt(n_in)
    return basis


def fit_clips(waves: np.ndarray, p: MfccParams = KWS_MFCC) -> np.ndarray:
    """Clips as (n, clip_samples) float: pad with zeros at the end or cut."""
    waves = np.atleast_2d(np.asarray(waves, dtype=np.float64))
    n = p.clip_samples
    if waves.shape[1] >= n:
        return waves[:, :n]
    return np.pad(waves, ((0, 0), (0, n - waves.shape[1])))


def log_mel_spectrogram(waves: np.ndarray, p: MfccParams = KWS_MFCC) -> np.ndarray:
    """Log mel energies, (n, frames, mel_bins), of clips given as (n, samples) or (samples,)."""
    clips = fit_clips(waves, p)
    frames = sliding_window_view(clips, p.window_samples, axis=1)[:, :: p.stride_samples]
    frames = frames[:, : p.frames]
    # periodic Hann, as tf.signal.hann_window(periodic=True)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(p.window_samples) / p.window_samples)
    spectrum = np.abs(np.fft.rfft(frames * window, n=p.fft_size, axis=-1))
    mel = spectrum @ mel_filterbank(p)
    return np.log(mel + p.log_floor)


def mfcc(waves: np.ndarray, p: MfccParams = KWS_MFCC) -> np.ndarray:
    """MFCC features, (n, frames, coefficients) float32: 49 x 10 per clip by default.

    ``waves`` holds clips of ``p.sample_rate_hz`` audio scaled to [-1, 1), as
    (n, samples) or one clip as (samples,); every clip is computed at once.
    """
    log_mel = log_mel_spectrogram(waves, p)
    return (log_mel @ dct_matrix(p.mel_bins, p.coefficients)).astype(np.float32)


def mfcc_chunked(waves: np.ndarray, p: MfccParams = KWS_MFCC, chunk: int = 1024) -> np.ndarray:
    """:func:`mfcc` of many clips, a chunk of clips at a time to bound memory."""
    waves = np.atleast_2d(waves)
    out = np.empty((waves.shape[0], p.frames, p.coefficients), dtype=np.float32)
    for start in range(0, waves.shape[0], chunk):
        out[start:start + chunk] = mfcc(waves[start:start + chunk], p)
    return out
