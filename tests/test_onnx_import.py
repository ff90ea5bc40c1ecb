"""ONNX import: models built in the tests with onnx.helper (nothing downloaded)
map onto the same MACs and weights as the hand-written workloads; every bad
input is a clear error with exit code 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper
from onnx_models import bert_encoder, onnx_from_workload, save

from accelsim.errors import ConfigError
from accelsim.workload import load_weights, load_workload
from accelsim.workload.onnx_import import import_onnx

EQUIVALENTS = [
    ("kws_dscnn", "bn", 13), ("kws_dscnn", "fused", 11), ("kws_dscnn", "symbolic", 21),
    ("mobilenet_v1", "bn", 13), ("mobilenet_v1", "fused", 17),
    ("resnet18_cifar10", "bn", 13), ("resnet18_cifar10", "fused", 18),
    # the dynamo exporter: global pooling as ReduceMean over the last two axes
    ("kws_dscnn", "dynamo", 18), ("mobilenet_v1", "dynamo", 17), ("resnet18_cifar10", "dynamo", 18),
    ("resnet18_cifar10", "dynamo", 21),
]


def _signature(w, digital: bool = True):
    """Per-layer figures that do not depend on the names exporters choose."""
    return [(layer.kind, layer.out_shape, layer.macs, layer.weights, layer.k, layer.n, layer.groups,
             layer.vectors) + ((layer.digital_ops,) if digital else ()) for layer in w.layers]


@pytest.mark.parametrize("name, style, opset", EQUIVALENTS, ids=lambda v: str(v))
def test_imported_model_equals_the_hand_written_workload(tmp_path, name, style, opset):
    path = save(onnx_from_workload(name, style, opset), tmp_path / f"{name}.onnx")
    imported = load_workload(path)
    written = load_workload(name)
    assert imported.total_macs == written.total_macs
    assert imported.total_weights == written.total_weights
    # layer by layer: BatchNormalization folded, Flatten (node or Shape/Reshape subgraph) one layer;
    # the "fused" export has folded batch-norm into the conv weights itself (fewer digital ops)
    assert _signature(imported, style != "fused") == _signature(written, style != "fused")


def test_batch_norm_and_activation_fold_into_the_conv(tmp_path):
    path = save(onnx_from_workload("kws_dscnn", "bn"), tmp_path / "kws.onnx")
    model = import_onnx(path)
    conv1 = model.data["layers"][0]
    assert conv1 == {"name": "conv1", "type": "conv2d", "filters": 64, "kernel": [10, 4], "stride": 2,
                     "padding": [4, 5, 1, 1], "bias": True, "batch_norm": True, "activation": "relu"}
    dw1 = model.data["layers"][1]
    assert dw1["type"] == "depthwise_conv2d" and dw1["padding"] == 1 and "multiplier" not in dw1
    # gamma 1, beta 0, mean 0, var 1: the folded scale is 1/sqrt(1 + eps)
    np.testing.assert_allclose(model.weights["conv1.bn_scale"], 1 / np.sqrt(1 + 1e-5), rtol=1e-6)
    assert model.weights["conv1.weight"].shape == (64, 1, 10, 4)
    assert model.weights["fc.weight"].shape == (12, 64)  # out x in
    # bias and batch-norm folded into one affine: y = (W x) * out_scale + out_shift
    np.testing.assert_allclose(model.weights["conv1.out_scale"], model.weights["conv1.bn_scale"])
    np.testing.assert_allclose(model.weights["conv1.out_shift"],
                               model.weights["conv1.bias"] * model.weights["conv1.bn_scale"], rtol=1e-6)
    np.testing.assert_array_equal(model.weights["fc.out_scale"], np.ones(12, np.float32))
    np.testing.assert_array_equal(model.weights["fc.out_shift"], model.weights["fc.bias"])


def test_constant_folded_reshape_is_a_flatten_and_weights_travel_with_the_workload(tmp_path):
    path = save(onnx_from_workload("kws_dscnn", "fused", 13), tmp_path / "kws.onnx")
    w = load_workload(path)
    flatten = w.layer("flatten")
    assert flatten.kind == "flatten" and flatten.data_movement and flatten.out_shape == (64,)
    weights = load_weights(w)
    assert weights["fc.weight"].shape == (12, 64) and weights["fc.bias"].shape == (12,)


def test_bert_encoder_matches_the_shipped_transformer_workload(tmp_path):
    written = load_workload("bert_tiny_layer")
    assert written.total_macs == 58_720_256  # the hand count in the file's header
    for kw in ({"opset": 20, "gelu": "op", "layer_norm": "op"}, {"opset": 14, "gelu": "erf", "layer_norm": "decomposed"}):
        w = load_workload(save(bert_encoder(**kw), tmp_path / "bert.onnx"))
        assert w.total_macs == written.total_macs and w.total_weights == written.total_weights
        by_kind = {k: sum(layer.macs for layer in w.layers if layer.kind == k) for k in ("linear", "matmul")}
        assert by_kind == {"linear": 50_331_648, "matmul": 8_388_608}
        scores = next(layer for layer in w.layers if layer.kind == "matmul")
        assert (scores.groups, scores.vectors, scores.k, scores.n) == (2, 128, 64, 128)
        # GELU (op or Erf decomposition) and layer-norm (op or 9-node decomposition) fold
        ffn1 = [layer for layer in w.layers if layer.kind == "linear" and layer.n == 512]
        assert len(ffn1) == 2 and all(layer.spec.activation == "gelu" for layer in ffn1)
        assert sum(layer.spec.layer_norm for layer in w.layers) == 4
        assert {layer.kind for layer in w.data_movement_layers} == {"reshape", "transpose"}
        assert sorted({layer.category for layer in w.layers}) == [
            "activation_matmul", "data_movement", "digital", "weights"]


def _tiny(op_nodes, inputs, output_shape, opset=13, inits=(), output="y"):
    graph = helper.make_graph(op_nodes, "g", inputs,
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, output_shape)],
                              list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _relu_model(opset=13, shape=(1, 4, 8, 8)):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    return _tiny([helper.make_node("Relu", ["x"], ["y"], name="act")], [x], list(shape), opset)


def test_not_onnx_and_truncated_files(tmp_path, cli):
    text = tmp_path / "model.onnx"
    text.write_text("name: not a model\nlayers: []\n")
    good = save(onnx_from_workload("kws_dscnn", "bn"), tmp_path / "kws.onnx")
    cut = tmp_path / "cut.onnx"
    data = Path(good).read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    for path in (text, cut, empty):
        with pytest.raises(ConfigError, match="(not a readable ONNX model|not an ONNX model|not a valid ONNX)"):
            load_workload(path)
        r = cli("workload", path)
        assert r.code == 2 and str(path) in r.err and "Traceback" not in r.err


@pytest.mark.parametrize("opset", [10, 22])
def test_opset_out_of_range(tmp_path, cli, opset):
    path = save(_relu_model(opset), tmp_path / "m.onnx")
    r = cli("workload", path)
    assert r.code == 2
    assert f"opset {opset} is outside the supported range 11-21" in r.err and "opset_version" in r.err


def test_dynamic_shape_asks_for_input_shape(tmp_path, cli):
    path = save(onnx_from_workload("mobilenet_v1", "symbolic"), tmp_path / "m.onnx")
    model = onnx.load(path)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    onnx.save(model, path)
    r = cli("workload", path)
    assert r.code == 2
    assert "'input' has a dynamic shape [1, 3, 'height', 'width']" in r.err
    assert "--input-shape input=1,3,N,N" in r.err
    ok = cli("workload", path, "--input-shape", "input=1,3,224,224", "--json")
    assert ok.code == 0 and json.loads(ok.out)["total_macs"] == 568_740_352
    small = cli("workload", path, "--input-shape", "input=1,3,128,128", "--json")
    assert small.code == 0 and json.loads(small.out)["total_macs"] < 568_740_352


@pytest.mark.parametrize("given, message", [
    ("input=2,3,224,224", "leading batch axis of size 1"),
    ("image=1,3,224,224", "the model's inputs are ['input']"),
    ("input=1,3,224", "gives 3 sizes for input 'input' of rank 4"),
    ("input=1,3,a,b", "expected NAME=D0,D1,..."),
    ("1,3,224,224", "expected NAME=D0,D1,..."),
])
def test_bad_input_shapes(tmp_path, cli, given, message):
    path = save(onnx_from_workload("mobilenet_v1", "symbolic"), tmp_path / "m.onnx")
    r = cli("workload", path, "--input-shape", given)
    assert r.code == 2 and message in r.err, r.err


def test_input_shape_for_a_yaml_is_an_error(cli):
    r = cli("workload", "kws_dscnn", "--input-shape", "input=1,1,49,10")
    assert r.code == 2 and "only be given for an ONNX model" in r.err


def test_unsupported_operators_are_named_with_their_nodes(tmp_path, cli):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="act"),
             helper.make_node("Erf", ["a"], ["b"], name="/blocks.0/Erf"),
             helper.make_node("LpNormalization", ["b"], ["y"], name="/head/norm")]
    path = save(_tiny(nodes, [x], [1, 4, 8, 8]), tmp_path / "m.onnx")
    r = cli("workload", path)
    assert r.code == 2
    assert "graph.node[1]: operator 'Erf' (node '/blocks.0/Erf') is not supported" in r.err
    assert "graph.node[2]: operator 'LpNormalization' (node '/head/norm') is not supported" in r.err
    assert "docs/onnx.md" in r.err


def test_custom_domain_operator_is_unsupported(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
    node = helper.make_node("FusedGemm", ["x"], ["y"], name="fg", domain="com.microsoft")
    model = _tiny([node], [x], [1, 8])
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(ConfigError, match="operator 'com.microsoft.FusedGemm' \\(node 'fg'\\)"):
        import_onnx(save(model, tmp_path / "m.onnx"))


def test_unsupported_variants_of_supported_operators(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    lo = helper.make_tensor("lo", TensorProto.FLOAT, [], [-1.0])
    hi = helper.make_tensor("hi", TensorProto.FLOAT, [], [1.0])
    clip = _tiny([helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="hardtanh")], [x], [1, 4, 8, 8],
                 inits=[lo, hi])
    with pytest.raises(ConfigError, match=r"node 'hardtanh' \(Clip\): Clip to \[-1.0, 1.0\]"):
        import_onnx(save(clip, tmp_path / "clip.onnx"))
    soft = _tiny([helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=1)], [x], [1, 4, 8, 8])
    with pytest.raises(ConfigError, match="only the last axis"):
        import_onnx(save(soft, tmp_path / "soft.onnx"))


def test_two_network_inputs_are_refused(tmp_path):
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 8])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 8])
    model = _tiny([helper.make_node("Add", ["a", "b"], ["y"], name="add")], [a, b], [1, 8])
    with pytest.raises(ConfigError, match=r"one network input, the model has 2: \['a', 'b'\]"):
        import_onnx(save(model, tmp_path / "m.onnx"))


def test_a_constant_added_after_pooling_is_an_eltwise_bias(tmp_path):
    """A pooling layer has no bias term (its kind does not accept one): the constant becomes an
    eltwise layer's bias, where the importer used to write an invalid ``bias`` on the pool."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    c = onnx.numpy_helper.from_array(np.ones((1, 4, 1, 1), np.float32), "c")
    model = _tiny([helper.make_node("GlobalAveragePool", ["x"], ["p"], name="gap"),
                   helper.make_node("Add", ["p", "c"], ["y"], name="shift")], [x], [1, 4, 1, 1], inits=[c])
    w = load_workload(save(model, tmp_path / "m.onnx"))
    assert [(layer.name, layer.kind) for layer in w.layers] == [("gap", "avgpool"), ("shift", "eltwise")]
    assert w.layer("shift").spec.bias


def test_missing_onnx_extra_names_the_extra(tmp_path, monkeypatch, cli):
    path = save(_relu_model(), tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    r = cli("workload", path)
    assert r.code == 2 and 'pip install ".[onnx]"' in r.err


def test_grouped_conv_pool_ceil_mode_concat_and_mul(tmp_path):
    """Exporter idioms beyond the shipped networks: a grouped conv, SAME_LOWER, a
    ceil-mode max-pool, a squeeze-excitation gate (Mul) and a channel concat."""
    rng = np.random.default_rng(1)

    def init(name, shape):
        return onnx.numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 15, 15])
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="grouped", group=4, kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("MaxPool", ["c1"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2],
                         ceil_mode=1),
        helper.make_node("Conv", ["p", "w2"], ["c2"], name="lower", kernel_shape=[2, 2], auto_pad="SAME_LOWER"),
        helper.make_node("GlobalAveragePool", ["c2"], ["g"], name="squeeze"),
        helper.make_node("Sigmoid", ["g"], ["s"], name="gate"),
        helper.make_node("Mul", ["c2", "s"], ["m"], name="excite"),
        helper.make_node("Concat", ["m", "p"], ["y"], name="cat", axis=1),
    ]
    model = _tiny(nodes, [x], [1, 24, 8, 8], inits=[init("w1", (16, 2, 3, 3)), init("w2", (16, 16, 2, 2))])
    w = load_workload(save(model, tmp_path / "m.onnx"))
    grouped = w.layer("grouped")
    assert (grouped.kind, grouped.k, grouped.n, grouped.groups) == ("conv2d", 18, 4, 4)
    assert grouped.macs == 3 * 3 * 2 * 16 * 15 * 15 == grouped.k * grouped.n * grouped.groups * grouped.vectors
    assert w.layer("pool").out_shape == (16, 8, 8)  # ceil((15 - 2) / 2) + 1
    assert w.layer("lower").out_shape == (16, 8, 8)
    assert w.layer("squeeze").spec.activation == "sigmoid"
    excite = w.layer("excite")
    assert excite.kind == "mul" and excite.in_shapes == ((16, 8, 8), (16, 1, 1))
    assert w.layer("cat").out_shape == (32, 8, 8) and w.layer("cat").data_movement


def test_cli_import_writes_yaml_and_weights_that_load(tmp_path, cli):
    model = save(onnx_from_workload("resnet18_cifar10", "bn"), tmp_path / "resnet.onnx")
    out = tmp_path / "r18.yaml"
    r = cli("import", model, "-o", out)
    assert r.code == 0, r.err
    assert "555,422,720 MACs" in r.out and "r18.npz" in r.out
    text = out.read_text()
    assert text.startswith("# imported from resnet.onnx") and "name: r18\n" in text and "weights: r18.npz" in text
    w = load_workload(out)
    assert w.total_macs == load_workload("resnet18_cifar10").total_macs
    weights = load_weights(w)
    assert weights["conv1.weight"].shape == (64, 3, 3, 3) and "conv1.bn_scale" in weights
    # no overwrite without --force, and nothing half-written is left behind
    again = cli("import", model, "-o", out)
    assert again.code == 2 and "--force" in again.err
    assert cli("import", model, "-o", out, "--force", "--no-weights").code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r18.npz", "r18.yaml", "resnet.onnx"]


def test_cli_import_of_a_bad_model_writes_nothing(tmp_path, cli):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    r = cli("import", bad, "-o", tmp_path / "bad.yaml")
    assert r.code == 2 and not (tmp_path / "bad.yaml").exists()
    assert cli("import", tmp_path / "missing.onnx").code == 2


def test_cli_workload_lists_data_movement_layers(tmp_path, cli):
    r = cli("workload", save(bert_encoder(layers=1), tmp_path / "b.onnx"))
    assert r.code == 0
    assert "8 data-movement layers (no arithmetic)" in r.out
    assert "activation x activation MACs: 4,194,304 (14.3%)" in r.out


def test_validate_and_run_take_onnx_models(cli, tmp_path):
    good = save(onnx_from_workload("kws_dscnn", "bn"), tmp_path / "kws.onnx")
    r = cli("validate", good)
    assert r.code == 0 and "valid workload (ONNX)" in r.out
    bad = tmp_path / "junk.onnx"
    bad.write_bytes(b"definitely not a protobuf")
    r = cli("validate", bad)
    assert r.code == 2 and "INVALID" in r.out
    run = cli("run", good, "--json", "--quiet")
    assert run.code == 0, run.err
    import json

    assert json.loads(run.out)["workload_macs"] == 2_656_768
