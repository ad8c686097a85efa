"""`rtbench history`, `history add`, the commands that record runs, and `check --against history`,
through the CLI. Nothing is measured: where a command measures, `measure` is replaced by one that
returns synthetic documents (tests/history_data.py), so that verdicts hold on a busy machine."""

import csv
import io
import json
import sys
from statistics import median

import pytest
import torch
from history_data import BASE_MS, normalized, run_document, stepped
from typer.testing import CliRunner

from rtbench.cli import app
from rtbench.history.store import read_points
from rtbench.measure.env import capture_environment
from rtbench.results import run_set
from rtbench.sweep.grid import make_grid
from rtbench.sweep.settings import ExecutorSettings
from rtbench.sweep.store import SweepStore

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def write(path, document):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def stepped_files(tmp_path):
    """12 runs, E 1.5x slower from the 7th (c06) on: six as run folders, six as files."""
    docs = stepped(n=12, at=6, factor=1.5)
    return [write(tmp_path / "runs" / f"run{i:02d}" / "results.json", d).parent if i % 2
            else write(tmp_path / f"run{i:02d}.json", d) for i, d in enumerate(docs)]  # fmt: skip


def test_history_add_then_list_in_three_formats(tmp_path, stepped_files):
    db = tmp_path / "h.duckdb"
    added = invoke("history", "add", *stepped_files, "--history", db)
    assert added.exit_code == 0, added.output
    assert "12 added, 0 already there" in added.output
    assert "0 added, 12 already there" in invoke("history", "add", *stepped_files,
                                                 "--history", db).output  # fmt: skip
    step = (median(normalized("E", i, 1.5) for i in range(6, 12))
            / median(normalized("E", i) for i in range(6)) - 1)  # fmt: skip

    listed = invoke("history", "--history", db, "--format", "json")
    assert listed.exit_code == 0, listed.output
    series = {s["variant"]: s for s in json.loads(listed.stdout)}
    assert set(series) == set(BASE_MS) and series["A"]["change_points"] == []
    assert series["A"]["latest"] == pytest.approx(normalized("A", 11))
    assert series["A"]["points"] == 12 and series["A"]["latest_commit"] == "c11"
    (change,) = series["E"]["change_points"]
    assert change["commit"] == "c06" and change["step"] == pytest.approx(step)

    rows = list(csv.DictReader(io.StringIO(invoke("history", "--history", db, "--format",
                                                  "csv").stdout)))  # fmt: skip
    assert [(r["variant"], r["change_commit"]) for r in rows] == [("A", ""), ("Ds5", ""),
                                                                  ("E", "c06")]  # fmt: skip
    markdown = invoke("history", "--history", db).stdout
    e_row = next(line for line in markdown.splitlines() if line.startswith("| E |"))
    assert "| c06 |" in e_row and f"| {step:+.1%} |" in e_row


def test_the_csv_listing_shows_control_characters_never_sends_them(tmp_path):
    db = tmp_path / "h.duckdb"
    doc = stepped(n=1)[0]
    doc["rows"][0]["variant"] = "A\x1b[31m"  # an ESC would colour the terminal from here on
    assert invoke("history", "add", write(tmp_path / "r.json", doc), "--history", db).exit_code == 0
    listed = invoke("history", "--history", db, "--format", "csv").stdout
    assert "\x1b" not in listed and "A\\x1b[31m" in listed


def test_a_series_with_change_points_is_listed_once(tmp_path):
    # E steps 1.5x at c06 and 1.5x again at c12: two change points, still one series.
    factor = {i: 1.0 if i < 6 else 1.5 if i < 12 else 2.25 for i in range(18)}
    docs = [run_document(i, {v: normalized(v, i, factor[i] if v == "E" else 1.0)
                             for v in BASE_MS}) for i in range(18)]  # fmt: skip
    db = tmp_path / "h.duckdb"
    files = [write(tmp_path / f"run{i:02d}.json", d) for i, d in enumerate(docs)]
    assert invoke("history", "add", *files, "--history", db).exit_code == 0
    last_step = (median(normalized("E", i, 2.25) for i in range(12, 18))
                 / median(normalized("E", i, 1.5) for i in range(6, 12)) - 1)  # fmt: skip

    series = json.loads(invoke("history", "--history", db, "--format", "json").stdout)
    (e,) = [s for s in series if s["variant"] == "E"]
    assert [c["commit"] for c in e["change_points"]] == ["c06", "c12"]  # JSON keeps them all

    lines = invoke("history", "--history", db).stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("| variant |"))
    header, *rows = [line.strip("| ").split(" | ") for line in lines[at:] if line.startswith("| ")]
    assert sorted(row[0] for row in rows) == sorted(BASE_MS)  # each series once
    e_row = dict(zip(header, next(row for row in rows if row[0] == "E"), strict=True))
    assert e_row["change points"] == "2" and e_row["last change at commit"] == "c12"
    assert e_row["step"] == f"{last_step:+.1%}"

    listed = list(csv.DictReader(io.StringIO(invoke("history", "--history", db, "--format",
                                                    "csv").stdout)))  # fmt: skip
    assert sorted(r["variant"] for r in listed) == sorted(BASE_MS)
    (e,) = [r for r in listed if r["variant"] == "E"]
    assert (e["change_points"], e["change_commit"]) == ("2", "c12")
    assert float(e["step"]) == pytest.approx(last_step, rel=1e-5)


def test_a_missing_or_foreign_history_is_one_line_and_exit_1(tmp_path):
    result = invoke("history", "--history", tmp_path / "none.duckdb")
    assert result.exit_code == 1 and "no history database" in result.stderr
    text = tmp_path / "text.duckdb"
    text.write_text("hello " * 50)
    result = invoke("history", "add", write(tmp_path / "r.json", stepped(n=1)[0]),
                    "--history", text)  # fmt: skip
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "cannot open the history database" in result.stderr
    result = invoke("history", "add", tmp_path / "missing.json", "--history", tmp_path / "h.db")
    assert result.exit_code == 1 and "no such results file" in result.stderr


def run_set_of(path, documents):
    return write(path, run_set(documents, documents[0]["created"]))


def test_check_of_runs_against_history_gates_against_the_accepted_runs_since_the_change(
    tmp_path, stepped_files
):  # fmt: skip
    db = tmp_path / "h.duckdb"
    baseline = run_set_of(tmp_path / "baseline.json", stepped(n=3))  # c00-c02, before the step
    slow_e = [run_document(i, {v: normalized(v, i, 1.5 if v == "E" else 1.0) for v in BASE_MS})
              for i in (12, 13, 14)]  # fmt: skip
    current = run_set_of(tmp_path / "current.json", slow_e)
    args = ["check", current, "--baseline", baseline, "--history", db]

    invoke("history", "add", *stepped_files, "--history", db)  # imported: not references
    not_accepted = invoke(*args, "--against", "history")
    assert not_accepted.exit_code == 1, not_accepted.output  # the file decides: E slower
    assert "no accepted runs of A (eager), Ds5 (eager), E (eager)" in not_accepted.output
    assert invoke("history", "accept", "c06", "--history", db).exit_code == 0
    db.unlink()  # the same runs again, every one accepted (E 1.5x from c06 on: meant)
    assert invoke("history", "add", *stepped_files, "--history", db, "--accept").exit_code == 0
    against_file = invoke(*args)
    assert against_file.exit_code == 1, against_file.output
    against_history = invoke(*args, "--against", "history")
    assert against_history.exit_code == 0, against_history.output
    assert "6 accepted run(s) of the history since c06" in against_history.output
    assert read_points(db)["id"].nunique() == 12  # a results file checked is not recorded
    as_json = invoke(*args, "--against", "history", "--format", "json")
    assert json.loads(as_json.stdout)["exit_code"] == 0  # stdout is the JSON, the notes on stderr
    assert "6 accepted run(s)" in as_json.stderr
    nothing = invoke(*args[:-1], tmp_path / "none.duckdb", "--against", "history")
    assert nothing.exit_code == 1 and "no history at" in nothing.output  # the file decides


def this_machine(document: dict) -> dict:
    """The document as measured here: the environment facts the fingerprint is made of."""
    env = capture_environment(torch.device("cpu"))
    facts = ("cpu_model", "cpu_count", "device_name", "torch", "fingerprint")
    document["environment"].update({k: env[k] for k in facts if k in env})
    return document


def test_a_failing_check_is_recorded_never_adopted_until_accepted(tmp_path, monkeypatch):
    db = tmp_path / "h.duckdb"
    history = [this_machine(d) for d in stepped(n=8, at=99)]
    added = invoke("history", "add", *(write(tmp_path / f"h{i}.json", d)
                                       for i, d in enumerate(history)),
                   "--history", db, "--accept")  # fmt: skip
    assert added.exit_code == 0, added.output
    baseline = run_set_of(tmp_path / "baseline.json", history[:3])
    measured = []

    def fake_measure(names, cfg, variants_dir, cache_dir):  # E 1.5x slower, at commit c99
        i = 8 + len(measured)
        doc = this_machine(run_document(i, {v: normalized(v, i, 1.5 if v == "E" else 1.0)
                                            for v in names}))  # fmt: skip
        doc["environment"]["git_commit"] = "c99"
        measured.append(names)
        return doc

    monkeypatch.setattr("rtbench.cli.gating.measure", fake_measure)
    monkeypatch.setattr("rtbench.cli.gating.in_own_process", lambda measure: measure)
    common = ["--baseline", baseline, "--history", db, "--results-dir", tmp_path / "results",
              "--against", "history"]  # fmt: skip
    first = invoke("check", *common)
    assert first.exit_code == 1, first.output  # E slower than the 8 accepted runs
    runs = read_points(db).drop_duplicates("id")
    assert runs["source"].tolist() == ["import"] * 8 + ["check"] * len(measured)
    assert runs["accepted"].tolist() == [True] * 8 + [False] * len(measured)
    again = invoke("check", *common)
    assert again.exit_code == 1, again.output  # still slower: the failing runs were not adopted
    accepted = invoke("history", "accept", "c99", "--history", db)
    assert accepted.exit_code == 0 and f"{len(measured)} run(s) of c99 accepted" in accepted.output
    meant = invoke("check", *common)  # the slowdown, accepted as meant, is the reference now
    assert meant.exit_code == 0, meant.output
    assert "gate: pass" in meant.output


def test_run_and_compare_record_only_when_asked(tmp_path, monkeypatch):
    db = tmp_path / "h.duckdb"
    count = iter(range(100))
    monkeypatch.setattr("rtbench.cli.measuring.measure", lambda names, *a: run_document(
        next(count), {n: 0.2 for n in names}))  # fmt: skip
    common = ["--history", db, "--results-dir", tmp_path / "results", "--no-plots"]
    assert invoke("compare", "A", "E", *common).exit_code == 0
    assert not db.exists()
    assert invoke("compare", "A", "E", *common, "--record").exit_code == 0
    assert invoke("run", "--variant", "A", *common[:-1], "--record").exit_code == 0
    points = read_points(db)
    assert points.drop_duplicates("id")["source"].tolist() == ["compare", "run"]
    assert sorted(points["variant"]) == ["A", "A", "E"]


def test_a_sweep_records_its_complete_points(tmp_path):
    grid = make_grid({"scope": "encoder", "device": "cpu", "variants": ("A",),
                      "sizes": (64, 96, 128)}, {}, "test")  # fmt: skip
    store = SweepStore.create(tmp_path / "sweeps", "s", grid, ExecutorSettings().record())
    for i, point in enumerate(grid.points):  # every point done: nothing is measured again
        write(store.results_path(point.id), run_document(i, {"A": 0.2}, size=point.size))
        store.set_status(point.id, "done")
    db = tmp_path / "h.duckdb"
    result = invoke("sweep", "--resume", store.folder, "--record", "--history", db, "--no-plots")
    assert result.exit_code == 0, result.output
    assert "nothing measured" in result.output and "(3 run(s) recorded)" in result.output
    points = read_points(db)
    assert sorted(points["git_commit"]) == ["c00", "c01", "c02"]
    assert set(points["source"]) == {"sweep"}


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        ("duckdb", ["history", "add", "FILE"], "needs duckdb"),
        ("ruptures", ["history"], "need ruptures"),
        ("plotly.graph_objects", ["history", "--html", "OUT"], "needs plotly"),
    ],
)
def test_a_missing_library_is_one_line(tmp_path, monkeypatch, module, args, message):
    db = tmp_path / "h.duckdb"
    file = write(tmp_path / "r.json", stepped(n=1)[0])
    assert invoke("history", "add", file, "--history", db).exit_code == 0
    monkeypatch.setitem(sys.modules, module, None)  # import fails as where it is not installed
    args = [{"FILE": file, "OUT": tmp_path / "h.html"}.get(a, a) for a in args]
    result = invoke(*args, "--history", db)
    assert result.exit_code == 1 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
