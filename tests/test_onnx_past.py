"""A decoder exported with past keys and values (tests/onnx_models.py, gpt2_with_past): each
Concat(past, new) along the token axis is a kv_cache layer of the past's length, and the generation
of the imported model is the shipped gpt2_tiny's, figure for figure (docs/onnx.md, docs/decoding.md)."""

from __future__ import annotations

import pytest

pytest.importorskip("onnx")

from onnx_models import gpt2_with_past, save  # noqa: E402

from accelsim.config.system import load_system  # noqa: E402
from accelsim.decoding import generate  # noqa: E402
from accelsim.errors import ConfigError  # noqa: E402
from accelsim.workload import load_workload  # noqa: E402


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
