#!/usr/bin/env python3
"""Write the KWS test and calibration feature sets from a Speech Commands layout folder.

What ``scripts/train_kws.py`` ships beside the weights, without training (and
without PyTorch): workloads/data/kws_test.npz (float16 MFCC features and
labels of the test split) and workloads/data/kws_calibration.npz
(``--calibration-clips`` clips of the validation split, drawn with child 3 of
``SeedSequence(seed)``: what a deployment calibrates with, never the test
speakers). The splits are featurised with accelsim's MFCC; training keeps
every unknown-word clip, validation and test keep 1/12 unknown words and
add 1/12 silence. The features of all three splits are cached in
``--cache`` (default DATA/features.npz) and read from it when it exists.

    python scripts/kws_sets.py --data data/kws_synth
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from accelsim.accuracy.dataset import save_feature_set
from accelsim.accuracy.speech_commands import CLASSES, load_split
from accelsim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("training", "validation", "testing")
#: the children of SeedSequence(seed): data, torch, training loop, calibration pick
SEED_STREAMS = 4


def seed_streams(seed: int) -> list[np.random.SeedSequence]:
    """The script's four seed streams, in the order train_kws.py uses them."""
    return np.random.SeedSequence(seed).spawn(SEED_STREAMS)


def cache_path(data: str | Path, cache: str | Path | None) -> Path:
    """The feature cache: ``cache`` when given, else DATA/features.npz."""
    return Path(cache or Path(data) / "features.npz")


def load_splits(data: str | Path, cache: str | Path | None, data_seed: np.random.SeedSequence) -> dict:
    """{split: (features, labels)} of the three splits, from the cache or featurised (and cached)."""
    cache = cache_path(data, cache)
    if cache.is_file():
        with np.load(cache) as z:
            return {s: (z[f"{s}_x"], z[f"{s}_y"]) for s in SPLITS}
    t0 = time.time()
    splits = {}
    for s, seed in zip(SPLITS, data_seed.generate_state(len(SPLITS))):
        part = load_split(data, s, seed=int(seed), unknown_fraction=None if s == "training" else 1 / 12)
        splits[s] = (part.features, part.labels)
        print(f"{s}: {part.class_counts}", file=sys.stderr)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **{f"{s}_{k}": v for s, (x, y) in splits.items() for k, v in (("x", x), ("y", y))})
    print(f"features in {time.time() - t0:.1f} s", file=sys.stderr)
    return splits


def calibration_pick(validation_labels: np.ndarray, clips: int,
                     calibration_seed: np.random.SeedSequence) -> np.ndarray:
    """Sorted indices of the ``clips`` validation clips shipped as the calibration set (all when fewer)."""
    n = len(validation_labels)
    return np.sort(np.random.default_rng(calibration_seed).choice(n, size=min(clips, n), replace=False))


def write_sets(splits: dict, pick: np.ndarray, out_test: str | Path, out_calibration: str | Path) -> None:
    """The test split (float16, every clip) and the picked validation clips, each written atomically."""
    save_feature_set(out_test, splits["testing"][0].astype(np.float16), splits["testing"][1], CLASSES)
    val_x, val_y = splits["validation"]
    save_feature_set(out_calibration, val_x[pick], val_y[pick], CLASSES)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options this script shares with train_kws.py."""
    ap.add_argument("--data", default="data/kws_synth", help="Speech Commands layout folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-test", default=str(ROOT / "workloads" / "data" / "kws_test.npz"))
    ap.add_argument("--out-calibration", default=str(ROOT / "workloads" / "data" / "kws_calibration.npz"))
    ap.add_argument("--calibration-clips", type=int, default=512,
                    help="validation clips shipped as the calibration set")
    ap.add_argument("--cache", default=None, help="feature cache .npz (default: DATA/features.npz)")


def check_arguments(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.calibration_clips < 1:
        ap.error(f"--calibration-clips must be at least 1, got {args.calibration_clips}")
    if not Path(args.data).is_dir() and not cache_path(args.data, args.cache).is_file():
        ap.error(f"--data {args.data}: no such folder (and no feature cache)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(ap)
    args = ap.parse_args(argv)
    check_arguments(ap, args)
    data_seed, _, _, calibration_seed = seed_streams(args.seed)
    try:
        splits = load_splits(args.data, args.cache, data_seed)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_sets(splits, calibration_pick(splits["validation"][1], args.calibration_clips, calibration_seed),
               args.out_test, args.out_calibration)
    return 0


if __name__ == "__main__":
    sys.exit(main())
