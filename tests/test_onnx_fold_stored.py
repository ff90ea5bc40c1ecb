"""Constant folding over the large initializers kept in the file: any node whose inputs
are all constant folds, the stored tensors included, also where the other inputs are
constant only after the shape subgraphs fold; a large result is evaluated again when
read (a typed graph input, no initializer, no array held), a small one is an initializer."""

# ruff: noqa: E402  (onnx is imported after pytest.importorskip)
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper

from accelsim.workload import load_workload
from accelsim.workload.onnx_import import import_onnx
from accelsim.workload.onnx_import.load import load_model, model_opset
from accelsim.workload.onnx_import.rewrite import fold_constants
from accelsim.workload.onnx_import.tensors import LARGE_BYTES, Computed, Stored

FLOAT, I64 = TensorProto.FLOAT, np.int64


def _save(nodes, inits, shape, out, out_shape, path) -> str:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", FLOAT, shape)],
                              [helper.make_tensor_value_info(out, FLOAT, out_shape)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def _merged_low_rank(path, k=256, n=384, r=96, seed=0):
    """y = x (W + A B): a low-rank update merged at inference (LoRA), every operand stored
    (W 384 KiB, A 96 KiB, B 144 KiB), the product and the sum folded."""
    rng = np.random.default_rng(seed)
    inits = {"W": rng.standard_normal((k, n), dtype=np.float32), "A": rng.standard_normal((k, r), dtype=np.float32),
             "B": rng.standard_normal((r, n), dtype=np.float32)}
    nodes = [helper.make_node("MatMul", ["A", "B"], ["AB"], name="/lora/MatMul"),
             helper.make_node("Add", ["W", "AB"], ["W_merged"], name="/lora/Add"),
             helper.make_node("MatMul", ["x", "W_merged"], ["y"], name="/fc/MatMul")]
    return _save(nodes, inits, [1, k], "y", [1, n], path), inits


def test_a_node_of_stored_tensors_folds_and_its_large_result_is_computed_when_read(tmp_path):
    path, inits = _merged_low_rank(tmp_path / "m.onnx")
    model, tensors = load_model(onnx, path)
    assert set(tensors.stored) == {"W", "A", "B"}
    folded, consts = fold_constants(onnx, model, model_opset(model, path), path, tensors)
    assert [n.op_type for n in folded.graph.node] == ["MatMul"]
    entry = consts.stored["W_merged"]
    assert isinstance(entry, Computed) and entry.shape == (256, 384)
    # nothing of the results is held: A B too is computed again whenever W + A B is read
    assert isinstance(consts.stored["AB"], Computed) and not {"W_merged", "AB"} & set(consts.arrays)
    assert "W_merged" in {i.name for i in folded.graph.input}
    assert "W_merged" not in {t.name for t in folded.graph.initializer}
    # its inputs are still read from the file
    assert all(isinstance(consts.stored[name], Stored) for name in ("W", "A", "B"))
    np.testing.assert_allclose(consts["W_merged"], inits["W"] + inits["A"] @ inits["B"], rtol=1e-5, atol=1e-4)
    imported = import_onnx(path)
    assert [layer["type"] for layer in imported.data["layers"]] == ["linear"]
    np.testing.assert_allclose(imported.weights["fc_MatMul.weight"], (inits["W"] + inits["A"] @ inits["B"]).T,
                               rtol=1e-5, atol=1e-4)


def test_a_stored_weight_reshaped_by_a_shape_subgraph_folds(tmp_path):
    """The target shape of a stored weight's Reshape comes from Shape -> Gather -> Concat of the
    activation: constant only after that subgraph folds, then the Reshape of the file's tensor
    folds too and the MatMul has constant weights."""
    rng = np.random.default_rng(1)
    k, n = 128, 256
    flat = rng.standard_normal(k * n, dtype=np.float32)  # 128 KiB
    inits = {"w_flat": flat, "i1": np.array([1], I64), "n": np.array([n], I64)}
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="/Shape"),
             helper.make_node("Gather", ["s", "i1"], ["k"], name="/Gather", axis=0),
             helper.make_node("Concat", ["k", "n"], ["target"], name="/Concat", axis=0),
             helper.make_node("Reshape", ["w_flat", "target"], ["w"], name="/Reshape"),
             helper.make_node("MatMul", ["x", "w"], ["y"], name="/fc/MatMul")]
    path = _save(nodes, inits, [1, k], "y", [1, n], tmp_path / "m.onnx")
    w = load_workload(path)
    assert [layer.kind for layer in w.layers] == ["linear"] and w.total_macs == k * n
    np.testing.assert_array_equal(import_onnx(path).weights["fc_MatMul.weight"], flat.reshape(k, n).T)


def test_position_rows_of_a_stored_table_fold_to_a_small_initializer(tmp_path):
    """Gather(position table [512, 64] (128 KiB, stored), Range(0, T)): the T rows fold into a
    constant before translation, small enough (T x 64 floats) to be a graph initializer."""
    rng = np.random.default_rng(2)
    t, e = 16, 64
    table = rng.standard_normal((512, e), dtype=np.float32)
    inits = {"pos": table, "zero": np.array(0, I64), "one": np.array(1, I64), "i1": np.array([1], I64)}
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="/Shape"),
             helper.make_node("Gather", ["s", "i1"], ["t1"], name="/Gather", axis=0),
             helper.make_node("Squeeze", ["t1"], ["t"], name="/Squeeze"),
             helper.make_node("Range", ["zero", "t", "one"], ["ids"], name="/Range"),
             helper.make_node("Gather", ["pos", "ids"], ["rows"], name="/pos/Gather", axis=0),
             helper.make_node("Add", ["x", "rows"], ["y"], name="/Add")]
    path = _save(nodes, inits, [1, t, e], "y", [1, t, e], tmp_path / "m.onnx")
    model, tensors = load_model(onnx, path)
    folded, consts = fold_constants(onnx, model, 17, path, tensors)
    assert [n.op_type for n in folded.graph.node] == ["Add"]
    assert consts.shape("rows") == (t, e) and t * e * 4 < LARGE_BYTES and "rows" in consts.arrays
    assert "pos" not in consts  # the table itself is no longer needed
    imported = import_onnx(path)
    (layer,) = imported.data["layers"]
    assert layer["type"] == "eltwise"
    np.testing.assert_array_equal(imported.weights[f"{layer['name']}.bias"], table[:t])
