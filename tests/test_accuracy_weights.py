"""The weights-file checker: every defect is a ConfigError naming the file and the layer."""

from pathlib import Path

import numpy as np
import pytest

from accelsim.accuracy.weights import load_weights, weights_path
from accelsim.errors import EXIT_USAGE, ConfigError
from accelsim.workload import load_workload, workload_from_dict

WORKLOADS = Path(__file__).resolve().parents[1] / "workloads"


@pytest.fixture(scope="module")
def kws():
    workload = load_workload("kws_dscnn")
    with np.load(weights_path(workload)) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return workload, arrays


def save(tmp_path, arrays, name="w.npz"):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def rejected(workload, path, *needles):
    with pytest.raises(ConfigError) as info:
        load_weights(workload, path)
    text = str(info.value)
    assert str(path) in text
    for needle in needles:
        assert needle in text
    assert info.value.exit_code == EXIT_USAGE == 2
    return info.value


def test_the_shipped_weights_fit_the_shipped_workload(kws):
    workload, arrays = kws
    assert workload.weights_file == "kws_dscnn.npz"
    weights = load_weights(workload)
    assert set(weights.layers) == {"conv1", "dw1", "pw1", "dw2", "pw2", "dw3", "pw3", "dw4", "pw4", "fc"}
    assert (weights.weight_bits, weights.input_bits) == (2, 4)
    for name, lw in weights.layers.items():
        # the depthwise layers run in the tile's digital unit at 8 bits; the others on the macros' 2 and 4
        wide = name.startswith("dw")
        assert (lw.weight_bits, lw.input_bits) == ((8, 8) if wide else (2, 4))
        assert lw.weight_codes.min() >= (-128 if wide else -2) and lw.weight_codes.max() <= (127 if wide else 1)
        assert lw.input_zero_point == (8 if name == "conv1" else 0)
    assert weights.classes[-2:] == ("_silence_", "_unknown_")
    assert sum(a.nbytes for a in arrays.values()) < 400_000


def test_a_missing_layer_is_named(kws, tmp_path):
    workload, arrays = kws
    broken = {k: v for k, v in arrays.items() if not k.startswith("pw3.")}
    err = rejected(workload, save(tmp_path, broken), "pw3", "no weights")
    assert len(err.problems) == 1


def test_a_missing_key_of_a_layer_is_named(kws, tmp_path):
    workload, arrays = kws
    broken = {k: v for k, v in arrays.items() if k != "dw2.weight_scale"}
    rejected(workload, save(tmp_path, broken), "dw2.weight_scale", "missing")


def test_a_wrong_shape_is_named_with_the_expected_shape(kws, tmp_path):
    workload, arrays = kws
    broken = dict(arrays, **{"conv1.weight": np.zeros((64, 1, 4, 10), np.float32)})
    rejected(workload, save(tmp_path, broken), "conv1.weight", "[64, 1, 10, 4]")


def test_non_finite_values_are_named(kws, tmp_path):
    workload, arrays = kws
    bad = arrays["pw1.q_out_shift"].copy()
    bad[3] = np.nan
    rejected(workload, save(tmp_path, dict(arrays, **{"pw1.q_out_shift": bad})),
             "pw1.q_out_shift", "non-finite")


def test_codes_outside_the_weight_bits_are_rejected(kws, tmp_path):
    workload, arrays = kws
    bad = arrays["fc.weight_codes"].copy()
    bad[0, 0] = 2
    rejected(workload, save(tmp_path, dict(arrays, **{"fc.weight_codes": bad})),
             "fc.weight_codes", "-2..1")


def test_every_problem_is_reported_at_once(kws, tmp_path):
    workload, arrays = kws
    broken = {k: v for k, v in arrays.items() if not k.startswith("dw4.")}
    broken["pw2.weight"] = np.zeros((3, 3), np.float32)
    broken["ghost.weight"] = np.zeros(3, np.float32)
    err = rejected(workload, save(tmp_path, broken), "dw4", "pw2.weight", "ghost")
    assert len(err.problems) == 3


def test_a_missing_or_unreadable_file_is_a_config_error(kws, tmp_path):
    workload, _ = kws
    rejected(workload, tmp_path / "absent.npz", "not found")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip archive")
    rejected(workload, junk, "cannot be read")


def test_a_workload_without_a_weights_field_is_a_config_error(tmp_path):
    workload = workload_from_dict({"name": "w", "input_shape": [4],
                                   "layers": [{"name": "fc", "type": "linear", "units": 2}]},
                                  source=str(tmp_path / "w.yaml"))
    with pytest.raises(ConfigError, match="no weights file"):
        weights_path(workload)


def test_a_float_only_file_runs_the_float_path_and_refuses_the_quantised_one(kws, tmp_path):
    from accelsim.accuracy import reference

    workload, arrays = kws
    float_keys = (".weight", ".out_scale", ".out_shift")
    float_only = {k: v for k, v in arrays.items()
                  if k.endswith(float_keys) or k in ("input_mean", "input_std")}
    path = save(tmp_path, float_only)
    weights = load_weights(workload, path)
    assert not weights.has_quantised and weights.layers["fc"].weight_codes is None
    x = np.random.default_rng(0).standard_normal((3, 49, 10))
    full = load_weights(workload)
    np.testing.assert_allclose(reference.forward(workload, weights, x, path="float"),
                               reference.forward(workload, full, x, path="float"))
    with pytest.raises(ConfigError, match="only the float network") as info:
        reference.forward(workload, weights, x, path="quantised")
    assert str(path) in str(info.value)


def test_one_code_in_the_file_asks_for_the_whole_quantised_network(kws, tmp_path):
    workload, arrays = kws
    partial = {k: v for k, v in arrays.items() if not k.endswith(".weight_codes") or k == "fc.weight_codes"}
    rejected(workload, save(tmp_path, partial), "conv1.weight_codes", "missing")


def test_a_layer_may_have_widths_of_its_own(kws, tmp_path):
    workload, arrays = kws
    shipped = load_weights(workload)
    codes = np.clip(np.round(arrays["pw2.weight"] / np.abs(arrays["pw2.weight"]).max() * 127), -128, 127)
    wide = dict(arrays, **{"pw2.weight_codes": codes.astype(np.int8), "pw2.weight_bits": np.int32(8),
                           "pw2.input_bits": np.int32(8)})
    weights = load_weights(workload, save(tmp_path, wide))
    assert (weights.layers["pw2"].weight_bits, weights.layers["pw2"].input_bits) == (8, 8)
    assert weights.layers["pw2"].input_code_max == 255
    assert weights.layers["pw2"].weight_codes.max() > 1
    for name, lw in weights.layers.items():
        if name != "pw2":
            assert (lw.weight_bits, lw.input_bits) == (shipped.layers[name].weight_bits, shipped.layers[name].input_bits)
    # without keys of its own a layer takes the file's widths
    plain = {k: v for k, v in wide.items() if not k.endswith((".weight_bits", ".input_bits")) or k.startswith("pw2.")}
    plain = {k: v for k, v in plain.items() if not k.startswith("dw") or not k.endswith("codes")}
    for dw in ("dw1", "dw2", "dw3", "dw4"):
        plain[f"{dw}.weight_codes"] = np.clip(arrays[f"{dw}.weight_codes"], -2, 1).astype(np.int8)
    assert {lw.weight_bits for n, lw in load_weights(workload, save(tmp_path, plain, "plain.npz")).layers.items()
            if n != "pw2"} == {2}
    # the layer's own width bounds its codes: 8-bit codes under a 4-bit layer width are rejected
    narrow = dict(wide, **{"pw2.weight_bits": np.int32(4)})
    rejected(workload, save(tmp_path, narrow, "narrow.npz"), "pw2.weight_codes", "-8..7", "pw2.weight_bits 4")


@pytest.mark.parametrize("value", [np.int32(0), np.int32(17), np.float32(8.0), np.array([8, 8], np.int32)])
def test_a_bad_layer_width_is_named(kws, tmp_path, value):
    workload, arrays = kws
    rejected(workload, save(tmp_path, dict(arrays, **{"pw2.input_bits": value})),
             "pw2.input_bits", "between 1 and 16")


def test_unknown_and_misplaced_layer_keys_are_named(kws, tmp_path):
    workload, arrays = kws
    typo = dict(arrays, **{"pw2.input_bit": np.int32(4)})
    rejected(workload, save(tmp_path, typo), "pw2.input_bit", "did you mean pw2.input_bits")
    pool = dict(arrays, **{"pool.weight": np.zeros(3, np.float32)})
    rejected(workload, save(tmp_path, pool, "pool.npz"), "pool.weight", "has no weights")
    floats = {k: v for k, v in arrays.items() if k.split(".")[-1] in ("weight", "out_scale", "out_shift")}
    assert not load_weights(workload, save(tmp_path, floats, "floats.npz")).has_quantised
    floats["pw2.weight_bits"] = np.int32(2)
    rejected(workload, save(tmp_path, floats, "floats_bits.npz"), "pw2.weight_bits", "only the float network")


@pytest.mark.parametrize("norm", ["layer_norm", "rms_norm"])
def test_a_normalisation_the_file_cannot_hold_is_named(kws, tmp_path, norm):
    """The weights file holds no normalisation terms: a layer-norm or an RMSNorm after a weight layer
    is refused, naming the layer and the attribute, rather than evaluated wrongly."""
    import yaml

    workload, arrays = kws
    data = yaml.safe_load((WORKLOADS / "kws_dscnn.yaml").read_text())
    layer = next(x for x in data["layers"] if x["name"] == "pw1")
    layer[norm] = True
    changed = workload_from_dict(data, source=str(WORKLOADS / "kws_dscnn.yaml"))
    with pytest.raises(ConfigError) as info:
        load_weights(changed, save(tmp_path, arrays))
    text = str(info.value)
    index = [x["name"] for x in data["layers"]].index("pw1")
    assert f"kws_dscnn.yaml: layers[{index}].{norm}: {norm} after 'pw1'" in text  # the workload's fault
    assert "no normalisation terms" in text and info.value.exit_code == EXIT_USAGE


def test_a_normalisation_the_file_cannot_hold_has_its_line(kws, tmp_path):
    """Read from a file, the refusal names the layer's line too."""
    import yaml

    from accelsim.workload import load_workload

    workload, arrays = kws
    data = yaml.safe_load((WORKLOADS / "kws_dscnn.yaml").read_text())
    index = [x["name"] for x in data["layers"]].index("pw1")
    data["layers"][index]["rms_norm"] = True
    data["weights"] = None
    path = tmp_path / "kws_rms.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in data.items() if v is not None}, sort_keys=False))
    changed = load_workload(path)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "name: pw1" in text)
    with pytest.raises(ConfigError) as info:
        load_weights(changed, save(tmp_path, arrays))
    assert f"kws_rms.yaml:{line}: layers[{index}].rms_norm: rms_norm after 'pw1'" in str(info.value)
