"""The Speech Commands loader on a tiny directory of that layout, and its bad inputs."""


import numpy as np
import pytest

from accelsim.accuracy.speech_commands import (
    CLASSES,
    list_split,
    load_split,
    read_wav,
)
from accelsim.errors import EXIT_USAGE, ConfigError

RATE = 16_000


def tone_clip(f_hz, n=RATE):
    return (8000 * np.sin(2 * np.pi * f_hz * np.arange(n) / RATE)).astype(np.int16)


@pytest.fixture
def tiny(tmp_path, wav):
    """yes x 4, no x 3, bed x 5 (unknown), 2 s of background noise, and the two lists."""
    root = tmp_path / "speech_commands"
    for word, count, f in (("yes", 4, 500), ("no", 3, 900), ("bed", 5, 1500)):
        for i in range(count):
            wav(root / word / f"spk{i}_nohash_0.wav", tone_clip(f + 10 * i, n=RATE - 1000 * i))
    rng = np.random.default_rng(0)
    wav(root / "_background_noise_" / "noise.wav", (rng.standard_normal(2 * RATE) * 3000).astype(np.int16))
    (root / "validation_list.txt").write_text("yes/spk1_nohash_0.wav\nbed/spk1_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/spk0_nohash_0.wav\nno/spk0_nohash_0.wav\nbed/spk0_nohash_0.wav\n")
    return root


def test_splits_follow_the_lists_and_non_keywords_are_unknown(tiny):
    test = list_split(tiny, "testing")
    assert test.files == ("bed/spk0_nohash_0.wav", "no/spk0_nohash_0.wav", "yes/spk0_nohash_0.wav")
    assert [CLASSES[i] for i in test.labels] == ["_unknown_", "no", "yes"]
    train = list_split(tiny, "training")
    assert len(train.files) == 12 - 5
    assert not set(train.files) & (set(test.files) | set(list_split(tiny, "validation").files))
    assert CLASSES[:10] == ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
    assert CLASSES[10:] == ("_silence_", "_unknown_")


def test_load_split_featurises_clips_and_adds_silence_from_background_noise(tiny):
    part = load_split(tiny, "training", seed=3, silence_fraction=1 / 8)
    assert part.features.shape == (8, 49, 10)  # 7 word clips + 1 silence clip
    assert part.class_counts["_silence_"] == 1 and part.files[-1] == "_silence_"
    assert (part.class_counts["yes"], part.class_counts["no"], part.class_counts["_unknown_"]) == (2, 2, 3)
    # a word clip's features are the MFCC of its samples, padded to 1 s
    from accelsim.accuracy.mfcc import mfcc
    first = part.files.index("bed/spk2_nohash_0.wav")
    np.testing.assert_allclose(part.features[first], mfcc(read_wav(tiny / part.files[first]))[0], atol=1e-5)
    again = load_split(tiny, "training", seed=3, silence_fraction=1 / 8)
    np.testing.assert_array_equal(part.features, again.features)
    other = load_split(tiny, "training", seed=4, silence_fraction=1 / 8)
    assert not np.array_equal(part.features[-1], other.features[-1])


def test_unknown_words_are_subsampled_to_the_asked_fraction(tiny):
    # training holds 4 keyword clips (yes x 2, no x 2) and 3 unknown (bed)
    part = load_split(tiny, "training", silence_fraction=0.0, unknown_fraction=1 / 5)
    assert part.class_counts["_unknown_"] == 1 and len(part.labels) == 5
    kept = [f for f in part.files if f.startswith("bed/")]
    assert len(kept) == 1 and kept[0] in {f"bed/spk{i}_nohash_0.wav" for i in (2, 3, 4)}
    everything = load_split(tiny, "training", silence_fraction=0.0)
    assert everything.class_counts["_unknown_"] == 3


def test_read_wav_scales_16_bit_pcm_to_plus_minus_one(wav, tmp_path):
    wav(tmp_path / "a.wav", np.array([0, 16384, -32768, 32767]))
    np.testing.assert_allclose(read_wav(tmp_path / "a.wav"), [0, 0.5, -1, 32767 / 32768])


def _raises_naming(path, func, *args, match=""):
    with pytest.raises(ConfigError, match=match) as info:
        func(*args)
    assert str(path) in str(info.value)
    assert info.value.exit_code == EXIT_USAGE == 2
    return info.value


def test_a_missing_folder_and_a_folder_without_wavs_are_config_errors(tmp_path):
    _raises_naming(tmp_path / "nowhere", load_split, tmp_path / "nowhere", "testing", match="not found")
    (tmp_path / "empty" / "yes").mkdir(parents=True)
    _raises_naming(tmp_path / "empty", list_split, tmp_path / "empty", "testing", match="no WAV")


@pytest.mark.parametrize("kind", ["rate", "stereo", "8bit", "garbage", "truncated"])
def test_a_wav_of_the_wrong_rate_or_format_is_a_config_error_naming_it(wav, tiny, kind):
    bad = tiny / "no" / "spk0_nohash_0.wav"
    if kind == "rate":
        wav(bad, tone_clip(300, 8000), rate=8000)
        match = "sample rate 8000 Hz"
    elif kind == "stereo":
        wav(bad, np.zeros(2 * RATE, np.int16), channels=2)
        match = "2 channels"
    elif kind == "8bit":
        wav(bad, np.full(RATE, 128), width=1)
        match = "8-bit"
    elif kind == "garbage":
        bad.write_bytes(b"this is not a RIFF file at all")
        match = "cannot be read"
    else:
        data = bad.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
        match = "truncated"
    _raises_naming(bad, load_split, tiny, "testing", match=match)


def test_missing_list_and_missing_listed_file_are_config_errors(tiny):
    (tiny / "no" / "spk0_nohash_0.wav").unlink()
    _raises_naming(tiny / "no" / "spk0_nohash_0.wav", list_split, tiny, "testing", match="not found")
    (tiny / "validation_list.txt").unlink()
    _raises_naming(tiny / "validation_list.txt", list_split, tiny, "training", match="split list")
