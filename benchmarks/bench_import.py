"""Peak memory and wall time of importing a large ONNX model.

Run: ``python benchmarks/bench_import.py [--against CHECKOUT] [--external] [MODEL ...]``.
Builds, with onnx.helper and random weights (nothing is downloaded), models of
the size of two real exports and writes them to a temporary folder:

- ``vgg11``: torchvision's VGG11 at 224 x 224 (eight 3 x 3 convolutions with
  ReLU and max-pooling, then Gemm 25088 x 4096, 4096 x 4096, 4096 x 1000):
  132.9 M parameters, a 531 MB (507 MiB) file;
- ``vit_b16``: a ViT-B/16 encoder at 224 x 224 (16 x 16 patch convolution,
  position embedding, 12 blocks of layer-norm, 12-head attention with Q, K, V
  and output projections, layer-norm, a 768 x 3072 x 768 GELU MLP, then a
  768 x 1000 head on every token): 86.6 M parameters, a 346 MB (330 MiB) file.

Each model is imported (``accelsim.workload.onnx_import.import_onnx``) in a
fresh Python process, which reports its own peak resident memory (VmHWM of
/proc/self/status; ``ru_maxrss`` where there is no /proc, but on Linux a
child's ``ru_maxrss`` starts at its parent's size) and the import's wall time; the table gives them with the
file size and the ratio of the peak to the file size. With ``--against`` the
same files are imported by another checkout of accelsim too (its folder put
first on PYTHONPATH), for a before/after comparison on the same files and
machine. ``--external`` also saves each model with its weights as external
data (``onnx.save(..., save_as_external_data=True)``) and imports that.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODELS = ("vgg11", "vit_b16")


class _Writer:
    """Nodes and initializers of a graph being written; weights are random float32."""

    def __init__(self):
        from onnx import numpy_helper

        self.to_tensor = numpy_helper.from_array
        self.nodes: list = []
        self.inits: list = []
        self.rng = np.random.default_rng(0)
        self.n = 0

    def const(self, value: np.ndarray) -> str:
        self.n += 1
        name = f"c{self.n}"
        self.inits.append(self.to_tensor(np.asarray(value), name))
        return name

    def weight(self, *shape: int) -> str:
        return self.const(self.rng.standard_normal(shape, dtype=np.float32) * 0.02)

    def __call__(self, op: str, *inputs: str, **attrs) -> str:
        from onnx import helper

        self.n += 1
        out = f"t{self.n}"
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=f"/{op}_{self.n}", **attrs))
        return out

    def model(self, out: str, out_shape: list[int], opset: int):
        from onnx import TensorProto, helper

        graph = helper.make_graph(self.nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                   [1, 3, 224, 224])],
                                  [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 9
        return model


def vgg11():
    g = _Writer()
    x, channels = "input", 3
    for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
        if v == "M":
            x = g("MaxPool", x, kernel_shape=[2, 2], strides=[2, 2])
            continue
        x = g("Relu", g("Conv", x, g.weight(v, channels, 3, 3), g.weight(v), pads=[1, 1, 1, 1]))
        channels = v
    x = g("Flatten", x)
    for n_in, n_out, relu in ((25088, 4096, True), (4096, 4096, True), (4096, 1000, False)):
        x = g("Gemm", x, g.weight(n_out, n_in), g.weight(n_out), transB=1)
        x = g("Relu", x) if relu else x
    return g.model(x, [1, 1000], 17)


def vit_b16(blocks: int = 12, dim: int = 768, heads: int = 12, mlp: int = 3072):
    g = _Writer()
    tokens, d = 196, dim // heads
    x = g("Conv", "input", g.weight(dim, 3, 16, 16), g.weight(dim), strides=[16, 16])
    x = g("Transpose", g("Reshape", x, g.const(np.array([1, dim, tokens], np.int64))), perm=[0, 2, 1])
    x = g("Add", x, g.weight(1, tokens, dim))

    def norm(t: str) -> str:
        return g("LayerNormalization", t, g.const(np.ones(dim, np.float32)), g.const(np.zeros(dim, np.float32)),
                 axis=-1)

    def linear(t: str, n_in: int, n_out: int) -> str:
        return g("Add", g("MatMul", t, g.weight(n_in, n_out)), g.weight(n_out))

    def split_heads(t: str, perm: list[int]) -> str:
        return g("Transpose", g("Reshape", t, g.const(np.array([1, tokens, heads, d], np.int64))), perm=perm)

    for _ in range(blocks):
        h = norm(x)
        q = split_heads(linear(h, dim, dim), [0, 2, 1, 3])
        k = split_heads(linear(h, dim, dim), [0, 2, 3, 1])
        v = split_heads(linear(h, dim, dim), [0, 2, 1, 3])
        p = g("Softmax", g("Mul", g("MatMul", q, k), g.const(np.float32(d ** -0.5))), axis=-1)
        c = g("Reshape", g("Transpose", g("MatMul", p, v), perm=[0, 2, 1, 3]),
              g.const(np.array([1, tokens, dim], np.int64)))
        x = g("Add", x, linear(c, dim, dim))
        x = g("Add", x, linear(g("Gelu", linear(norm(x), dim, mlp)), mlp, dim))
    return g.model(linear(norm(x), dim, 1000), [1, tokens, 1000], 20)


def write(name: str, folder: Path, external: bool = False) -> Path:
    import onnx

    model = globals()[name]()
    path = folder / (f"{name}_ext.onnx" if external else f"{name}.onnx")
    if external:
        onnx.save(model, path, save_as_external_data=True, location=f"{name}_ext.data")
    else:
        onnx.save(model, path)
    return path


def _peak_mb() -> float:
    """This process's peak resident memory: /proc's VmHWM where there is one (ru_maxrss of a
    child starts at its parent's size on Linux, which carries it across exec), else ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(path: str) -> None:
    from accelsim.workload.onnx_import import import_onnx

    t0 = time.perf_counter()
    model = import_onnx(path)
    wall = time.perf_counter() - t0
    print(f"{wall:.3f} {_peak_mb():.1f} {len(model.data['layers'])}")


def measure(path: Path, checkout: str | None = None) -> tuple[float, float, int]:
    """(wall s, peak MB, layers) of one import in a fresh Python process."""
    env = dict(os.environ)
    if checkout:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (checkout, env.get("PYTHONPATH")) if p)
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(path)], check=True,
                         capture_output=True, text=True, env=env, cwd=checkout or os.getcwd())
    wall, mb, layers = out.stdout.split()
    return float(wall), float(mb), int(layers)


def _file_mb(path: Path) -> float:
    data = [path] + [p for p in path.parent.iterdir() if p.suffix == ".data" and p.stem == path.stem]
    return sum(p.stat().st_size for p in data) / 2**20


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        _child(argv[1])
        return
    against = None
    if argv[:1] == ["--against"]:
        against, argv = os.path.abspath(argv[1]), argv[2:]
    external = "--external" in argv
    names = [a for a in argv if a in MODELS] or list(MODELS)
    print(f"{'model':16s} {'code':8s} {'file MiB':>8s} {'peak MiB':>8s} {'peak/file':>9s} {'wall s':>7s} {'layers':>6s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            paths = [write(name, Path(tmp))] + ([write(name, Path(tmp), external=True)] if external else [])
            for path in paths:
                size = _file_mb(path)
                for label, checkout in (("this", None), ("against", against)):
                    if label == "against" and not against:
                        continue
                    wall, mb, layers = measure(path, checkout)
                    print(f"{path.stem:16s} {label:8s} {size:8.1f} {mb:8.1f} {mb / size:9.2f} {wall:7.2f} {layers:6d}",
                          flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
