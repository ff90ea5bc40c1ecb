"""Packaging: every package is listed in setup.cfg, built-ins ship as package data."""

from __future__ import annotations

import configparser

import accelsim
from accelsim.config.resources import builtin_dir, builtin_names


def test_setup_cfg_lists_every_package(root):
    cfg = configparser.ConfigParser()
    cfg.read(root / "setup.cfg")
    listed = {p.strip() for p in cfg["options"]["packages"].split() if p.strip()}
    pkg_root = root / "accelsim"
    present = {"accelsim"} | {
        "accelsim." + ".".join(p.parent.relative_to(pkg_root).parts)
        for p in pkg_root.rglob("__init__.py") if p.parent != pkg_root
    }
    present |= {"accelsim.builtin.configs", "accelsim.builtin.workloads"}
    assert present - listed == set(), "add these to setup.cfg [options] packages"


def test_builtins_are_found(root):
    assert "mram72" in builtin_names("configs")
    assert {"kws_dscnn", "resnet18_cifar10", "resnet18_imagenet", "mobilenet_v1", "mlp"} <= set(
        builtin_names("workloads"))
    assert (builtin_dir("configs") / "mram72.yaml").read_text() == (root / "configs" / "mram72.yaml").read_text()


def test_version_is_a_string():
    assert isinstance(accelsim.__version__, str) and accelsim.__version__.count(".") == 2
