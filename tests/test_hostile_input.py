"""Bad input, tried as a hostile user would (issue 11): every case gives one line on stderr and a
documented exit code (README, "Exit codes"), never a traceback, and nothing is measured or written
before the input was checked. One parametrized table per category of input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from rtbench.cli import app
from rtbench.cli.errors import user_errors
from rtbench.files import write_atomic
from rtbench.runner import describe_error

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "results" / "baseline-cpu.json"
FAST = ["--scope", "encoder", "--size", "64", "--iters", "3", "--warmup", "1",
        "--min-time", "0.05", "--device", "cpu"]  # fmt: skip
BIG = 3 * 2**20  # a file far bigger than any spec


def short(value) -> str | None:
    """A test id for a parameter that may be megabytes long."""
    return repr(value)[:40] if isinstance(value, str | bytes) else None


def one_line(args: list, code: int) -> str:
    """Invoke rtbench; assert the exit code and exactly one line on stderr; return that line."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    return lines[0]


# ------------------------------------------------------------------ numbers in options


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--min-time", "nan"], "--min-time nan: expected a finite number"),
        (["--min-time", "inf"], "--min-time inf: expected a finite number"),
        (["--min-time", "-0.5"], "--min-time -0.5: must be more than 0"),
        (["--min-time", "1e308"], "--min-time 1e+308: must be at most 3,600"),
        (["--seed", str(2**64)], "--seed 18446744073709551616: must be at most 9,223,372,036,85"),
        (["--size", str(32 * 10**30)], "must be at most 16,384"),
        (
            ["--batch", str(10**30)],
            "--batch 1000000000000000000000000000000: must be at most 4,096",
        ),
        (["--batch", "0"], "--batch 0: must be at least 1"),
        (["--threads", str(2**40)], "--threads 1099511627776: must be at most 1,024"),
        (["--iters", str(10**12)], "--iters 1000000000000: must be at most 100,000"),
        (["--warmup", "-1"], "--warmup -1: must be at least 0"),
    ],
)
def test_numbers_in_options_are_checked_before_any_work(tmp_path, options, fragment):
    line = one_line(["run", "-v", "A", *FAST, *options, "--results-dir", tmp_path / "out"], 1)
    assert fragment in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--threshold", "nan"], "--threshold nan: expected a finite number"),
        (["--threshold", "inf"], "--threshold inf: expected a finite number"),
        (["--threshold", "-0.1"], "--threshold -0.1: must be more than 0"),
        (["--alpha", "nan"], "--alpha nan: expected a finite number"),
        (["--alpha", "inf"], "--alpha inf: expected a finite number"),
        (["--alpha", "1"], "--alpha 1.0: must be less than 0.5"),
        (["--beta", "0"], "--beta 0.0: must be more than 0"),
        (["--max-runs", "1"], "--max-runs 1: must be at least 2"),
        (["--budget", "-5"], "--budget -5.0: must be more than 0"),
        (["--session-sd", "-0.01"], "--session-sd -0.01: must be at least 0"),
        (["--session-sd", "nan"], "--session-sd nan: expected a finite number"),
        (["--session-slope", "-1"], "--session-slope -1.0: must be at least 0"),
    ],
)
def test_numbers_in_check_options(options, fragment):
    assert fragment in one_line(["check", BASELINE, "--baseline", BASELINE, *options], 2)


# ------------------------------------------------------------------ spec files


def spec_folder(tmp_path: Path, content: str | bytes) -> Path:
    folder = tmp_path / "variants"
    folder.mkdir()
    path = folder / "X.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


PER_LEVEL = "description: x\nintra: {mode: per_level, levels: [S5], "


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("description: x\npaper: {ap: .nan, params_m: 1, latency_ms: 1}\n", "paper.ap: expected a"),
        ("description: x\npaper: {ap: 4, params_m: 1, latency_ms: .inf}\n", "finite number"),
        ("description: x\npaper: {ap: 4, params_m: 1, latency_ms: -.inf}\n", "finite number"),
        (f"description: x\npaper: {{ap: {10**400}, params_m: 1, latency_ms: 1}}\n", "finite"),
        (f"description: x\npaper: {{ap: 4, params_m: {10**30}, latency_ms: 1}}\n", "at most"),
        ("description: x\npaper: {ap: 4, params_m: 1, latency_ms: 0}\n", "paper.latency_ms"),
        (f"{PER_LEVEL}layers: {10**30}}}\n", "intra.layers: must be at most 100"),
        (f"{PER_LEVEL}heads: 0}}\n", "intra.heads: must be at least 1"),
        (f"{PER_LEVEL}heads: {10**30}}}\n", "intra.heads: must divide hidden_dim"),
        (f"{PER_LEVEL}ffn_dim: {2**63}}}\n", "intra.ffn_dim: must be at most 2,147,483,647"),
        (f"description: x\nhidden_dim: {10**20}\n", "hidden_dim: must be at most"),
        (f"description: x\nin_channels: [1, 2, {-(10**30)}]\n", "in_channels[2]: must be at"),
        ("description: x\nfusion: {type: ccff, depth: 1000000}\n", "fusion.depth: must be at most"),
        (b"description: caf\xe9\n", "X.yaml: not UTF-8 text (byte 16)"),
        ("description: x\n1: 2\nfoo: 3\n", "X.yaml: 1: a field name must be text"),
        ("description: x\nintra: {null: 2}\n", "intra.None: a field name must be text"),
        ("description: x\n? [a, b]\n: 1\n", "malformed YAML (line 2, column 3)"),
        ("description: x\nhidden_dim: " + "w" * (BIG // 4) + "\n", "got text 'wwwwwww"),
        ("description: x\n" + "k" * 1000 + ": 1\n", "kkkk...: unknown field"),
        ("description: x\nintra: {mode: " + "m" * (BIG // 4) + "}\n", "unknown mode 'mmm"),
    ],
    ids=short,
)
def test_spec_files(tmp_path, content, fragment):
    line = one_line(["list", "--variants-dir", spec_folder(tmp_path, content)], 1)
    assert fragment in line
    assert len(line) < 400  # a value is quoted by a short prefix, never whole


def test_a_big_file_linked_as_a_spec_is_not_printed(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("x" * BIG)
    folder = tmp_path / "variants"
    folder.mkdir()
    (folder / "X.yaml").symlink_to(big)
    line = one_line(["list", "--variants-dir", folder], 1)
    assert "X.yaml: over 1 MiB: not a variant spec" in line and len(line) < 200


# ------------------------------------------------------------------ the output location


@pytest.fixture
def a_file(tmp_path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize(
    ("where", "fragment"),
    [
        (lambda f: ["--results-dir", f], "a-file is a file, not a folder"),
        (lambda f: ["--results-dir", f / "deeper"], "a-file is a file, not a folder"),
        (lambda f: ["--results-dir", "/proc/rtbench"], "cannot write there"),
        (lambda f: ["--results-dir", f.parent, "--run-id", ".."], "must be a plain folder name"),
        (lambda f: ["--results-dir", f.parent, "--run-id", "/tmp"], "plain folder name"),
        (lambda f: ["--results-dir", f.parent, "--run-id", "a/b"], "plain folder name"),
        (lambda f: ["--results-dir", f.parent, "--run-id", ""], "plain folder name"),
    ],
)
def test_run_output_location_is_checked_before_measuring(a_file, where, fragment):
    if "/proc/rtbench" in where(a_file) and not Path("/proc/self").exists():
        pytest.skip("needs Linux's /proc")
    before = sorted(a_file.parent.rglob("*"))
    assert fragment in one_line(["run", "-v", "A", *FAST, "--no-plots", *where(a_file)], 1)
    assert sorted(a_file.parent.rglob("*")) == before  # nothing written anywhere


@pytest.mark.parametrize(
    ("out", "fragment"),
    [
        (lambda f: f.parent, "is a folder; name the file to write"),
        (lambda f: f / "baseline.json", "a-file is a file, not a folder"),
    ],
)
def test_baseline_out_is_checked_before_measuring(a_file, out, fragment):
    before = sorted(a_file.parent.rglob("*"))
    assert fragment in one_line(["baseline", "A", *FAST, "--out", out(a_file)], 1)
    assert sorted(a_file.parent.rglob("*")) == before


def test_check_results_dir_is_checked_before_measuring(a_file):
    line = one_line(["check", "--baseline", BASELINE, "--results-dir", a_file], 2)
    assert "a-file is a file, not a folder" in line


# ------------------------------------------------------------------ user text and markup


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "-v", "[red]A[/x]", *FAST], "unknown variant '[red]A[/x]'"),
        (["run", "-v", "A", *FAST, "--device", "[/]"], "unknown device '[/]'"),
        (["run", "-v", "A", *FAST, "--dtype", "[bold]" * 50], "unknown dtype '[bold][bold]"),
    ],
)
def test_user_text_in_errors_is_text(args, fragment):
    line = one_line(args, 1)
    assert fragment in line and len(line) < 200


# ------------------------------------------------------------------ check on impossible input


def impossible(doc: dict, key: str, value) -> dict:
    doc["rows"][0][key] = value
    return doc


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (
            lambda d: impossible(d, "latency_normalized_samples", [0.0] * 20),
            "rows[0] (A, eager) latency_normalized_samples[0] 0.0: must be more than 0",
        ),
        (lambda d: impossible(d, "latency_samples_ms", [-5.0] * 20), "-5.0: must be more than 0"),
        (
            lambda d: impossible(d, "latency_samples_ms", [1e300] * 20),
            "1e+300: must be less than 3,600,000",
        ),
        (
            lambda d: d["calibration"].update(median_ms=0) or d,
            "calibration.median_ms 0: must be more than 0",
        ),
        (lambda d: d.update(rows="many") or d, "rows: expected a list, got text 'many'"),
    ],
)
def test_check_refuses_impossible_results(tmp_path, mutate, fragment):
    current = tmp_path / "current.json"
    first_run = json.loads(BASELINE.read_text())["runs"][0]  # the baseline is a run set
    current.write_text(json.dumps(mutate(first_run)))
    assert fragment in one_line(["check", current, "--baseline", BASELINE], 2)


# ------------------------------------------------------------------ usage errors


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "-v", "A", "--xyzzy"], "No such option: --xyzzy (see '"),
        # click names a close option, on the same line
        (["run", "-v", "A", "--bogus"], "No such option: --bogus (Possible options: --base)"),
        (["run", "-v", "A", "--iters", "many"], "Invalid value for '--iters'"),
        (["run"], "Missing option '--variant'"),
        (["check", BASELINE, "--threshold", "abc"], "Invalid value for '--threshold'"),
        (["show"], "Missing argument 'variant'"),
        (["frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args, fragment):
    assert fragment in one_line(args, 2)


# ------------------------------------------------------------------ signals


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_unwinds_the_command_and_exits_with_its_code(tmp_path, signum, code):
    @user_errors
    def command():
        write_atomic(tmp_path / "written.txt", "whole")
        os.kill(os.getpid(), signum)
        time.sleep(30)  # interrupted by the handler, never slept through
        write_atomic(tmp_path / "never.txt", "no")

    handler = signal.getsignal(signal.SIGTERM)
    started = time.monotonic()
    with pytest.raises(typer.Exit) as exit_:
        command()
    assert exit_.value.exit_code == code and time.monotonic() - started < 10
    assert [p.name for p in tmp_path.iterdir()] == ["written.txt"]
    assert signal.getsignal(signal.SIGTERM) is handler  # installed by the command only


def test_an_interrupted_write_leaves_no_temporary_file(tmp_path):
    # Whatever stops a write once the temporary file exists (here a payload that cannot be
    # written; in life SIGTERM's handler raising mid-write) removes that file and keeps the old.
    target = tmp_path / "results.json"
    target.write_text("earlier")

    class Unwritable:
        pass

    with pytest.raises(TypeError):
        write_atomic(target, Unwritable())
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
    assert target.read_text() == "earlier"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_sigterm_stops_a_measuring_run(tmp_path):
    """The real process: SIGTERM while measuring gives one line, exit 143, no files."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "rtbench", "run", "-v", "A", "--scope", "encoder", "--size",
               "64", "--iters", "100000", "--device", "cpu", "--results-dir", str(out)]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not _catches_sigterm(process.pid):  # the command has started and installed it
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == (
        "terminated (SIGTERM); files already written are intact"
    )
    assert "Traceback" not in stderr
    assert not any(p.is_file() for p in out.rglob("*"))


def _catches_sigterm(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


# ------------------------------------------------------------------ allocation failures, modes


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (MemoryError(), "out of memory: MemoryError"),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 TB"),
         "out of memory: DefaultCPUAllocator: can't allocate memory"),
        (RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), "out of memory: CUDA out"),
        (RuntimeError("std::bad_alloc"), "out of memory: std::bad_alloc"),
    ],
)  # fmt: skip
def test_allocation_failures_read_out_of_memory(err, expected):
    assert describe_error(err).startswith(expected)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_are_written_with_the_umasks_mode(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_atomic(tmp_path / "results.json", "{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "results.json").stat().st_mode & 0o777 == mode
