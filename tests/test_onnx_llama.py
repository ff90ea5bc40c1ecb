"""A Llama-style decoder as torch.onnx.export writes it (tests/onnx_models.py, llama_with_past):
RMSNorm's decomposition, rotary embedding's Mul/Slice/Neg/Concat/Add with cos and sin Gather'ed by
the positions, SiLU as Sigmoid and Mul, the gated MLP, grouped-query attention, with and without
past inputs, and as a Hugging Face with-past export. It imports into the layer kinds of
workloads/llama_tiny.yaml with the same MACs, weights and digital operations (docs/onnx.md)."""

# ruff: noqa: E402  (onnx is imported after pytest.importorskip)
from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper
from onnx_models import _rope_tables, llama_with_past, repeat_kv_attention, save

from accelsim.config.system import load_system
from accelsim.decoding import generate, pass_workload
from accelsim.errors import ConfigError
from accelsim.workload import load_workload, workload_from_dict
from accelsim.workload.onnx_import import import_onnx

BLOCKS, W, H, KV, D = 2, 128, 4, 2, 32  # llama_tiny


def _shapes(tokens: int, past: int | None, kv: int = KV, ids: bool = False) -> dict:
    out = {"input_ids": (1, tokens)} if ids else {"inputs_embeds": (1, tokens, W)}
    for i in range(BLOCKS if past is not None else 0):
        for part in ("key", "value"):
            out[f"past_key_values.{i}.{part}"] = (1, kv, past, D)
    return out


def _yaml(kv_heads: int):
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("make_llama", root / "scripts" / "make_llama.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return workload_from_dict(mod.workload("llama", "", layers_n=BLOCKS, width=W, heads=H, kv_heads=kv_heads,
                                           ffn=352, tokens=16))


def _figures(wl) -> tuple[int, int, int]:
    return wl.total_macs, wl.total_weights, sum(layer.digital_ops for layer in wl.layers)


def _kinds(wl) -> Counter:
    """The layer kinds; a transpose that only moves a unit axis (one token) is a view, a reshape."""
    return Counter("reshape" if layer.kind == "transpose" and 1 in layer.in_shapes[0] else layer.kind
                   for layer in wl.layers)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama")
    return {key: save(llama_with_past(kv_heads=kv, past=past, hf=hf), folder / f"llama_{kv}_{past}_{hf}.onnx")
            for key in [(KV, True, False), (KV, False, False), (KV, True, True), (H, True, False)]
            for kv, past, hf in [key]}


@pytest.mark.parametrize("tokens, past", [(16, 0), (1, 7), (5, 11)])
def test_the_llama_block_imports_with_llama_tiny_s_counts(models, tokens, past):
    shipped = pass_workload(load_workload("llama_tiny"), tokens, past)
    wl = load_workload(models[KV, True, False], _shapes(tokens, past))
    assert _figures(wl) == _figures(shipped)
    assert _kinds(wl) == _kinds(shipped)
    caches = [layer for layer in wl.layers if layer.kind == "kv_cache"]
    assert len(caches) == 2 * BLOCKS and all(c.out_shape == (KV, past + tokens, D) for c in caches)
    # RMSNorm: four eltwise RMSNorms and the final one on the last add; no Pow, Sqrt or Reciprocal left
    assert sum(bool(layer.spec.rms_norm) for layer in wl.layers) == 2 * BLOCKS + 1
    assert not any(layer.spec.layer_norm for layer in wl.layers)
    assert not any(layer.kind == "linear" and layer.spec.bias for layer in wl.layers)


def test_without_past_inputs_it_is_llama_tiny_without_its_caches(models):
    shipped = pass_workload(load_workload("llama_tiny"), 16, 0)
    wl = load_workload(models[KV, False, False], _shapes(16, None))
    assert _figures(wl) == _figures(shipped)
    assert _kinds(wl) == _kinds(shipped) - Counter({"kv_cache": 2 * BLOCKS})


@pytest.mark.parametrize("rsqrt", ["reciprocal", "div", "divide"])
def test_each_form_of_rmsnorm_is_one_rms_norm(tmp_path, rsqrt):
    path = save(llama_with_past(layers=1, past=False, rsqrt=rsqrt, hf=False), tmp_path / "m.onnx")
    wl = load_workload(path, {"inputs_embeds": (1, 4, W)})
    norms = [layer for layer in wl.layers if layer.spec.rms_norm]
    assert [layer.kind for layer in norms] == ["eltwise", "eltwise", "add"]
    assert all(layer.digital_ops == 4 * 4 * W for layer in norms[:2])  # square, mean term, 1/rms, scale
    assert not any(layer.spec.layer_norm for layer in wl.layers)


@pytest.mark.parametrize("hf", [False, True])
def test_the_rotary_tables_are_the_rows_of_the_pass_s_positions(models, hf):
    tokens, past = 3, 5
    model = import_onnx(models[KV, True, hf], _shapes(tokens, past, ids=hf))
    cos, sin = _rope_tables(64, D)
    # [1, T, d]: one row per position, the same for every head
    np.testing.assert_array_equal(model.weights["model_layers_0_self_attn_rotary_q_Mul.scale"],
                                  cos[None, past:past + tokens])
    np.testing.assert_array_equal(model.weights["model_layers_1_self_attn_rotary_k_Mul_1.scale"],
                                  sin[None, past:past + tokens])
    assert model.weights["model_layers_0_self_attn_rotary_q_Neg.scale"] == -1
    if hf:
        assert model.defaults == {"attention_mask": "ones", "position_ids": f"arange({past}, {past + tokens})"}


@pytest.mark.parametrize("tokens, past", [(16, 0), (1, 7)])
def test_a_hugging_face_llama_export_differs_by_its_attention_mask_only(models, tokens, past):
    shipped = pass_workload(load_workload("llama_tiny"), tokens, past)
    wl = load_workload(models[KV, True, True], _shapes(tokens, past, ids=True))
    assert wl.input_shape == (tokens, W)  # the embedding lookup cut: the embeddings are the input
    macs, weights, ops = _figures(wl)
    assert (macs, weights) == _figures(shipped)[:2]
    # the additive mask of past + T ones is the softmax's bias: one operation per score
    assert ops - _figures(shipped)[2] == BLOCKS * H * tokens * (past + tokens)


def test_an_imported_llama_generates_as_the_script_s_workload(models):
    arch = load_system("mram72x4_ucie", ["chips=2"])
    written = generate(_yaml(kv_heads=H), arch, 16, 3)
    for tokens, past in ((16, 0), (1, 7)):
        r = generate(load_workload(models[H, True, False], _shapes(tokens, past, kv=H)), arch, 16, 3)
        assert r.time_to_first_token_s == written.time_to_first_token_s
        assert [s.latency_s for s in r.steps] == [s.latency_s for s in written.steps]
        assert [s.kv_read_bits for s in r.steps] == [s.kv_read_bits for s in written.steps]
        assert [s.energy_j for s in r.steps] == pytest.approx([s.energy_j for s in written.steps], rel=1e-12)


@pytest.fixture(scope="module")
def repeat_kv_models(tmp_path_factory):
    """Hugging Face's grouped-query form: K and V repeated for every Q head by repeat_kv after the
    cache's Concat; with and without past inputs, and with Hugging Face's inputs and a causal mask."""
    folder = tmp_path_factory.mktemp("repeat_kv")
    return {key: save(llama_with_past(past=past, hf=hf, causal=hf, attention="repeat_kv"),
                      folder / f"repeat_kv_{past}_{hf}.onnx")
            for key in [(True, False), (False, False), (True, True)] for past, hf in [key]}


def _layers(wl) -> list[tuple]:
    return [(layer.kind, layer.in_shapes, layer.out_shape, layer.macs, layer.digital_ops) for layer in wl.layers]


@pytest.mark.parametrize("tokens, past", [(16, 0), (1, 7), (5, 11)])
def test_repeat_kv_imports_as_the_grouped_view_with_llama_tiny_s_counts(models, repeat_kv_models, tokens, past):
    """No copy of the cache: each KV head is read by the n_rep Q heads of its group, as in llama_tiny."""
    shipped = pass_workload(load_workload("llama_tiny"), tokens, past)
    wl = load_workload(repeat_kv_models[True, False], _shapes(tokens, past))
    assert _figures(wl) == _figures(shipped)
    assert _kinds(wl) == _kinds(shipped)
    caches = [layer for layer in wl.layers if layer.kind == "kv_cache"]
    assert len(caches) == 2 * BLOCKS and all(c.out_shape == (KV, past + tokens, D) for c in caches)
    # layer for layer the import of the grouped view the Llama export writes
    assert _layers(wl) == _layers(load_workload(models[KV, True, False], _shapes(tokens, past)))
    groups = [layer for layer in wl.layers if layer.name.endswith("_groups")]
    assert [g.spec.shape for g in groups] == [[KV, -1, D]] * BLOCKS  # the rows follow the pass's tokens
    assert all(g.out_shape == (KV, H // KV * tokens, D) for g in groups)


def test_repeat_kv_without_past_inputs_is_llama_tiny_without_its_caches(repeat_kv_models):
    shipped = pass_workload(load_workload("llama_tiny"), 16, 0)
    wl = load_workload(repeat_kv_models[False, False], _shapes(16, None))
    assert _figures(wl) == _figures(shipped)
    assert _kinds(wl) == _kinds(shipped) - Counter({"kv_cache": 2 * BLOCKS})


@pytest.mark.parametrize("tokens, past", [(16, 0), (5, 11)])
def test_repeat_kv_with_hugging_face_s_inputs_and_a_causal_mask(repeat_kv_models, tokens, past):
    """The causal mask [1, 1, T, S] varies along the query rows: it is rewritten into the grouped rows
    and joins the attention mask in the softmax's one bias (one operation per score)."""
    shipped = pass_workload(load_workload("llama_tiny"), tokens, past)
    model = import_onnx(repeat_kv_models[True, True], _shapes(tokens, past, ids=True))
    wl = workload_from_dict(model.data)
    macs, weights, ops = _figures(wl)
    assert (macs, weights) == _figures(shipped)[:2]
    assert ops - _figures(shipped)[2] == BLOCKS * H * tokens * (past + tokens)
    bias = model.weights["model_layers_0_self_attn_Div.bias"]
    causal = np.where(np.arange(past + tokens)[None] > np.arange(past, past + tokens)[:, None],
                      np.finfo(np.float32).min, np.float32(0))
    np.testing.assert_array_equal(bias, np.tile(causal, (KV, H // KV, 1)))  # rows: each group's Q heads in turn


def test_the_rewrite_computes_what_repeat_kv_computes(tmp_path):
    """The ONNX graph rewritten into the grouped view gives the attention's output of the original,
    with constants along the rows (a causal mask) and along the heads (a per-head factor) on the
    scores (onnx's reference evaluator on both graphs)."""
    from onnx.reference import ReferenceEvaluator

    from accelsim.workload.onnx_import.gqa import rewrite_repeat_kv

    model = onnx.shape_inference.infer_shapes(repeat_kv_attention())
    consts = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    rewritten, refused = rewrite_repeat_kv(onnx, model, consts, 17, "m.onnx")
    assert refused == {}
    ops = [n.op_type for n in rewritten.graph.node]
    assert "Expand" not in ops and ops.count("Reshape") == 2  # the queries' view and the context's
    rng = np.random.default_rng(0)
    feeds = {"q": rng.standard_normal((1, H, 3, 8), np.float32),
             **{x: rng.standard_normal((1, KV, 5, 8), np.float32) for x in ("k", "v")}}
    (want,), (got,) = (ReferenceEvaluator(m).run(None, feeds) for m in (model, rewritten))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_full_slices_and_identities_inside_repeat_kv_are_seen_through():
    """A Slice that keeps its whole input (x[:, :] as an exporter may write it) and an Identity between
    repeat_kv's nodes are taken out first: the grouped view, computing what the graph computes, the
    two named among the removed nodes; a Slice that cuts (keeps 1 of 2 KV heads) is kept, and no
    grouped view is made through it."""
    from onnx.reference import ReferenceEvaluator

    from accelsim.workload.onnx_import.gqa import rewrite_repeat_kv
    from accelsim.workload.onnx_import.rewrite import drop_no_ops

    def rewritten(model):
        model = onnx.shape_inference.infer_shapes(model)
        consts = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
        model, removed = drop_no_ops(onnx, model, consts)
        new, refused = rewrite_repeat_kv(onnx, model, consts, 17, "m.onnx")
        return model, new, removed, refused

    noisy = repeat_kv_attention(no_ops=True)
    _, new, removed, refused = rewritten(noisy)
    assert refused == {} and "Expand" not in [n.op_type for n in new.graph.node]
    assert {"/repeat_k/Slice", "/repeat_k/Identity", "/repeat_v/Slice", "/repeat_v/Identity"} == set(removed)
    rng = np.random.default_rng(0)
    feeds = {"q": rng.standard_normal((1, H, 3, 8), np.float32),
             **{x: rng.standard_normal((1, KV, 5, 8), np.float32) for x in ("k", "v")}}
    (want,), (got,) = (ReferenceEvaluator(m).run(None, feeds) for m in (noisy, new))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    cut = repeat_kv_attention(no_ops=True)
    ends = next(t for t in cut.graph.initializer if t.name == "/repeat_k/ends")
    ends.CopyFrom(onnx.numpy_helper.from_array(np.array([2**63 - 1, 1], np.int64), "/repeat_k/ends"))
    model, new, removed, refused = rewritten(cut)
    assert "/repeat_k/Slice" not in removed and "/repeat_v/Slice" in removed
    assert "Slice" in [n.op_type for n in new.graph.node]


def test_an_imported_grouped_query_llama_generates_as_the_script_s_workload(models, repeat_kv_models):
    """4 Q heads on 2 KV heads, in either grouped-query form, imported as a prefill or a decoding
    step: every pass of its generation is the YAML's, figure for figure (the grouped views keep the
    -1 of their rows, so they follow each pass's tokens)."""
    arch = load_system("mram72x4_ucie", ["chips=2"])
    written = generate(_yaml(kv_heads=KV), arch, 8, 3)
    for path in (models[KV, True, False], repeat_kv_models[True, False]):
        for tokens, past in ((16, 0), (1, 7)):
            r = generate(load_workload(path, _shapes(tokens, past)), arch, 8, 3)
            for got, want in zip((r.prefill, *r.steps), (written.prefill, *written.steps), strict=True):
                assert (got.latency_s, got.counts, got.kv_read_bits, got.kv_written_bits, got.rounds) == \
                    (want.latency_s, want.counts, want.kv_read_bits, want.kv_written_bits, want.rounds)
                assert got.energy_j == pytest.approx(want.energy_j, rel=1e-12)
            assert r.kv_cache_bits == written.kv_cache_bits


def test_an_expand_that_is_not_repeat_kv_is_refused_naming_the_node(tmp_path, cli):
    """K and V repeated in the other order (x[:, None].expand(B, n_rep, kv, S, d)) put a KV head's
    copies on Q heads that are not consecutive: not repeat_kv, no grouped view; exit 2, no traceback."""
    path = save(llama_with_past(layers=1, past=False, hf=False, attention="interleaved"), tmp_path / "m.onnx")
    for command in ("import", "run"):
        args = [command, path, "--input-shape", f"inputs_embeds=1,4,{W}"]
        r = cli(*args, "-o", tmp_path / "m.yaml") if command == "import" else cli(*args)
        assert r.code == 2 and "Traceback" not in r.err
        assert "node '/model/layers.0/self_attn/repeat_kv_k/Expand' (Expand)" in r.err
        assert "not each KV head's n_rep copies side by side" in r.err
    assert not (tmp_path / "m.yaml").exists()


def test_onnxruntime_s_fused_rmsnorm_is_refused_by_the_checker(tmp_path):
    node = helper.make_node("SimplifiedLayerNormalization", ["x", "g"], ["y"], axis=-1, epsilon=1e-6)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8])],
                              [onnx.numpy_helper.from_array(np.ones(8, np.float32), "g")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "fused.onnx")
    with pytest.raises(ConfigError, match="not a valid ONNX model: No Op registered for SimplifiedLayerNormalization"):
        load_workload(tmp_path / "fused.onnx")
