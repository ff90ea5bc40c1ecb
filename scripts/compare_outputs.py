"""Compare accelsim's JSON outputs between this checkout and another.

Run: ``python scripts/compare_outputs.py OTHER_CHECKOUT [--quick]``. Runs
``run --json`` on every shipped workload, ``macro --json`` on mram72 and on
every macro of the library, ``silicon --json`` and ``accuracy --json`` (kws_dscnn)
from both checkouts (each one's source folder first on PYTHONPATH, run from
it) and prints every dotted path whose value differs. Exit code 0 when all
outputs are identical, 1 otherwise. A refactoring keeps them identical; a
change that fixes a bug names the paths it changes. ``--quick`` leaves out
the slow cases (resnet18_imagenet, mobilenet_v1, bert_tiny_layer, accuracy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ("kws_dscnn", "mlp", "resnet18_cifar10", "mobilenet_v1", "resnet18_imagenet", "bert_tiny_layer")
SLOW = {"mobilenet_v1", "resnet18_imagenet", "bert_tiny_layer"}


def cases(quick: bool) -> list[list[str]]:
    out = [["run", w, "--json", "--quiet"] for w in WORKLOADS if not (quick and w in SLOW)]
    out.append(["macro", "--json"])
    for path in sorted((ROOT / "configs" / "macros").glob("*.yaml")):
        if path.name != "validation.yaml":
            out.append(["macro", "--arch", f"configs/macros/{path.name}", "--json"])
    out.append(["silicon", "--json"])
    if not quick:
        out.append(["accuracy", "--json"])
    return out


def output(checkout: Path, args: list[str]) -> object:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    done = subprocess.run([sys.executable, "-m", "accelsim", *args], cwd=checkout, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        return {"exit code": done.returncode, "stderr": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout)


def differences(a: object, b: object, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in list(a) + [k for k in b if k not in a]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(f"{sub}: {'missing' if key not in a else a[key]!r} -> "
                           f"{'missing' if key not in b else b[key]!r}")
            else:
                out += differences(a[key], b[key], sub)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {_short(a)} -> {_short(b)}"]


def _short(v: object) -> str:
    text = json.dumps(v)
    return text if len(text) <= 120 else text[:117] + "..."


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__)
        return 2
    other = Path(argv[0]).resolve()
    quick = "--quick" in argv[1:]
    same = True
    for args in cases(quick):
        diffs = differences(output(other, args), output(ROOT, args))
        label = " ".join(args)
        if diffs:
            same = False
            print(f"DIFFERS  {label}: {len(diffs)} paths")
            for d in diffs[:40]:
                print(f"    {d}")
        else:
            print(f"same     {label}", flush=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
