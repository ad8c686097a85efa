"""`rtbench baseline --at COMMIT`: the commit's own code measures the baseline, apart from the
code at hand, and nothing is written into the repository. The expected commit comes from git
itself; which code ran is told by a version string only the committed tree carries."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rtbench
from rtbench.cli import app

runner = CliRunner()
PROJECT = Path(rtbench.__file__).resolve().parents[1]
SMALL = ["--scope", "encoder", "--size", "64", "--iters", "3", "--min-time", "0.01"]
COMMITTED, EDITED = "0.0.0+committed", "0.0.0+edited"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def commit_all(repo: Path) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "x")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository whose one commit holds rtbench with its own version string; its working
    tree is edited afterwards (another version), and it is the working directory."""
    repo = tmp_path / "repo"
    shutil.copytree(PROJECT / "rtbench", repo / "rtbench",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copytree(PROJECT / "variants", repo / "variants")
    init = repo / "rtbench" / "__init__.py"
    init.write_text(init.read_text().replace(rtbench.__version__, COMMITTED))
    git(tmp_path, "init", "-q", str(repo))
    commit_all(repo)
    init.write_text(init.read_text().replace(COMMITTED, EDITED))
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return repo


def test_the_commits_own_code_measures_and_the_repository_is_left_alone(repo, tmp_path):
    results = tmp_path / "results"
    out, history = results / "base.json", results / "history.duckdb"
    before = git(repo, "status", "--porcelain")
    result = invoke("baseline", "A", *SMALL, "--runs", 3, "--at", "HEAD", "--out", out,
                    "--history", history)  # fmt: skip
    # tiny encoders timed 3 times may spread past the threshold: refused, their runs kept aside
    written = out if result.exit_code == 0 else results / "base.refused.json"
    assert result.exit_code in (0, 1) and written.exists(), result.output
    runs = json.loads(written.read_text())["runs"]
    assert len(runs) == 3
    for run in runs:
        env = run["environment"]
        assert env["rtbench_version"] == COMMITTED  # neither this code's nor the edited tree's
        assert env["git_commit"] == git(repo, "rev-parse", "HEAD") and env["git_dirty"] is False
        assert run["config"]["size"] == 64 and [r["variant"] for r in run["rows"]] == ["A"]
    if result.exit_code == 0:
        assert "(3 run(s) recorded)" in result.output and history.exists()
    assert sorted(p.name for p in results.iterdir()) == sorted(
        {written.name} | ({history.name} if history.exists() else set())
    )
    assert git(repo, "status", "--porcelain") == before  # the edit, and nothing else
    assert not (repo / ".git" / "worktrees").exists()


def test_the_options_given_reach_the_commits_code(repo, tmp_path, monkeypatch):
    """A commit whose rtbench only writes down how it was called (and no baseline: exit 1)."""
    (repo / "rtbench" / "__main__.py").write_text(
        "import json, os, sys\nopen(os.environ['ARGV_TO'], 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    commit_all(repo)
    monkeypatch.setenv("ARGV_TO", str(tmp_path / "argv.json"))
    out = tmp_path / "results" / "base.json"
    result = invoke("baseline", "A", "E", "--at", "HEAD", "--runs", 4, "--size", 320,
                    "--threads", 2, "--no-end-to-end", "--variants-dir", "variants",
                    "--out", out)  # fmt: skip
    assert result.exit_code == 1 and "made no baseline (its exit code 0)" in result.output
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv[:3] == ["baseline", "A", "E"]
    value = {flag: argv[argv.index(flag) + 1] for flag in
             ("--out", "--size", "--threads", "--runs", "--variants-dir")}  # fmt: skip
    assert Path(value["--out"]).parent.parent == out.parent  # a scratch folder inside results
    assert value["--size"] == "320" and value["--threads"] == "2" and value["--runs"] == "4"
    assert value["--variants-dir"] == str(repo / "variants")
    assert "--no-end-to-end" in argv and "--iters" not in argv  # only what was given
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_runs_the_commit_refused_are_kept_beside_out(repo, tmp_path):
    """A commit whose rtbench refuses its runs as a baseline: they are kept where this code's
    own refusal puts them, <out>.refused.json, not lost with the scratch folder."""
    (repo / "rtbench" / "__main__.py").write_text(
        "import pathlib, sys\n"
        "out = pathlib.Path(sys.argv[sys.argv.index('--out') + 1])\n"
        "out.with_name(out.stem + '.refused.json').write_text('{\"runs\": \"kept\"}')\n"
        "raise SystemExit(1)\n"
    )
    commit_all(repo)
    results = tmp_path / "results"
    result = invoke("baseline", "--at", "HEAD", "--out", results / "b.json")
    assert result.exit_code == 1 and "made no baseline (its exit code 1)" in result.output
    assert (results / "b.refused.json").read_text() == '{"runs": "kept"}'
    assert [p.name for p in results.iterdir()] == ["b.refused.json"]


def test_a_commit_that_fails_is_said_with_its_exit_code(repo, tmp_path):
    (repo / "rtbench" / "__main__.py").write_text("raise SystemExit(5)\n")
    commit = commit_all(repo)
    result = invoke("baseline", "--at", "HEAD", "--out", tmp_path / "results" / "b.json")
    assert result.exit_code == 1
    assert f"the code at HEAD ({commit[:12]}) made no baseline (its exit code 5)" in result.output


@pytest.mark.parametrize(("ref", "said"), [
    ("no-such-branch", "--at 'no-such-branch': no such commit in"),
    ("--all", "--at '--all': not a commit"),
    ("HEAD:rtbench", "no such commit"),  # a tree, not a commit
])  # fmt: skip
def test_what_is_no_commit_is_one_line(repo, tmp_path, ref, said):
    result = invoke("baseline", "--at", ref, "--out", tmp_path / "b.json")
    assert result.exit_code == 1 and said in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "b.json").exists()


def test_outside_a_repository_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    result = invoke("baseline", "--at", "HEAD", "--out", tmp_path / "b.json")
    assert result.exit_code == 1
    assert "the working directory is not inside a git repository" in result.output
