"""The scripts under benchmarks/ are run by hand (and gpu_check.sh by CI) rather than by this suite,
so a rename inside rtbench can break one unseen: each must still import and answer --help."""

import math
import runpy
import sys
from pathlib import Path

import numpy as np
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


def _runs(rng, levels, n, sigma_run, sigma_call=0.04, calls=12, calibration_ms=90.0):
    """n results documents whose rows' normalized calls are exp(level + run offset + noise)."""
    docs = []
    for _ in range(n):
        offset = rng.normal(0.0, sigma_run)
        rows = [{"variant": f"V{i}", "runtime": "eager", "status": "ok",
                 "latency_normalized_samples":
                     np.exp(level + offset + rng.normal(0.0, sigma_call, calls)).tolist()}
                for i, level in enumerate(levels)]  # fmt: skip
        docs.append({"rows": rows, "calibration": {"median_ms": calibration_ms}})
    return docs


def test_a_condition_fit_finds_the_shift_between_a_check_and_its_baseline(monkeypatch):
    """Checks made independently of the code under test (numpy, not the simulation's Model):
    each check's runs land against its baseline's by a shift per row (the condition), a part
    every row shares and one of each row's own, both drawn per check; the fit recovers them."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    fit_condition = runpy.run_path(str(BENCHMARKS / "noise_fit.py"))["fit_condition"]
    rng = np.random.default_rng(7)
    base_levels = np.log([2.7, 3.2, 3.3, 3.3, 2.9, 3.4])
    mean_shift = np.array([0.0, 0.01, -0.02, 0.03, 0.0, 0.02])
    checks = []
    for _ in range(300):
        shift = mean_shift + rng.normal(0.0, 0.02) + rng.normal(0.0, 0.01, 6)
        checks.append((_runs(rng, base_levels, 8, 0.01),
                       _runs(rng, base_levels + shift, 4, 0.015)))  # fmt: skip
    found = fit_condition(checks)
    assert found["checks"] == 300 and found["runs"] == 1200
    assert list(found["shift"]) == [f"V{i}/eager" for i in range(6)]
    assert np.allclose(list(found["shift"].values()), mean_shift, atol=0.006)
    assert found["tau_shared"] == pytest.approx(0.02, rel=0.2)
    assert found["tau_row"] == pytest.approx(0.01, rel=0.2)
    assert found["sigma_run"] == pytest.approx(0.015, rel=0.25)  # the current runs' own
    assert found["sigma_call"] == pytest.approx(0.04, rel=0.1)


def test_a_condition_fit_sees_no_shift_where_runs_alone_vary(monkeypatch):
    """Current runs drawn exactly as their baseline's: the spread of the checks' shifts is the
    runs' own noise, and the fit leaves none of it to the condition."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    fit_condition = runpy.run_path(str(BENCHMARKS / "noise_fit.py"))["fit_condition"]
    rng = np.random.default_rng(11)
    levels = np.log([2.7, 3.2, 3.3, 3.3, 2.9, 3.4])
    checks = [(_runs(rng, levels, 8, 0.013), _runs(rng, levels, 4, 0.013)) for _ in range(300)]
    found = fit_condition(checks)
    assert np.allclose(list(found["shift"].values()), 0.0, atol=0.004)
    assert found["tau_shared"] < 0.004 and found["tau_row"] < 0.003


def _checks(rng, k: int, shift: float = 0.0, slower: float = 0.0) -> list:
    """k unchanged checks against baselines of the same levels: every row of a check's runs
    shifted by `shift`, their calibration read exp(slower) x the baseline's."""
    levels = np.log([2.7, 3.2, 3.3, 3.3, 2.9, 3.4])
    return [(_runs(rng, levels, 8, 0.01),
             _runs(rng, levels + shift, 4, 0.01, calibration_ms=90.0 * math.exp(slower)))
            for _ in range(k)]  # fmt: skip


def test_the_session_term_weighs_every_session_alike():
    """One long session of 60 checks that moved nothing, and 10 short ones (3 checks each) whose
    every row landed 2% above its baseline: a session moves the check, so the term is over
    sessions, sqrt(10 x 0.02^2 / 11) = 1.9%; weighed by checks it would read under 1%."""
    session_term = runpy.run_path(str(BENCHMARKS / "noise_fit.py"))["session_term"]
    rng = np.random.default_rng(5)
    sessions = {("long", "idle"): _checks(rng, 60)}
    sessions |= {(f"short-{i}", "idle"): _checks(rng, 3, 0.02) for i in range(10)}
    sessions[("alone", "idle")] = _checks(rng, 1, 0.5)  # one check is no session: left out
    found = session_term(sessions)
    assert (found["sessions"], found["checks"]) == (11, 90)
    assert found["sd"] == pytest.approx(math.sqrt(10 * 0.02**2 / 11), rel=0.15)
    assert found["slope"] < 0.02  # the calibration never moved


def test_the_session_term_grows_with_how_much_slower_the_calibration_read():
    """Sessions whose calibration read slower by r (0 to 30%, log) and whose checks' rows all
    landed off their baselines by a draw of sd 0.1 r: the fit finds the slope 0.1 and no floor.
    Where the calibration read faster, nothing moved, and the slope is of slower ones only."""
    session_term = runpy.run_path(str(BENCHMARKS / "noise_fit.py"))["session_term"]
    rng = np.random.default_rng(9)
    sessions = {}
    for i in range(40):
        r = 0.3 * i / 39
        checks = [c for _ in range(3) for c in _checks(rng, 1, rng.normal(0.0, 0.1 * r), r)]
        sessions[(f"slow-{i}", "idle")] = checks
        sessions[(f"fast-{i}", "idle")] = _checks(rng, 3, 0.0, -r)
    found = session_term(sessions)
    assert found["slope"] == pytest.approx(0.1, rel=0.25)
    assert found["sd"] < 0.006  # the root of a variance near 0: 0.006^2 is 1% of 0.03^2


def test_a_studys_file_is_found_by_how_its_recorded_path_ends(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    locate = runpy.run_path(str(BENCHMARKS / "noise_fit.py"))["_locate"]
    files = [tmp_path / "0" / "s3" / "idle-1.0-r1" / "runs" / "idle-1.json",
             tmp_path / "0" / "s3" / "idle-1.0-r2" / "runs" / "idle-1.json",
             tmp_path / "1" / "study-epyc" / "t1b" / "baseline-1.json"]  # fmt: skip
    assert locate("/work/main/results/study-1t/s3/idle-1.0-r2/runs/idle-1.json", files) == files[1]
    assert locate("../results/study-epyc/t1b/baseline-1.json", files) == files[2]
    with pytest.raises(SystemExit, match="no one file ends like"):
        locate("elsewhere/runs/idle-1.json", files)  # two end alike: which is not known
    with pytest.raises(SystemExit, match="no one file ends like"):
        locate("baseline-1.json", files)  # a name alone is not enough
