"""Google Speech Commands v0.02, in its directory layout, as 12-class KWS data.

The layout (``speech_commands_v0.02`` as unpacked, and the synthetic corpus of
``scripts/make_kws_corpus.py``)::

    ROOT/
      yes/ no/ ... <one folder per word>/   16 kHz mono 16-bit PCM WAVs, <= 1 s
      _background_noise_/                    long 16 kHz noise recordings
      validation_list.txt                    files of the validation split
      testing_list.txt                       files of the test split

The lists hold paths relative to ROOT (``yes/0a7c2a8d_nohash_0.wav``);
every other word file belongs to the training split. The 12 classes are the
standard ones: the ten keywords, ``_silence_`` and ``_unknown_`` (every
other word). Each split is completed with silence clips: 1 s segments of the
background-noise recordings at a random gain (see :func:`load_split`).
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from accelsim.accuracy.mfcc import KWS_MFCC, MfccParams, fit_clips, mfcc_chunked
from accelsim.errors import ConfigError, Problem

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
#: class names in label order: the ten keywords, then silence, then unknown
CLASSES = KEYWORDS + (SILENCE, UNKNOWN)
BACKGROUND_DIR = "_background_noise_"
LIST_FILES = {"validation": "validation_list.txt", "testing": "testing_list.txt"}

Split = Literal["training", "validation", "testing"]


def read_wav(path: str | Path, sample_rate_hz: int = 16_000) -> np.ndarray:
    """A mono 16-bit PCM WAV as float32 samples in [-1, 1).

    Raises ConfigError naming the file when it cannot be read, is not mono
    16-bit PCM or is not at ``sample_rate_hz``.
    """
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            rate, channels, width, frames = (
                w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes())
            data = w.readframes(frames)
    except (wave.Error, EOFError, OSError) as exc:
        raise ConfigError(Problem(
            f"cannot be read as a PCM WAV ({exc}); expected mono 16-bit PCM at {sample_rate_hz} Hz",
            file=str(path))) from None
    wrong = []
    if rate != sample_rate_hz:
        wrong.append(f"sample rate {rate} Hz")
    if channels != 1:
        wrong.append(f"{channels} channels")
    if width != 2:
        wrong.append(f"{8 * width}-bit samples")
    if wrong:
        raise ConfigError(Problem(
            f"WAV has {', '.join(wrong)}; expected mono 16-bit PCM at {sample_rate_hz} Hz",
            file=str(path)))
    samples = np.frombuffer(data, dtype="<i2")
    if samples.size != frames:
        raise ConfigError(Problem(
            f"WAV is truncated: header says {frames} samples, file holds {samples.size}",
            file=str(path)))
    return samples.astype(np.float32) / 32768.0


@dataclass(frozen=True)
class ClipList:
    """The word clips of one split: paths relative to the root, and class labels."""

    root: Path
    files: tuple[str, ...]
    labels: np.ndarray  # int64, indices into CLASSES


def _read_list(root: Path, name: str) -> set[str]:
    path = root / name
    if not path.is_file():
        raise ConfigError(Problem(
            "split list not found: a Speech Commands folder has validation_list.txt and testing_list.txt",
            file=str(path)))
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.strip().replace("\\", "/") for line in lines if line.strip()}


def _word_files(root: Path) -> list[str]:
    files = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != BACKGROUND_DIR):
        files += [f"{folder.name}/{wav.name}" for wav in sorted(folder.glob("*.wav"))]
    return files


def check_root(root: str | Path) -> Path:
    """The dataset folder as a Path; ConfigError when it is missing or holds no word WAVs."""
    path = Path(root)
    if not path.is_dir():
        raise ConfigError(Problem("dataset folder not found", file=str(path)))
    if not _word_files(path):
        raise ConfigError(Problem(
            "no WAV files in any word folder; expected the Speech Commands layout "
            "(ROOT/<word>/*.wav with validation_list.txt and testing_list.txt)",
            file=str(path)))
    return path


def list_split(root: str | Path, split: Split) -> ClipList:
    """The word clips of one split with their 12-class labels (unknown for non-keywords)."""
    path = check_root(root)
    validation = _read_list(path, LIST_FILES["validation"])
    testing = _read_list(path, LIST_FILES["testing"])
    if split == "training":
        chosen = [f for f in _word_files(path) if f not in validation and f not in testing]
    elif split in LIST_FILES:
        listed = validation if split == "validation" else testing
        chosen = sorted(listed)
        for f in chosen:
            if not (path / f).is_file():
                raise ConfigError(Problem(
                    f"listed in {LIST_FILES[split]} but not found", file=str(path / f)))
    else:
        raise ValueError(f"unknown split {split!r}; expected training, validation or testing")
    index = {name: i for i, name in enumerate(CLASSES)}
    unknown = index[UNKNOWN]
    labels = np.array([index.get(f.split("/", 1)[0], unknown) for f in chosen], dtype=np.int64)
    return ClipList(root=path, files=tuple(chosen), labels=labels)


def background_noise(root: str | Path, sample_rate_hz: int = 16_000) -> list[np.ndarray]:
    """The recordings of ``_background_noise_`` (may be none)."""
    folder = Path(root) / BACKGROUND_DIR
    if not folder.is_dir():
        return []
    return [read_wav(p, sample_rate_hz) for p in sorted(folder.glob("*.wav"))]


def silence_clips(noise: list[np.ndarray], count: int, rng: np.random.Generator,
                  clip_samples: int = 16_000, max_gain: float = 1.0) -> np.ndarray:
    """``count`` clips of silence: random 1 s segments of the noise at a random gain in [0, max_gain].

    Without noise recordings the clips are digital silence (zeros).
    """
    out = np.zeros((count, clip_samples), dtype=np.float32)
    usable = [n for n in noise if n.size >= clip_samples]
    if not usable or count == 0:
        return out
    which = rng.integers(len(usable), size=count)
    gains = rng.uniform(0.0, max_gain, size=count)
    for i in range(count):  # one slice per clip: I/O-bound assembly, not inference
        source = usable[which[i]]
        start = rng.integers(source.size - clip_samples + 1)
        out[i] = source[start:start + clip_samples] * gains[i]
    return out


@dataclass(frozen=True)
class KwsSplit:
    """Features and labels of one split.

    Attributes:
        features: (n, 49, 10) float32 MFCC.
        labels: (n,) int64 class indices into CLASSES.
        files: (n,) the word file of each clip, or ``_silence_`` for silence clips.
    """

    features: np.ndarray
    labels: np.ndarray
    files: tuple[str, ...]

    @property
    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(CLASSES))
        return {name: int(c) for name, c in zip(CLASSES, counts)}


def load_split(root: str | Path, split: Split, *, seed: int = 0,
               silence_fraction: float = 1 / 12, unknown_fraction: float | None = None,
               params: MfccParams = KWS_MFCC, chunk: int = 1024, word_clips: int | None = None) -> KwsSplit:
    """One split as MFCC features and 12-class labels.

    Silence clips are added so that they make up ``silence_fraction`` of the
    returned split. When ``unknown_fraction`` is given, unknown-word clips are
    subsampled (never added) so that they make up at most that fraction, as
    the TensorFlow Speech Commands pipeline does (it uses 10 %); ``None`` keeps
    them all. ``word_clips``: featurise only that many word clips, drawn at random after
    the unknown subsampling (silence is then added to them). Subsampling and silence segments draw from
    ``SeedSequence(seed)``: the same seed gives the same split. WAVs are read
    and featurised ``chunk`` clips at a time, so memory holds features, not
    audio, of the whole split.
    """
    if not 0 <= silence_fraction < 1:
        raise ValueError("silence_fraction must be in [0, 1)")
    clips = list_split(root, split)
    pick_rng, silence_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    files = np.array(clips.files, dtype=object)
    labels = clips.labels
    if unknown_fraction is not None:
        is_unknown = labels == CLASSES.index(UNKNOWN)
        known = int((~is_unknown).sum())
        keep_unknown = min(int(is_unknown.sum()),
                           round(unknown_fraction * known / max(1e-9, 1 - unknown_fraction)))
        unknown_idx = np.flatnonzero(is_unknown)
        kept = np.sort(pick_rng.choice(unknown_idx, size=keep_unknown, replace=False))
        keep = np.sort(np.concatenate([np.flatnonzero(~is_unknown), kept]))
        files, labels = files[keep], labels[keep]
    if word_clips is not None and word_clips < 1:
        raise ValueError(f"word_clips must be >= 1, got {word_clips}")
    if word_clips is not None and word_clips < len(files):
        keep = np.sort(pick_rng.choice(len(files), size=word_clips, replace=False))
        files, labels = files[keep], labels[keep]
    n_silence = round(silence_fraction * len(files) / (1 - silence_fraction))
    features = np.empty((len(files) + n_silence, params.frames, params.coefficients), np.float32)
    for start in range(0, len(files), chunk):
        waves = np.stack([fit_clips(read_wav(clips.root / f, params.sample_rate_hz), params)[0]
                          for f in files[start:start + chunk]])
        features[start:start + len(waves)] = mfcc_chunked(waves, params)
    silence = silence_clips(background_noise(clips.root, params.sample_rate_hz), n_silence,
                            silence_rng, params.clip_samples)
    features[len(files):] = mfcc_chunked(silence, params)
    all_labels = np.concatenate([labels, np.full(n_silence, CLASSES.index(SILENCE))]).astype(np.int64)
    return KwsSplit(features=features, labels=all_labels,
                    files=tuple(files.tolist()) + (SILENCE,) * n_silence)
