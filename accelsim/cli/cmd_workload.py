"""``accelsim workload``: the layers of a network, their shapes, MACs and weight matrices."""

from __future__ import annotations

import argparse
import sys

from accelsim.cli.common import add_output_format
from accelsim.report.console import stdout_console, table, to_csv, to_json
from accelsim.workload import load_workload

COLUMNS = ("layer", "type", "input", "output", "MACs", "weights", "K x N", "groups", "vectors")


def register(sub) -> None:
    p = sub.add_parser("workload", help="show a workload's layers, shapes, MACs and weights",
                       description="Show a workload's layers: type, input/output shape, MACs, "
                       "weights and the unrolled weight matrix K x N, with totals.")
    p.add_argument("workload", nargs="?", default="kws_dscnn",
                   help="workload YAML path or built-in name (default: kws_dscnn)")
    add_output_format(p)
    p.set_defaults(func=run)


def _rows(w):
    for layer in w.layers:
        yield (layer.name, layer.kind, " + ".join("x".join(map(str, s)) for s in layer.in_shapes),
               "x".join(map(str, layer.out_shape)), layer.macs, layer.weights,
               f"{layer.k}x{layer.n}" if layer.k else "", layer.groups if layer.k else "",
               layer.vectors if layer.k else "")


def to_dict(w) -> dict:
    return {
        "name": w.name,
        "description": w.description,
        "input_shape": list(w.input_shape),
        "total_macs": w.total_macs,
        "total_weights": w.total_weights,
        "layers": [
            {"name": layer.name, "type": layer.kind, "inputs": list(layer.inputs),
             "input_shapes": [list(s) for s in layer.in_shapes], "output_shape": list(layer.out_shape),
             "macs": layer.macs, "weights": layer.weights, "k": layer.k, "n": layer.n,
             "groups": layer.groups, "vectors": layer.vectors, "digital_ops": layer.digital_ops}
            for layer in w.layers
        ],
    }


def run(args: argparse.Namespace) -> int:
    w = load_workload(args.workload)
    if args.json:
        sys.stdout.write(to_json(to_dict(w)) + "\n")
    elif args.csv:
        sys.stdout.write(to_csv(COLUMNS, _rows(w)))
    else:
        numeric = [False] * 4 + [True] * 5
        footer = ["total", "", "", "", w.total_macs, w.total_weights, "", "", ""]
        con = stdout_console()
        con.print(table(f"{w.name}: {w.description}", COLUMNS, _rows(w), numeric, footer))
        con.print(f"{len(w.layers)} layers, {w.total_macs / 1e6:,.3f} M MACs, "
                  f"{w.total_weights / 1e6:,.4f} M weights per inference")
    return 0
