"""The deployment's calibration batch comes from a split of its own, never from the evaluated
clips: the shipped calibration set, a Speech Commands folder's validation split, or a file the
user names; a test-set .npz alone falls back to its own samples and the report says so."""

import json
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from accelsim.accuracy.analog import DEFAULT_CHUNK
from accelsim.accuracy.dataset import (
    builtin_kws_calibration_set,
    builtin_kws_test_set,
    load_feature_set,
    save_feature_set,
)
from accelsim.accuracy.speech_commands import CLASSES, SILENCE, load_split
from accelsim.accuracy.study import (
    CALIBRATION_SAMPLES,
    CalibrationSource,
    calibration_batch,
    evaluate_accuracy,
    load_calibration_set,
    load_test_set,
    run_die,
)
from accelsim.accuracy.weights import load_weights
from accelsim.config import load_arch
from accelsim.errors import ConfigError
from accelsim.mapping import plan
from accelsim.workload import load_workload

RATE = 16_000


@pytest.fixture(scope="module")
def kws():
    workload = load_workload("kws_dscnn")
    return workload, load_weights(workload)


def _rows(features: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in np.asarray(features, np.float16).reshape(len(features), -1)}


def test_the_shipped_calibration_set_is_validation_clips_none_of_which_is_in_the_test_set(kws):
    workload, _ = kws
    cal = load_calibration_set(workload)
    test = load_test_set(workload)
    assert cal.source == str(builtin_kws_calibration_set())
    assert len(cal) >= CALIBRATION_SAMPLES
    assert cal.classes == CLASSES and min(cal.class_counts().values()) >= 20
    assert not _rows(cal.features) & _rows(test.features)
    assert builtin_kws_calibration_set().stat().st_size < 1_000_000


def test_the_study_calibrates_with_the_batch_drawn_from_the_calibration_set(kws):
    workload, weights = kws
    arch = load_arch("mram72")
    test = load_test_set(workload, samples=48)
    cal = load_calibration_set(workload)
    study = evaluate_accuracy(arch, workload, test, weights=weights, calibration=cal, calibration_samples=64)
    assert study.calibration == CalibrationSource(cal.source, 64, False)
    batch = calibration_batch(np.asarray(cal.features, np.float32), arch.simulation.seed, 64)
    die = run_die(arch, workload, weights, np.asarray(test.features, np.float32), test.labels, 0,
                  arch.simulation.seed, DEFAULT_CHUNK, plan(workload, arch), batch)
    assert study.dies[0] == die
    # the same test clips calibrated on themselves are another deployment
    own = evaluate_accuracy(arch, workload, test, weights=weights, calibration=test, calibration_samples=64)
    assert own.calibration == CalibrationSource(test.source, 48, True)
    assert [e.rmse_lsb_calibrated for e in own.layers] != [e.rmse_lsb_calibrated for e in study.layers]


def test_the_shipped_test_set_is_paired_with_the_shipped_calibration_set(kws, monkeypatch):
    workload, weights = kws
    small = load_test_set(workload, samples=32)
    assert load_calibration_set(workload, builtin_kws_test_set()).source == str(builtin_kws_calibration_set())
    arch = load_arch("mram72")
    given = evaluate_accuracy(arch, workload, small, weights=weights)  # named by its path
    monkeypatch.setattr("accelsim.accuracy.study.load_test_set", lambda *a, **k: small)
    default = evaluate_accuracy(arch, workload, weights=weights)  # left out
    for study in (given, default):
        assert study.calibration == CalibrationSource(str(builtin_kws_calibration_set()), CALIBRATION_SAMPLES,
                                                      False)
    assert given.dies == default.dies


def test_a_test_set_npz_alone_has_no_calibration_split(kws, tmp_path):
    workload, _ = kws
    path = tmp_path / "t.npz"
    save_feature_set(path, np.zeros((3, 49, 10)), np.zeros(3, np.int64), CLASSES)
    assert load_calibration_set(workload, path) is None
    assert len(load_calibration_set(workload, path, builtin_kws_calibration_set())) >= CALIBRATION_SAMPLES


@pytest.fixture
def folder(tmp_path, wav):
    """yes/no/up tones: speakers 0-1 in the test list, 2-7 in the validation list."""
    root = tmp_path / "sc"
    rng = np.random.default_rng(1)
    for w, word in enumerate(("yes", "no", "up")):
        for s in range(8):
            tone = np.sin(2 * np.pi * (300 + 200 * w + 15 * s) * np.arange(RATE) / RATE)
            wav(root / word / f"spk{s}_nohash_0.wav", 6000 * tone + 300 * rng.standard_normal(RATE))
    wav(root / "_background_noise_" / "n.wav", 2000 * rng.standard_normal(2 * RATE))
    (root / "testing_list.txt").write_text(
        "".join(f"{w}/spk{s}_nohash_0.wav\n" for w in ("yes", "no", "up") for s in range(2)))
    (root / "validation_list.txt").write_text(
        "".join(f"{w}/spk{s}_nohash_0.wav\n" for w in ("yes", "no", "up") for s in range(2, 8)))
    return root


def test_load_split_can_featurise_a_seeded_subset_of_word_clips(folder):
    whole = load_split(folder, "validation", seed=3)
    part = load_split(folder, "validation", seed=3, word_clips=11)
    again = load_split(folder, "validation", seed=3, word_clips=11)
    words = [f for f in part.files if f != SILENCE]
    assert len(words) == 11 and set(words) <= set(whole.files) and len(whole.files) > len(part.files)
    assert part.files == again.files and np.array_equal(part.features, again.features)
    assert len(part.files) - len(words) == 1  # 1/12 silence
    with pytest.raises(ValueError, match="word_clips"):
        load_split(folder, "validation", word_clips=0)


def test_a_speech_commands_folder_calibrates_on_its_validation_split(cli, folder, kws):
    workload, _ = kws
    calibration = load_calibration_set(workload, folder, samples=12)
    assert len(calibration) == 12  # 11 word clips and 1 silence
    test_rows = _rows(load_test_set(workload, folder).features[:6])  # the test split's word clips
    assert not _rows(calibration.features) & test_rows
    r = cli("accuracy", "--data", folder, "--calibration-samples", "7", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["samples"] == 6 + round(6 / 11)
    assert d["calibration"] == {"source": str(folder), "samples": 7, "from_test_set": False}
    # another folder named with --calibration: its validation split
    r = cli("accuracy", "--data", builtin_kws_test_set(), "--samples", "8", "--calibration", folder, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["calibration"] == {"source": str(folder), "samples": 20, "from_test_set": False}


@pytest.mark.parametrize("listed", ["", "bed/a_nohash_0.wav\n"])
def test_a_validation_list_without_keyword_clips_exits_2_naming_it(cli, folder, wav, listed):
    wav(folder / "bed" / "a_nohash_0.wav", np.zeros(RATE))  # an unknown word
    (folder / "validation_list.txt").write_text(listed)
    r = cli("accuracy", "--data", folder, "--json")
    assert r.code == 2 and r.out == ""
    assert str(folder / "validation_list.txt") in r.err and "no keyword clips" in r.err
    assert "--calibration" in r.err and "Traceback" not in r.err


def test_the_cli_reports_where_the_batch_came_from(cli, tmp_path):
    r = cli("accuracy", "--samples", "16", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["calibration"]["source"] == str(builtin_kws_calibration_set())
    test = tmp_path / "t.npz"
    shipped = load_test_set(load_workload("kws_dscnn"), samples=20)
    save_feature_set(test, shipped.features, shipped.labels, CLASSES)
    for extra in ((), ("--calibration", test)):  # no split of its own, or the test set named again
        r = cli("accuracy", "--data", test, *extra, "--json")
        assert r.code == 0, r.err
        assert json.loads(r.out)["calibration"] == {"source": str(test), "samples": 20, "from_test_set": True}
    r = cli("accuracy", "--data", test)
    assert "calibration batch: 20 samples of t.npz, the test set itself" in " ".join(r.out.split())
    r = cli("accuracy", "--data", test, "--calibration", builtin_kws_calibration_set(),
            "--calibration-samples", "30")
    assert r.code == 0, r.err
    assert "calibration batch: 30 samples of kws_calibration.npz" in " ".join(r.out.split())


@pytest.mark.parametrize("defect", ["missing", "shape"])
def test_bad_calibration_data_exits_2_naming_it(cli, tmp_path, defect):
    path = tmp_path / "cal.npz"
    if defect == "shape":
        np.savez(path, features=np.zeros((4, 10, 10), np.float32), labels=np.zeros(4, np.int64))
    r = cli("accuracy", "--samples", "8", "--calibration", path, "--json")
    assert r.code == 2 and r.out == ""
    assert "cal.npz" in r.err and "Traceback" not in r.err
    assert ("calibration data not found" if defect == "missing" else "calibration features of shape") in r.err


def test_calibration_samples_must_be_positive(cli):
    r = cli("accuracy", "--calibration-samples", "0")
    assert r.code == 2 and "--calibration-samples" in r.err


def test_a_calibration_set_must_fit_the_workload(kws, tmp_path):
    workload, _ = kws
    path = tmp_path / "c.npz"
    save_feature_set(path, np.zeros((0, 49, 10)), np.zeros(0, np.int64), CLASSES)
    with pytest.raises(ConfigError, match="calibration set holds no samples"):
        load_calibration_set(workload, calibration=path)
    empty = load_feature_set(path)
    with pytest.raises(ConfigError, match="calibration set holds no samples"):
        evaluate_accuracy(load_arch("mram72"), workload, load_test_set(workload, samples=4), calibration=empty)
    with pytest.raises(ValueError, match="samples"):
        load_calibration_set(workload, samples=0)


def test_a_calibration_npz_needs_no_labels_but_a_test_npz_does(kws, tmp_path):
    workload, _ = kws
    shipped = load_calibration_set(workload)
    path = tmp_path / "unlabelled.npz"
    np.savez(path, features=shipped.features[:40])
    cal = load_calibration_set(workload, calibration=path)
    assert len(cal) == 40 and np.array_equal(cal.features, shipped.features[:40])
    assert np.all(cal.labels == -1) and sum(cal.class_counts().values()) == 0
    with pytest.raises(ConfigError, match="labels"):
        load_test_set(workload, path)


def test_the_sets_script_writes_the_test_split_and_a_seeded_validation_pick_without_torch(folder, wav, tmp_path):
    """scripts/kws_sets.py (what train_kws ships beside the weights) on a tiny folder: every test clip,
    ``--calibration-clips`` validation clips drawn with the seed, the features cached for a second run."""
    for s in range(2):  # unlisted clips: the training split
        wav(folder / "yes" / f"train{s}_nohash_0.wav", 5000 * np.sin(np.arange(RATE) / (7 + s)))
    script = Path(__file__).resolve().parents[1] / "scripts" / "kws_sets.py"
    test, cal = tmp_path / "t.npz", tmp_path / "c.npz"
    argv = ["--data", str(folder), "--out-test", str(test), "--out-calibration", str(cal), "--calibration-clips", "5"]
    no_torch = ("import runpy, sys; sys.modules['torch'] = None; sys.argv = sys.argv[1:]; "
                "runpy.run_path(sys.argv[0], run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", no_torch, str(script), *argv], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (folder / "features.npz").is_file()
    sets = runpy.run_path(str(script))
    t, c = load_feature_set(test), load_feature_set(cal)
    expected = load_split(folder, "testing", seed=int(sets["seed_streams"](0)[0].generate_state(3)[2]),
                          unknown_fraction=1 / 12)
    assert t.features.dtype == np.float16 and np.array_equal(t.features, expected.features.astype(np.float16))
    assert len(c) == 5 and not _rows(c.features) & _rows(t.features)
    first = cal.read_bytes()
    assert sets["main"]([*argv, "--seed", "1"]) == 0 and cal.read_bytes() != first  # the seed picks the clips
    assert sets["main"](argv) == 0 and cal.read_bytes() == first                     # from the cache: the same
