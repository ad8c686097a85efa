"""User text is data wherever it is shown (issue 23): each format's escaping helper against
strings written out by hand; one results document whose names are full of every format's special
characters through every renderer (terminal, Markdown, HTML, LaTeX, JUnit XML, the step summary);
and files that are not specs, refused without quoting a byte of them."""

import io
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
import yaml
from rich.console import Console
from synthetic import results_document
from typer.testing import CliRunner

from rtbench.cli import app
from rtbench.gate import compare
from rtbench.report.gate import junit_xml, markdown_summary, render
from rtbench.report.write import terminal_report, write_run
from rtbench.spec import SpecError, load_spec
from rtbench.text import (
    html_escape,
    latex_escape,
    markdown_code,
    markdown_escape,
    printable,
    rich_text,
    xml_text,
)

runner = CliRunner()

# ---------------------------------------------------------------------------- the helpers


def rendered(*items) -> str:
    """What rich prints, as plain text (no colour codes of its own)."""
    console = Console(file=io.StringIO(), force_terminal=False, width=400)
    for item in items:
        console.print(item)
    return console.file.getvalue()


def test_printable_shows_controls_but_tab_and_newline():
    assert printable("a\x1b[31mb\x00c\td\ne\x7f\x85") == "a\\x1b[31mb\\x00c\td\ne\\x7f\\x85"
    assert printable(42) == "42"


def test_rich_text_is_never_markup_and_has_no_escape():
    out = rendered(rich_text("[bold]x[/]"), rich_text("[/] a\x1b[31mb"))
    assert "[bold]x[/]" in out and "[/] a\\x1b[31mb" in out
    assert "\x1b" not in out


def test_markdown_escape():
    assert markdown_escape("a|b") == r"a\|b"
    assert markdown_escape("a\nb\t c") == "a b c"  # one line: a row stays a row
    assert markdown_escape(r"\`*_[]<>#~$&!") == r"\\\`\*\_\[\]\<\>\#\~\$\&\!"
    assert markdown_escape("x\x1by") == r"x\\x1by"
    assert markdown_escape("A (v2), 50%") == "A (v2), 50%"  # nothing else touched


def test_markdown_code():
    assert markdown_code("runs/a|b") == "`runs/a|b`"
    assert markdown_code("a`b") == "``a`b``"  # a fence longer than any run inside
    assert markdown_code("`a") == "`` `a ``"
    assert markdown_code("a\nb") == "`a b`"
    assert markdown_code("") == ""


def test_html_escape():
    assert html_escape('<td a="x">') == "&lt;td a=&quot;x&quot;&gt;"
    assert html_escape("a&b'c") == "a&amp;b&#x27;c"
    assert html_escape("\x1b") == "\\x1b"


def test_latex_escape():
    assert latex_escape("50%_x") == r"50\%\_x"
    assert latex_escape("&$#{}") == r"\&\$\#\{\}"
    assert latex_escape("~^\\") == r"\textasciitilde{}\textasciicircum{}\textbackslash{}"
    assert latex_escape("<|>") == r"\textless{}\textbar{}\textgreater{}"
    assert latex_escape("[x]") == "{[}x{]}"
    assert latex_escape("a\n\nb") == "a b"  # a blank line would end a \caption's paragraph


def test_xml_text_rewrites_what_xml_forbids_and_leaves_markup_to_elementtree():
    assert xml_text("a\x00b\x1bc\ud800d\uffff") == "a\\x00b\\x1bc\ufffdd\ufffd"
    assert xml_text("<&>\"'\n\t") == "<&>\"'\n\t"


# ---------------------------------------------------------------------------- every renderer

# A variant name with the specials of every format: rich markup (an unmatched close tag), a
# Markdown cell's end, code, emphasis, a heading, LaTeX's ten, HTML that would close a script and
# open a tag, an entity, a newline and an ESC.
NAME = "x|[/]</script><td id=evil>&amp;_%$`*#{}~^\\\ny\x1b[31m"
SHOWN = NAME.replace("\x1b", "\\x1b")  # the ESC visible, harmless, in every format
NAME_LINES = SHOWN.split("\n")  # a terminal cell shows the newline as one
NAME_MD = r"x\|\[/\]\</script\>\<td id=evil\>\&amp;\_%\$\`\*\#{}\~^\\ y\\x1b\[31m"
NAME_TEX = (
    r"x\textbar{}{[}/{]}\textless{}/script\textgreater{}\textless{}td id=evil\textgreater{}"
    r"\&amp;\_\%\$`*\#\{\}\textasciitilde{}\textasciicircum{}\textbackslash{} y"
    r"\textbackslash{}x1b{[}31m"
)
RUNTIME = "rt|[b]<i>&_%$`*#{}~^"  # no "/": runtimes name plot files
RUNTIME_MD = r"rt\|\[b\]\<i\>\&\_%\$\`\*\#{}\~^"
DEVICE = "dev [red]</p>|&_%$#~^\x1b"
DEVICE_SHOWN = DEVICE.replace("\x1b", "\\x1b")
DEVICE_TEX = r"dev {[}red{]}\textless{}/p\textgreater{}\textbar{}\&\_\%\$\#\textasciitilde{}"
DEVICE_TEX += r"\textasciicircum{}\textbackslash{}x1b"
ERROR = "boom [/red] | `x`\n<b>\x1b"
ERROR_SHOWN = ERROR.replace("\x1b", "\\x1b")


def hostile_document() -> dict:
    """The hostile name and A on two runtimes, B failed with a hostile error, on the hostile
    device; a part breakdown (one part failed) and a protocol card naming them."""
    latencies = {(NAME, "eager"): 20.0, ("A", "eager"): 10.0, ("B", "eager"): 30.0,
                 (NAME, RUNTIME): 10.0, ("A", RUNTIME): 5.0}  # fmt: skip
    doc = results_document(latencies, scope="detector", device_name=DEVICE,
                           params={NAME: 1_000_000, "A": 2_000_000, "B": 3_000_000})  # fmt: skip
    for row in doc["rows"]:
        # the figures the latency-detail table shows
        row.update({f"latency_{k}": row["latency_median_ms"] for k in ("p99_ms", "mean_ms",
                    "std_ms", "min_ms")})  # fmt: skip
        if row["variant"] == NAME:
            part = {"median_ms": 4.0, "ci95_low_ms": 3.9, "ci95_high_ms": 4.1,
                    "samples": 3, "samples_ms": [3.9, 4.0, 4.1]}  # fmt: skip
            row["latency_parts"] = {"backbone": part, "intra": {"error": ERROR}}
        if row["variant"] == "B":
            row.update(status="error", error=ERROR, latency_median_ms=None)
    doc["protocol"] = {"card": f"timed {NAME} on {DEVICE}"}
    return doc


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run, warnings = write_run(hostile_document(), tmp_path_factory.mktemp("runs"), "hostile",
                              plots=True)  # fmt: skip
    assert warnings == []  # every report rendered, plots too (no mathtext read into a name)
    return run


def unescaped_pipes(line: str) -> int:
    """The cell borders of a Markdown table row: pipes not escaped by a backslash."""
    count, i = 0, 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        count += line[i] == "|"
        i += 1
    return count


def check_tables(markdown: str) -> list[str]:
    """Every row of every table has as many cells as its header; returns the rows."""
    rows, table = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            table.append(line)
            continue
        for row in table:
            assert unescaped_pipes(row) == unescaped_pipes(table[0]), (table[0], row)
        rows += table
        table = []
    return rows


def test_terminal_tables_show_names_as_text():
    out = rendered(*terminal_report(hostile_document()))
    for text in (*NAME_LINES, RUNTIME, DEVICE_SHOWN, "boom [/red] | `x`"):
        assert text in out
    assert "\x1b" not in out


def test_markdown_rows_stay_rows(run_dir):
    text = (run_dir / "table3.md").read_text()
    rows = check_tables(text)
    assert any(row.startswith(f"| {NAME_MD} |") for row in rows)
    assert any(f"| {RUNTIME_MD} ms |" in row for row in rows)  # a header of the runtimes table
    assert "\x1b" not in text and "[/]" not in text and not re.search(r"(?<!\\)<", text)
    assert "| backbone | 4.00 (3.90-4.10) |" in text  # beside a part that failed, not "error: nan"


def test_latex_cells_are_escaped(run_dir):
    text = (run_dir / "table3.tex").read_text()
    assert any(line.startswith(NAME_TEX + " & ") for line in text.splitlines())
    assert DEVICE_TEX in text  # the caption names the device
    runtimes = (run_dir / "runtimes.tex").read_text()
    assert any(line.startswith(NAME_TEX + " & ") for line in runtimes.splitlines())


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_merged_report_in_markdown_html_and_the_terminal(run_dir, tmp_path):
    out = tmp_path / "report"
    result = runner.invoke(app, ["report", str(run_dir), "--out", str(out), "--html",
                                 "--no-plots"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"Devices: {DEVICE_SHOWN} (cpu)." in result.stdout
    assert "\x1b" not in result.output
    text = (out / "report.md").read_text()
    assert any(row.startswith(f"| {RUNTIME_MD} | {NAME_MD} |") for row in check_tables(text))
    assert "\x1b" not in text and not re.search(r"(?<!\\)<", text)
    page = Page()
    page.feed((out / "report.html").read_text())
    assert not [attrs for _, attrs in page.tags if attrs.get("id") == "evil"]  # never a tag
    assert SHOWN in page.text  # a cell's text: the name itself
    assert DEVICE_SHOWN in "".join(page.text)


def hostile_gate():
    """The gate on runs of the hostile document (three a side): B errors in all of them."""
    return compare([hostile_document() for _ in range(3)], [hostile_document() for _ in range(2)])


def test_junit_names_are_the_names():
    label = f"results/{NAME}"
    root = ET.fromstring(junit_xml(hostile_gate(), label))  # parses: nothing XML forbids
    cases = root.findall(".//testcase")
    assert {c.get("name") for c in cases} == {SHOWN, "A", "B"}
    assert {c.get("classname") for c in cases} == {"rtbench.gate.eager", f"rtbench.gate.{RUNTIME}"}
    baseline = root.find(".//property[@name='baseline']")
    assert baseline.get("value") == f"results/{SHOWN}"
    b = next(c for c in cases if c.get("name") == "B")  # errored in both: its error shown
    assert ERROR_SHOWN in "".join(b.itertext())


def test_step_summary_and_gate_table():
    report = hostile_gate()
    summary = markdown_summary(report, f"results/{NAME}")
    rows = check_tables(summary)
    assert any(row.startswith(f"| {NAME_MD} | {RUNTIME_MD} |") for row in rows)
    # The baseline as a code span: literal, its fence longer than the backtick inside.
    assert r"Baseline ``results/x|[/]</script><td id=evil>&amp;_%$`*#{}~^\ y\x1b[31m``;" in summary
    assert "\x1b" not in summary
    out = rendered(render(report))
    assert all(line in out for line in NAME_LINES) and "\x1b" not in out


def test_list_shows_spec_names_and_descriptions_as_text(tmp_path):
    (tmp_path / "X.yaml").write_text(yaml.safe_dump({"name": NAME, "description": ERROR}))
    result = runner.invoke(app, ["list", "--variants-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert NAME_LINES[0] in result.stdout and "\x1b" not in result.stdout


# ---------------------------------------------------------------------------- files not specs

SECRET = "hunter2"


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        ("password=hunter2\n", "expected a mapping of fields, got text: not a variant spec"),
        (b"\x7fELF\x02\x01hunter2\xff\xfe", "not UTF-8 text (byte 13): not a variant spec"),
        ("hunter2\x00\n", "not YAML text"),
        ("- hunter2\n- x\n", "got a list: not a variant spec"),
        ("12345\n", "got int: not a variant spec"),
        ('{"password": "hunter2"}', "a mapping with no variant spec field: not a variant spec"),
        ("user: admin\npassword: hunter2\n", "a mapping with no variant spec field"),
        ("token: *hunter2\n", "malformed YAML (line 1, column 8): found undefined alias"),
        ("token: !hunter2 x\n", "could not determine a constructor for the tag"),
        ('token: "hunter2\\q"\n', "malformed YAML (line 1, column 17): found unknown escape"),
        ("token: !!int hunter2\n", "malformed YAML: a value that cannot be read"),
        ("token: !!float hunter2\n", "malformed YAML: a value that cannot be read"),
        ("when: 2001-13-01\n", "malformed YAML: a value that cannot be read"),
        ("[" * 100_000, "malformed YAML"),
    ],
)
def test_a_file_that_is_no_spec_is_refused_without_its_bytes(tmp_path, content, kind):
    path = tmp_path / "X.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and kind in message
    assert SECRET not in message and "\n" not in message


def test_yaml_errors_of_a_spec_keep_pyyaml_s_own_words(tmp_path):
    path = tmp_path / "X.yaml"
    path.write_text("description: x\nin_channels: [1, 2\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(err.value) == (
        f"{path}: malformed YAML (line 3, column 1): expected ',' or ']', but got '<stream end>'"
    )


def test_a_spec_path_linked_to_another_file_gives_one_line_and_exit_1(tmp_path):
    secret = tmp_path / "credentials"
    secret.write_text("password=hunter2\n")
    folder = tmp_path / "variants"
    folder.mkdir()
    (folder / "X.yaml").symlink_to(secret)
    run = ["run", "-v", "A", "--device", "cpu", "--results-dir", str(tmp_path / "out")]
    for args in (["list"], run):
        result = runner.invoke(app, [*args, "--variants-dir", str(folder)])
        assert result.exit_code == 1, result.output  # README: 1, an error a user can cause
        assert result.stderr.splitlines() == [
            f"error: {folder / 'X.yaml'}: expected a mapping of fields, got text: not a variant "
            "spec"
        ]
        assert SECRET not in result.output
