"""Long commands report progress: the callbacks reach their total, and the bar stays off the pipe."""

from __future__ import annotations

import pytest

from accelsim.api import characterize_macro, validate_silicon


class Recorder:
    def __init__(self):
        self.calls: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))

    def check(self, total: int) -> None:
        assert self.calls, "no progress was reported"
        dones = [d for d, _ in self.calls]
        assert dones == sorted(dones) and dones[-1] == total  # monotone and complete
        assert {t for _, t in self.calls} == {total}


def test_macro_study_reports_its_five_steps():
    r = Recorder()
    characterize_macro("mram72", macros=2, eval_vectors=4, progress=r)
    r.check(5)


def test_silicon_reports_every_published_point():
    r = Recorder()
    v = validate_silicon(progress=r)
    r.check(len(v.points))


def test_accuracy_reports_float_ideal_and_each_die():
    from accelsim.accuracy.study import evaluate_accuracy, load_test_set
    from accelsim.config import load_arch
    from accelsim.workload import load_workload

    workload = load_workload("kws_dscnn")
    r = Recorder()
    evaluate_accuracy(load_arch("mram72"), workload, load_test_set(workload, samples=20), dies=2, progress=r)
    assert r.calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


@pytest.mark.parametrize("args", [("macro", "--macros", "2", "--vectors", "4"), ("silicon",),
                                  ("accuracy", "--samples", "20")])
def test_no_bar_when_stderr_is_not_a_terminal(cli, args):
    r = cli(*args)
    assert r.code == 0, r.err
    assert r.err == ""
    assert cli(*args, "--quiet").code == 0
