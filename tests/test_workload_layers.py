"""The layer types beyond convolutions and dense layers: grouped convolutions,
batched activation matmuls, element-wise and layout layers; and the digital
operation counts of normalisation and activation attributes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.errors import ConfigError
from accelsim.workload import load_workload, workload_from_dict
from accelsim.workload.kinds import ACTIVATION_OPS, LAYER_NORM_OPS


def wl(input_shape, *layers):
    return workload_from_dict({"name": "t", "input_shape": list(input_shape), "layers": list(layers)})


def test_grouped_conv_splits_the_weight_matrix():
    w = wl([8, 6, 6], {"name": "g", "type": "conv2d", "filters": 12, "kernel": 3, "groups": 4, "bias": False})
    g = w.layer("g")
    assert g.out_shape == (12, 4, 4)
    assert (g.k, g.n, g.groups, g.vectors) == (3 * 3 * 2, 3, 4, 16)
    assert g.macs == 3 * 3 * 2 * 12 * 16 and g.weights == 3 * 3 * 2 * 12


def test_groups_must_divide_the_channels():
    with pytest.raises(ConfigError, match="groups 3 must divide the input channels 8"):
        wl([8, 6, 6], {"name": "g", "type": "conv2d", "filters": 12, "kernel": 3, "groups": 3})


@settings(max_examples=60, deadline=None)
@given(c=st.integers(1, 8), groups=st.sampled_from([1, 2, 4]), fpg=st.integers(1, 6), hw=st.integers(3, 12),
       kernel=st.integers(1, 3), stride=st.integers(1, 2))
def test_macs_are_k_times_n_times_groups_times_vectors(c, groups, fpg, hw, kernel, stride):
    """Every layer's MACs are the MVMs of its K x N matrices: the contract with the mapping."""
    w = wl([c * groups, hw, hw],
           {"name": "conv", "type": "conv2d", "filters": fpg * groups, "kernel": kernel, "stride": stride,
            "groups": groups, "padding": "same"},
           {"name": "dw", "type": "depthwise_conv2d", "kernel": kernel, "multiplier": 2, "padding": "same"},
           {"name": "flat", "type": "flatten"},
           {"name": "fc", "type": "linear", "units": 5})
    for layer in w.layers:
        assert layer.macs == layer.k * layer.n * layer.groups * layer.vectors
    conv = w.layer("conv")
    oh = math.ceil(hw / stride)
    assert conv.macs == kernel * kernel * c * fpg * groups * oh * oh


def test_batched_matmul_of_attention_heads():
    w = wl([16, 32],
           {"name": "q", "type": "linear", "units": 32},
           {"name": "qh", "type": "reshape", "shape": [16, 4, -1]},
           {"name": "qt", "type": "transpose", "perm": [1, 0, 2]},
           {"name": "scores", "type": "matmul", "inputs": ["qt", "qt"], "transpose_b": True},
           {"name": "probs", "type": "eltwise", "scale": True, "activation": "softmax"},
           {"name": "ctx", "type": "matmul", "inputs": ["probs", "qt"]})
    assert w.layer("qh").out_shape == (16, 4, 8) and w.layer("qt").out_shape == (4, 16, 8)
    scores = w.layer("scores")
    assert scores.out_shape == (4, 16, 16) and scores.macs == 4 * 16 * 8 * 16
    assert (scores.groups, scores.vectors, scores.k, scores.n) == (4, 16, 8, 16)
    assert scores.category == "activation_matmul" and scores.weights == 0
    probs = w.layer("probs")
    assert probs.digital_ops == 4 * 16 * 16 * (1 + ACTIVATION_OPS["softmax"]) and probs.category == "digital"
    assert w.layer("ctx").out_shape == (4, 16, 8)
    assert [layer.name for layer in w.data_movement_layers] == ["qh", "qt"]


def test_two_dimensional_matmul_figures_are_unchanged():
    w = wl([16, 32], {"name": "a", "type": "linear", "units": 32},
           {"name": "s", "type": "matmul", "inputs": ["a", "a"], "transpose_b": True})
    s = w.layer("s")
    assert (s.out_shape, s.macs, s.k, s.n, s.groups, s.vectors) == ((16, 16), 16 * 32 * 16, 32, 16, 1, 16)


def test_layout_layers_move_data_without_arithmetic():
    w = wl([4, 6, 6],
           {"name": "r", "type": "reshape", "shape": [4, 36]},
           {"name": "t", "type": "transpose", "perm": [1, 0]},
           {"name": "c", "type": "concat", "inputs": ["t", "t"], "axis": -1},
           {"name": "f", "type": "flatten"})
    assert [layer.out_shape for layer in w.layers] == [(4, 36), (36, 4), (36, 8), (288,)]
    assert all(layer.macs == 0 and layer.digital_ops == 0 and layer.data_movement for layer in w.layers)


@pytest.mark.parametrize("layer, message", [
    ({"name": "r", "type": "reshape", "shape": [5, 7]}, "cannot reshape [4, 4, 4] (64 elements) to [5, 7] (35 elements)"),
    ({"name": "r", "type": "reshape", "shape": [5, -1]}, "cannot reshape [4, 4, 4] (64 elements) to [5, -1]"),
    ({"name": "t", "type": "transpose", "perm": [1, 0]}, "perm [1, 0] has 2 axes, the input has 3"),
    ({"name": "c", "type": "concat", "inputs": ["input", "x"], "axis": 0}, "concat inputs differ outside axis 0"),
    ({"name": "c", "type": "concat", "inputs": ["input", "input"], "axis": 3}, "axis 3 is out of range"),
    ({"name": "m", "type": "mul", "inputs": ["input", "x"]}, "inputs do not broadcast"),
])
def test_layout_and_elementwise_shape_errors(layer, message):
    x = {"name": "x", "type": "conv2d", "filters": 4, "kernel": 3}  # [4, 4, 4]
    with pytest.raises(ConfigError) as exc:
        wl([4, 6, 6], x, layer)
    assert message in str(exc.value)


@pytest.mark.parametrize("field, value, message", [
    ("shape", [2, -1, -1], "at most one size may be -1"),
    ("shape", [0, 4], "positive or -1"),
    ("perm", [0, 0, 2], "must be a permutation of 0..2"),
])
def test_layout_field_validation(field, value, message):
    kind = "reshape" if field == "shape" else "transpose"
    with pytest.raises(ConfigError, match=message):
        wl([4, 6, 6], {"name": "l", "type": kind, field: value})


def test_mul_broadcasts_a_channel_gate():
    w = wl([8, 5, 5],
           {"name": "gate", "type": "avgpool", "global": True, "activation": "sigmoid"},
           {"name": "scaled", "type": "mul", "inputs": ["input", "gate"]})
    scaled = w.layer("scaled")
    assert scaled.out_shape == (8, 5, 5) and scaled.digital_ops == 8 * 5 * 5 and scaled.macs == 0


def test_layer_norm_and_activation_digital_ops():
    w = wl([16, 32],
           {"name": "fc", "type": "linear", "units": 32, "bias": False, "layer_norm": True, "activation": "gelu"},
           {"name": "n", "type": "eltwise", "layer_norm": True, "bias": True})
    elems = 16 * 32
    assert w.layer("fc").digital_ops == elems * (LAYER_NORM_OPS + ACTIVATION_OPS["gelu"])
    assert w.layer("n").digital_ops == elems * (LAYER_NORM_OPS + 1)
    assert w.layer("n").category == "digital"


def test_rms_norm_counts_four_operations_per_element():
    w = wl([16, 32],
           {"name": "fc", "type": "linear", "units": 32, "bias": False, "rms_norm": True, "activation": "gelu"},
           {"name": "n", "type": "eltwise", "rms_norm": True})
    elems = 16 * 32
    assert w.layer("fc").digital_ops == elems * (4 + ACTIVATION_OPS["gelu"])
    assert w.layer("n").digital_ops == elems * 4
    # against a layer-norm of the same layer: 2 operations per element fewer (no mean removed, no shift)
    ln = wl([16, 32], {"name": "n", "type": "eltwise", "layer_norm": True})
    assert ln.layer("n").digital_ops - w.layer("n").digital_ops == 2 * elems


def test_one_normalisation_per_layer():
    with pytest.raises(ConfigError, match="layer_norm and rms_norm both set") as exc:
        wl([16, 32], {"name": "n", "type": "eltwise", "layer_norm": True, "rms_norm": True})
    assert "layers[0]" in str(exc.value)


def test_bert_tiny_layer_hand_count():
    """The header of workloads/bert_tiny_layer.yaml derives these by hand."""
    w = load_workload("bert_tiny_layer")
    assert w.total_macs == 58_720_256 and w.total_weights == 393_216
    macs = {}
    for layer in w.layers:
        macs[layer.category] = macs.get(layer.category, 0) + layer.macs
    assert macs == {"weights": 50_331_648, "activation_matmul": 8_388_608, "digital": 0, "data_movement": 0}
    assert sum(layer.spec.layer_norm for layer in w.layers) == 4
    assert w.layer("l1_ffn_add").out_shape == (128, 128)
    assert len(w.data_movement_layers) == 16


def test_cli_workload_shows_the_layer_class(cli):
    r = cli("workload", "bert_tiny_layer", "--csv")
    assert r.code == 0
    rows = [line.split(",") for line in r.out.strip().splitlines()]
    assert rows[0][-1] == "class"
    classes = {row[0]: row[-1] for row in rows[1:]}
    assert classes["l0_q"] == "weight MVM" and classes["l0_scores"] == "act x act"
    assert classes["l0_probs"] == "digital" and classes["l0_merge"] == "data movement"
