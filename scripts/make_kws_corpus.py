#!/usr/bin/env python3
"""Synthesise a spoken-keyword corpus in the Google Speech Commands layout.

Every clip is a word spoken by espeak-ng (tested with espeak-ng 1.51, Debian
package ``espeak-ng``). A "speaker" is one draw of English voice, voice
variant (formants, breathiness, roughness), base pitch, base speed and
vocal-tract scale; each speaker says the ten keywords and a few other words
(the unknown class), every utterance with its own jitter of pitch, speed,
gain, time position in the 1 s clip and background noise (type and SNR).
Speakers, not clips, are assigned to the training, validation and testing
splits (by a hash of the speaker id, as Speech Commands does), so the test
set holds voices the training never heard.

Output (default ``data/kws_synth``, not part of the repository)::

    yes/ no/ ... bed/ bird/ ...      16 kHz mono 16-bit WAVs, 1 s
    _background_noise_/*.wav         60 s of each synthetic noise type
    validation_list.txt testing_list.txt
    corpus.json                      the parameters of every clip

The corpus is a function of ``--seed`` and ``--speakers`` (and the espeak-ng
version): every random draw comes from ``SeedSequence(seed)``, one child per
speaker, so the result does not depend on ``--jobs``.

    python scripts/make_kws_corpus.py --out data/kws_synth --speakers 1000
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import wave
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from accelsim.report.progress import progress_bar

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
#: the other 25 words of Speech Commands v0.02: the unknown class
OTHER_WORDS = ("backward", "bed", "bird", "cat", "dog", "eight", "five", "follow", "forward",
               "four", "happy", "house", "learn", "marvin", "nine", "one", "seven", "sheila",
               "six", "three", "tree", "two", "visual", "wow", "zero")
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc",
          "en-gb-x-gbclan", "en-gb-x-gbcwmd")
#: espeak-ng 1.51 voice variants (voices/!v), those with a one-word file name
VARIANTS = ["Alex", "Alicia", "Andrea", "Andy", "Annie", "AnxiousAndy", "Demonic", "Denis", "Diogo", "Gene", "Gene2", "Henrique", "Hugo", "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike", "Nguyen", "RicishayMax", "RicishayMax2", "RicishayMax3", "Storm", "Tweaky", "UniRobot", "adam", "anika", "anikaRobot", "announcer", "antonio", "aunty", "belinda", "benjamin", "boris", "caleb", "croak", "david", "ed", "edward", "edward2", "f1", "f2", "f3", "f4", "f5", "fast", "grandma", "grandpa", "gustave", "iven", "iven2", "iven3", "iven4", "john", "kaukovalta", "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "linda", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "marcelo", "max", "michel", "miguel", "norbert", "pablo", "paul", "pedro", "quincy", "rob", "robert", "robosoft", "robosoft2", "robosoft3", "robosoft4", "robosoft5", "robosoft6", "robosoft7", "robosoft8", "sandro", "shelby", "steph", "steph2", "steph3", "travis", "victor", "whisper", "whisperf", "zac"]
NOISES = ("white", "pink", "brown", "hum", "babble", "tap")
BABBLE_TEXT = (
    "the weather is fine today and the market opens early",
    "please bring the books back to the library before noon",
    "she said that the train would be late again this evening",
    "a small boat was drifting slowly across the quiet lake",
    "they painted the kitchen walls a bright shade of green",
    "we will meet at the corner after the lecture has finished",
)
RATE_HZ = 16_000
CLIP = RATE_HZ  # samples in 1 s
UNKNOWN_PER_SPEAKER = 3


def espeak(text: str, voice: str, pitch: int, speed: int) -> tuple[np.ndarray, int]:
    """espeak-ng's rendering of ``text``: float samples and their rate."""
    out = subprocess.run(
        ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", text],
        check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(out)) as w:
        rate = w.getframerate()
        # espeak streams to stdout with a placeholder length: read what is there
        data = w.readframes(2**31 - 1)
    return np.frombuffer(data, "<i2").astype(np.float64) / 32768.0, rate


def resample(x: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
    """Band-limited resampling by zero-padding or cutting the spectrum."""
    n_out = max(1, round(x.size * rate_out / rate_in))
    spectrum = np.fft.rfft(x)
    keep = min(spectrum.size, n_out // 2 + 1)
    return np.fft.irfft(spectrum[:keep], n=n_out) * (n_out / x.size)


def trim(x: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    loud = np.flatnonzero(np.abs(x) > threshold * max(1e-9, np.abs(x).max()))
    return x[loud[0]:loud[-1] + 1] if loud.size else x


def make_noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of one noise type at unit RMS."""
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind in ("pink", "brown"):
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.maximum(np.fft.rfftfreq(n, 1 / RATE_HZ), 20.0)
        spectrum /= f ** (0.5 if kind == "pink" else 1.0)
        x = np.fft.irfft(spectrum, n=n)
    elif kind == "hum":
        t = np.arange(n) / RATE_HZ
        mains = rng.choice([50.0, 60.0])
        x = sum(rng.uniform(0.2, 1.0) / h * np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 6.3))
                for h in range(1, 8)) + 0.05 * rng.standard_normal(n)
    elif kind == "tap":  # running water: band-passed noise with a slow random envelope
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / RATE_HZ)
        spectrum *= np.exp(-0.5 * ((f - 2500.0) / 1200.0) ** 2)
        knots = np.arange(n // 800 + 2) * 800
        envelope = np.interp(np.arange(n), knots, rng.uniform(0.5, 1.5, size=knots.size))
        x = np.fft.irfft(spectrum, n=n) * envelope
    elif kind == "babble":  # several voices reading unrelated sentences at once
        x = np.zeros(n)
        for _ in range(6):
            pos = 0
            while pos < n:
                voice = f"{rng.choice(VOICES)}+{rng.choice(VARIANTS)}"
                speech, rate = espeak(str(rng.choice(BABBLE_TEXT)), voice,
                                      int(rng.integers(20, 80)), int(rng.integers(140, 200)))
                speech = resample(speech, rate, RATE_HZ)[: n - pos]
                x[pos:pos + speech.size] += speech / max(1e-9, speech.std())
                pos += speech.size + int(rng.integers(0, RATE_HZ // 2))
    else:
        raise ValueError(kind)
    return x / max(1e-12, x.std())


def speaker_draw(rng: np.random.Generator) -> dict:
    return {
        "voice": str(rng.choice(VOICES)),
        "variant": str(rng.choice(VARIANTS)),
        "pitch": int(rng.integers(15, 86)),
        "speed": int(rng.integers(120, 211)),
        "tract_scale": float(rng.uniform(0.9, 1.12)),
    }


def split_of(speaker_id: str, validation_pct: float, testing_pct: float) -> str:
    """Speech Commands' rule: a stable hash of the speaker picks the split."""
    pct = int(hashlib.sha1(speaker_id.encode()).hexdigest(), 16) % 10_000 / 100.0
    if pct < validation_pct:
        return "validation"
    if pct < validation_pct + testing_pct:
        return "testing"
    return "training"


def render_clip(word: str, spk: dict, noise_bank: dict[str, np.ndarray],
                rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """One 1 s clip of ``word`` by speaker ``spk`` with this utterance's jitter and noise."""
    pitch = int(np.clip(spk["pitch"] + rng.integers(-6, 7), 0, 99))
    speed = int(np.clip(spk["speed"] * rng.uniform(0.9, 1.1), 80, 260))
    speech, rate = espeak(word, f"{spk['voice']}+{spk['variant']}", pitch, speed)
    # rendering at a scaled rate moves formants and pitch together (vocal-tract length)
    scale = spk["tract_scale"] * rng.uniform(0.98, 1.02)
    speech = trim(resample(speech, rate * scale, RATE_HZ))[:CLIP]
    speech = speech / max(1e-9, np.abs(speech).max()) * rng.uniform(0.1, 0.9)
    offset = int(rng.integers(0, CLIP - speech.size + 1))
    clip = np.zeros(CLIP)
    clip[offset:offset + speech.size] = speech
    params = {"word": word, "pitch": pitch, "speed": speed, "tract_scale": round(scale, 4),
              "offset": offset}
    if rng.random() < 0.8:
        kind = str(rng.choice(NOISES))
        snr_db = float(rng.uniform(5.0, 30.0))
        source = noise_bank[kind]
        start = int(rng.integers(0, source.size - CLIP))
        speech_rms = np.sqrt(np.mean(speech**2))
        clip += source[start:start + CLIP] * speech_rms / 10 ** (snr_db / 20)
        params.update(noise=kind, snr_db=round(snr_db, 2))
    return np.clip(clip, -1.0, 32767 / 32768), params


def write_wav(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE_HZ)
        w.writeframes(np.round(x * 32767).astype("<i2").tobytes())


def make_speaker(job: tuple[int, np.random.SeedSequence, str, str]) -> list[dict]:
    index, seed, noise_dir, out_dir = job
    rng = np.random.default_rng(seed)
    spk = speaker_draw(rng)
    speaker_id = hashlib.sha1(f"{index}:{json.dumps(spk, sort_keys=True)}".encode()).hexdigest()[:8]
    noise_bank = {k: np.load(Path(noise_dir) / f"{k}.npy", mmap_mode="r") for k in NOISES}
    words = list(KEYWORDS) + list(rng.choice(OTHER_WORDS, size=UNKNOWN_PER_SPEAKER, replace=False))
    records = []
    for word in words:
        clip, params = render_clip(word, spk, noise_bank, rng)
        rel = f"{word}/{speaker_id}_nohash_0.wav"
        write_wav(Path(out_dir) / rel, clip)
        records.append({"file": rel, "speaker": speaker_id, **spk, **params})
    return records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="data/kws_synth", help="output folder (replaced)")
    ap.add_argument("--speakers", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--validation-pct", type=float, default=10.0)
    ap.add_argument("--testing-pct", type=float, default=20.0)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        print("espeak-ng not found: apt-get install espeak-ng", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    noise_seed, *speaker_seeds = np.random.SeedSequence(args.seed).spawn(1 + args.speakers)
    noise_rng = np.random.default_rng(noise_seed)
    with tempfile.TemporaryDirectory() as noise_dir:
        for kind in NOISES:
            noise = make_noise(kind, 60 * RATE_HZ, noise_rng)
            np.save(Path(noise_dir) / f"{kind}.npy", noise)
            # recordings at an RMS of 0.1 full scale; silence clips scale them down further
            write_wav(out / "_background_noise_" / f"{kind}_noise.wav", np.clip(0.1 * noise, -1, 1))
        jobs = [(i, s, noise_dir, str(out)) for i, s in enumerate(speaker_seeds)]
        records = []
        with ProcessPoolExecutor(max_workers=args.jobs) as pool, \
                progress_bar("speakers synthesised", "speakers") as update:  # on stderr, on a terminal
            for done, rs in enumerate(pool.map(make_speaker, jobs, chunksize=8), 1):
                records.extend(rs)
                update(done, len(jobs))
    lists: dict[str, list[str]] = {"validation": [], "testing": []}
    for r in records:
        r["split"] = split_of(r["speaker"], args.validation_pct, args.testing_pct)
        if r["split"] in lists:
            lists[r["split"]].append(r["file"])
    for split, files in lists.items():
        (out / f"{split}_list.txt").write_text("".join(f + "\n" for f in sorted(files)))
    meta = {"seed": args.seed, "speakers": args.speakers, "rate_hz": RATE_HZ,
            "espeak_ng": subprocess.run(["espeak-ng", "--version"], check=True, capture_output=True,
                                        text=True).stdout.strip(),
            "clips": records}
    (out / "corpus.json").write_text(json.dumps(meta, indent=1))
    counts = {s: sum(r["split"] == s for r in records) for s in ("training", "validation", "testing")}
    print(f"{len(records)} clips from {args.speakers} speakers in {out}: {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
