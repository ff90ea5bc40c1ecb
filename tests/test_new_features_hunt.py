"""A hostile-input hunt on three new features, from the command line.

1. ``macro.data.input_histogram`` / ``macro.data.weight_histogram`` (docs/macro-model.md,
   "Data-dependent energy");
2. ``system.partition: fill | spread`` (docs/systems.md);
3. the ``rms_norm: true`` layer attribute (docs/workloads.md).

Every user mistake must exit 2 with a message naming where (file:line, ``--set`` or the dotted
path), the value and what was expected, never a traceback; every successful run must print sane
figures (valid JSON, throughput within its bound, the energy breakdown summing to the total).
The defects it found (each case below was one) are fixed.
"""

from __future__ import annotations

import json
import math

import pytest

SINANGIL = "configs/macros/sinangil_jssc21.yaml"
COLONNADE = "configs/macros/colonnade_jssc21.yaml"
UCIE = "mram72x4_ucie"
#: the calibration study of ``accelsim macro`` kept small
FAST = ["--quiet", "--macros", "1", "--vectors", "8"]
#: sinangil's 4-bit inputs: the histogram replaces the file's input_mean
NO_MEAN = ["--set", "macro.data.input_mean=null"]
#: a data section on a macro that has none (mram72 and the others)
DATA = ["--set", "macro.data.reference.input_mean=0.5", "--set", "macro.data.reference.weight_mean=0.5"]
ALL_PROPORTIONAL = ["--set", "macro.data.proportional.input_drivers=1", "--set", "macro.data.proportional.macro_array=1",
                    "--set", "macro.data.proportional.adc=1", "--set", "macro.data.proportional.macro_digital=1"]


def hist(*values) -> str:
    return "[" + ",".join(str(v) for v in values) + "]"


def uniform(n: int) -> str:
    return hist(*([1] * n))


def ok_json(r) -> dict:
    assert r.code == 0, r.err
    assert "Traceback" not in r.err
    return json.loads(r.out)


def refused(r, *fragments: str, code: int = 2) -> None:
    assert r.code == code, (r.code, r.out[-500:], r.err)
    assert "Traceback" not in r.err + r.out
    for f in fragments:
        assert f in r.err, (f, r.err)


def macro_json(cli, *args) -> dict:
    return ok_json(cli("macro", *FAST, "--json", *args))


def check_macro_sums(d: dict) -> None:
    total = d["energy_per_mvm_pj"]
    assert math.isfinite(total) and total > 0
    assert math.isclose(sum(d["energy_per_mvm_by_component_pj"].values()), total, rel_tol=1e-9)
    for v in d["data"]["stated"].values():
        assert 0.0 <= v <= 1.0


def check_run(d: dict) -> None:
    assert d["throughput_inferences_per_s"] <= d["throughput_bound_inferences_per_s"] * (1 + 1e-9)
    e = d["energy_per_inference_j"]
    assert math.isfinite(e) and e > 0
    assert math.isclose(sum(d["energy_breakdown_j"].values()), e, rel_tol=1e-9)


# ============================================================== 1. histograms: valid use

def test_histogram_docs_example_runs(cli):
    d = macro_json(cli, "--arch", SINANGIL, *NO_MEAN, "--set", "macro.data.input_histogram=" + hist(8, *[0] * 14, 8))
    check_macro_sums(d)
    assert d["data"]["stated"]["input_value"] == pytest.approx(0.5)


def test_uniform_histogram_equals_its_mean(cli):
    """pulse-width input: a histogram and its mean give the same energy (docs)."""
    a = macro_json(cli, "--arch", SINANGIL, *NO_MEAN, "--set", "macro.data.input_histogram=" + uniform(16))
    b = macro_json(cli, "--arch", SINANGIL, "--set", "macro.data.input_mean=0.5")
    assert a["energy_per_mvm_pj"] == pytest.approx(b["energy_per_mvm_pj"], rel=1e-12)


def test_all_zero_inputs_cost_the_fixed_part(cli):
    d = macro_json(cli, "--arch", SINANGIL, *NO_MEAN, "--set", "macro.data.input_histogram=" + hist(1, *[0] * 15))
    check_macro_sums(d)
    assert d["data"]["stated"]["input_value"] == 0.0
    assert d["tops_per_w"] == pytest.approx(610.5, rel=2e-3)  # Table I's all-zero figure


def test_weight_histogram_on_sinangil(cli):
    d = macro_json(cli, "--arch", SINANGIL, "--set", "macro.data.weight_mean=null",
                   "--set", "macro.data.weight_histogram=" + uniform(16))
    check_macro_sums(d)
    assert d["data"]["stated"]["weight_value"] == pytest.approx(0.5)


def test_histogram_with_input_bits_changed_matching(cli):
    d = macro_json(cli, "--arch", SINANGIL, *NO_MEAN, "--set", "macro.input_bits=3",
                   "--set", "macro.data.input_histogram=" + uniform(8))
    check_macro_sums(d)


def test_mram72_full_data_section_with_histograms(cli):
    d = macro_json(cli, *DATA, "--set", "macro.data.proportional.macro_array=1",
                   "--set", "macro.data.input_histogram=" + uniform(16), "--set", "macro.data.weight_histogram=" + uniform(4))
    check_macro_sums(d)
    # the bowed 1/R of a stacked MTJ: uniform 2-bit weights draw less than the end-point line (docs)
    assert d["data"]["stated"]["cell"] < d["data"]["reference"]["cell"]


def test_digital_macro_histograms(cli):
    d = macro_json(cli, "--arch", COLONNADE, *DATA, "--set", "macro.data.proportional.macro_array=1",
                   "--set", "macro.data.input_histogram=[1,3]")
    check_macro_sums(d)
    assert d["data"]["activity"]["macro_array"] == pytest.approx(1.5)


def test_histogram_csv(cli):
    r = cli("macro", "--arch", SINANGIL, *FAST, "--csv", *NO_MEAN, "--set", "macro.data.input_histogram=" + uniform(16))
    assert r.code == 0 and "Traceback" not in r.err
    head, row = r.out.strip().splitlines()
    assert len(head.split(",")) > 10 and "data.stated.input_value" in head


def test_run_with_histogram(cli):
    d = ok_json(cli("run", "mlp", "--json", "--quiet", *DATA, "--set", "macro.data.proportional.input_drivers=1",
                    "--set", "macro.data.input_histogram=" + hist(1, *[0] * 15)))
    check_run(d)
    assert d["energy_breakdown_j"]["input_drivers"] == 0.0


def test_accuracy_with_histogram(cli):
    d = ok_json(cli("accuracy", "kws_dscnn", "--samples", "4", "--calibration-samples", "4", "--quiet", "--json", *DATA,
                    "--set", "macro.data.proportional.input_drivers=1",
                    "--set", "macro.data.input_histogram=" + uniform(16)))
    de = d["data_energy"]
    assert de["follows_data"]
    assert de["total_data_j"] > 0 and de["total_stated_j"] > 0
    for layer in de["layers"]:
        assert 0 <= layer["input_mean"] <= 1 and 0 <= layer["weight_mean"] <= 1
        assert layer["energy_data_j"] > 0


# ============================================================== 1. histograms: hostile input

@pytest.mark.parametrize("value, fragments", [
    (hist(-1, *[1] * 15), ["input_histogram[0]", "-1", "greater than or equal to 0"]),
    (hist(".nan", *[1] * 15), ["input_histogram[0]", "nan", "finite"]),
    (hist(".inf", *[1] * 15), ["input_histogram[0]", "inf", "finite"]),
    (hist("a", *[1] * 15), ["input_histogram[0]", "'a'", "number"]),
    (hist("[1]", *[1] * 15), ["input_histogram[0]", "number"]),
    (hist("true", *[1] * 15), ["input_histogram[0]", "true or false"]),
    ("foo", ["input_histogram", "'foo'", "list"]),
    ("0", ["input_histogram", "list"]),
    ("{a: 1}", ["input_histogram", "list"]),
    (hist(*[0] * 16), ["input_histogram", "no weight"]),
    (hist(1, 1, 1), ["input_histogram", "3 entries", "16"]),
    (uniform(17), ["input_histogram", "17 entries", "16"]),
])
def test_bad_input_histogram_refused(cli, value, fragments):
    refused(cli("macro", "--arch", SINANGIL, *FAST, *NO_MEAN, "--set", f"macro.data.input_histogram={value}"), *fragments)


def test_bad_weight_histogram_length_refused(cli):
    refused(cli("macro", "--arch", SINANGIL, *FAST, "--set", "macro.data.weight_mean=null",
                "--set", "macro.data.weight_histogram=" + uniform(3)), "weight_histogram", "3 entries", "16")


def test_mean_and_histogram_both_refused(cli):
    refused(cli("macro", "--arch", SINANGIL, *FAST, "--set", "macro.data.input_histogram=" + uniform(16)),
            "input_mean", "input_histogram", "not both")


def test_histogram_length_follows_input_bits_override(cli):
    refused(cli("macro", "--arch", SINANGIL, *FAST, *NO_MEAN, "--set", "macro.input_bits=3",
                "--set", "macro.data.input_histogram=" + uniform(16)), "16 entries", "input_bits = 3", "8")


def test_histogram_alone_on_mram72_refused(cli):
    """mram72 has no data section: a histogram alone lacks the reference."""
    refused(cli("macro", *FAST, "--set", "macro.data.input_histogram=" + uniform(16)), "macro.data.reference", "missing")


def test_digital_macro_proportional_adc_refused(cli):
    refused(cli("macro", "--arch", COLONNADE, *FAST, *DATA, "--set", "macro.data.proportional.adc=0.3"),
            "digital_bit_serial", "proportional.adc")


def test_json_never_printed_on_error(cli):
    r = cli("macro", "--arch", SINANGIL, *FAST, "--json", *NO_MEAN, "--set", "macro.data.input_histogram=[1]")
    refused(r, "input_histogram")
    assert r.out.strip() == ""


def test_set_histogram_element_error_names_the_override(cli):
    r = cli("macro", "--arch", SINANGIL, *FAST, *NO_MEAN, "--set", "macro.data.input_histogram=" + hist(-1, *[1] * 15))
    refused(r, "--set macro.data.input_histogram")
    assert "sinangil_jssc21.yaml:" not in r.err


def test_set_histogram_length_error_names_the_override(cli):
    r = cli("macro", "--arch", SINANGIL, *FAST, *NO_MEAN, "--set", "macro.data.input_histogram=[1,1,1]")
    refused(r, "--set macro.data.input_histogram")


def test_empty_histogram_message(cli):
    refused(cli("macro", "--arch", SINANGIL, *FAST, *NO_MEAN, "--set", "macro.data.input_histogram=[]"),
            "0 entries", "16")


def test_huge_histogram_entries(cli):
    r = cli("macro", "--arch", SINANGIL, *FAST, "--json", *NO_MEAN,
            "--set", "macro.data.input_histogram=" + hist("1e308", *[0] * 14, "1e308"))
    d = ok_json(r)
    assert "RuntimeWarning" not in r.err
    assert d["data"]["stated"]["input_value"] == pytest.approx(0.5)


@pytest.mark.parametrize("command", [["macro", *FAST], ["run", "mlp", "--quiet", "--layers", "none"]])
def test_zero_energy_macro_no_traceback(cli, command):
    r = cli(*command, "--arch", "macros/jia_jssc20", *DATA, *ALL_PROPORTIONAL, "--set", "macro.data.input_histogram=[1,0]")
    assert "Traceback" not in r.err
    assert r.code in (0, 1, 2)


# ============================================================== 2. partition: fill | spread

@pytest.mark.parametrize("workload", ["mlp", "kws_dscnn"])
@pytest.mark.parametrize("chips", [1, 2, 3, 8])
def test_spread_run_is_sane(cli, workload, chips):
    d = ok_json(cli("run", workload, "--system", UCIE, "--set", f"chips={chips}", "--set", "partition=spread",
                    "--json", "--quiet", "--layers", "none"))
    check_run(d)
    if chips == 1:  # a system of one chip is the chip (docs/systems.md)
        return
    per_chip = d["system"]["per_chip"]
    assert len(per_chip) == chips
    assert all(c["macros_used"] <= 72 for c in per_chip)


@pytest.mark.parametrize("workload", ["mlp", "kws_dscnn"])
def test_spread_one_chip_is_fill(cli, workload):
    a = ok_json(cli("run", workload, "--system", UCIE, "--set", "chips=1", "--set", "partition=spread", "--json", "--quiet"))
    b = ok_json(cli("run", workload, "--system", UCIE, "--set", "chips=1", "--json", "--quiet"))
    assert a["throughput_inferences_per_s"] == b["throughput_inferences_per_s"]
    assert a["energy_per_inference_j"] == b["energy_per_inference_j"]


def test_spread_beats_fill_on_spare_chips(cli):
    fill = ok_json(cli("run", "mlp", "--system", UCIE, "--set", "chips=8", "--json", "--quiet", "--layers", "none"))
    spread = ok_json(cli("run", "mlp", "--system", UCIE, "--set", "chips=8", "--set", "partition=spread",
                         "--json", "--quiet", "--layers", "none"))
    assert spread["throughput_inferences_per_s"] > fill["throughput_inferences_per_s"]
    assert sum(c["macros_used"] > 0 for c in spread["system"]["per_chip"]) > 1


@pytest.mark.parametrize("value, fragment", [
    ("spreadd", "'spreadd'"), ("SPREAD", "'SPREAD'"), ("", "''"), ("null", "None"), ("1", "1"),
    ("[spread]", "partition"), ("{a: 1}", "partition"),
])
def test_bad_partition_refused(cli, value, fragment):
    refused(cli("run", "mlp", "--system", UCIE, "--set", f"partition={value}", "--quiet", "--layers", "none"),
            "--set partition", fragment, "'fill' or 'spread'")


def test_bad_system_partition_refused(cli):
    refused(cli("run", "mlp", "--system", UCIE, "--set", "system.partition=bogus", "--quiet"), "system.partition", "'bogus'")


def test_bad_partition_in_size_refused(cli):
    refused(cli("size", "mlp", "--set", "partition=bogus", "--quiet"), "partition", "'fill' or 'spread'")


def test_bad_partition_in_system_file(cli, write):
    f = write("s.yaml", "name: s\narch: mram72\nchips: 2\nlink: {bandwidth_gbps: 256, pj_per_bit: 0.5}\n"
                        "partition: spred\n")
    refused(cli("run", "mlp", "--system", f, "--quiet"), "s.yaml:5", "partition", "'spred'", "'fill' or 'spread'")


def test_partition_true_message(cli):
    r = cli("run", "mlp", "--system", UCIE, "--set", "partition=true", "--quiet")
    refused(r, "'fill' or 'spread'")
    assert "expected a number" not in r.err


def test_partition_on_plain_arch_refused(cli):
    refused(cli("run", "mlp", "--set", "partition=spread", "--quiet"), "partition", "unknown key")


@pytest.mark.parametrize("n", ["0", "-1", "1000000"])
def test_size_bad_max_chips(cli, n):
    refused(cli("size", "mlp", "--set", "partition=spread", "--max-chips", n, "--quiet"), "--max-chips", n)


@pytest.mark.parametrize("n, sizes", [("1", [1]), ("3", [1, 2, 3]), ("16", [1, 2, 4, 8, 16])])
def test_size_spread_sizes(cli, n, sizes):
    d = ok_json(cli("size", "mlp", "--set", "partition=spread", "--max-chips", n, "--quiet", "--json"))
    assert [p["chips"] for p in d["points"]] == sizes
    for p in d["points"]:
        assert p["throughput_inferences_per_s"] > 0 and p["energy_per_inference_j"] > 0


def test_size_spread_respects_max_chips_below_needed(cli):
    d = ok_json(cli("size", "mlp", "--set", "chip.tiles=4", "--set", "chip.macros=32", "--set", "partition=spread",
                    "--max-chips", "1", "--quiet", "--json"))
    assert d["chips_needed"] == 3
    assert max(p["chips"] for p in d["points"]) <= 1


def test_size_no_reprogramming_below_needed(cli):
    r = cli("size", "mlp", "--set", "chip.tiles=4", "--set", "chip.macros=32", "--set", "reprogramming=false",
            "--max-chips", "2", "--quiet")
    assert r.code in (1, 2), (r.code, r.out[-300:])
    assert "Traceback" not in r.err and "reprogramming" in r.err


def test_spread_without_reprogramming_runs(cli):
    d = ok_json(cli("run", "mlp", "--system", UCIE, "--set", "chips=4", "--set", "partition=spread",
                    "--set", "reprogramming=false", "--json", "--quiet", "--layers", "none"))
    check_run(d)


def test_spread_without_reprogramming_too_few_chips(cli):
    refused(cli("run", "mlp", "--system", UCIE, "--set", "chip.tiles=4", "--set", "chip.macros=32", "--set", "chips=2",
                "--set", "partition=spread", "--set", "reprogramming=false", "--quiet"),
            "reprogramming", "3 chips", code=1)


def test_generate_with_spread(cli):
    r = cli("generate", "gpt2_tiny", "--system", UCIE, "--set", "chips=4", "--set", "partition=spread",
            "--prefill", "4", "--decode", "2", "--quiet")
    assert r.code == 0, r.err
    assert "Traceback" not in r.err and "2 of 2" in r.out


def test_generate_with_spread_json(cli):
    d = ok_json(cli("generate", "gpt2_tiny", "--system", UCIE, "--set", "chips=4", "--set", "partition=spread",
                    "--prefill", "4", "--decode", "2", "--quiet", "--json"))
    assert d


# ============================================================== 3. rms_norm

KINDS_YAML = """\
name: allkinds
input_shape: [4, 8, 8]
layers:
  - {name: c1, type: conv2d, filters: 8, kernel: 3, padding: same, NORM}
  - {name: dw, type: depthwise_conv2d, kernel: 3, padding: same, NORM}
  - {name: ct, type: conv_transpose2d, filters: 4, kernel: 2, stride: 2, NORM}
  - {name: pool, type: maxpool, kernel: 2, NORM}
  - {name: apool, type: avgpool, kernel: 1, NORM}
  - {name: rb, type: resize_bilinear, size: [8, 8], NORM}
  - {name: rn, type: resize_nearest, size: [8, 8], NORM}
  - {name: ad, type: add, inputs: [rb, rn], NORM}
  - {name: mu, type: mul, inputs: [ad, rn], NORM}
  - {name: el, type: eltwise, scale: true, NORM}
  - {name: cc, type: concat, inputs: [el, mu], NORM}
  - {name: sl, type: slice, axis: 0, start: 0, end: 4, NORM}
  - {name: fl, type: flatten, NORM}
  - {name: rs, type: reshape, shape: [16, 16], NORM}
  - {name: tr, type: transpose, perm: [1, 0], NORM}
  - {name: li, type: linear, units: 16, NORM}
  - {name: kv, type: kv_cache, NORM}
  - {name: mm, type: matmul, inputs: [li, kv], transpose_b: true, NORM}
  - {name: out, type: linear, units: 10, NORM}
"""


def kinds(write, norm: str):
    text = KINDS_YAML.replace(", NORM", "" if norm == "none" else f", {norm}: true")
    return write(f"{norm}.yaml", text)


def test_rms_norm_ops_on_every_kind(cli, write):
    got = {}
    for norm in ("none", "rms_norm", "layer_norm"):
        got[norm] = {x["name"]: x for x in ok_json(cli("workload", kinds(write, norm), "--json"))["layers"]}
    for name, layer in got["none"].items():
        elems = math.prod(layer["output_shape"])
        assert got["rms_norm"][name]["digital_ops"] - layer["digital_ops"] == 4 * elems, name
        assert got["layer_norm"][name]["digital_ops"] - layer["digital_ops"] == 6 * elems, name


def test_rms_norm_run_every_kind(cli, write):
    runs = {n: ok_json(cli("run", kinds(write, n), "--json", "--quiet")) for n in ("none", "rms_norm", "layer_norm")}
    for d in runs.values():
        check_run(d)
    du = {n: d["energy_breakdown_j"]["digital_unit"] for n, d in runs.items()}
    assert du["none"] < du["rms_norm"] < du["layer_norm"]
    assert (du["layer_norm"] - du["none"]) / (du["rms_norm"] - du["none"]) == pytest.approx(1.5)


def test_rms_and_layer_norm_together_refused(cli, write):
    f = write("both.yaml", "name: t\ninput_shape: [16]\nlayers:\n  - {name: a, type: linear, units: 8}\n"
                           "  - {name: b, type: linear, units: 4, rms_norm: true, layer_norm: true}\n")
    for cmd in (["workload", f], ["run", f, "--quiet"], ["validate", f]):
        r = cli(*cmd)
        assert r.code == 2 and "Traceback" not in r.err
        assert "both.yaml:5" in r.err + r.out and "layer_norm and rms_norm" in r.err + r.out


@pytest.mark.parametrize("value", ["2", "null", "[]", "{}", "maybe", "-1"])
def test_rms_norm_non_bool_refused(cli, write, value):
    f = write("v.yaml", "name: t\ninput_shape: [16]\nlayers:\n  - {name: a, type: linear, units: 8}\n"
                        f"  - {{name: b, type: linear, units: 4, rms_norm: {value}}}\n")
    refused(cli("workload", f), "v.yaml:5", "layers[1].rms_norm", "true or false")


def test_rms_norm_in_accuracy_refused_without_terms(cli, write, root):
    text = (root / "workloads" / "kws_dscnn.yaml").read_text()
    text = text.replace("weights: kws_dscnn.npz", f"weights: {root / 'workloads' / 'kws_dscnn.npz'}")
    for old, new, index in [("{name: fc, type: linear, units: 12}", "{name: fc, type: linear, units: 12, rms_norm: true}", 11),
                            ("{name: flatten, type: flatten}", "{name: flatten, type: flatten, rms_norm: true}", 10)]:
        f = write(f"k{index}.yaml", text.replace(old, new))
        for cmd in (["accuracy", f, "--samples", "4", "--calibration-samples", "4", "--quiet"],
                    ["run", f, "--accuracy", "--quiet"]):
            refused(cli(*cmd), f"layers[{index}].rms_norm", "rms_norm")


def test_rms_norm_workload_runs_on_a_system_with_spread(cli, write):
    d = ok_json(cli("run", kinds(write, "rms_norm"), "--system", UCIE, "--set", "chips=2", "--set", "partition=spread",
                    "--json", "--quiet", "--layers", "none"))
    check_run(d)


@pytest.mark.parametrize("value", ['"yes"', "1", "1.0", '"true"'])
def test_a_switch_is_written_true_or_false(cli, tmp_path, value):
    """pydantic would read these as true; a layer's rms_norm (and every switch) takes true or false only."""
    path = tmp_path / "w.yaml"
    path.write_text(f"name: w\ninput_shape: [8]\nlayers:\n  - {{name: fc, type: linear, units: 4, rms_norm: {value}}}\n")
    r = cli("run", path)
    assert r.code == 2 and f"{path}:4: layers[0].rms_norm" in r.err and "expected true or false" in r.err
    r = cli("macro", "--set", f"macro.calibration.enabled={value}")
    assert r.code == 2 and "--set macro.calibration.enabled" in r.err and "expected true or false" in r.err
