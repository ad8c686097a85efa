"""The scripts under benchmarks/ are run by hand (and gpu_check.sh by CI) rather than by this suite,
so a rename inside rtbench can break one unseen: each must still import and answer --help."""

import runpy
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if "__main__" in p.read_text())


def test_every_script_is_found():
    names = {p.stem for p in SCRIPTS}
    assert {"gate_study", "gate_injection", "history_study", "timer_agreement"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_a_script_imports_and_answers_help(script, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the scripts import inject.py beside them
    monkeypatch.setattr(sys, "argv", [str(script), "--help"])
    with pytest.raises(SystemExit) as ended:
        runpy.run_path(str(script), run_name="__main__")
    assert ended.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_the_study_summary_counts_each_condition_and_slowdown_apart(tmp_path, monkeypatch, capsys):
    """Two study files, as two invocations write them (the older one keeps its factor once):
    the table counts per condition and slowdown, across both."""
    import json

    def check(condition, baseline, seconds, **outcome):
        verdicts = {"false_alarm": False, "caught": False, "inconclusive": False, **outcome}
        return {"condition": condition, "baseline": baseline, "seconds": seconds, **verdicts}

    old = {"factor": 1.2, "checks": [
        check("idle", "b1", 100), check("idle", "b2", 140, false_alarm=True),
        check("idle", "b1", 200, inconclusive=True),
        check("slow", "b1", 80, caught=True), check("slow", "b2", 90, caught=True)]}  # fmt: skip
    new = {"factor": 1.1, "slow_variant": "backbone (shared)", "checks": [
        {**check("slow", "b1", 120, caught=True), "factor": 1.1},
        {**check("slow", "b2", 300, inconclusive=True), "factor": 1.1}]}  # fmt: skip
    files = []
    for i, study in enumerate((old, new)):
        files.append(tmp_path / f"study-{i}.json")
        files[-1].write_text(json.dumps(study))
    script = BENCHMARKS / "gate_study.py"
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.setattr(sys, "argv", [str(script), "--summary", *map(str, files)])
    runpy.run_path(str(script), run_name="__main__")
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| idle")
            or line.startswith("| slow")]  # fmt: skip
    # condition, slowdown, checks, baselines, false alarms, caught, inconclusive, median s, max s
    # condition, slowed, slowdown, checks, baselines, false alarms, caught, inconclusive, median
    # s, max s; the older study named no slowed variant: E, as it then always was
    assert rows == [
        "| idle | - | 1x | 3 | 2 | 1 | - | 1 | 140 | 200 |",
        "| slow | E | 1.2x | 2 | 2 | 0 | 2 | 0 | 90 | 90 |",
        "| slow | backbone (shared) | 1.1x | 2 | 2 | 0 | 1 | 1 | 300 | 300 |",
    ]


@pytest.mark.parametrize(
    "failed, slowed, expected",
    [
        (set(), set(), (False, False)),  # unchanged, nothing failed
        ({"E"}, set(), (True, False)),  # unchanged: any failure is a false alarm, E's too
        ({"E"}, {"E"}, (False, True)),
        ({"B", "E"}, {"E"}, (True, True)),
        ({"A"}, {"A", "B", "E"}, (False, True)),  # a shared part: any variant failing catches
        (set(), {"E"}, (False, False)),  # missed
    ],
)
def test_a_check_is_tallied_a_false_alarm_when_anything_not_slowed_failed(
    failed, slowed, expected, monkeypatch
):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    study = runpy.run_path(str(BENCHMARKS / "gate_study.py"))
    assert study["tally"](failed, slowed) == expected
