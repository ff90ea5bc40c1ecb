"""Docs stay true: their examples run, and the configuration reference is in sync.

Conventions in docs/*.md and README.md:
- a ```console block's lines starting with ``$ accelsim`` are run in-process
  and must exit 0, unless the line ends with ``# exits N``;
- a ```python block is executed (the blocks of one file share a namespace);
- a ```yaml block that is a whole workload (``input_shape`` and ``layers``),
  a whole architecture (``macro`` and ``chip``) or a whole system (``arch``
  and ``link``) must validate.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(lang: str):
    for doc in DOCS:
        for m in FENCE.finditer(doc.read_text()):
            if m.group(1) == lang:
                yield doc, m.group(2)


def console_commands():
    for doc, body in blocks("console"):
        for line in body.splitlines():
            if line.startswith("$ accelsim "):
                cmd = line[2:]
                code = 0
                m = re.search(r"\s+#\s*exits\s+(\d+)\s*$", cmd)
                if m:
                    code = int(m.group(1))
                    cmd = cmd[: m.start()]
                yield pytest.param(cmd, code, id=f"{doc.name}: {cmd}")


@pytest.mark.parametrize("cmd, expected", list(console_commands()))
def test_console_examples_run(cli, cmd, expected, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    args = shlex.split(cmd)[1:]
    r = cli(*args)
    assert r.code == expected, f"{cmd}\nstdout:\n{r.out[-2000:]}\nstderr:\n{r.err[-2000:]}"


@pytest.mark.parametrize("doc", [d for d in DOCS if "```python" in d.read_text()], ids=lambda d: d.name)
def test_python_examples_run(doc, monkeypatch):
    """A doc's blocks run in order; a doc whose examples import an extra that is not installed
    is skipped, not failed (the extras are optional: README, Extras)."""
    monkeypatch.chdir(ROOT)
    namespace: dict = {"__name__": "__doc_example__"}
    codes = [m.group(2) for m in FENCE.finditer(doc.read_text()) if m.group(1) == "python"]
    for extra in sorted({name for code in codes for name in EXTRA_IMPORT.findall(code)}):
        pytest.importorskip(extra, reason=f"{doc.name}'s examples need the {extra} extra")
    for code in codes:
        exec(compile(code, f"{doc.name}", "exec"), namespace)


#: top-level imports of the optional extras' packages in an example
EXTRA_IMPORT = re.compile(r"^\s*(?:import|from)\s+(onnx|onnxruntime|dask|distributed|matplotlib|pandas|torch)\b",
                          re.MULTILINE)


def yaml_documents():
    for doc, body in blocks("yaml"):
        data = yaml.safe_load(body)
        if isinstance(data, dict) and (
            {"input_shape", "layers"} <= set(data) or {"macro", "chip"} <= set(data)
            or {"arch", "link"} <= set(data)
        ):
            yield pytest.param(data, id=f"{doc.name}: {data.get('name')}")


@pytest.mark.parametrize("data", list(yaml_documents()))
def test_yaml_examples_validate(data, tmp_path):
    from accelsim.config import arch_from_dict
    from accelsim.workload import workload_from_dict

    if "layers" in data:
        workload_from_dict(data)
    elif "link" in data:  # loaded as a file: its chips found and checked against one another
        from accelsim.config.system import load_system

        path = tmp_path / "system.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        load_system(path)
    else:
        arch_from_dict(data)


def test_configuration_reference_is_generated_from_the_schema():
    spec = importlib.util.spec_from_file_location("gen_configuration", ROOT / "docs" / "gen_configuration.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == mod.render(), "run: python docs/gen_configuration.py > docs/configuration.md"
