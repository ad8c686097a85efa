"""The HTML pages of `rtbench report --html` and `rtbench history --html`: one self-contained file
each, user text escaped; and in a real headless browser (Debian's chromium, driven by playwright)
each page loads without a console error, a dialog or a request leaving the file, and every plot
renders. Pages are made from synthetic documents (nothing measured)."""

import html
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from history_data import stepped
from synthetic import results_document
from typer.testing import CliRunner

from rtbench.cli import app
from rtbench.files import write_json
from rtbench.report.scaling import tokens
from rtbench.sweep.executors import ExecutorSettings
from rtbench.sweep.grid import make_grid
from rtbench.sweep.store import SweepStore

runner = CliRunner()
HOSTILE = "<img src=x onerror=alert(1)>"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
SIZES, BATCHES, RUNTIMES = (64, 96), (1, 2), ("eager", "compile")
# Three figures per sweep point (latency with CIs, paper AP vs latency, ratios to A), one per
# runtime and batch (latency vs tokens), per runtime and size (throughput vs batch), and one of
# compile's speed-up over eager.
POINTS = len(SIZES) * len(BATCHES)
REPORT_FIGURES = 3 * POINTS + 2 * len(RUNTIMES) * 2 + 1
HISTORY_FIGURES = 1  # one machine, configuration and runtime: a line per variant


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("html")
    docs = stepped(n=12, at=6, factor=1.5)
    docs[3]["rows"][0]["variant"] = HOSTILE  # a series of its own, one point
    files = [folder / f"run{i}.json" for i in range(len(docs))]
    for file, doc in zip(files, docs, strict=True):
        file.write_text(json.dumps(doc))
    db = folder / "h.duckdb"
    assert invoke("history", "add", *files, "--history", db).exit_code == 0
    listed = invoke(
        "history", "--history", db, "--format", "csv", "--html", folder / "history.html"
    )
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.startswith("variant,") and "html:" in listed.stderr  # stdout: the listing

    grid = make_grid({"scope": "encoder", "device": "cpu", "variants": ("A",), "sizes": SIZES,
                      "batches": BATCHES, "runtimes": RUNTIMES}, {}, "test")  # fmt: skip
    store = SweepStore.create(folder / "sweeps", "grow", grid, ExecutorSettings().record())
    for point in grid.points:
        ms = 0.01 * tokens(point.size) * point.batch
        latencies = {(v, rt): ms * (1.5 if v == HOSTILE else 1) / (2 if rt == "compile" else 1)
                     for v in ("A", HOSTILE) for rt in RUNTIMES}  # fmt: skip
        document = results_document(latencies, size=point.size, batch=point.batch,
                                    run_id=point.id)  # fmt: skip
        for row in document["rows"]:  # the figures the latency-detail table shows
            if row["variant"] == "A":  # Table 3's figures: the AP-vs-latency plot's
                row.update(paper_ap=46.5, paper_latency_ms=7.2)
            row.update({f"latency_{k}": row["latency_median_ms"] for k in ("p99_ms", "mean_ms",
                        "std_ms", "min_ms")})  # fmt: skip
        write_json(store.results_path(point.id), document)
        store.set_status(point.id, "done")
    reported = invoke("report", store.folder, "--html", "--no-plots")
    assert reported.exit_code == 0, reported.output
    return {"history": folder / "history.html", "report": store.folder / "report" / "report.html"}


def test_each_page_is_one_file_with_plotly_inline_and_user_text_escaped(pages):
    for name, path in pages.items():
        text = path.read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>") and "<script src" not in text
        assert "plotly.js v" in text[:5000]  # the library itself, inline
        assert HOSTILE not in text and html.escape(HOSTILE) in text
        expected = HISTORY_FIGURES if name == "history" else REPORT_FIGURES
        assert text.count('<div class="figure">') == expected


def test_pages_render_in_a_headless_browser(pages):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
    )
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no chromium at {CHROMIUM}: apt-get install chromium (make test does so)")
    shots = os.environ.get("RTBENCH_SCREENSHOTS")  # a folder: full-page screenshots land there
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for name, path in pages.items():
                count = HISTORY_FIGURES if name == "history" else REPORT_FIGURES
                problems = check_page(browser, path, count, shots and Path(shots) / f"{name}.png")
                assert problems == [], f"{name}: {problems}"
        finally:
            browser.close()


def test_latency_plots_carry_error_bars_and_the_paper_ap_plot_renders(pages):
    """In the browser: every latency figure of a run draws its 95% CIs as error bars, and the
    paper-AP-vs-latency figure of each run shows the measured and the paper's points."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no chromium at {CHROMIUM}: apt-get install chromium (make test does so)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(pages["report"].as_uri(), wait_until="load")
            page.wait_for_function("n => document.querySelectorAll('div.figure .main-svg')"
                                   ".length >= n", arg=REPORT_FIGURES, timeout=30_000)  # fmt: skip
            drawn = page.evaluate("""() => [...document.querySelectorAll('div.figure')].map(f => ({
                title: (f.querySelector('.gtitle') || {}).textContent || '',
                x: [...f.querySelectorAll('path.xerror')].filter(p => p.getAttribute('d')).length,
                y: [...f.querySelectorAll('path.yerror')].filter(p => p.getAttribute('d')).length,
                points: f.querySelectorAll('.scatterlayer .point').length}))""")
        finally:
            browser.close()
    latency = [f for f in drawn if f["title"].startswith("Latency per variant")]
    ap = [f for f in drawn if f["title"].startswith("Paper AP vs latency")]
    ratios = [f for f in drawn if f["title"].startswith("Latency relative to A")]
    assert len(latency) == len(ap) == len(ratios) == POINTS
    variants = 2  # A and the hostile one, in each of two runtimes
    assert all(f["y"] == variants * len(RUNTIMES) for f in latency + ratios)
    # A has a paper AP: its measured point per runtime (with its CI) and the paper's point
    assert all(f["x"] == len(RUNTIMES) and f["points"] == len(RUNTIMES) + 1 for f in ap)


def check_page(browser, path: Path, count: int, screenshot: Path | None) -> list[str]:
    """Load the page; assert that its `count` figures rendered, none blank, and that user text
    shows as text; return what went wrong in the page (console errors, exceptions, dialogs,
    requests for anything but the file itself)."""
    from PIL import Image

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (problems.append(f"dialog {d.message}"), d.dismiss()))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:"))
            else problems.append(f"request {r.url}"))  # fmt: skip
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("n => document.querySelectorAll('div.figure .main-svg').length >= n",
                           arg=count, timeout=30_000)  # fmt: skip
    figures = page.locator("div.figure")
    assert figures.count() == count
    for i in range(count):
        figure = figures.nth(i)
        assert figure.locator(".main-svg").count() >= 1
        assert figure.locator("g.trace").count() >= 1  # lines or bars drawn
        image = Image.open(io.BytesIO(figure.screenshot())).convert("L")
        shades = sum(1 for n in image.histogram() if n)
        assert image.getextrema()[0] < 128 and shades > 20  # not blank
    assert page.get_by_text(HOSTILE).count() >= 1  # shown as the text it is
    if screenshot:
        page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return problems
