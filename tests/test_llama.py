"""The Llama-shaped decoder (scripts/make_llama.py, workloads/llama_tiny.yaml): its weights, MACs and
digital operations against closed forms of its shape, grouped-query attention's cache, and its
generation with the KV traffic's closed form (docs/decoding.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from accelsim.config.system import load_system
from accelsim.decoding import generate, pass_workload
from accelsim.workload import load_workload, workload_from_dict

ROOT = Path(__file__).resolve().parents[1]
BLOCKS, W, H, KV, FFN, TOKENS = 2, 128, 4, 2, 352, 32  # llama_tiny
D = W // H


def _script():
    spec = importlib.util.spec_from_file_location("make_llama", ROOT / "scripts" / "make_llama.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _variant(kv_heads: int, tokens: int = TOKENS, width: int = W, heads: int = H, ffn: int = FFN):
    data = _script().workload("v", "", layers_n=BLOCKS, width=width, heads=heads, kv_heads=kv_heads, ffn=ffn,
                              tokens=tokens)
    return workload_from_dict(data)


def _weights(width: int, heads: int, kv_heads: int, ffn: int) -> int:
    """Per block: Q and the output projection w x w, K and V w x kv_heads d, gate, up and down w x f."""
    d = width // heads
    return BLOCKS * (2 * width * width + 2 * width * kv_heads * d + 3 * width * ffn)


def _digital_ops(t: int, width: int, heads: int, kv_heads: int, ffn: int, past: int = 0) -> int:
    """The digital operations of a pass of t tokens after ``past``, from the shape alone."""
    d = width // heads
    ctx = past + t
    norms = 2 * 4 * t * width  # two RMSNorms a block: square, mean term, 1/rms, scale
    rope = lambda h: h * t * d * 3 + h * t * d // 2  # noqa: E731  (cos, sin, add per element; the negated half)
    attention = heads * t * ctx * (1 + 3)  # the scores' scale and softmax
    residual = 2 * t * width
    mlp = 3 * t * ffn  # the sigmoid, the SiLU's product, the gating product
    return BLOCKS * (norms + rope(heads) + rope(kv_heads) + attention + residual + mlp) + 4 * t * width


@pytest.fixture(scope="module")
def llama():
    return load_workload("llama_tiny")


def test_llama_tiny_is_its_closed_form(llama):
    weights = _weights(W, H, KV, FFN)
    assert llama.total_weights == weights == 368_640
    # every linear on every token, plus the scores and the context: H x T x T x d each, a block
    assert llama.total_macs == TOKENS * weights + BLOCKS * 2 * H * TOKENS * TOKENS * D == 12_320_768
    assert sum(layer.digital_ops for layer in llama.layers) == _digital_ops(TOKENS, W, H, KV, FFN)
    assert not any(layer.kind == "linear" and layer.spec.bias for layer in llama.layers)


@pytest.mark.parametrize("width, heads, kv_heads, ffn, tokens", [(128, 4, 4, 344, 8), (256, 8, 2, 688, 5),
                                                                (64, 2, 1, 176, 3)])
def test_the_script_s_shapes_are_their_closed_forms(width, heads, kv_heads, ffn, tokens):
    wl = _variant(kv_heads, tokens, width, heads, ffn)
    weights = _weights(width, heads, kv_heads, ffn)
    assert wl.total_weights == weights
    assert wl.total_macs == tokens * weights + BLOCKS * 2 * heads * tokens * tokens * (width // heads)
    assert sum(layer.digital_ops for layer in wl.layers) == _digital_ops(tokens, width, heads, kv_heads, ffn)


def test_grouped_query_attention_shares_each_kv_head_among_its_queries(llama):
    mha = _variant(kv_heads=H)
    step = pass_workload(llama, 1, 40)
    shapes = {layer.name: layer.out_shape for layer in step.layers}
    assert shapes["l0_k_cache"] == (KV, 41, D) == shapes["l1_v_cache"]
    assert shapes["l0_q_groups"] == (KV, H // KV, D)  # one token's H queries, H / KV to a KV head
    assert shapes["l0_scores"] == (KV, H // KV, 41) and shapes["l0_context_heads"] == (H, 1, D)
    # the attention's MACs are those of H heads; only K and V's projections shrink
    mha_step = pass_workload(mha, 1, 40)
    macs = {layer.name: layer.macs for layer in step.layers}
    mha_macs = {layer.name: layer.macs for layer in mha_step.layers}
    assert macs["l0_scores"] == mha_macs["l0_scores"] == H * 41 * D == macs["l0_context"]
    assert mha_step.total_macs - step.total_macs == BLOCKS * 2 * W * (H - KV) * D
    # the rotary's tables are constants: no weights, no MACs
    rope = [layer for layer in llama.layers if layer.name.startswith("l0_q_") and layer.kind != "reshape"]
    assert rope and all(layer.weights == 0 and layer.macs == 0 for layer in rope)


def test_generate_writes_and_reads_the_kv_cache_s_closed_form(llama):
    arch = load_system("mram72x4_ucie", ["chips=2"])  # `accelsim size llama_tiny`: 2 chips hold it
    bits = arch.chip.activation_bits
    r = generate(llama, arch, 8, 3)
    assert [s.past_tokens for s in r.steps] == [8, 9, 10]
    for s in r.steps:
        assert s.rounds == 1  # every weight on chip: nothing reprogrammed per token
        assert s.kv_written_bits == 2 * BLOCKS * KV * D * bits == 2_048
        assert s.kv_read_bits == 2 * BLOCKS * KV * (s.past_tokens + 1) * D * bits
    assert r.kv_cache_bits == 2 * BLOCKS * KV * (8 + 3) * D * bits
    assert r.time_to_first_token_s > 0 and r.decode_tokens_per_s > 0
    assert r.steps[0].latency_s <= r.steps[-1].latency_s


def test_llama_tiny_is_what_its_script_writes(tmp_path, monkeypatch):
    mod = _script()
    (tmp_path / "workloads").mkdir()
    monkeypatch.setattr(mod, "ROOT", tmp_path)
    mod.main()
    assert (tmp_path / "workloads" / "llama_tiny.yaml").read_text() == (ROOT / "workloads" / "llama_tiny.yaml").read_text()


def test_the_script_refuses_heads_that_do_not_group():
    with pytest.raises(ValueError):
        _variant(kv_heads=3)
