"""A hostile-input and consistency hunt on ``accelsim generate`` (fast mode) and on the import of
decoders with past keys and values (docs/decoding.md, docs/onnx.md, docs/reports.md Generation).

- A table of command lines (the format of tests/test_hostile_commands.py): odd combinations that must
  run (their JSON parsed and checked) and mistakes that must be refused (exit 2, a short message, no
  traceback) or fail as a simulation (exit 1).
- Fast mode against exact mode on small cases: equal counts, KV traffic and cache homes at every step,
  latency and energy within 1 %, the simulated steps including 0, every N-th and the last, the
  decode rate the sum of the steps' latencies, each step's energy its counts priced plus leakage.
- Determinism, the steps table at 80 columns, the progress callback.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from cli_cases import C, Case

from accelsim.config import load_arch
from accelsim.config.options import RunOptions
from accelsim.config.system import load_system
from accelsim.decoding import generate
from accelsim.workload import load_workload

BITS = 8  # mram72's activation bits

# ---- workloads written for the hunt ---------------------------------------------------------------------

#: a cache of [T, F] (no heads), read by a matmul
KV_2D = """name: kv2d
input_shape: [4, 16]
layers:
  - {name: k, type: linear, units: 16}
  - {name: kc, type: kv_cache}
  - {name: q, type: linear, units: 16, inputs: input}
  - {name: s, type: matmul, inputs: [q, kc], transpose_b: true}
"""
#: a cache that nothing reads: the network's output
KV_ONLY = """name: kvonly
input_shape: [4, 16]
layers:
  - {name: kc, type: kv_cache}
"""
#: a cache of one dimension: not [T, F] nor [H, T, F]
KV_1D = """name: kv1d
input_shape: [4, 16]
layers:
  - {name: f, type: reshape, shape: [64]}
  - {name: kc, type: kv_cache}
"""
#: a file that states a past (generate sets every pass's own)
PAST_5 = KV_2D.replace("name: kv2d", "name: past5").replace("type: kv_cache}", "type: kv_cache, past: 5}")
#: a negative past
PAST_NEG = KV_ONLY.replace("type: kv_cache}", "type: kv_cache, past: -3}")


# ---- the table ------------------------------------------------------------------------------------------

TWO = ("--system", "mram72x4_ucie", "--set", "chips=2")

RUNS = [
    # ---- odd combinations that must run (their JSON is checked by _check_json)
    C("decode-0", "generate", "--prefill", "8", "--decode", "0", code=0),
    C("decode-0-fast", "generate", "--prefill", "8", "--decode", "0", "--fast", code=0),
    C("decode-1-fast", "generate", "--prefill", "8", "--decode", "1", "--fast", code=0),
    C("decode-2-fast", "generate", "--prefill", "8", "--decode", "2", "--fast", code=0),
    C("fast-larger-than-decode", "generate", "--prefill", "8", "--decode", "5", "--fast", "100000", code=0),
    C("fast-1", "generate", "--prefill", "8", "--decode", "4", "--fast", "1", code=0),
    C("fast-tile-home-fits", "generate", "--prefill", "4", "--decode", "6", "--fast", "2", "--kv-cache", "tile",
      *TWO, "--set", "chip.tile_buffer_kib=16", code=0),
    C("fast-global", "generate", "--prefill", "8", "--decode", "6", "--fast", "2", "--kv-cache", "global", *TWO,
      code=0),
    C("fast-offchip", "generate", "--prefill", "8", "--decode", "6", "--fast", "2", "--kv-cache", "offchip", code=0),
    C("fast-auto", "generate", "--prefill", "8", "--decode", "6", "--fast", "2", "--kv-cache", "auto", code=0),
    C("fast-grouped", "generate", "--prefill", "8", "--decode", "6", "--fast", "3", "--mode", "grouped", code=0),
    C("system-one-chip", "generate", "--prefill", "8", "--decode", "3", "--fast", "2", "--system", "mram72x4_ucie",
      "--set", "chips=1", code=0),
    C("pcie-system", "generate", "--prefill", "8", "--decode", "3", "--fast", "2", "--system", "mram72x4_pcie",
      code=0),
    C("tiny-tile-buffer-spills", "generate", "--prefill", "8", "--decode", "4", "--fast", "2", "--set",
      "chip.tile_buffer_kib=0.01", code=0),
    C("llama", "generate", "llama_tiny", "--prefill", "8", "--decode", "4", "--fast", "2", *TWO, code=0),
    C("cache-of-two-dims", "generate", "kv2d.yaml", "--prefill", "4", "--decode", "6", "--fast", "2",
      files={"kv2d.yaml": KV_2D}, code=0),
    C("file-states-a-past", "generate", "past5.yaml", "--prefill", "3", "--decode", "2", files={"past5.yaml": PAST_5},
      code=0),
    C("one-bit-activations", "generate", "--prefill", "8", "--decode", "3", "--fast", "2", "--set",
      "chip.activation_bits=1", code=0),
]

REFUSED = [
    # ---- the command line
    C("prefill-0", "generate", "--prefill", "0", says=("--prefill must be between 1 and",)),
    C("prefill-too-many", "generate", "--prefill", "100001", says=("--prefill must be between 1 and 100,000",)),
    C("decode-too-many", "generate", "--decode", "100001", says=("--decode must be between 0 and 100,000",)),
    C("fast-too-large", "generate", "--fast", "100001", says=("--fast N must be between 1 and 100,000",)),
    C("fast-takes-the-workload", "generate", "--fast", "llama_tiny", says=("argument --fast: invalid int value",)),
    C("mode-unknown", "generate", "--mode", "fastest", says=("invalid choice: 'fastest'",)),
    C("workload-unknown", "generate", "gpt3", says=("gpt3: no such file", "built-in workloads")),
    C("system-unknown", "generate", "--system", "nosuch", says=("no built-in system",)),
    C("arch-and-system", "generate", "--system", "mram72x4_ucie", "--arch", "macros/jia_jssc20",
      says=("leave --arch macros/jia_jssc20 out",)),
    C("chips-0", "generate", "--system", "mram72x4_ucie", "--set", "chips=0", says=("--set chips", "greater than 0")),
    C("chips-on-a-chip", "generate", "--set", "chips=2", says=("--set chips", "unknown key 'chips'")),
    C("tile-buffer-0", "generate", "--set", "chip.tile_buffer_kib=0", says=("chip.tile_buffer_kib", "greater than 0")),
    C("input-shape-on-yaml", "generate", "--input-shape", "input=1,8,128",
      says=("an input shape can only be given for an ONNX model",)),
    # ---- not a decoder
    C("not-a-decoder-mlp", "generate", "mlp", says=("mlp has no kv_cache layer",)),
    C("not-a-decoder-cnn", "generate", "kws_dscnn", says=("kws_dscnn has no kv_cache layer",)),
    C("not-a-decoder-onnx", "generate", "digits_cnn", says=("digits_cnn has no kv_cache layer",)),
    C("not-a-decoder-encoder", "generate", "bert_tiny_layer", says=("bert_tiny_layer has no kv_cache layer",)),
    C("cache-of-one-dim", "generate", "kv1d.yaml", files={"kv1d.yaml": KV_1D},
      says=("kv1d.yaml:5", "kv_cache takes [T, F] or [H, T, F]", "got [64]")),
    C("negative-past", "generate", "neg.yaml", files={"neg.yaml": PAST_NEG},
      says=("neg.yaml:4", "layers[0].past: value -3")),
    # ---- the cache's home
    C("tile-home-does-not-fit", "generate", "--prefill", "32", "--decode", "1", "--kv-cache", "tile", "--fast",
      says=("--kv-cache: value 'tile'", "takes", "bits; the tile")),
    C("tile-home-tiny-buffer", "generate", "--prefill", "8", "--decode", "2", "--kv-cache", "tile", "--set",
      "chip.tile_buffer_kib=0.01", says=("the KV cache 'l0_k_cache' takes 8,192 bits; the tile1 buffer holds 81",)),
    C("global-home-outgrown-mid-run", "generate", "--prefill", "8", "--decode", "20", "--fast", "4", "--kv-cache",
      "global", *TWO, "--set", "chip.global_buffer_kib=9", says=("--kv-cache: value 'global'", "chip0 global buffer")),
    C("global-home-several-rounds", "generate", "--prefill", "8", "--decode", "2", "--kv-cache", "global", "--arch",
      "macros/jia_jssc20", says=("written and read in different programming rounds",)),
    # ---- a simulation that cannot be carried out
    C("too-few-chips", "generate", "--prefill", "8", "--decode", "2", "--system", "mram72x4_ucie", "--set", "chips=1",
      "--set", "reprogramming=false", code=1, says=("gpt2_tiny needs 2 chips",)),
    C("no-buffer-holds-a-vector", "generate", "--prefill", "8", "--decode", "2", "--set", "chip.tile_buffer_kib=0.01",
      "--set", "chip.global_buffer_kib=0.01", code=1, says=("layer 'l0_q' needs one vector's input window",)),
]


def _run(case: Case, cli, tmp_path, monkeypatch):
    for name, text in case.files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    r = cli(*case.args, "--quiet", *(("--json",) if case.code == 0 else ()))
    assert r.code == case.code, f"exit {r.code}, expected {case.code}\nstderr: {r.err}\nstdout: {r.out[-2000:]}"
    assert "Traceback" not in r.err and "Traceback" not in r.out, r.err
    return r


def _finite(value, where: str) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _finite(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite(v, f"{where}[{i}]")
    else:
        assert value is not None, f"{where} is null"
        if isinstance(value, float):
            assert math.isfinite(value), f"{where} = {value}"


def _check_json(d: dict, args: tuple[str, ...]) -> None:
    """Every figure a finite number, every step simulated or not and with its counts, the required
    steps simulated, the decode rate the sum of the steps' latencies; with nothing decoded, the
    per-decoded-token figures null (0 / 0) and every other figure a finite number."""
    if not d["steps"]:
        d = {k: v for k, v in d.items() if not (k.startswith("decode_") and k != "decode_tokens")
             and not k.endswith("_per_token")}
    _finite(d, "json")
    n, steps = d["sample_every"], d["steps"]
    assert len(steps) == d["decode_tokens"]
    assert d["prefill"]["simulated"] is True and d["prefill"]["new_tokens"] == d["prefill_tokens"]
    for i, s in enumerate(steps):
        assert isinstance(s["simulated"], bool) and s["counts"], i
        assert s["new_tokens"] == 1 and s["past_tokens"] == d["prefill_tokens"] + i
        assert s["latency_s"] > 0 and s["energy_j"] > 0
    must = {i for i in range(len(steps)) if i % n == 0 or i == len(steps) - 1}
    assert must <= {i for i, s in enumerate(steps) if s["simulated"]}
    if steps:
        total = sum(s["latency_s"] for s in steps)
        assert d["decode_tokens_per_s"] == pytest.approx(len(steps) / total, rel=1e-9)
        assert d["decode_latency_first_s"] == steps[0]["latency_s"]
        assert d["decode_latency_last_s"] == steps[-1]["latency_s"]
    if "--fast" in args:
        i = args.index("--fast")
        given = args[i + 1] if i + 1 < len(args) and args[i + 1].isdigit() else "16"
        assert n == int(given)


@pytest.mark.parametrize("case", RUNS, ids=[c.id for c in RUNS])
def test_an_odd_combination_runs_and_its_json_holds(case: Case, cli, tmp_path, monkeypatch):
    r = _run(case, cli, tmp_path, monkeypatch)
    _check_json(json.loads(r.out), case.args)


@pytest.mark.parametrize("case", REFUSED, ids=[c.id for c in REFUSED])
def test_a_mistake_is_refused_in_one_line(case: Case, cli, tmp_path, monkeypatch):
    r = _run(case, cli, tmp_path, monkeypatch)
    for s in case.says:
        assert s in r.err, f"{s!r} not in:\n{r.err}"
    assert not r.out.strip()
    if "usage:" not in r.err:  # argparse's own refusals print the usage first
        assert r.err.count("\n") == 1, r.err


def test_decode_0_reports_the_prefill_alone(cli):
    r = cli("generate", "--prefill", "8", "--decode", "0", "--json", "--quiet")
    d = json.loads(r.out)
    assert d["steps"] == [] and d["kv_cache_bits"] == 2 * 2 * 2 * 8 * 64 * BITS  # the prefill's context
    per_token = ("decode_tokens_per_s", "decode_latency_first_s", "decode_latency_last_s", "decode_energy_per_token_j",
                 "kv_read_bits_per_token", "kv_written_bits_per_token")
    assert all(d[k] is None for k in per_token)  # 0 / 0: nothing decoded, not a rate of 0
    table = cli("generate", "--prefill", "8", "--decode", "0", "--quiet").out
    assert "nothing decoded" in table and "steps simulated" not in table


def test_fast_1_is_exact_mode(cli):
    exact = cli("generate", "--prefill", "8", "--decode", "4", "--json", "--quiet").out
    assert cli("generate", "--prefill", "8", "--decode", "4", "--fast", "1", "--json", "--quiet").out == exact


# ---- fast mode against exact mode -----------------------------------------------------------------------

def _arch(name: str, sets: tuple[str, ...]):
    return load_system(name, list(sets)) if name.startswith("mram72x4") else load_arch(name, list(sets))


def _energy(counts: dict, arch, latency_s: float) -> float:
    """docs/reports.md: the counts times the energy per action plus the leakage over the latency."""
    from accelsim.cost.energy import energy_per_action_pj, leakage_power_w
    from accelsim.counts import ActionCounts

    table = energy_per_action_pj(arch)
    return sum(n * table[a] * 1e-12 for a, n in ActionCounts(counts).items()) + leakage_power_w(arch) * latency_s


CASES = [  # (workload, arch, --set, prefill, decode, N, kv_home, mode)
    ("gpt2_tiny", "mram72x4_ucie", ("chips=2",), 4, 16, 3, "auto", None),
    ("gpt2_tiny", "mram72", (), 40, 10, 4, "auto", None),
    # the caches outgrow their tile buffers mid-run and move to the global buffer
    ("gpt2_tiny", "mram72x4_ucie", ("chips=2", "chip.tile_buffer_kib=2"), 8, 16, 8, "auto", None),
    ("gpt2_tiny", "mram72", ("chip.tile_buffer_kib=3", "chip.global_buffer_kib=4"), 12, 12, 5, "offchip", None),
    ("gpt2_tiny", "mram72x4_ucie", ("chips=3",), 16, 12, 16, "auto", "grouped"),
    ("llama_tiny", "mram72x4_ucie", ("chips=2",), 12, 8, 3, "auto", None),
    ("llama_tiny", "mram72", (), 4, 8, 16, "global", None),
]


@pytest.mark.parametrize("wl, arch, sets, prefill, decode, n, home, mode", CASES,
                         ids=[f"{c[0]}-{c[1]}{'-' + '-'.join(c[2]) if c[2] else ''}-P{c[3]}-D{c[4]}-N{c[5]}-{c[6]}"
                              f"{'-' + c[7] if c[7] else ''}" for c in CASES])
def test_fast_mode_is_exact_mode_within_1_percent_at_every_step(wl, arch, sets, prefill, decode, n, home, mode):
    machine, workload = _arch(arch, sets), load_workload(wl)
    kw = dict(kv_home=home, options=RunOptions(mode=mode))
    exact = generate(workload, machine, prefill, decode, **kw)
    fast = generate(workload, machine, prefill, decode, sample_every=n, **kw)
    assert fast.prefill == exact.prefill and fast.sample_every == n
    simulated = {i for i, s in enumerate(fast.steps) if s.simulated}
    assert {0, decode - 1} | set(range(0, decode, n)) <= simulated
    for i, (e, f) in enumerate(zip(exact.steps, fast.steps, strict=True)):
        assert f.counts == e.counts, i
        assert (f.kv_read_bits, f.kv_written_bits, f.kv_stores, f.rounds) == \
            (e.kv_read_bits, e.kv_written_bits, e.kv_stores, e.rounds), i
        assert f.latency_s == pytest.approx(e.latency_s, rel=0.01), i
        assert f.energy_j == pytest.approx(e.energy_j, rel=0.01), i
        assert f.energy_j == pytest.approx(_energy(f.counts, machine, f.latency_s), rel=1e-9), i
        if f.simulated:
            assert f == e, i
    for r in (exact, fast):
        assert r.decode_tokens_per_s == pytest.approx(decode / sum(s.latency_s for s in r.steps), rel=1e-12)
        assert r.decode_energy_per_token_j == pytest.approx(sum(s.energy_j for s in r.steps) / decode, rel=1e-12)
    assert fast.kv_spilled == exact.kv_spilled and fast.kv_cache_bits == exact.kv_cache_bits
    assert fast.decode_tokens_per_s == pytest.approx(exact.decode_tokens_per_s, rel=0.01)


def test_the_same_generation_twice_is_the_same_json(cli):
    args = ("generate", "--prefill", "6", "--decode", "10", "--fast", "3", *TWO,
            "--set", "chip.tile_buffer_kib=2", "--json", "--quiet")
    first = cli(*args).out
    cli("generate", "--prefill", "5", "--decode", "3", "--quiet")  # another generation between the two
    assert cli(*args).out == first


def test_the_progress_counts_every_pass_once():
    seen = []
    generate(load_workload("gpt2_tiny"), load_arch("mram72"), 8, 9, sample_every=4,
             progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 10) for i in range(1, 11)]


def test_the_steps_table_fits_80_columns(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    for workload in ("gpt2_tiny", "llama_tiny"):
        r = cli("generate", workload, "--prefill", "8", "--decode", "14", "--fast", "4", "--steps", "--quiet", *TWO)
        assert r.code == 0, r.err
        lines = r.out.splitlines()
        assert max(len(line) for line in lines) <= 80, "\n".join(lines)
        # 12 of the 14 steps, evenly spread, the first and the last among them; fast mode says which ran
        rows = [line for line in lines[lines.index(next(x for x in lines if x.startswith("decoding steps"))):]
                if line.startswith("│") and line.split("│")[1].strip().isdigit()]
        assert len(rows) == 12 and rows[0].split("│")[1].strip() == "9" and rows[-1].split("│")[1].strip() == "22"
        assert any("interpolated" in row for row in rows)


# ---- decoders imported from ONNX ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def onnx_decoders(tmp_path_factory):
    pytest.importorskip("onnx")
    from onnx_models import gpt2_with_past, llama_with_past, save

    folder = tmp_path_factory.mktemp("decoders")
    return {"gpt2": save(gpt2_with_past(), folder / "gpt2_past.onnx"),
            "llama_gqa": save(llama_with_past(kv_heads=2, past=True, hf=False), folder / "llama_gqa.onnx")}


def _pasts(past: int, heads: int, d: int, blocks: int = 2) -> list[str]:
    return [f"--input-shape=past_key_values.{i}.{part}=1,{heads},{past},{d}" for i in range(blocks)
            for part in ("key", "value")]


def test_an_imported_step_generates_as_the_shipped_decoder_at_other_counts(cli, onnx_decoders):
    args = ("--prefill", "5", "--decode", "6", "--fast", "2", "--json", "--quiet")
    shipped = json.loads(cli("generate", "gpt2_tiny", *args).out)
    r = cli("generate", onnx_decoders["gpt2"], "--input-shape=input=1,1,128", *_pasts(7, 2, 64), *args)
    assert r.code == 0, r.err
    imported = json.loads(r.out)
    assert imported["time_to_first_token_s"] == shipped["time_to_first_token_s"]
    assert [s["counts"] for s in imported["steps"]] == [s["counts"] for s in shipped["steps"]]
    assert [s["latency_s"] for s in imported["steps"]] == [s["latency_s"] for s in shipped["steps"]]


def test_a_past_of_another_size_than_the_model_s_is_refused(cli, onnx_decoders):
    r = cli("generate", onnx_decoders["gpt2"], "--input-shape=input=1,1,128", *_pasts(7, 3, 64), "--quiet")
    assert r.code == 2 and "Traceback" not in r.err and "past_key_values.0.key" in r.err


def test_a_with_past_model_imports_as_a_prefill_from_the_command_line(cli, onnx_decoders):
    # the importer asks for it: "give it with --input-shape past_key_values.0.key=1,H,P,D (H heads, P past
    # tokens, 0 for a prefill, D per head)"
    asked = cli("generate", onnx_decoders["gpt2"], "--quiet")
    assert asked.code == 2 and "0 for a prefill" in asked.err
    # from Python a past of 0 imports, and generates as gpt2_tiny
    shapes = {"input": (1, 16, 128), **{f"past_key_values.{i}.{p}": (1, 2, 0, 64) for i in range(2)
                                        for p in ("key", "value")}}
    arch = load_arch("mram72")
    imported, shipped = (generate(wl, arch, 8, 2) for wl in (load_workload(onnx_decoders["gpt2"], shapes),
                                                            load_workload("gpt2_tiny")))
    assert [(s.latency_s, s.counts) for s in imported.steps] == [(s.latency_s, s.counts) for s in shipped.steps]
    r = cli("generate", onnx_decoders["gpt2"], "--input-shape=input=1,16,128", *_pasts(0, 2, 64),
            "--prefill", "8", "--decode", "2", "--json", "--quiet")
    assert r.code == 0, r.err


def test_an_imported_grouped_view_generates_at_another_pass_shape(cli, onnx_decoders):
    """Imported as a decoding step (P 7, T 1), the grouped view keeps its -1 rows: the prefill of 16 and
    the steps after it fit it (docs/onnx.md)."""
    r = cli("generate", onnx_decoders["llama_gqa"], "--input-shape=inputs_embeds=1,1,128", *_pasts(7, 2, 32),
            "--prefill", "16", "--decode", "2", "--quiet", "--json")
    assert r.code == 0 and "Traceback" not in r.err, r.err
    assert len(json.loads(r.out)["steps"]) == 2


def test_an_unknown_input_shape_name_lists_every_input_the_model_takes(cli, onnx_decoders):
    r = cli("generate", onnx_decoders["gpt2"], "--input-shape=nosuch=1,2", "--input-shape=input=1,1,128",
            *_pasts(7, 2, 64), "--quiet")
    assert r.code == 2 and "nosuch" in r.err
    assert "past_key_values.0.key" in r.err, r.err


# ---- defects in the messages around generate ------------------------------------------------------------

def test_an_unknown_section_in_an_override_is_blamed_on_the_override(cli):
    r = cli("generate", "--set", "nosuch.key=3", "--quiet")
    assert r.code == 2 and "unknown key 'nosuch'" in r.err
    assert "--set nosuch" in r.err and "mram72.yaml" not in r.err, r.err


def test_a_cache_nobody_reads_is_not_said_to_be_read_in_another_round(cli, tmp_path, monkeypatch):
    (tmp_path / "kvonly.yaml").write_text(KV_ONLY)
    monkeypatch.chdir(tmp_path)
    r = cli("generate", "kvonly.yaml", "--prefill", "4", "--decode", "2", "--kv-cache", "tile", "--json", "--quiet")
    assert "Traceback" not in r.err
    assert "read in different programming rounds" not in r.err, r.err
    if r.code == 0:
        assert json.loads(r.out)["steps"][0]["rounds"] == 1


def test_the_workload_file_is_not_touched(cli, tmp_path, monkeypatch):
    path = Path(tmp_path / "kv2d.yaml")
    path.write_text(KV_2D)
    monkeypatch.chdir(tmp_path)
    assert cli("generate", "kv2d.yaml", "--prefill", "4", "--decode", "3", "--fast", "2", "--quiet").code == 0
    assert path.read_text() == KV_2D and sorted(p.name for p in tmp_path.iterdir()) == ["kv2d.yaml"]
