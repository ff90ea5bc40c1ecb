"""A decoder exported with past keys and values (tests/onnx_models.py, gpt2_with_past): each
Concat(past, new) along the token axis is a kv_cache layer of the past's length, and the generation
of the imported model is the shipped gpt2_tiny's, figure for figure (docs/onnx.md, docs/decoding.md).
A Hugging Face with-past export (gpt2_hf_with_past: input_ids, attention_mask [1, past + T],
position_ids, the past inputs) imports with the mask ones over past + T, the positions past..past+T-1
and the tokens' embeddings as the input, and generates as the equivalent YAML, figure for figure."""

from __future__ import annotations

import pytest

pytest.importorskip("onnx")

import numpy as np  # noqa: E402
from onnx import numpy_helper  # noqa: E402
from onnx_models import gpt2_hf_with_past, gpt2_with_past, save  # noqa: E402

from accelsim.config.system import load_system  # noqa: E402
from accelsim.decoding import generate  # noqa: E402
from accelsim.errors import ConfigError  # noqa: E402
from accelsim.workload import load_workload, workload_from_dict  # noqa: E402
from accelsim.workload.onnx_import import import_onnx  # noqa: E402


def _shapes(tokens: int, past: int, layers: int = 2) -> dict:
    out = {"input": (1, tokens, 128)}
    for i in range(layers):
        for part in ("key", "value"):
            out[f"past_key_values.{i}.{part}"] = (1, 2, past, 64)
    return out


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save(gpt2_with_past(), tmp_path_factory.mktemp("past") / "gpt2_past.onnx")


@pytest.mark.parametrize("tokens, past", [(16, 0), (1, 7)])
def test_the_past_inputs_become_kv_caches(model, tokens, past):
    wl = load_workload(model, _shapes(tokens, past))
    caches = [layer for layer in wl.layers if layer.kind == "kv_cache"]
    assert len(caches) == 4
    assert all(c.spec.past == past and c.out_shape == (2, past + tokens, 64) for c in caches)
    scores = [layer for layer in wl.layers if layer.kind == "matmul"]
    assert scores[0].out_shape == (2, tokens, past + tokens)


def test_the_imported_decoder_generates_as_the_shipped_one(model):
    arch = load_system("mram72x4_ucie", ["chips=2"])
    shipped = generate(load_workload("gpt2_tiny"), arch, 16, 3)
    for tokens, past in ((16, 0), (1, 7)):
        imported = generate(load_workload(model, _shapes(tokens, past)), arch, 16, 3)
        assert imported.time_to_first_token_s == shipped.time_to_first_token_s
        assert [s.latency_s for s in imported.steps] == [s.latency_s for s in shipped.steps]
        assert [s.kv_read_bits for s in imported.steps] == [s.kv_read_bits for s in shipped.steps]
        assert [s.energy_j for s in imported.steps] == pytest.approx([s.energy_j for s in shipped.steps], rel=1e-12)


def test_a_dynamic_past_must_be_given(model):
    with pytest.raises(ConfigError, match=r"past_key_values.0.key.*dynamic shape.*--input-shape"):
        load_workload(model, {"input": (1, 4, 128)})


def test_a_past_of_the_wrong_rank_is_refused(model):
    shapes = _shapes(4, 2)
    shapes["past_key_values.0.key"] = (1, 2, 3, 4, 5)
    with pytest.raises(ConfigError):
        load_workload(model, shapes)


def test_the_command_takes_the_past_s_shape(cli, model):
    args = [f"--input-shape={k}={','.join(map(str, v))}" for k, v in _shapes(1, 7).items()]
    r = cli("generate", str(model), *args, "--prefill", "8", "--decode", "2", "--json", "--quiet")
    assert r.code == 0, r.err
    r = cli("generate", str(model), "--input-shape", "input=1,1,128", "--quiet")
    assert r.code == 2 and "past_key_values.0.key" in r.err and "--input-shape" in r.err


# -- Hugging Face's with-past export


def _hf_shapes(tokens: int, past: int, layers: int = 2) -> dict:
    out = {"input_ids": (1, tokens)}
    for i in range(layers):
        for part in ("key", "value"):
            out[f"past_key_values.{i}.{part}"] = (1, 2, past, 64)
    return out


def _hf_yaml(vocab: int = 96, width: int = 128, heads: int = 2, ffn: int = 512, blocks: int = 2):
    """The workload the with-past GPT2LMHeadModel is, written by hand: the position rows an eltwise bias
    of the embeddings; per block ln_1, the packed Q/K/V linear and its three slices, the heads, the
    caches, the scores, their scale, the causal and attention masks with the softmax (an eltwise scale
    and bias), the context, the merge, c_proj, the residual, ln_2, the MLP (GELU) and the residual; ln_f
    on the last add; the LM head."""
    d = width // heads
    layers = [{"name": "emb", "type": "eltwise", "inputs": "input", "bias": True}]
    src = "emb"
    for i in range(blocks):
        p = f"b{i}_"
        layers += [{"name": p + "ln_1", "type": "eltwise", "inputs": src, "layer_norm": True},
                   {"name": p + "c_attn", "type": "linear", "units": 3 * width}]
        for j, part in enumerate("qkv"):
            layers.append({"name": p + part, "type": "slice", "inputs": p + "c_attn", "axis": 1, "start": j * width,
                           "end": (j + 1) * width})
        for part in "qkv":
            layers += [{"name": p + part + "_heads", "type": "reshape", "inputs": p + part, "shape": [-1, heads, d]},
                       {"name": p + part + "_t", "type": "transpose", "perm": [1, 0, 2]}]
        layers += [
            {"name": p + "k_cache", "type": "kv_cache", "inputs": p + "k_t", "past": 0},
            {"name": p + "v_cache", "type": "kv_cache", "inputs": p + "v_t", "past": 0},
            {"name": p + "scores", "type": "matmul", "inputs": [p + "q_t", p + "k_cache"], "transpose_b": True},
            {"name": p + "scaled", "type": "eltwise", "scale": True},
            {"name": p + "probs", "type": "eltwise", "scale": True, "bias": True, "activation": "softmax"},
            {"name": p + "context", "type": "matmul", "inputs": [p + "probs", p + "v_cache"]},
            {"name": p + "context_t", "type": "transpose", "perm": [1, 0, 2]},
            {"name": p + "merge", "type": "reshape", "shape": [-1, width]},
            {"name": p + "c_proj", "type": "linear", "units": width},
            {"name": p + "attn_add", "type": "add", "inputs": [p + "c_proj", src]},
            {"name": p + "ln_2", "type": "eltwise", "layer_norm": True},
            {"name": p + "fc", "type": "linear", "units": ffn, "activation": "gelu"},
            {"name": p + "proj", "type": "linear", "units": width},
            {"name": p + "mlp_add", "type": "add", "inputs": [p + "proj", p + "attn_add"]},
        ]
        src = p + "mlp_add"
    layers[-1]["layer_norm"] = True
    layers.append({"name": "lm_head", "type": "linear", "units": vocab, "bias": False})
    return workload_from_dict({"name": "gpt2_hf", "input_shape": [16, width], "layers": layers})


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory):
    return save(gpt2_hf_with_past(), tmp_path_factory.mktemp("hf") / "gpt2_hf_past.onnx")


@pytest.mark.parametrize("tokens, past", [(16, 0), (1, 7), (3, 5)])
def test_a_hugging_face_with_past_export_imports_with_the_past_attended(hf_model, tokens, past):
    model = import_onnx(hf_model, _hf_shapes(tokens, past))
    position = "arange(T)" if not past else f"arange({past}, {past + tokens})"
    assert model.defaults == {"attention_mask": "ones", "position_ids": position}
    assert model.data["input_shape"] == [tokens, 128]  # the word rows' lookup is cut: the embeddings are the input
    wl = load_workload(hf_model, _hf_shapes(tokens, past))
    caches = [layer for layer in wl.layers if layer.kind == "kv_cache"]
    assert len(caches) == 4 and all(c.spec.past == past and c.out_shape == (2, past + tokens, 64) for c in caches)
    # the position rows past .. past + T - 1 of wpe are the embeddings' bias
    wpe = next(numpy_helper.to_array(t) for t in gpt2_hf_with_past().graph.initializer
               if t.name == "transformer.wpe.weight")
    np.testing.assert_array_equal(model.weights["transformer_Add.bias"], wpe[past:past + tokens])
    # the mask of past + T ones adds nothing; the causal mask hides the later new tokens only
    bias = model.weights["transformer_h_0_attn_Where.bias"]
    assert bias.shape == (1, tokens, past + tokens)
    hidden = np.triu(np.ones((tokens, past + tokens), bool), k=past + 1)
    assert np.all(bias[0][hidden] < -1e38) and not np.any(bias[0][~hidden])


def test_the_hugging_face_export_generates_as_its_yaml(hf_model):
    arch = load_system("mram72x4_ucie", ["chips=2"])
    written = generate(_hf_yaml(), arch, 16, 3)
    for tokens, past in ((16, 0), (1, 7)):
        imported = load_workload(hf_model, _hf_shapes(tokens, past))
        assert imported.total_weights == _hf_yaml().total_weights == 2 * (4 * 128 * 128 + 2 * 128 * 512) + 128 * 96
        r = generate(imported, arch, 16, 3)
        assert r.time_to_first_token_s == written.time_to_first_token_s
        assert [s.latency_s for s in r.steps] == [s.latency_s for s in written.steps]
        assert [s.kv_written_bits for s in r.steps] == [s.kv_written_bits for s in written.steps]
        assert [s.kv_read_bits for s in r.steps] == [s.kv_read_bits for s in written.steps]
        assert [s.energy_j for s in r.steps] == pytest.approx([s.energy_j for s in written.steps], rel=1e-12)


def test_an_attention_mask_that_is_not_past_plus_t_long_is_refused(hf_model, cli):
    shapes = {**_hf_shapes(1, 7), "attention_mask": (1, 9)}
    with pytest.raises(ConfigError, match=r"input 'attention_mask' has the shape \[1, 9\], but it must be \[1, 8\]: "
                                          r"past \+ T = 7 \+ 1"):
        import_onnx(hf_model, shapes)
    assert import_onnx(hf_model, {**_hf_shapes(1, 7), "attention_mask": (1, 8)}).defaults["attention_mask"] == "ones"
    args = [f"--input-shape={k}={','.join(map(str, v))}" for k, v in shapes.items()]
    r = cli("generate", hf_model, *args, "--prefill", "4", "--decode", "1", "--quiet")
    assert r.code == 2 and "attention_mask" in r.err and "[1, 9]" in r.err and "[1, 8]" in r.err


def test_a_past_input_without_a_shape_is_refused_naming_it(hf_model, cli):
    with pytest.raises(ConfigError, match=r"input 'past_key_values.0.key' \(past keys or values\) has the dynamic "
                                          r"shape \[1, 2, 'past_sequence_length', 64\]; give it with --input-shape"):
        import_onnx(hf_model, {"input_ids": (1, 4)})
    r = cli("generate", hf_model, "--input-shape", "input_ids=1,4", "--quiet")
    assert r.code == 2 and "past_key_values.0.key" in r.err and "--input-shape" in r.err


def test_past_inputs_of_different_lengths_are_refused(hf_model):
    shapes = {**_hf_shapes(1, 7), "past_key_values.1.value": (1, 2, 6, 64)}
    with pytest.raises(ConfigError, match=r"disagree on the past tokens: 'past_key_values.0.key' has 7, "
                                          r"'past_key_values.1.value' 6"):
        import_onnx(hf_model, shapes)


def test_input_ids_without_a_length_is_refused(hf_model):
    shapes = _hf_shapes(1, 7)
    del shapes["input_ids"]
    with pytest.raises(ConfigError, match=r"input 'input_ids' has the shape \['batch_size', 'sequence_length'\]; "
                                          r"give it with --input-shape input_ids=1,N"):
        import_onnx(hf_model, shapes)
