"""``accelsim import``: an ONNX model written out as an editable workload YAML (+ weights .npz)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accelsim.cli.cmd_workload import CLASS_NAMES
from accelsim.cli.common import add_input_shape, input_shapes_of
from accelsim.errors import ConfigError, Problem, UsageError
from accelsim.files import check_output_file
from accelsim.workload import workload_from_dict
from accelsim.workload.export import save_workload
from accelsim.workload.onnx_import import import_onnx


def register(sub) -> None:
    p = sub.add_parser("import", help="convert an ONNX model into a workload YAML (and weights .npz)",
                       description="Read an ONNX model (the onnx extra: pip install \".[onnx]\" in accelsim's folder) and "
                       "write the equivalent workload YAML, one layer per line, plus NAME.npz with the "
                       "trained weights keyed by layer name when the model has them. Missing folders of "
                       "the output path are created (with your umask's permissions) when the files are "
                       "written, not before: an import that fails creates nothing. An existing file is "
                       "replaced only with --force, and never a directory or a device.")
    p.add_argument("model", metavar="MODEL.onnx", help="the ONNX model")
    p.add_argument("-o", "--output", metavar="NAME.yaml",
                   help="the workload YAML to write; missing folders are created (default: the model's "
                   "name with .yaml, here)")
    p.add_argument("--name", help="the workload's name (default: the output file's stem)")
    p.add_argument("--no-weights", action="store_true", help="do not write the weights .npz")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    add_input_shape(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model_path = Path(args.model)
    if not model_path.is_file():
        raise ConfigError(Problem("file not found", file=str(model_path)))
    out = Path(args.output) if args.output else Path(model_path.stem + ".yaml")
    if out.suffix not in (".yaml", ".yml"):
        raise UsageError(f"the output must be a .yaml file, not {str(out)!r}")
    # a missing folder is created when the files are written (files.atomic_path); a file or a device
    # in the way, or a folder that cannot be written, is refused here, before the import
    check_output_file(out)
    check_output_file(out.with_suffix(".npz"))
    model = import_onnx(model_path, input_shapes_of(args))
    weights = None if args.no_weights else model.weights
    targets = [out] + ([out.with_suffix(".npz")] if weights else [])
    # the .npz is written before the .yaml: a .npz beside no .yaml is what an interrupted import
    # left, and a rerun replaces it
    orphan = weights and not out.exists() and out.with_suffix(".npz").is_file()
    existing = [str(t) for t in targets if t.exists() and not (orphan and t.suffix == ".npz")]
    if existing and not args.force:
        raise UsageError(f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
                         "give --force to overwrite")
    data = dict(model.data, name=args.name or out.stem)
    w = workload_from_dict(data, None, str(model_path))  # never write a file that does not load
    header = (f"{data['description']}.\n"
              f"Written by `accelsim import {model_path.name}`; {w.total_macs:,} MACs, "
              f"{w.total_weights:,} weights per inference.")
    npz = save_workload(data, out, weights, header)
    counts = {name: sum(1 for layer in w.layers if layer.category == cls) for cls, name in CLASS_NAMES.items()}
    sys.stdout.write(
        f"wrote {out}: {len(w.layers)} layers ("
        + ", ".join(f"{n} {name}" for name, n in counts.items() if n)
        + f"), {w.total_macs:,} MACs, {w.total_weights:,} weights"
        + (f"\nwrote {npz}: {len(weights)} arrays" if npz else "") + "\n")
    if npz and model.layer_quantization:
        widths = "/".join(str(b) for b in sorted({q.bits for q in model.layer_quantization.values()}))
        sys.stdout.write(f"the model's own {widths}-bit weight quantisation of {len(model.layer_quantization)} "
                         "layer(s) is in the .npz (<layer>.model_weight_scale, .model_weight_zero_point, "
                         ".model_weight_bits)\n")
    if model.defaults:
        sys.stdout.write(", ".join(f"{name} ({value})" for name, value in model.defaults.items())
                         + " set to Hugging Face's defaults; input_ids is the input\n")
    if model.removed:
        sys.stdout.write(f"no layer for {len(model.removed)} node(s) without effect at inference: "
                         + ", ".join(model.removed) + "\n")
    return 0
