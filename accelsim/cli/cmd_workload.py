"""``accelsim workload``: the layers of a network, their shapes, MACs and weight matrices."""

from __future__ import annotations

import argparse
import sys

from accelsim.cli.common import add_input_shape, add_output_format, input_shapes_of
from accelsim.report.console import stdout_console, table, to_csv, to_json
from accelsim.workload import load_workload

COLUMNS = ("layer", "type", "input", "output", "MACs", "weights", "K x N", "groups", "vectors", "class")

#: how each layer class is named in the table
CLASS_NAMES = {"weights": "weight MVM", "activation_matmul": "act x act", "digital": "digital",
               "data_movement": "data movement"}


def register(sub) -> None:
    p = sub.add_parser("workload", help="show a workload's layers, shapes, MACs and weights",
                       description="Show a workload's layers: type, input/output shape, MACs, "
                       "weights and the unrolled weight matrix K x N, with totals. Reads a "
                       "workload YAML, a built-in name or an ONNX model (the onnx extra).")
    p.add_argument("workload", nargs="?", default="kws_dscnn",
                   help="workload YAML path, built-in name or .onnx model (default: kws_dscnn)")
    add_input_shape(p)
    add_output_format(p)
    p.set_defaults(func=run)


def _rows(w):
    for layer in w.layers:
        yield (layer.name, layer.kind, " + ".join("x".join(map(str, s)) for s in layer.in_shapes),
               "x".join(map(str, layer.out_shape)), layer.macs, layer.weights,
               f"{layer.k}x{layer.n}" if layer.k else "", layer.groups if layer.k else "",
               layer.vectors if layer.k else "", CLASS_NAMES[layer.category])


def _macs_by_class(w) -> dict[str, int]:
    out = dict.fromkeys(CLASS_NAMES, 0)
    for layer in w.layers:
        out[layer.category] += layer.macs
    return out


def to_dict(w) -> dict:
    return {
        "name": w.name,
        "description": w.description,
        "input_shape": list(w.input_shape),
        "total_macs": w.total_macs,
        "total_weights": w.total_weights,
        "macs_by_class": _macs_by_class(w),
        "data_movement_layers": [layer.name for layer in w.data_movement_layers],
        "layers": [
            {"name": layer.name, "type": layer.kind, "inputs": list(layer.inputs),
             "input_shapes": [list(s) for s in layer.in_shapes], "output_shape": list(layer.out_shape),
             "macs": layer.macs, "weights": layer.weights, "k": layer.k, "n": layer.n,
             "groups": layer.groups, "vectors": layer.vectors, "digital_ops": layer.digital_ops,
             "class": layer.category}
            for layer in w.layers
        ],
    }


def run(args: argparse.Namespace) -> int:
    w = load_workload(args.workload, input_shapes_of(args))
    if args.json:
        sys.stdout.write(to_json(to_dict(w)) + "\n")
    elif args.csv:
        sys.stdout.write(to_csv(COLUMNS, _rows(w)))
    else:
        numeric = [False] * 4 + [True] * 5 + [False]
        footer = ["total", "", "", "", w.total_macs, w.total_weights, "", "", "", ""]
        con = stdout_console()
        con.print(table(f"{w.name}: {w.description}", COLUMNS, _rows(w), numeric, footer))
        con.print(f"{len(w.layers)} layers, {w.total_macs / 1e6:,.3f} M MACs, "
                  f"{w.total_weights / 1e6:,.4f} M weights per inference")
        by_class = _macs_by_class(w)
        if by_class["activation_matmul"]:
            con.print(f"activation x activation MACs: {by_class['activation_matmul']:,} "
                      f"({by_class['activation_matmul'] / w.total_macs:.1%}); both operands change every "
                      "inference, so they are not weight-stationary")
        moves = w.data_movement_layers
        if moves:
            con.print(f"{len(moves)} data-movement layer{'s' if len(moves) > 1 else ''} (no arithmetic): "
                      + ", ".join(f"{layer.name} ({layer.kind})" for layer in moves))
    return 0
