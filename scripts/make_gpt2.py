"""Write the GPT-2-shaped decoder workloads: ``python scripts/make_gpt2.py`` writes
workloads/gpt2_tiny.yaml and workloads/gpt2_small.yaml (docs/decoding.md).

A GPT-2 block (Radford et al. 2019; docs/sources.md s3.6): a layer norm, the
causal self-attention (Q, K and V projections, the heads' scores and context,
the output projection), a residual add, a layer norm, the feed-forward (4 x the
width, GELU) and a residual add. The layer norms are attributes of the adds (the
next block's pre-norm, in the digital units; the same counts). The K and V of
every head go through a ``kv_cache`` layer, so the workload describes a prefill
of the input's T tokens (``past: 0``) and, with ``accelsim generate``, each
decoding step (one token, ``past`` = the tokens before it). The token axis of
every reshape is -1, so the same file serves any number of tokens.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def block(i: int, src: str, width: int, heads: int, ffn: int) -> list[dict]:
    d = width // heads
    p = f"l{i}_"
    layers = [
        {"name": p + "q", "type": "linear", "inputs": src, "units": width},
        {"name": p + "q_heads", "type": "reshape", "shape": [-1, heads, d]},
        {"name": p + "q_t", "type": "transpose", "perm": [1, 0, 2]},
        {"name": p + "k", "type": "linear", "inputs": src, "units": width},
        {"name": p + "k_heads", "type": "reshape", "shape": [-1, heads, d]},
        {"name": p + "k_t", "type": "transpose", "perm": [1, 0, 2]},
        {"name": p + "k_cache", "type": "kv_cache", "past": 0},
        {"name": p + "v", "type": "linear", "inputs": src, "units": width},
        {"name": p + "v_heads", "type": "reshape", "shape": [-1, heads, d]},
        {"name": p + "v_t", "type": "transpose", "perm": [1, 0, 2]},
        {"name": p + "v_cache", "type": "kv_cache", "past": 0},
        {"name": p + "scores", "type": "matmul", "inputs": [p + "q_t", p + "k_cache"], "transpose_b": True},
        {"name": p + "probs", "type": "eltwise", "scale": True, "activation": "softmax"},
        {"name": p + "context", "type": "matmul", "inputs": [p + "probs", p + "v_cache"]},
        {"name": p + "context_t", "type": "transpose", "perm": [1, 0, 2]},
        {"name": p + "merge", "type": "reshape", "shape": [-1, width]},
        {"name": p + "attn_out", "type": "linear", "units": width},
        {"name": p + "attn_add", "type": "add", "inputs": [p + "attn_out", src], "layer_norm": True},
        {"name": p + "ffn1", "type": "linear", "units": ffn, "activation": "gelu"},
        {"name": p + "ffn2", "type": "linear", "units": width},
        {"name": p + "ffn_add", "type": "add", "inputs": [p + "ffn2", p + "attn_add"], "layer_norm": True},
    ]
    return layers


def workload(name: str, description: str, layers_n: int, width: int, heads: int, ffn: int, tokens: int,
             head_units: int | None) -> dict:
    layers, src = [], "input"
    for i in range(layers_n):
        layers += block(i, src, width, heads, ffn)
        src = layers[-1]["name"]
    if head_units:
        layers.append({"name": "lm_head", "type": "linear", "inputs": src, "units": head_units})
    return {"name": name, "description": description, "input_shape": [tokens, width], "layers": layers}


HEADER = """# {name}: {what}
# Written by scripts/make_gpt2.py (do not edit by hand). Input: the prompt's token
# embeddings [T, F] (the embedding lookup is a table read, not a layer here). Each
# block's K and V pass a kv_cache layer: as written (past 0) the workload is a
# prefill of T tokens; `accelsim generate` makes each decoding step of it
# (docs/decoding.md). Causal masking is not modelled: the scores of a prefill are
# computed for every pair of tokens.
"""


def main() -> int:
    specs = [
        ("gpt2_tiny", "a GPT-2-style decoder of 2 blocks, width 128, 2 heads of 64, feed-forward 512",
         dict(layers_n=2, width=128, heads=2, ffn=512, tokens=32, head_units=None)),
        ("gpt2_small", "GPT-2 small's 12 decoder blocks, width 768, 12 heads of 64, feed-forward 3072, "
         "and its 50,257-token LM head (docs/sources.md s3.6)",
         dict(layers_n=12, width=768, heads=12, ffn=3072, tokens=128, head_units=50257)),
    ]
    write_workloads(specs, HEADER, workload, ROOT)
    return 0


def write_workloads(specs, header: str, make, root: Path) -> None:
    """Write each (name, what, keywords) of ``specs`` as root/workloads/NAME.yaml: ``header`` (its
    {name} and {what} filled in), then ``make(name, what, **keywords)`` as YAML."""
    for name, what, kw in specs:
        text = header.format(name=name, what=what) + yaml.safe_dump(make(name, what, **kw), sort_keys=False,
                                                                     width=120)
        (root / "workloads" / f"{name}.yaml").write_text(text)


if __name__ == "__main__":
    sys.exit(main())
