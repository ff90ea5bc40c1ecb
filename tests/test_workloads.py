"""Shipped workloads and the workload format: MAC totals, shapes, chaining errors."""

from __future__ import annotations

import json

import pytest

from accelsim.errors import ConfigError
from accelsim.workload import load_workload

# docs/sources.md s3: reference MAC totals
REFERENCE_MACS = {
    "kws_dscnn": 2.66e6,
    "resnet18_cifar10": 0.555e9,
    "resnet18_imagenet": 1.81e9,
    "mobilenet_v1": 568.7e6,
}


@pytest.mark.parametrize("name, reference", sorted(REFERENCE_MACS.items()))
def test_shipped_workload_macs_match_reference(name, reference):
    w = load_workload(name)
    assert abs(w.total_macs - reference) / reference < 0.005


def test_golden_exact_totals():
    """Exact figures, so that any change in shape inference shows."""
    golden = {
        "kws_dscnn": (2_656_768, 22_016),
        "mlp": (234_752, 234_752),
        "resnet18_cifar10": (555_422_720, 11_164_352),
        "resnet18_imagenet": (1_814_073_344, 11_678_912),
        "mobilenet_v1": (568_740_352, 4_209_088),
        # 3x3 convs 1 -> 16 and 16 -> 32 on 8 x 8 ("same"), then 512 -> 10: 9*16*64 + 144*32*64 + 512*10
        "digits_cnn": (9 * 16 * 64 + 144 * 32 * 64 + 512 * 10, 144 + 4_608 + 5_120),
        "gpt2_tiny": (13_107_200, 393_216),
        "gpt2_small": (16_114_089_984, 123_532_032),
        # 2 blocks of 2 x 128^2 (Q, output) + 2 x 128 x 64 (K, V: 2 KV heads of 32) + 3 x 128 x 352 (gate, up,
        # down) weights; at 32 tokens 32 x those + the scores and context, 2 x 2 x 4 x 32 x 32 x 32 MACs
        "llama_tiny": (32 * 368_640 + 2 * 2 * 4 * 32 * 32 * 32, 2 * (2 * 128 * 128 + 2 * 128 * 64 + 3 * 128 * 352)),
    }
    for name, (macs, weights) in golden.items():
        w = load_workload(name)
        assert (w.total_macs, w.total_weights) == (macs, weights), name


def test_kws_shapes_and_unrolled_matrices():
    w = load_workload("kws_dscnn")
    conv1 = w.layer("conv1")
    assert conv1.out_shape == (64, 25, 5)  # 10x4 stride 2 "same" on 49 x 10
    assert (conv1.k, conv1.n, conv1.vectors) == (40, 64, 125)
    pw = w.layer("pw1")
    assert (pw.k, pw.n) == (64, 64)
    dw = w.layer("dw1")
    assert (dw.k, dw.n, dw.groups) == (9, 1, 64)
    fc = w.layer("fc")
    assert (fc.k, fc.n, fc.out_shape) == (64, 12, (12,))
    assert w.layer("pool").out_shape == (64, 1, 1)


def test_resnet_residual_adds_chain():
    w = load_workload("resnet18_cifar10")
    add = w.layer("layer2_0_add")
    assert add.inputs == ("layer2_0_conv2", "layer2_0_down")
    assert add.in_shapes == ((128, 16, 16), (128, 16, 16))
    assert w.layer("layer4_1_add").out_shape == (512, 4, 4)


def test_cli_workload_json_totals(cli):
    r = cli("workload", "kws_dscnn", "--json")
    assert r.code == 0
    data = json.loads(r.out)
    assert data["total_macs"] == 2_656_768 and data["total_weights"] == 22_016
    assert [layer["name"] for layer in data["layers"]][:2] == ["conv1", "dw1"]


def test_cli_workload_csv_and_table(cli):
    r = cli("workload", "mlp", "--csv")
    assert r.code == 0
    lines = r.out.strip().splitlines()
    assert lines[0].startswith("layer,type,input,output,MACs")
    assert len(lines) == 4
    table = cli("workload", "mlp")
    assert table.code == 0 and "234,752" in table.out


WL = """name: t
input_shape: [3, 8, 8]
layers:
  - {name: c1, type: conv2d, filters: 4, kernel: 3, padding: 1}
  - {name: c2, type: conv2d, filters: 4, kernel: 3}
"""


def test_shapes_that_do_not_chain_name_the_layer(write):
    p = write("w.yaml", WL + "  - {name: fc, type: linear, units: 2}\n")
    with pytest.raises(ConfigError) as exc:
        load_workload(p)
    pr = exc.value.problems[0]
    assert pr.path == "layers[2]" and pr.line == 6
    assert "'fc'" in pr.message and "flatten" in pr.message and "[4, 6, 6]" in pr.message


def test_kernel_larger_than_input(write):
    p = write("w.yaml", WL + "  - {name: big, type: conv2d, filters: 2, kernel: 9}\n")
    with pytest.raises(ConfigError, match="kernel 9 .* larger than the padded input 6"):
        load_workload(p)


def test_add_of_different_shapes_and_unknown_input(write):
    p = write("w.yaml", WL + "  - {name: a, type: add, inputs: [c1, c2]}\n"
              "  - {name: b, type: add, inputs: [c2, nope]}\n")
    with pytest.raises(ConfigError) as exc:
        load_workload(p)
    msgs = [pr.message for pr in exc.value.problems]
    assert len(msgs) == 2
    assert "add inputs differ in shape" in msgs[0]
    assert "nope" in msgs[1] and exc.value.problems[1].path == "layers[3].inputs"


def test_unknown_layer_type_and_key(write):
    p = write("w.yaml", WL + "  - {name: x, type: conv3d, filters: 2}\n"
              "  - {name: y, type: conv2d, filters: 2, kernal: 3}\n")
    with pytest.raises(ConfigError) as exc:
        load_workload(p)
    rendered = str(exc.value)
    assert "layers[2].type" in rendered and "conv3d" in rendered
    assert "layers[3].kernal" in rendered and "did you mean 'kernel'" in rendered


def test_duplicate_layer_names(write):
    p = write("w.yaml", WL.replace("name: c2", "name: c1"))
    with pytest.raises(ConfigError, match="used twice"):
        load_workload(p)


def test_negative_and_zero_sizes(write):
    p = write("w.yaml", WL.replace("filters: 4, kernel: 3, padding: 1", "filters: 0, kernel: -3, padding: 1"))
    with pytest.raises(ConfigError) as exc:
        load_workload(p)
    paths = {pr.path for pr in exc.value.problems}
    assert {"layers[0].filters", "layers[0].kernel"} <= paths


def test_unknown_workload_name_lists_builtins():
    with pytest.raises(ConfigError, match="built-in workloads: .*kws_dscnn"):
        load_workload("kws_dscnn2")


def test_padding_variants(write):
    p = write("w.yaml", """name: p
input_shape: [1, 10, 10]
layers:
  - {name: a, type: conv2d, filters: 1, kernel: 3, padding: valid}
  - {name: b, type: conv2d, filters: 1, kernel: 3, stride: 2, padding: same}
  - {name: c, type: conv2d, filters: 1, kernel: [3, 1], padding: [1, 0]}
  - {name: d, type: maxpool, kernel: 2}
  - {name: e, type: conv2d, filters: 1, kernel: 2, padding: [0, 1, 0, 1]}
""")
    w = load_workload(p)
    assert [layer.out_shape for layer in w.layers] == [(1, 8, 8), (1, 4, 4), (1, 4, 4), (1, 2, 2), (1, 2, 2)]


def test_the_gpt2_workloads_weights_are_their_closed_forms():
    """docs/sources.md s3.6: per block 4 w^2 + 2 w f weights; the LM head w x 50,257; at T tokens the
    blocks' MACs are T x their weights plus the attention's 2 x H x T x T x d."""
    for name, (blocks, w, heads, ffn, head, tokens) in {"gpt2_tiny": (2, 128, 2, 512, 0, 32),
                                                          "gpt2_small": (12, 768, 12, 3072, 50257, 128)}.items():
        wl = load_workload(name)
        weights = blocks * (4 * w * w + 2 * w * ffn) + w * head
        assert wl.total_weights == weights, name
        assert wl.total_macs == tokens * weights + blocks * 2 * heads * tokens * tokens * (w // heads), name


def test_the_gpt2_workloads_are_what_their_script_writes(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("make_gpt2", root / "scripts" / "make_gpt2.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    (tmp_path / "workloads").mkdir()
    monkeypatch.setattr(mod, "ROOT", tmp_path)
    mod.main()
    for name in ("gpt2_tiny", "gpt2_small"):
        assert (tmp_path / "workloads" / f"{name}.yaml").read_text() == (root / "workloads" / f"{name}.yaml").read_text()
