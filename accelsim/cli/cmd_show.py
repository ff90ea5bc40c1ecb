"""``accelsim show``: a file as accelsim reads it, as YAML: every field, defaults included, after --set."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from accelsim.cli.common import add_input_shape, add_set, input_shapes_of
from accelsim.config import load_arch
from accelsim.config.resources import WHAT, identify
from accelsim.config.validate import validate_model
from accelsim.config.yamlio import load_yaml, require_mapping
from accelsim.errors import ConfigError, Problem, UsageError
from accelsim.report.console import to_json


def register(sub) -> None:
    p = sub.add_parser("show", help="print an architecture (after --set), a workload or a sweep as resolved YAML",
                       description="Print a file as accelsim reads it, as YAML: every field, the defaults "
                       "filled in, and for an architecture the --set overrides applied, so that you can see "
                       "what a --set did. The output is a valid file of its kind (save it, edit it, give it "
                       "to --arch). NAME is a path or a built-in name (accelsim list shows them) of an "
                       "architecture, a workload (YAML or ONNX) or a sweep; its kind is read from its "
                       "content. A bad --set is reported as by accelsim run (exit 2).")
    p.add_argument("name", nargs="?", default="mram72", metavar="NAME",
                   help="architecture, workload or sweep: a path or a built-in name (default: mram72)")
    add_set(p)
    add_input_shape(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    p.set_defaults(func=run)


class _Dumper(yaml.SafeDumper):
    """Block style, but a list of plain values on one line (``input_shape: [3, 32, 32]``)."""


def _represent_list(dumper: yaml.SafeDumper, data: list):
    flow = all(not isinstance(v, (dict, list)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def to_yaml(data) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)


def _workload(path: Path, input_shapes) -> dict:
    """A workload's data with every field of every layer (name and type first), shapes checked."""
    from accelsim.workload.graph import build_workload
    from accelsim.workload.schema import WorkloadSpec

    if path.suffix.lower() == ".onnx":
        from accelsim.workload.onnx_import import import_onnx

        data, smap = import_onnx(path, input_shapes).data, None
    else:
        if input_shapes:
            raise ConfigError(Problem("an input shape can only be given for an ONNX model; a workload "
                                      "YAML states its input_shape", file=str(path)))
        data, smap = load_yaml(path)
        data = require_mapping(data, smap, "a workload file")
    spec = validate_model(WorkloadSpec, data, smap)
    build_workload(spec, smap, str(path))  # the layers must chain, as for every other command
    out = spec.model_dump(mode="json", by_alias=True)
    out["layers"] = [{"name": layer.pop("name"), "type": layer.pop("type"), **layer} for layer in out["layers"]]
    return out


def resolved(name: str, overrides=(), input_shapes=None) -> tuple[str, Path, dict]:
    """(kind, file, every field as plain data) of an architecture (after ``overrides``), a workload
    or a sweep named by path or built-in name."""
    found = identify(name)
    if len(found) > 1:
        raise UsageError(f"{name!r} names " + " and ".join(f"the built-in {WHAT[k]} {p}" for k, p in found)
                         + "; give the path of the one to show")
    kind, path = found[0]
    if overrides and kind not in ("arch", "system"):
        raise UsageError(f"--set overrides an architecture's or a system's fields; {name} is a {WHAT[kind]}")
    if input_shapes and kind != "workload":
        raise UsageError(f"--input-shape is for an ONNX model; {name} is a{'n' if kind == 'arch' else ''} "
                         f"{WHAT[kind]}")
    if kind == "arch":
        return kind, path, load_arch(path, overrides).model_dump(mode="json", by_alias=True)
    if kind == "workload":
        return kind, path, _workload(path, input_shapes)
    if kind == "system":  # the chip's architecture with the system section: what every command reads
        from accelsim.config.system import load_system

        return kind, path, load_system(path, overrides).model_dump(mode="json", by_alias=True)
    from accelsim.sweep.runner import load_sweep

    return kind, path, load_sweep(path).spec.model_dump(mode="json", by_alias=True)


def run(args: argparse.Namespace) -> int:
    kind, path, data = resolved(args.name, args.overrides, input_shapes_of(args))
    if args.json:
        sys.stdout.write(to_json(data) + "\n")
        return 0
    sets = "".join(f"\n#   --set {o}" for o in args.overrides)
    sys.stdout.write(f"# {WHAT[kind]} {data.get('name')!r} as accelsim reads {path}: every field, "
                     f"defaults included{', with' if sets else ''}{sets}\n" + to_yaml(data))
    return 0
