"""Hugging Face exports declare input_ids with attention_mask, token_type_ids and
position_ids beside it (all [batch, T]): the importer sets those to the values a call
with input_ids alone gives them (ones, zeros, arange(T)) before folding, so that
input_ids is the workload's one input; what cannot be set so is refused naming the input."""

# ruff: noqa: E402  (onnx is imported after pytest.importorskip)
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper
from test_onnx_layout import _evaluate, _ints, _layer_norm, _runs
from test_onnx_patterns import G

from accelsim.cli import main
from accelsim.errors import ConfigError
from accelsim.workload import load_workload
from accelsim.workload.onnx_import import import_onnx

HF_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids")


def _bert(path, t: int = 8, inputs=HF_INPUTS, dims=("batch", "sequence"), opset: int = 17, vocab: int = 60,
          e: int = 16) -> str:
    """BERT's embeddings and one attention block as Hugging Face's exporters write them: each
    of ``inputs`` a graph input of shape ``dims`` (int64), the word, token-type and position
    rows looked up by input_ids, token_type_ids and position_ids, and the attention mask
    extended to (1 - mask) * -10000 and added to the scores."""
    g = G(opset)
    words = g("Gather", g.weight(vocab, e), "input_ids", name="/embeddings/word_embeddings/Gather", axis=0)
    types = g("Gather", g.weight(2, e), "token_type_ids", name="/embeddings/token_type_embeddings/Gather", axis=0)
    pos = g("Gather", g.weight(t, e), "position_ids", name="/embeddings/position_embeddings/Gather", axis=0)
    x = g("Add", g("Add", words, types, name="/embeddings/Add"), pos, name="/embeddings/Add_1")
    x = _layer_norm(g, x, e, "/embeddings/LayerNorm")
    q, k, v = (g("Add", g("MatMul", x, g.weight(e, e), name=f"/attention/{n}/MatMul"), g.weight(e),
                      name=f"/attention/{n}/Add") for n in ("query", "key", "value"))
    scores = g("MatMul", q, g("Transpose", k, name="/attention/Transpose", perm=[0, 2, 1]), name="/attention/MatMul")
    scores = g("Div", scores, g.const(np.float32(np.sqrt(e))), name="/attention/Div")
    unsqueeze = (g("Unsqueeze", "attention_mask", _ints(g, 1), name="/Unsqueeze") if opset >= 13
                 else g("Unsqueeze", "attention_mask", name="/Unsqueeze", axes=[1]))
    mask = g("Cast", unsqueeze, name="/Cast", to=TensorProto.FLOAT)
    mask = g("Mul", g("Sub", g.const(np.float32(1.0)), mask, name="/Sub"), g.const(np.float32(-10000.0)), name="/Mul")
    probs = g("Softmax", g("Add", scores, mask, name="/attention/Add"), name="/attention/Softmax", axis=-1)
    y = g("MatMul", g("MatMul", probs, v, name="/attention/MatMul_1"), g.weight(e, e), name="/attention/output/MatMul")
    declared = [helper.make_tensor_value_info(name, TensorProto.INT64, list(dims)) for name in inputs]
    for name in set(HF_INPUTS) - set(inputs):  # an input the export does not declare: the default, as a constant
        value = {"attention_mask": np.ones((1, t), np.int64), "token_type_ids": np.zeros((1, t), np.int64),
                 "position_ids": np.arange(t, dtype=np.int64)[None]}[name]
        g.const(value, name)
    graph = helper.make_graph(g.nodes, "bert", declared, [helper.make_tensor_value_info(y, TensorProto.FLOAT,
                                                                                       [dims[0], dims[1], e])],
                              g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="pytorch",
                              producer_version="2.5.0")
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.parametrize("opset", [11, 17])
def test_the_default_inputs_become_constants_and_input_ids_is_the_input(tmp_path, opset):
    t, vocab, e = 8, 60, 16
    path = _bert(tmp_path / "bert.onnx", t, dims=(1, t), opset=opset)
    model = import_onnx(path)
    assert model.input_name == "input_ids" and model.data["input_shape"] == [t]
    assert model.defaults == {"attention_mask": "ones", "token_type_ids": "zeros", "position_ids": "arange(T)"}
    w = load_workload(path)
    assert [layer.kind for layer in w.layers][:2] == ["embedding", "eltwise"]
    assert w.layers[0].in_shapes == ((t,),)
    # the token-type row 0 and positions 0..T-1 folded into one per-token bias of the eltwise layer
    bias = model.weights["embeddings_Add.bias"]
    assert bias.shape == (t, e)
    # the mask of ones folds to (1 - 1) * -10000: a zero bias of the scaled scores, before the softmax
    scores = w.layer("attention_Div")
    assert scores.spec.activation == "softmax" and not np.any(model.weights["attention_Div.bias"])
    # the imported network computes what onnxruntime computes when given the defaults
    ort = pytest.importorskip("onnxruntime")
    ids = np.random.default_rng(3).integers(0, vocab, t)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"input_ids": ids[None], "attention_mask": np.ones((1, t), np.int64),
                                     "token_type_ids": np.zeros((1, t), np.int64),
                                     "position_ids": np.arange(t, dtype=np.int64)[None]})
    got = _evaluate(w, model.weights, ids)
    np.testing.assert_allclose(got.reshape(-1), expected.reshape(-1), rtol=1e-4, atol=1e-5)
    assert w.total_macs == 3 * t * e * e + 2 * t * t * e + t * e * e
    _runs(w)


@pytest.mark.parametrize("inputs", [("input_ids", "attention_mask"), ("input_ids", "token_type_ids"),
                                    ("input_ids", "attention_mask", "position_ids")])
def test_any_subset_of_the_default_inputs_is_set(tmp_path, inputs):
    model = import_onnx(_bert(tmp_path / "m.onnx", inputs=inputs, dims=(1, 8)))
    assert model.input_name == "input_ids" and set(model.defaults) == set(inputs) - {"input_ids"}


def test_a_dynamic_sequence_takes_its_length_from_the_input_shape(tmp_path, capsys):
    path = _bert(tmp_path / "bert.onnx", t=8)
    with pytest.raises(ConfigError, match=r"input 'input_ids' has the shape \['batch', 'sequence'\]; give it "
                                          r"with --input-shape input_ids=1,N .*: attention_mask, token_type_ids, "
                                          "position_ids then take their defaults"):
        import_onnx(path)
    model = import_onnx(path, {"input_ids": (1, 8)})
    assert model.data["input_shape"] == [8] and len(model.defaults) == 3
    out = tmp_path / "bert.yaml"
    assert main(["import", path, "-o", str(out), "--input-shape", "input_ids=1,8"]) == 0
    assert ("attention_mask (ones), token_type_ids (zeros), position_ids (arange(T)) set to Hugging Face's "
            "defaults") in capsys.readouterr().out


def test_a_given_shape_of_a_default_input_must_be_input_ids_shape(tmp_path):
    path = _bert(tmp_path / "bert.onnx", t=8)
    model = import_onnx(path, {"input_ids": (1, 8), "attention_mask": (1, 8)})
    assert model.input_name == "input_ids"
    with pytest.raises(ConfigError, match=r"input 'attention_mask' has the shape \[1, 6\], but input_ids is "
                                          r"\[1, 8\]: attention_mask is set to its default \(ones\)"):
        import_onnx(path, {"input_ids": (1, 8), "attention_mask": (1, 6)})


def test_other_extra_inputs_are_still_refused_naming_them(tmp_path):
    """An input outside the defaults (a past key, a second tensor) is not guessed."""
    g = G(17)
    y = g("Add", "input_ids_f", g("MatMul", "past", g.weight(4, 4), name="/mm"), name="/add")
    graph = helper.make_graph(g.nodes, "g", [helper.make_tensor_value_info("input_ids_f", TensorProto.FLOAT, [1, 4]),
                                             helper.make_tensor_value_info("past", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, 4])], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "two.onnx")
    with pytest.raises(ConfigError) as err:
        import_onnx(tmp_path / "two.onnx")
    message = str(err.value)
    assert "the model has 2: ['input_ids_f', 'past']" in message and "embedding lookup" not in message
    assert "Hugging Face's attention_mask, token_type_ids and position_ids are set to their defaults" in message
    # input_ids beside an input that is not one of the defaults: refused the same way
    path = _bert(tmp_path / "bert.onnx", inputs=("input_ids", "attention_mask"), dims=(1, 8))
    m = onnx.load(path)
    m.graph.input.append(helper.make_tensor_value_info("past_key", TensorProto.FLOAT, [1, 8]))
    m.graph.node.append(helper.make_node("Identity", ["past_key"], ["unused_out"], name="/past"))
    m.graph.output.append(helper.make_tensor_value_info("unused_out", TensorProto.FLOAT, [1, 8]))
    onnx.save(m, tmp_path / "past.onnx")
    with pytest.raises(ConfigError, match=r"the model has 3: \['input_ids', 'attention_mask', 'past_key'\]"):
        import_onnx(tmp_path / "past.onnx")
