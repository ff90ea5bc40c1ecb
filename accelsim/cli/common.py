"""Argument helpers shared by the sub-commands."""

from __future__ import annotations

import argparse

from accelsim.errors import ConfigError, Problem


def add_output_format(parser: argparse.ArgumentParser) -> None:
    """``--json`` / ``--csv``: machine-readable output only, on stdout."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true", help="print JSON only (machine-readable)")
    group.add_argument("--csv", action="store_true", help="print CSV only (machine-readable)")


def add_arch(parser: argparse.ArgumentParser) -> None:
    """``--arch ARCH`` (a path or a built-in name; ``accelsim list`` shows them) and ``--set``."""
    parser.add_argument("--arch", default="mram72", metavar="ARCH",
                        help="architecture YAML path or built-in name, e.g. mram72 or macros/sinangil_jssc21 "
                        "(accelsim list shows them; default: mram72)")
    add_set(parser)


def add_system(parser: argparse.ArgumentParser) -> None:
    """``--system SYSTEM``: several chips with links between them, instead of one ``--arch`` chip."""
    parser.add_argument("--system", metavar="SYSTEM",
                        help="system YAML path or built-in name, e.g. mram72x4_ucie: several chips of one "
                        "architecture and the links between them (docs/systems.md); replaces --arch")


def load_machine(args: argparse.Namespace, overrides):
    """The architecture ``--arch`` names, or the system ``--system`` names (a UsageError for both)."""
    from accelsim.config import load_arch
    from accelsim.errors import UsageError

    if getattr(args, "system", None):
        if args.arch != "mram72":
            raise UsageError(f"--system {args.system} names its chips' architecture (its arch key); "
                             f"leave --arch {args.arch} out, or use --set to change the chip")
        from accelsim.config.system import load_system

        return load_system(args.system, overrides)
    return load_arch(args.arch, overrides)


def add_set(parser: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable): dotted-path overrides of the architecture."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config field by dotted path, e.g. macro.adc.bits=5 (repeatable; "
                        "accelsim show prints the result)")


def add_input_shape(parser: argparse.ArgumentParser) -> None:
    """``--input-shape NAME=1,3,224,224`` (repeatable): fixes an ONNX model's dynamic input axes."""
    parser.add_argument("--input-shape", dest="input_shapes", action="append", default=[],
                        metavar="NAME=D0,D1,...",
                        help="shape of an ONNX model input, batch axis first, e.g. input=1,3,224,224 "
                        "(needed when the model's input has dynamic axes other than the batch)")


def parse_input_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """``name=1,3,224,224`` -> ``("name", (1, 3, 224, 224))``; a ConfigError otherwise."""
    name, sep, dims = text.partition("=")
    try:
        shape = tuple(int(d) for d in dims.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if not sep or not name.strip() or not shape or any(d < 0 for d in shape):
        raise ConfigError(Problem("expected NAME=D0,D1,... with sizes of 0 or more (0 only for the past "
                                  "tokens of a KV cache), e.g. --input-shape input=1,3,224,224",
                                  file="--input-shape", value=text))
    return name.strip(), shape


def input_shapes_of(args: argparse.Namespace) -> dict[str, tuple[int, ...]] | None:
    """The ``--input-shape`` values as {name: shape}; a ConfigError for a malformed or repeated one."""
    shapes: dict[str, tuple[int, ...]] = {}
    for text in getattr(args, "input_shapes", None) or []:
        name, shape = parse_input_shape(text)
        if name in shapes:
            raise ConfigError(Problem(f"input {name!r} is given twice", file="--input-shape", value=text))
        shapes[name] = shape
    return shapes or None
