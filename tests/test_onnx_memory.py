"""Importing an ONNX model needs little more memory than its weights: the large
initializers stay out of the ONNX graph (no copy by the checker, shape inference or
folding) and are read from the file, or from external data, when a layer takes them."""

# ruff: noqa: E402  (onnx is imported after pytest.importorskip)
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper

from accelsim.errors import ConfigError
from accelsim.workload.onnx_import import import_onnx
from accelsim.workload.onnx_import.load import load_model
from accelsim.workload.onnx_import.tensors import LARGE_BYTES

FLOAT = TensorProto.FLOAT


def _mlp(widths=(1024, 4096, 1024, 10), seed: int = 0):
    """A dense network as torch exports one (Gemm, transB=1, Relu): 8.4 M weights (33.6 MB)
    with the default widths."""
    rng = np.random.default_rng(seed)
    nodes, inits, x = [], [], "x"
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        inits += [numpy_helper.from_array(rng.standard_normal((n_out, n_in), dtype=np.float32) * 0.02, f"fc{i}.weight"),
                  numpy_helper.from_array(rng.standard_normal(n_out, dtype=np.float32) * 0.02, f"fc{i}.bias")]
        nodes.append(helper.make_node("Gemm", [x, f"fc{i}.weight", f"fc{i}.bias"], [f"h{i}"], name=f"/fc{i}/Gemm",
                                      transB=1))
        x = f"h{i}"
        if i < len(widths) - 2:
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"], name=f"/relu{i}/Relu"))
            x = f"r{i}"
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", FLOAT, ["batch", widths[0]])],
                              [helper.make_tensor_value_info(x, FLOAT, ["batch", widths[-1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _convs(channels: int = 1024, seed: int = 0):
    """Two 3 x 3 convolutions of 1024 channels (37.7 MB of weights each), with a ReLU
    between them, on a 4 x 4 image."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.standard_normal((channels, channels, 3, 3), dtype=np.float32) * 0.02,
                                     f"conv{i}.weight") for i in range(2)]
    nodes = [helper.make_node("Conv", ["x", "conv0.weight"], ["c0"], name="/conv0/Conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c0"], ["r0"], name="/relu0/Relu"),
             helper.make_node("Conv", ["r0", "conv1.weight"], ["c1"], name="/conv1/Conv", pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "convs", [helper.make_tensor_value_info("x", FLOAT, [1, channels, 4, 4])],
                              [helper.make_tensor_value_info("c1", FLOAT, [1, channels, 4, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


# The child's own peak: /proc's VmHWM, reset after a first import has loaded every module the
# import uses (ru_maxrss would start at the parent's size: Linux carries it across exec).
_CHILD = textwrap.dedent("""
    import sys
    from accelsim.workload.onnx_import import import_onnx

    def status(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

    import_onnx(sys.argv[1])
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    base = status("VmRSS:")
    model = import_onnx(sys.argv[2])
    print(base, status("VmHWM:"), sum(w.nbytes for w in model.weights.values()))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak memory from /proc")
@pytest.mark.parametrize("external", [False, True])
def test_import_needs_little_more_than_the_file_size(tmp_path, external):
    """Measured: the import adds 1.01x the file size (33.7 MB) to the process: the weights and
    nothing else (the Gemm's weights are taken as read, not multiplied by alpha = 1 into a copy,
    which added 0.5x: the largest layer); it added 6.0x (6.5x with external data) when every
    initializer went through the ONNX graph."""
    big, small = tmp_path / "mlp.onnx", tmp_path / "tiny.onnx"
    model = _mlp()
    if external:
        onnx.save(model, big, save_as_external_data=True, location="mlp.data")
        size = big.stat().st_size + (tmp_path / "mlp.data").stat().st_size
    else:
        onnx.save(model, big)
        size = big.stat().st_size
    onnx.save(_mlp((8, 8, 2), seed=1), small)
    assert 30e6 < size < 40e6
    out = subprocess.run([sys.executable, "-c", _CHILD, str(small), str(big)], check=True, capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    base, peak, weights = (int(v) for v in out.stdout.split())
    assert weights > 0.99 * size  # the imported weights are the whole file
    assert (peak - base) / size < 1.25


def test_large_initializers_stay_out_of_the_graph(tmp_path):
    path = tmp_path / "mlp.onnx"
    onnx.save(_mlp(), path)
    model, tensors = load_model(onnx, str(path))
    large = {"fc0.weight", "fc1.weight"}  # 4096 x 1024 float32 each; fc2.weight (10 x 1024) is 40 KB
    assert set(tensors.stored) == large
    assert large.isdisjoint(t.name for t in model.graph.initializer)
    assert {i.name for i in model.graph.input} == {"x"} | large
    assert model.ByteSize() < LARGE_BYTES  # the graph without the weights
    np.testing.assert_array_equal(tensors["fc1.weight"], numpy_helper.to_array(_mlp().graph.initializer[2]))


def test_a_model_with_external_data_imports(tmp_path):
    inline, external = tmp_path / "a.onnx", tmp_path / "sub" / "b.onnx"
    external.parent.mkdir()
    onnx.save(_mlp(), inline)
    # every tensor external, the small ones too (they are read back into the graph)
    onnx.save(_mlp(), external, save_as_external_data=True, location="b.weights", size_threshold=0)
    a, b = import_onnx(inline), import_onnx(external)
    assert [layer["type"] for layer in b.data["layers"]] == ["linear", "linear", "linear"]
    assert a.data["layers"] == b.data["layers"] and set(a.weights) == set(b.weights)
    for key in a.weights:
        np.testing.assert_array_equal(a.weights[key], b.weights[key])
    _, tensors = load_model(onnx, str(external))
    assert set(tensors.stored) == {"fc0.weight", "fc1.weight"}


def test_missing_external_data_is_an_error_naming_the_tensor(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_mlp(), path, save_as_external_data=True, location="m.data")
    (tmp_path / "m.data").unlink()
    with pytest.raises(ConfigError, match="initializer 'fc0.weight' keeps its data in 'm.data', which is missing"):
        import_onnx(path)


def test_external_data_outside_the_model_folder_is_refused(tmp_path):
    model = _mlp()
    tensor = model.graph.initializer[0]
    tensor.data_location = TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    tensor.external_data.add(key="location", value="../secret.bin")
    (tmp_path / "sub").mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\0" * 4096 * 1024 * 4)
    path = tmp_path / "sub" / "m.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ConfigError, match="names its external data file '../secret.bin', which is not a file in the"):
        import_onnx(path)


def test_a_truncated_model_is_not_readable(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_mlp(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError, match="not a readable ONNX model"):
        import_onnx(path)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak memory from /proc")
def test_convolution_weights_are_taken_without_a_copy(tmp_path):
    """Measured: 1.00x the file size (75.5 MB) added, the weights; a float32 conversion that
    copied float32 weights added 0.5x more (the largest layer's, again)."""
    big, small = tmp_path / "convs.onnx", tmp_path / "tiny.onnx"
    onnx.save(_convs(), big)
    onnx.save(_convs(8, seed=1), small)
    size = big.stat().st_size
    out = subprocess.run([sys.executable, "-c", _CHILD, str(small), str(big)], check=True, capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    base, peak, weights = (int(v) for v in out.stdout.split())
    assert weights > 0.99 * size
    assert (peak - base) / size < 1.25


def test_raw_data_of_the_wrong_size_is_an_error_naming_the_tensor(tmp_path):
    model = _mlp()
    model.graph.initializer[0].dims[0] = 4097
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    with pytest.raises(ConfigError, match="initializer 'fc0.weight' holds 16777216 bytes of data, but its shape "
                                          r"\[4097, 1024\] of FLOAT needs 16781312"):
        import_onnx(path)


def test_nodes_computing_on_large_weights_are_evaluated_from_the_file(tmp_path):
    """float16 weights cast to float and transposed before a MatMul (as some exporters write
    them): both nodes folded over the stored tensor, the result computed when read."""
    rng = np.random.default_rng(2)
    w16 = rng.standard_normal((256, 512)).astype(np.float16)  # [N, K], 256 KiB
    nodes = [helper.make_node("Cast", ["w16"], ["w32"], name="/cast", to=FLOAT),
             helper.make_node("Transpose", ["w32"], ["wt"], name="/t", perm=[1, 0]),
             helper.make_node("MatMul", ["x", "wt"], ["y"], name="/fc/MatMul")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", FLOAT, [1, 512])],
                              [helper.make_tensor_value_info("y", FLOAT, [1, 256])],
                              [numpy_helper.from_array(w16, "w16")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    _, tensors = load_model(onnx, str(path))
    assert set(tensors.stored) == {"w16"}
    imported = import_onnx(path)
    assert [layer["type"] for layer in imported.data["layers"]] == ["linear"]
    np.testing.assert_array_equal(imported.weights["fc_MatMul.weight"], w16.astype(np.float32))
