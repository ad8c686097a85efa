"""Bad input fails fast: options, variant specs and results files are checked before torch is
imported, each refused in one line with its documented exit code. Every case runs through the
command line in one fresh Python process, which reports after each whether torch was loaded (a
case that imported it would show in every later one too, never hide)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import contextlib, io, json, sys
from rtbench.cli import app

out = {}
for name, args in json.loads(sys.argv[1]).items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            app(args, prog_name="rtbench")
            code = 0
        except SystemExit as end:
            code = end.code
    out[name] = {"code": code, "stderr": err.getvalue(), "torch": "torch" in sys.modules}
print(json.dumps(out))
"""

# name -> (arguments, exit code, the start of the error line); {tmp} is a fresh folder.
CASES = {
    "unknown runtime": (["run", "-v", "E", "--runtime", "nope"], 1,
                        "error: --runtime: unknown runtime 'nope'; choose from eager,"),
    "bad size": (["run", "-v", "E", "--size", "33"], 1, "error: --size 33: must be a multiple"),
    "bad dtype": (["compare", "--dtype", "fp8"], 1, "error: --dtype: unknown dtype 'fp8'"),
    "unknown variant": (["run", "-v", "F"], 1, "error: unknown variant 'F'"),
    "malformed spec": (["compare", "all", "--variants-dir", "{tmp}/specs"], 1,
                       "error: {tmp}/specs/X.yaml: malformed YAML"),
    "not a results folder": (["report", "{tmp}/empty"], 2,
                             "error: {tmp}/empty: neither a run folder (results.json) nor a sweep"),
    "not a results file": (["report", "{tmp}/specs/X.yaml"], 2,
                           "error: {tmp}/specs/X.yaml: not valid JSON"),
    "export bad size": (["export", "-v", "E", "--out", "{tmp}/e.onnx", "--size", "33"], 1,
                        "error: --size 33: must be a multiple of 32"),
    "baseline no flops": (["baseline", "--no-flops", "--out", "{tmp}/b.json"], 1,
                          "error: --no-flops: a baseline counts FLOPs"),
    "check threshold": (["check", "--threshold", "20"], 2,
                        "error: --threshold 20.0: must be less than 10"),
    "check alpha": (["check", "--alpha", "0"], 2, "error: --alpha 0.0: must be more than 0"),
    "check format": (["check", "--format", "xml"], 2,
                     "error: Invalid value for '--format': Value error, 'xml' is not one of"),
    "check missing file": (["check", "{tmp}/none.json"], 2,
                           "error: {tmp}/none.json: no such results file"),
    "sweep sizes": (["sweep", "--sizes", "64,abc"], 1,
                    "error: --sizes: expected int, got text 'abc'"),
    "sweep executor": (["sweep", "--executor", "nope"], 1,
                       "error: --executor: unknown executor 'nope'"),
    "show unknown variant": (["show", "F"], 1, "error: unknown variant 'F'"),
}  # fmt: skip


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fail-fast")
    (tmp / "specs").mkdir()
    (tmp / "specs" / "X.yaml").write_text("description: [unclosed\n")
    (tmp / "empty").mkdir()
    args = {name: [a.format(tmp=tmp) for a in case[0]] for name, case in CASES.items()}
    probe = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True,
                           text=True, cwd=REPO, timeout=300, check=True)  # fmt: skip
    return tmp, json.loads(probe.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_one_line_before_torch_is_imported(probed, name):
    tmp, results = probed
    _, code, message = CASES[name]
    result = results[name]
    lines = result["stderr"].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message.format(tmp=tmp)), result["stderr"]
    assert result["code"] == code
    assert not result["torch"], f"{name}: torch was imported before the input was refused"
