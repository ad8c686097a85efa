"""`baseline --at COMMIT`: a baseline of another commit's code, measured here and now. A check
against a baseline of another hour carries the hour's drift (the session term); against one of
the same hour it does not, so it decides sooner, and in a slow hour at all. This is the A/B
comparison in one session that asv's `continuous` makes, and that CI runs before its check.

The commit is checked out into a scratch folder inside the results folder (a clone sharing the
repository's objects: nothing is written into the repository) and its own `rtbench baseline`
runs there, in its own Python process, so the baseline is what that code measures. Its file is
loaded by this code (old files load), written to --out and recorded in the history here."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import typer

from rtbench.cli.app import console, console_text, error
from rtbench.cli.errors import Terminated
from rtbench.cli.options import RunOptions, as_flags
from rtbench.config import BenchError
from rtbench.text import quote

CHILD_OUT = "baseline.json"  # the child's --out inside the scratch folder; its refused runs
CHILD_ASIDE = "baseline.refused.json"  # go beside it, as the command's own do


def _git(*args: str, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
    except FileNotFoundError:
        raise BenchError("--at: git is not installed") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise BenchError(f"--at: git {args[0]}: {last}")
    return done.stdout.strip()


def resolve(ref: str) -> tuple[Path, str]:
    """The repository the working directory is in, and the full commit `ref` names there;
    BenchError in one line when there is none."""
    if not ref.strip() or ref.startswith("-"):
        raise BenchError(f"--at {quote(ref)}: not a commit")
    try:
        top = Path(_git("rev-parse", "--show-toplevel"))
    except BenchError:
        raise BenchError("--at: the working directory is not inside a git repository") from None
    try:
        return top, _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=top)
    except BenchError:
        raise BenchError(f"--at {quote(ref)}: no such commit in {top}") from None


def checkout(repo: Path, commit: str, into: Path) -> None:
    """`commit`'s tree in `into`, a clone of its own (detached, so its runs record the commit
    and a clean tree) that borrows the repository's objects instead of copying them."""
    _git("clone", "--quiet", "--shared", "--no-checkout", str(repo), str(into))
    _git("-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit, cwd=into)


def baseline_at(ref: str, out: Path, aside: Path, variants: list[str] | None, runs: int | None,
                variants_dir: Path | None, options: RunOptions) -> list[dict]:  # fmt: skip
    """Measure the baseline of commit `ref` with that commit's code and write it to `out` (its
    folder made already); the runs as this code reads them. Runs the child measured but did not
    make a baseline of (a refusal, a failure, Ctrl-C) are kept as `aside`."""
    from rtbench.files import write_atomic
    from rtbench.results import load_runs

    repo, commit = resolve(ref)
    results = out.resolve().parent
    console.print(console_text(f"measuring the code at {ref} ({commit[:12]}), checked out apart"))
    with tempfile.TemporaryDirectory(dir=results, prefix=".baseline-at-") as scratch:
        tree = Path(scratch) / "tree"
        checkout(repo, commit, tree)
        argv = [sys.executable, "-m", "rtbench", "baseline", *(variants or []),
                "--out", str(Path(scratch) / CHILD_OUT), *as_flags(options)]  # fmt: skip
        if runs is not None:
            argv += ["--runs", str(runs)]
        if variants_dir is not None:
            argv += ["--variants-dir", str(variants_dir.resolve())]
        env = {
            **os.environ,
            "RTBENCH_HISTORY": str(Path(scratch) / "history.duckdb"),
            "GIT_CEILING_DIRECTORIES": scratch,
        }  # its git sees its clone, nothing above
        try:
            code = _wait(subprocess.Popen(argv, cwd=tree, env=env))  # cwd: its code first
        finally:  # what the child measured without making a baseline of it is kept
            if (Path(scratch) / CHILD_ASIDE).exists():
                shutil.move(Path(scratch) / CHILD_ASIDE, aside)
                console.print(console_text(f"the runs measured at {commit[:12]}: {aside}"))
        if code != 0 or not (Path(scratch) / CHILD_OUT).exists():
            error(f"the code at {ref} ({commit[:12]}) made no baseline (its exit code {code})")
            raise typer.Exit(code if code in (2, 130, 143) else 1)
        data = (Path(scratch) / CHILD_OUT).read_bytes()
        documents = load_runs(Path(scratch) / CHILD_OUT)  # this code must read what it wrote
    write_atomic(out, data)  # as that code wrote it
    console.print(console_text(f"baseline of {commit[:12]}: {out} ({len(documents)} runs)"))
    return documents


def _wait(child: subprocess.Popen) -> int:
    """The child's exit code. Ctrl-C reached it too (one process group): it is let finish
    keeping its runs; SIGTERM reached only us, so it is passed on."""
    try:
        return child.wait()
    except KeyboardInterrupt as stop:
        if isinstance(stop, Terminated):
            child.terminate()
        child.wait()
        raise
