"""The history database (schema, appending, importing, two writers at once), series and their
change points, and the baseline made from the last stable segment. Numbers come from synthetic
histories (tests/history_data.py); expected values are computed here from what was put in."""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

import duckdb
import pytest
from history_data import BASE_MS, normalized, run_document, stepped

from rtbench import gate
from rtbench.gate import Verdict
from rtbench.history import HistoryError
from rtbench.history.baseline import history_baseline
from rtbench.history.series import PENALTY, find_series
from rtbench.history.store import (
    SCHEMA_VERSION,
    accept,
    add_files,
    machine_key,
    read_points,
    record,
)

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}


def derived(env: dict) -> str:
    """The documented derived fingerprint, restated: SHA-256 of the four facts as JSON."""
    facts = [env.get(k) for k in ("cpu_model", "cpu_count", "device_name", "torch")]
    return "derived-" + hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- the store


def test_a_recorded_run_reads_back_as_its_rows(tmp_path):
    db = tmp_path / "h.duckdb"
    doc = run_document(3, {"A": 0.2, "E": 0.25})
    doc["environment"]["git_branch"] = "feature/x"  # as measure.env records it
    assert record(db, [doc], "check").added == 1
    points = read_points(db)
    assert sorted(points["variant"]) == ["A", "E"]
    for row in doc["rows"]:
        point = points[points["variant"] == row["variant"]].iloc[0]
        assert point["latency_normalized"] == row["latency_normalized"]
        assert list(point["latency_normalized_samples"]) == row["latency_normalized_samples"]
        assert list(point["latency_samples_ms"]) == row["latency_samples_ms"]
        assert point["params"] == row["params"] and point["runtime"] == "eager"
    first = points.iloc[0]
    assert (first["git_commit"], first["git_branch"], first["git_dirty"]) == ("c03", "feature/x", 0)
    assert first["source"] == "check" and first["fingerprint"] == derived(doc["environment"])
    assert str(first["created"]) == "2026-01-01 03:00:00"
    assert json.loads(first["config"])["threads"] == 2
    with duckdb.connect(str(db), read_only=True) as con:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    assert meta["schema_version"] == str(SCHEMA_VERSION) == "2"
    assert not first["accepted"]  # a check's runs are references only when it passed


def test_a_version_1_history_reads_and_migrates_with_only_its_baselines_accepted(tmp_path):
    db = tmp_path / "h.duckdb"
    record(db, [run_document(0, {"A": 0.2})], "baseline")
    record(db, [run_document(1, {"A": 0.2})], "check")
    with duckdb.connect(str(db)) as con:  # what version 1 wrote: no table of accepted runs
        con.execute("DROP TABLE accepted")
        con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    assert read_points(db)["accepted"].tolist() == [True, False]  # read as it is
    record(db, [run_document(2, {"A": 0.2})], "check", accepted=True)  # writing migrates
    assert read_points(db)["accepted"].tolist() == [True, False, True]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            "2",
        )


def test_accepting_a_commit_makes_its_runs_references(tmp_path):
    db = tmp_path / "h.duckdb"
    record(db, [run_document(i, {"A": 0.2}) for i in range(3)], "check")
    assert accept(db, "c01") == ("c01", 1)
    assert read_points(db)["accepted"].tolist() == [False, True, False]
    with pytest.raises(HistoryError, match="no run of commit 'c09'"):
        accept(db, "c09")
    with pytest.raises(HistoryError, match="not a commit"):
        accept(db, "c")
    assert accept(db, "c01") == ("c01", 1)  # accepting twice changes nothing


def test_a_document_is_recorded_once(tmp_path):
    db = tmp_path / "h.duckdb"
    docs = stepped(n=3)
    assert record(db, docs[:2], "run").added == 2
    again = record(db, docs, "run")
    assert (again.added, again.known) == (1, 2)
    assert read_points(db)["id"].nunique() == 3


def test_imported_files_keep_their_commit_and_older_versions_upgrade(tmp_path):
    db = tmp_path / "h.duckdb"
    new, old = run_document(0, {"A": 0.2}), run_document(1, {"A": 0.21})
    old["schema"] = "rtbench.results/1"  # as version 1 wrote it: no runtime names
    del old["config"]["runtimes"]
    old["config"] |= {"compile": False, "cuda_graphs": False}
    for row in old["rows"]:
        del row["runtime"]
    old["environment"]["git_branch"] = "release"
    files = []
    for name, doc in (("new.json", new), ("old.json", old)):
        (tmp_path / name).write_text(json.dumps(doc))
        files.append(tmp_path / name)
    assert add_files(db, files).added == 2
    points = read_points(db).set_index("git_commit")
    assert points.loc["c01", "runtime"] == "eager" and points.loc["c01", "git_branch"] == "release"
    assert points.loc["c00", "git_branch"] is None
    assert points.loc["c01", "file"] == str(tmp_path / "old.json")
    assert add_files(db, files).known == 2


def test_what_is_not_a_history_is_refused_in_one_line(tmp_path):
    text = tmp_path / "notes.duckdb"
    text.write_text("not a database " * 100)
    with pytest.raises(HistoryError, match="cannot open") as err:
        record(text, stepped(n=1), "run")
    assert "\n" not in str(err.value)
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(HistoryError, match="not an rtbench history"):
        read_points(other)
    newer = tmp_path / "newer.duckdb"
    record(newer, stepped(n=1), "run")
    with duckdb.connect(str(newer)) as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(HistoryError, match="schema version '99'"):
        record(newer, stepped(n=2), "run")
    with pytest.raises(HistoryError, match="no history database"):
        read_points(tmp_path / "missing.duckdb")


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def test_a_locked_history_is_waited_for_then_given_up_on(tmp_path):
    db = tmp_path / "h.duckdb"
    record(db, stepped(n=1), "run")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db), "1.5"],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout.readline().strip() == "holding"
    with pytest.raises(HistoryError, match=r"another process \(PID \d+\) kept .* locked"):
        record(db, stepped(n=2)[1:], "run", wait_s=0.3)  # gives up, nothing written
    assert record(db, stepped(n=2)[1:], "run", wait_s=30).added == 1  # waits for the holder
    holder.wait(timeout=10)
    assert read_points(db)["id"].nunique() == 2


WRITER = """
import sys, time
from pathlib import Path
from history_data import run_document
from rtbench.history.store import record
db, first, go = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
Path(sys.argv[4]).touch()  # imported: ready
while not go.exists():
    time.sleep(0.005)
for i in range(first, first + 10):
    record(db, [run_document(i, {"A": 0.2, "E": 0.25})], "check")
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    db, go = tmp_path / "h.duckdb", tmp_path / "go"
    ready = [tmp_path / "ready0", tmp_path / "ready1"]
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(first), str(go),
                                 str(flag)], env=ENV, stderr=subprocess.PIPE, text=True)
               for first, flag in zip((0, 10), ready, strict=True)]  # fmt: skip
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # both are waiting for it: they start writing together
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()[-2000:]
    points = read_points(db)
    assert sorted(points["git_commit"].unique()) == [f"c{i:02d}" for i in range(20)]
    assert len(points) == 40


# ---------------------------------------------------------------------------- the machine


def test_the_recorded_fingerprint_wins_else_one_is_derived():
    env = {"cpu_model": "EPYC", "cpu_count": 2, "device_name": "EPYC", "torch": "2.13.0"}
    assert machine_key({**env, "fingerprint": "x86-avx512-abc"}) == "x86-avx512-abc"
    assert machine_key(env) == derived(env) == machine_key(dict(env))
    assert machine_key({**env, "cpu_count": 4}) != machine_key(env)
    assert machine_key({**env, "torch": "2.14.0"}) != machine_key(env)


# ---------------------------------------------------------------------------- series


def test_a_step_is_found_at_the_first_run_after_it(tmp_path):
    db = tmp_path / "h.duckdb"
    record(db, stepped(n=12, at=6, factor=1.5), "check")
    found = {s.key["variant"]: s for s in find_series(read_points(db))}
    assert set(found) == set(BASE_MS) and all(len(s.points) == 12 for s in found.values())
    assert found["A"].change_points == () and found["Ds5"].change_points == ()
    (change,) = found["E"].change_points
    assert (change.position, change.commit) == (6, "c06")
    before = median(normalized("E", i) for i in range(6))
    after = median(normalized("E", i, 1.5) for i in range(6, 12))
    assert change.step == pytest.approx(after / before - 1, rel=1e-9)
    assert change.score > PENALTY
    assert list(found["E"].segment["git_commit"]) == [f"c{i:02d}" for i in range(6, 12)]


def test_twenty_runs_without_a_change_have_no_change_point(tmp_path):
    db = tmp_path / "h.duckdb"
    record(db, stepped(n=20, factor=1.0), "check")
    found = find_series(read_points(db))
    assert len(found) == 3 and all(s.change_points == () for s in found)
    assert all(len(s.segment) == 20 for s in found)


def test_a_series_is_one_work_and_place_not_one_note_or_sample_count(tmp_path):
    db = tmp_path / "h.duckdb"
    values = {"A": 0.2}
    docs = [run_document(0, values), run_document(1, values, threads=4),  # a note: same series
            run_document(2, values, iters=50),  # how long it sampled: same series
            run_document(3, values, size=320),  # other work
            run_document(4, values, device_name="Other CPU")]  # another machine  # fmt: skip
    record(db, docs, "run")
    found = find_series(read_points(db))
    commits = sorted(tuple(s.points["git_commit"]) for s in found)
    assert commits == [("c00", "c01", "c02"), ("c03",), ("c04",)]


# ---------------------------------------------------------------------------- the baseline


def test_the_history_baseline_is_the_accepted_runs_since_the_last_change_point(tmp_path):
    db = tmp_path / "h.duckdb"
    docs = stepped(n=12, at=6, factor=1.5)  # E 1.5x from c06: a change accepted
    record(db, docs, "check", accepted=True)
    failing = run_document(12, {v: normalized(v, 12, 3.0 if v == "E" else 1.0) for v in BASE_MS})
    record(db, [failing], "check")  # a failing check's run: never a reference
    fallback = docs[:3]
    env = docs[0]["environment"]
    made = history_baseline(read_points(db), fallback, fingerprint=derived(env),
                            calibration="calib-v2")  # fmt: skip
    assert made.from_history
    assert [r["run_id"] for r in made.runs] == [d["run_id"] for d in docs[6:]]
    for made_run, doc in zip(made.runs, docs[6:], strict=True):
        assert [r["latency_normalized_samples"] for r in made_run["rows"]] == [
            r["latency_normalized_samples"] for r in doc["rows"]]  # fmt: skip
        assert made_run["calibration"] == {"name": "calib-v2", "median_ms": 50.0}
    assert made.runs[0]["rows"][2]["params"] == docs[-1]["rows"][2]["params"]
    slow_now = [run_document(i, {v: normalized(v, i, 1.5 if v == "E" else 1.0) for v in BASE_MS})
                for i in (13, 14, 15)]  # fmt: skip
    assert not gate.compare(made.runs, slow_now).failed
    against_file = {r.variant: r.verdict for r in gate.compare(fallback, slow_now).rows}
    assert against_file["E"] == Verdict.SLOWER


def test_a_failing_check_is_never_adopted(tmp_path):
    # the regression that history mode once adopted after one failing check: its runs (and any
    # measured again) are recorded, not accepted, and the next check still fails
    db = tmp_path / "h.duckdb"
    docs = stepped(n=8, at=99)
    record(db, docs, "baseline", accepted=True)
    slow = [run_document(i, {v: normalized(v, i, 1.5 if v == "E" else 1.0) for v in BASE_MS})
            for i in (8, 9, 10, 11)]  # fmt: skip
    record(db, slow[:2], "check")
    made = history_baseline(read_points(db), docs[:3], fingerprint=derived(
        docs[0]["environment"]), calibration="calib-v2")  # fmt: skip
    assert [r["run_id"] for r in made.runs] == [d["run_id"] for d in docs]
    report = gate.compare(made.runs, slow[2:])
    assert {r.variant: r.verdict for r in report.rows}["E"] == Verdict.SLOWER


def test_without_accepted_runs_of_this_machine_the_file_is_the_baseline(tmp_path):
    db = tmp_path / "h.duckdb"
    docs = stepped(n=4)
    record(db, docs, "check", accepted=True)
    points = read_points(db)
    elsewhere = history_baseline(points, docs[:3], fingerprint="another", calibration="calib-v2")
    assert not elsewhere.from_history and "no accepted runs of A (eager)" in elsewhere.why_not
    assert [r["run_id"] for r in elsewhere.runs] == [d["run_id"] for d in docs[:3]]
    other_calibration = history_baseline(points, docs[:3], fingerprint=derived(
        docs[0]["environment"]), calibration="calib-v3")  # fmt: skip
    assert not other_calibration.from_history
    record(tmp_path / "few.duckdb", docs[:2], "check", accepted=True)
    few = history_baseline(read_points(tmp_path / "few.duckdb"), docs[:3],
                           fingerprint=derived(docs[0]["environment"]),
                           calibration="calib-v2")  # fmt: skip
    assert "2 accepted run(s)" in few.why_not
