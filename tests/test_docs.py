"""Docs stay true: their examples run, and the configuration reference is in sync.

Conventions in docs/*.md and README.md:
- a ```console block's lines starting with ``$ accelsim`` are run in-process
  and must exit 0, unless the line ends with ``# exits N``;
- a ```python block is executed (the blocks of one file share a namespace);
- a ```yaml block that is a whole workload (``input_shape`` and ``layers``) or
  a whole architecture (``macro`` and ``chip``) must validate.
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
    monkeypatch.chdir(ROOT)
    namespace: dict = {"__name__": "__doc_example__"}
    for m in FENCE.finditer(doc.read_text()):
        if m.group(1) == "python":
            exec(compile(m.group(2), f"{doc.name}", "exec"), namespace)


def yaml_documents():
    for doc, body in blocks("yaml"):
        data = yaml.safe_load(body)
        if isinstance(data, dict) and (
            {"input_shape", "layers"} <= set(data) or {"macro", "chip"} <= set(data)
        ):
            yield pytest.param(data, id=f"{doc.name}: {data.get('name')}")


@pytest.mark.parametrize("data", list(yaml_documents()))
def test_yaml_examples_validate(data):
    from accelsim.config import arch_from_dict
    from accelsim.workload import workload_from_dict

    if "layers" in data:
        workload_from_dict(data)
    else:
        arch_from_dict(data)


def test_configuration_reference_is_generated_from_the_schema():
    spec = importlib.util.spec_from_file_location("gen_configuration", ROOT / "docs" / "gen_configuration.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == mod.render(), "run: python docs/gen_configuration.py > docs/configuration.md"
