"""Write the Llama-shaped decoder workload: ``python scripts/make_llama.py`` writes
workloads/llama_tiny.yaml (docs/decoding.md, docs/workloads.md).

A Llama block (Touvron et al. 2023; docs/sources.md s3.7) in the existing layer kinds:

- **RMSNorm** before the attention and before the MLP (pre-norm: the residual stream itself is
  not normalised): an ``eltwise`` layer with ``rms_norm: true``, 4 digital operations per
  element (``kinds.RMS_NORM_OPS``: the square, a term of the mean of squares, the product by
  1/rms, the learned scale). The final norm is the last residual add's ``rms_norm`` attribute
  (the add has no other reader), as the ONNX importer writes it.
- **Rotary position embedding** on Q and K, per head [H, T, d]: ``x * cos + rotate_half(x) *
  sin``, rotate_half(x) = concat(-x[d/2:], x[:d/2]). The products by cos and sin are ``eltwise``
  layers with ``scale`` (the tables of the pass's positions are constants of the layer, one
  digital operation per element, not weights on the macros); the halves are ``slice`` layers,
  the negation an ``eltwise`` scale (by -1) of one half, the join a ``concat`` and the sum an
  ``add``. Rotary adds no weight and no MAC.
- **Grouped-query attention**: ``kv_heads`` heads of K and V (fewer than the Q heads), each
  shared by heads / kv_heads Q heads. The Q heads of one group are consecutive, so [H, T, d]
  viewed as [kv_heads, (H / kv_heads) x T, d] puts each group's queries on its K and V head:
  the scores are one ``matmul`` per KV head of H / kv_heads x T query rows (the same MACs as
  H heads of T rows), and the KV cache holds kv_heads heads, not H (the cache and its traffic
  shrink by H / kv_heads). The context is viewed back to [H, T, d] before the heads merge.
- **The gated MLP (SwiGLU)**: gate and up projections, SiLU(gate) = gate x sigmoid(gate) (an
  ``eltwise`` sigmoid and a ``mul``), the product with up (a ``mul``) and the down projection.
- No biases (``bias: false`` on every linear).

K and V pass a ``kv_cache`` layer as in gpt2_tiny (docs/decoding.md): as written (past 0) the
workload is a prefill of T tokens and ``accelsim generate`` makes each decoding step of it; the
token axis of every reshape is -1, so one file serves any number of tokens. The embedding lookup
and the LM head are left out, as in gpt2_tiny, and causal masking is not modelled.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_gpt2 import write_workloads  # noqa: E402  (the decoders' one writer, beside this script)

ROOT = Path(__file__).resolve().parents[1]


def rotary(p: str, src: str, d: int) -> list[dict]:
    """x * cos + concat(-x[..., d/2:], x[..., :d/2]) * sin on [H, T, d]; the output is ``p + 'rope'``."""
    half = d // 2
    return [
        {"name": p + "cos", "type": "eltwise", "inputs": src, "scale": True},
        {"name": p + "lo", "type": "slice", "inputs": src, "axis": 2, "start": 0, "end": half},
        {"name": p + "hi", "type": "slice", "inputs": src, "axis": 2, "start": half, "end": d},
        {"name": p + "neg", "type": "eltwise", "inputs": p + "hi", "scale": True},
        {"name": p + "rot", "type": "concat", "inputs": [p + "neg", p + "lo"], "axis": 2},
        {"name": p + "sin", "type": "eltwise", "scale": True},
        {"name": p + "rope", "type": "add", "inputs": [p + "cos", p + "sin"]},
    ]


def block(i: int, src: str, width: int, heads: int, kv_heads: int, ffn: int, last: bool) -> list[dict]:
    d = width // heads
    group = heads // kv_heads
    p = f"l{i}_"
    layers = [{"name": p + "attn_norm", "type": "eltwise", "inputs": src, "rms_norm": True}]
    layers += [
        {"name": p + "q", "type": "linear", "inputs": p + "attn_norm", "units": width, "bias": False},
        {"name": p + "q_heads", "type": "reshape", "shape": [-1, heads, d]},
        {"name": p + "q_t", "type": "transpose", "perm": [1, 0, 2]},
    ]
    layers += rotary(p + "q_", p + "q_t", d)
    for part in ("k", "v"):
        layers += [
            {"name": p + part, "type": "linear", "inputs": p + "attn_norm", "units": kv_heads * d, "bias": False},
            {"name": p + part + "_heads", "type": "reshape", "shape": [-1, kv_heads, d]},
            {"name": p + part + "_t", "type": "transpose", "perm": [1, 0, 2]},
        ]
        if part == "k":
            layers += rotary(p + "k_", p + "k_t", d)
        layers.append({"name": p + part + "_cache", "type": "kv_cache", "past": 0})
    queries = p + "q_rope"
    if group > 1:
        layers.append({"name": p + "q_groups", "type": "reshape", "inputs": queries, "shape": [kv_heads, -1, d]})
        queries = p + "q_groups"
    layers += [
        {"name": p + "scores", "type": "matmul", "inputs": [queries, p + "k_cache"], "transpose_b": True},
        {"name": p + "probs", "type": "eltwise", "scale": True, "activation": "softmax"},
        {"name": p + "context", "type": "matmul", "inputs": [p + "probs", p + "v_cache"]},
    ]
    if group > 1:
        layers.append({"name": p + "context_heads", "type": "reshape", "shape": [heads, -1, d]})
    layers += [
        {"name": p + "context_t", "type": "transpose", "perm": [1, 0, 2]},
        {"name": p + "merge", "type": "reshape", "shape": [-1, width]},
        {"name": p + "attn_out", "type": "linear", "units": width, "bias": False},
        {"name": p + "attn_add", "type": "add", "inputs": [src, p + "attn_out"]},
        {"name": p + "mlp_norm", "type": "eltwise", "rms_norm": True},
        {"name": p + "gate", "type": "linear", "inputs": p + "mlp_norm", "units": ffn, "bias": False},
        {"name": p + "gate_sigmoid", "type": "eltwise", "activation": "sigmoid"},
        {"name": p + "gate_silu", "type": "mul", "inputs": [p + "gate", p + "gate_sigmoid"]},
        {"name": p + "up", "type": "linear", "inputs": p + "mlp_norm", "units": ffn, "bias": False},
        {"name": p + "gated", "type": "mul", "inputs": [p + "gate_silu", p + "up"]},
        {"name": p + "down", "type": "linear", "units": width, "bias": False},
        {"name": p + "mlp_add", "type": "add", "inputs": [p + "attn_add", p + "down"]},
    ]
    if last:  # the final RMSNorm: the last add has no other reader
        layers[-1]["rms_norm"] = True
    return layers


def workload(name: str, description: str, layers_n: int, width: int, heads: int, kv_heads: int, ffn: int,
             tokens: int) -> dict:
    if width % heads or heads % kv_heads or (width // heads) % 2:
        raise ValueError("the width must split into heads of an even size, the heads into kv_heads groups")
    layers, src = [], "input"
    for i in range(layers_n):
        layers += block(i, src, width, heads, kv_heads, ffn, last=i == layers_n - 1)
        src = layers[-1]["name"]
    return {"name": name, "description": description, "input_shape": [tokens, width], "layers": layers}


HEADER = """# {name}: {what}
# Written by scripts/make_llama.py (do not edit by hand; its docstring says what each layer
# stands for). Input: the prompt's token embeddings [T, F] (the embedding lookup is a table
# read, not a layer here). RMSNorm: 4 digital operations per element, the square, a term of
# the mean of squares, the product by 1/rms and the learned scale. Rotary embedding: eltwise products by the cos and sin of the
# pass's positions (constants, not weights), slices, a negation, a concat and an add.
# Grouped-query attention: 2 KV heads for 4 Q heads, the Q heads of a group viewed as one
# KV head's rows. K and V pass a kv_cache layer: as written (past 0) the workload is a prefill
# of T tokens; `accelsim generate` makes each decoding step of it (docs/decoding.md).
"""

SPECS = [
    ("llama_tiny", "a Llama-style decoder of 2 blocks, width 128, 4 heads of 32 with 2 KV heads (grouped-query "
     "attention), SwiGLU MLP of 352, RMSNorm, rotary embedding, no biases",
     dict(layers_n=2, width=128, heads=4, kv_heads=2, ffn=352, tokens=32)),
]


def main() -> int:
    write_workloads(SPECS, HEADER, workload, ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
