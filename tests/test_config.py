"""Architecture configs: loading, round trips, overrides, and every bad input."""

from __future__ import annotations

import re

import pydantic
import pytest
import yaml

from accelsim.config import ArchConfig, arch_from_dict, load_arch
from accelsim.errors import ConfigError


@pytest.fixture
def base(root) -> dict:
    return yaml.safe_load((root / "configs" / "mram72.yaml").read_text())


def dump(tmp_path, data, name="arch.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def test_default_loads_by_name_and_by_path(root):
    by_name = load_arch("mram72")
    by_path = load_arch(root / "configs" / "mram72.yaml")
    assert by_name == by_path
    assert by_name.chip.macros == 72
    assert by_name.macro.rows == 64 and by_name.macro.adc.bits == 6


def test_round_trip_through_dict_and_yaml(tmp_path):
    arch = load_arch()
    again = load_arch(dump(tmp_path, arch.model_dump(mode="json", by_alias=True)))
    assert again == arch


def test_models_are_frozen():
    arch = load_arch()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        arch.macro.rows = 128  # type: ignore[misc]


def test_overrides_change_fields_and_are_validated():
    arch = load_arch("mram72", ["macro.adc.bits=5", "interconnect.topology=mesh"])
    assert arch.macro.adc.bits == 5
    assert arch.interconnect.topology == "mesh"
    with pytest.raises(ConfigError) as exc:
        load_arch("mram72", ["macro.adc.bits=0"])
    text = str(exc.value)
    assert "--set macro.adc.bits" in text and "macro.adc.bits" in text and "0" in text


def test_override_of_unknown_key_suggests():
    with pytest.raises(ConfigError) as exc:
        load_arch("mram72", ["macro.adc.bitz=5"])
    assert "did you mean 'bits'" in str(exc.value)


def test_override_syntax_error():
    with pytest.raises(ConfigError, match="dotted.path=value"):
        load_arch("mram72", ["macro.adc.bits"])


def problem(exc: pytest.ExceptionInfo, index: int = 0):
    return exc.value.problems[index]


def line_of(path, text):
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return i
    raise AssertionError(text)


def test_unknown_key_names_file_line_path_and_suggestion(tmp_path, base):
    base["macro"]["adc"]["bitz"] = 6
    p = dump(tmp_path, base)
    with pytest.raises(ConfigError) as exc:
        load_arch(p)
    pr = problem(exc)
    assert pr.file == str(p)
    assert pr.line == line_of(p, "bitz:")
    assert pr.path == "macro.adc.bitz"
    assert "unknown key 'bitz'" in pr.message and "did you mean 'bits'" in pr.message


@pytest.mark.parametrize(
    "edit, path, value_text, expected",
    [
        (lambda d: d["macro"].__setitem__("rows", "many"), "macro.rows", "'many'", "integer"),
        (lambda d: d["macro"].__setitem__("rows", 0), "macro.rows", "0", "greater than 0"),
        (lambda d: d["macro"].__setitem__("t_mvm_ns", -5), "macro.t_mvm_ns", "-5", "greater than 0"),
        (lambda d: d["macro"]["adc"].__setitem__("bits", 0), "macro.adc.bits", "0", "greater than or equal to 1"),
        (lambda d: d["macro"]["mtj"].__setitem__("tmr", 0), "macro.mtj.tmr", "0", "greater than 0"),
        (lambda d: d["macro"]["variation"].__setitem__("cell_sigma_r", -0.1),
         "macro.variation.cell_sigma_r", "-0.1", "greater than or equal to 0"),
        (lambda d: d["macro"]["adc"].__setitem__("full_scale", 0), "macro.adc.full_scale", "0", "greater than 0"),
        (lambda d: d["interconnect"].__setitem__("topology", "torus"), "interconnect.topology", "'torus'", "'bus'"),
        (lambda d: d["interconnect"].__setitem__("link_width_bits", 0), "interconnect.link_width_bits", "0",
         "greater than 0"),
        (lambda d: d["chip"].__setitem__("macros", 0), "chip.macros", "0", "greater than 0"),
    ],
)
def test_bad_values_are_reported_with_path_value_and_rule(tmp_path, base, edit, path, value_text, expected):
    edit(base)
    p = dump(tmp_path, base)
    with pytest.raises(ConfigError) as exc:
        load_arch(p)
    pr = problem(exc)
    assert pr.path == path
    assert pr.file == str(p) and pr.line is not None
    rendered = pr.render()
    assert value_text in rendered and expected in rendered
    assert rendered.startswith(f"{p}:{pr.line}: {path}:")


def test_missing_required_field(tmp_path, base):
    del base["macro"]["rows"]
    p = dump(tmp_path, base)
    with pytest.raises(ConfigError) as exc:
        load_arch(p)
    pr = problem(exc)
    assert pr.path == "macro.rows" and "required" in pr.message
    assert pr.line == line_of(p, "macro:")


@pytest.mark.parametrize(
    "edit, path, words",
    [
        (lambda d: d["macro"].update(weight_bits=3), "macro", "multiple of bits_per_cell"),
        (lambda d: d["chip"].update(tiles=8), "chip", "tiles x macros_per_tile"),
        (lambda d: d["macro"]["adc"].update(count=65), "macro", "adc.count"),
        (lambda d: d["macro"].update(weight_encoding="differential", offset_subtraction="analog"), "macro",
         "weight_encoding offset only"),
        (lambda d: d["macro"].update(weight_bits=4, offset_subtraction="analog"), "macro",
         "one converted column per weight"),
    ],
)
def test_physically_meaningless_combinations(tmp_path, base, edit, path, words):
    edit(base)
    p = dump(tmp_path, base)
    with pytest.raises(ConfigError) as exc:
        load_arch(p)
    pr = problem(exc)
    assert pr.path == path and words in pr.message and pr.line is not None


def test_several_errors_reported_together(tmp_path, base):
    base["macro"]["rows"] = -1
    base["clock"]["frequency_mhz"] = "fast"
    base["interconnect"]["hops"] = 3
    p = dump(tmp_path, base)
    with pytest.raises(ConfigError) as exc:
        load_arch(p)
    paths = {pr.path for pr in exc.value.problems}
    assert {"macro.rows", "clock.frequency_mhz", "interconnect.hops"} <= paths
    assert str(exc.value).startswith("3 problems:")


def test_yaml_syntax_error_names_line(write):
    p = write("bad.yaml", "name: x\nmacro:\n  rows: [1, 2\n  columns: 3\n")
    with pytest.raises(ConfigError) as exc:
        load_arch(p)
    pr = problem(exc)
    assert "YAML syntax error" in pr.message and pr.line in (3, 4, 5)


def test_top_level_not_a_mapping(write):
    p = write("list.yaml", "- a\n- b\n")
    with pytest.raises(ConfigError, match="top level .* must be a mapping"):
        load_arch(p)
    empty = write("empty.yaml", "")
    with pytest.raises(ConfigError, match="empty"):
        load_arch(empty)


def test_file_not_found_and_unknown_short_name():
    with pytest.raises(ConfigError, match="file not found"):
        load_arch("no/such/arch.yaml")
    with pytest.raises(ConfigError, match="built-in architectures: .*mram72"):
        load_arch("mram99")


def test_duplicate_keys_are_errors(write):
    p = write("dup.yaml", "name: a\nname: b\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'name' \(first given on line 1\)"):
        load_arch(p)


def test_unsafe_yaml_tags_are_rejected(write):
    p = write("evil.yaml", "name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError):
        load_arch(p)


def test_every_field_is_documented_with_a_description():
    def walk(model, prefix=""):
        for name, field in model.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, ArchConfig.__mro__[1]):
                yield from walk(ann, prefix + name + ".")
            else:
                yield prefix + name, field.description

    undocumented = [name for name, desc in walk(ArchConfig) if not desc]
    assert undocumented == []


def test_every_assumed_figure_in_the_default_config_is_commented(root):
    """Each scalar line of configs/mram72.yaml carries a comment, or its section does."""
    lines = (root / "configs" / "mram72.yaml").read_text().splitlines()
    uncommented = []
    for i, line in enumerate(lines):
        m = re.match(r"\s*(\w+):\s*([0-9.]+)\s*(#.*)?$", line)
        if m and not m.group(3):
            # allowed when the section header or the line above carries the source
            context = " ".join(lines[max(0, i - 3): i])
            if "#" not in context:
                uncommented.append(line.strip())
    assert uncommented == []


def test_arch_from_dict_validates_plain_data(base):
    arch = arch_from_dict(base)
    assert arch.name == "mram72"


def test_human_seconds_picks_the_unit_that_keeps_the_figure_above_one():
    from accelsim.config.limits import human_seconds

    assert human_seconds(90_000) == "1.04 days"
    assert human_seconds(2.5) == "2.5 s"
    assert human_seconds(7.5e-05) == "75 us"
    assert human_seconds(0.012) == "12 ms"
    assert human_seconds(0.0) == "0 ns"
