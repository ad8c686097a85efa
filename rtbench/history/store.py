"""The history database: one DuckDB file (default results/history.duckdb) that recorded runs are
appended to, and read back from as one table of points.

Schema, version SCHEMA_VERSION (README, "History", documents it for users):

    meta    key, value: `schema_version`, and `created_by` (the rtbench version that made it)
    runs    one row per results document recorded
            id (the order of recording), doc_key (SHA-256 of the document: recorded once),
            source (baseline, check, run, compare, sweep, import; old: confirmation), file (the
            file imported), run_id, created (when the run started, UTC), recorded (when it was
            appended, UTC), git_commit, git_branch, git_dirty, fingerprint (the machine, see
            `machine_key`), machine (JSON: what the fingerprint stands for), config (JSON:
            results.json's config record, every field), calibration (the workload's name),
            calibration_median_ms, load (JSON: results.json's load record)
    accepted  (version 2) run: the runs that may be references for `check --against history`:
            a baseline's, a passing check's, or a commit's that `rtbench history accept` took
    points  one row per run, variant and runtime
            run (runs.id), variant, runtime, status, error, params, gmacs, the latency
            statistics of a results row (latency_median_ms ... latency_min_ms, latency_samples,
            latency_normalized) and its samples (latency_samples_ms, latency_normalized_samples)

A version 1 database (no `accepted`) reads as if only its baselines were accepted, and is
migrated to version 2 when it is next written; any other version is refused in one line.
Two writers at once: DuckDB lets one process open a file for writing and no
other open it at all meanwhile. Every use here opens the file, works in one transaction and
closes it (milliseconds), and a process that finds the file locked tries again with exponential
backoff and jitter for up to `wait_s` seconds before it gives up in one line; nothing is lost,
and a writer killed mid-way leaves the database as it was (the transaction is all or nothing).
"""

import datetime as dt
import json
import random
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rtbench import results
from rtbench.digest import content_key
from rtbench.files import prepare_folder
from rtbench.history import HistoryError
from rtbench.text import first_line, quote

SCHEMA_VERSION = 2
# What a version 1 database becomes when written: only its baselines were references.
ACCEPTED = "CREATE TABLE accepted (run INTEGER PRIMARY KEY REFERENCES runs (id))"
MIGRATE_FROM_1 = [ACCEPTED, "INSERT INTO accepted SELECT id FROM runs WHERE source = 'baseline'",
                  "UPDATE meta SET value = '2' WHERE key = 'schema_version'"]  # fmt: skip
DEFAULT_PATH = Path("results") / "history.duckdb"
WAIT_S = 60.0  # two CI jobs' writes take milliseconds; a minute covers a slow shared disk
FIRST_DELAY_S, MAX_DELAY_S = 0.05, 2.0  # backoff between tries while another process writes
# What a machine was told apart by before results.json recorded environment.fingerprint.
DERIVED_FROM = ("cpu_model", "cpu_count", "device_name", "torch")

STATISTICS = [f"latency_{key}" for key in results.LATENCY_STATS]
RUN_COLUMNS = ["doc_key", "source", "file", "run_id", "created", "recorded", "git_commit",
               "git_branch", "git_dirty", "fingerprint", "machine", "config", "calibration",
               "calibration_median_ms", "load"]  # fmt: skip
POINT_COLUMNS = ["run", "variant", "runtime", "status", "error", "params", "gmacs", *STATISTICS,
                 "latency_samples", "latency_normalized", "latency_samples_ms",
                 "latency_normalized_samples"]  # fmt: skip
SCHEMA = [
    "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    "CREATE SEQUENCE run_ids START 1",
    """CREATE TABLE runs (id INTEGER PRIMARY KEY DEFAULT nextval('run_ids'),
        doc_key VARCHAR NOT NULL UNIQUE, source VARCHAR NOT NULL, file VARCHAR, run_id VARCHAR,
        created TIMESTAMP NOT NULL, recorded TIMESTAMP NOT NULL, git_commit VARCHAR,
        git_branch VARCHAR, git_dirty BOOLEAN, fingerprint VARCHAR NOT NULL,
        machine VARCHAR NOT NULL, config VARCHAR NOT NULL, calibration VARCHAR NOT NULL,
        calibration_median_ms DOUBLE NOT NULL, load VARCHAR)""",
    f"""CREATE TABLE points (run INTEGER NOT NULL REFERENCES runs (id), variant VARCHAR NOT NULL,
        runtime VARCHAR NOT NULL, status VARCHAR NOT NULL, error VARCHAR, params BIGINT,
        gmacs DOUBLE, {", ".join(f"{c} DOUBLE" for c in STATISTICS)}, latency_samples INTEGER,
        latency_normalized DOUBLE, latency_samples_ms DOUBLE[],
        latency_normalized_samples DOUBLE[], PRIMARY KEY (run, variant, runtime))""",
    ACCEPTED,
]


@dataclass(frozen=True)
class Recorded:
    added: int  # documents appended
    known: int  # documents the database already had (the same content): not appended twice


def machine_key(environment: dict) -> str:
    """The machine a run measured on, as the one string its series are keyed by (the runs
    table's `fingerprint` column): results.json's `environment.fingerprint` where the run
    recorded one; else one derived from what every results file has (the CPU model, the CPU
    count, the device's name and the torch version: DERIVED_FROM), "derived-" and 16 hex digits
    of their SHA-256. The same machine and software give the same string; a run recorded with a
    fingerprint and an older run of the same machine get different ones."""
    recorded = environment.get("fingerprint")
    if isinstance(recorded, str) and recorded.strip():
        return recorded
    return "derived-" + content_key([environment.get(key) for key in DERIVED_FROM])[:16]


def machine(environment: dict) -> dict:
    """What a fingerprint stands for: environment.machine where recorded, else DERIVED_FROM;
    with the device's name, which the reports show."""
    facts = environment.get("machine")
    facts = (
        dict(facts) if isinstance(facts, dict) else {k: environment.get(k) for k in DERIVED_FROM}
    )
    return {**facts, "device_name": environment.get("device_name")}


def document_key(document: dict) -> str:
    """The content key a document is recorded under (the parsed document's SHA-256)."""
    return content_key(results.parse(document))


# ---------------------------------------------------------------------------- connecting


@contextmanager
def connect(path: Path, *, write: bool, wait_s: float = WAIT_S) -> Iterator:
    """An open DuckDB connection to the history at `path` with its schema checked (made, for a
    new database opened to write); closed when the block ends. HistoryError in one line when the
    file is not a history database, is missing (reading) or stayed locked for `wait_s` s."""
    try:
        import duckdb
    except ImportError:
        raise HistoryError("the history needs duckdb, which is not installed (pip install "
                           "duckdb)") from None  # fmt: skip

    if write:
        prepare_folder(path.parent, f"--history {path}")
    elif not path.is_file():
        raise HistoryError(f"{path}: no history database (rtbench baseline and check record "
                           "runs; run, compare and sweep with --record; rtbench history add "
                           "imports results files)")  # fmt: skip
    deadline, delay = time.monotonic() + wait_s, FIRST_DELAY_S
    while True:
        try:
            con = duckdb.connect(str(path), read_only=not write)
            break
        except duckdb.Error as err:
            message = first_line(err)
            if "lock" not in message.lower():
                raise HistoryError(
                    f"{path}: cannot open the history database ({message})"
                ) from None
            left = deadline - time.monotonic()
            if left <= 0:
                holder = re.search(r"PID \d+", message)
                raise HistoryError(
                    f"{path}: another process ({holder.group(0) if holder else 'unknown'}) kept "
                    f"the history database locked for {wait_s:g} s; nothing was recorded"
                ) from None
            time.sleep(min(left, delay * random.uniform(0.5, 1.0)))
            delay = min(2 * delay, MAX_DELAY_S)
    try:
        _schema(con, path, write)
        yield con
    finally:
        con.close()


def _schema(con, path: Path, write: bool) -> None:
    tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables")
              .fetchall()}  # fmt: skip
    if not tables and write:
        import rtbench

        with _transaction(con):
            for statement in SCHEMA:
                con.execute(statement)
            con.executemany("INSERT INTO meta VALUES (?, ?)",
                            [("schema_version", str(SCHEMA_VERSION)),
                             ("created_by", f"rtbench {rtbench.__version__}")])  # fmt: skip
        return
    if "meta" not in tables:
        raise HistoryError(f"{path}: a DuckDB database, but not an rtbench history (no meta table)")
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is not None and row[0] == "1" and write:
        with _transaction(con):
            for statement in MIGRATE_FROM_1:
                con.execute(statement)
        return
    if row is None or row[0] not in (str(SCHEMA_VERSION), "1"):
        found = quote(row[0] if row else None)
        raise HistoryError(f"{path}: history schema version {found}; this rtbench reads version "
                           f"{SCHEMA_VERSION}")  # fmt: skip


@contextmanager
def _transaction(con) -> Iterator[None]:
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()


# ---------------------------------------------------------------------------- writing


def record(
    path: Path,
    documents: Sequence[dict],
    source: str,
    *,
    files: Sequence[Path | None] | None = None,
    accepted: bool = False,
    wait_s: float = WAIT_S,
) -> Recorded:
    """Append results documents (in one transaction) as `source` (baseline, check, run, ...),
    `accepted` as references or not, with the branch each document's environment recorded
    (git_branch; none in files written before it was); `files`: the files they were read from.
    A document the database has already is skipped."""
    files = list(files) if files is not None else [None] * len(documents)
    prepared = [_run(document, source, file, accepted) for document, file in
                zip(documents, files, strict=True)]  # fmt: skip
    added = 0
    with connect(path, write=True, wait_s=wait_s) as con, _transaction(con):
        for run, points in prepared:
            if con.execute("SELECT 1 FROM runs WHERE doc_key = ?", [run["doc_key"]]).fetchone():
                continue
            placeholders = ", ".join("?" * len(RUN_COLUMNS))
            run_id = con.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES "
                                 f"({placeholders}) RETURNING id",
                                 [run[c] for c in RUN_COLUMNS]).fetchone()[0]  # fmt: skip
            if run["accepted"]:
                con.execute("INSERT INTO accepted VALUES (?)", [run_id])
            if points:
                con.executemany(
                    f"INSERT INTO points VALUES ({', '.join('?' * len(POINT_COLUMNS))})",
                    [[run_id, *(point[c] for c in POINT_COLUMNS[1:])] for point in points],
                )
            added += 1
    return Recorded(added, len(prepared) - added)


def add_files(path: Path, files: Sequence[Path], wait_s: float = WAIT_S,
              accepted: bool = False) -> Recorded:  # fmt: skip
    """Import results files of any schema version (upgraded on load), with the commit each
    recorded, `accepted` as references or not; ResultsError naming the first unusable file,
    before anything is written."""
    documents = [results.load_results(file) for file in files]
    return record(path, documents, "import", files=files, accepted=accepted, wait_s=wait_s)


def accept(path: Path, commit: str, wait_s: float = WAIT_S) -> tuple[str, int]:
    """Accept every run of a commit (given in full or by a prefix of 3 characters or more) as a
    reference: a change meant to alter speed. Returns the full commit and how many runs."""
    if len(commit.strip()) < 3:
        raise HistoryError(f"{quote(commit)}: not a commit (3 characters of it at least)")
    with connect(path, write=True, wait_s=wait_s) as con, _transaction(con):
        found = [row[0] for row in con.execute(
            "SELECT DISTINCT git_commit FROM runs WHERE starts_with(git_commit, ?)",
            [commit.strip()]).fetchall()]  # fmt: skip
        if len(found) != 1:
            said = "no run" if not found else f"{len(found)} commits"
            raise HistoryError(f"{path}: {said} of commit {quote(commit)}")
        count = con.execute("SELECT id FROM runs WHERE git_commit = ?", [found[0]]).fetchall()
        con.execute("INSERT INTO accepted SELECT id FROM runs WHERE git_commit = ? AND id NOT IN "
                    "(SELECT run FROM accepted)", [found[0]])  # fmt: skip
    return found[0], len(count)


def _run(document: dict, source: str, file: Path | None, accepted: bool = False) -> tuple:
    label = str(file) if file else source
    document = results.parse(document, label)
    env, cal = document["environment"], document["calibration"]
    try:
        created = dt.datetime.fromisoformat(document["created"])
    except ValueError:
        raise HistoryError(f"{label}: created {quote(document['created'])} is not an ISO-8601 "
                           "time") from None  # fmt: skip
    if created.tzinfo is not None:
        created = created.astimezone(dt.timezone.utc).replace(tzinfo=None)
    dirty = env.get("git_dirty")
    run = {
        "doc_key": content_key(document), "source": source,
        "file": str(file) if file else None, "run_id": document.get("run_id"),
        "created": created, "recorded": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
        "git_commit": env.get("git_commit"),
        "git_branch": env.get("git_branch"),
        "git_dirty": dirty if isinstance(dirty, bool) else None,
        "fingerprint": machine_key(env), "machine": json.dumps(machine(env), sort_keys=True),
        "config": json.dumps(document["config"], sort_keys=True), "calibration": cal["name"],
        "calibration_median_ms": cal["median_ms"],
        "load": json.dumps(document["load"]) if document.get("load") is not None else None,
        "accepted": accepted,
    }  # fmt: skip
    points = [{column: row.get(column) for column in POINT_COLUMNS[1:]}
              for row in document["rows"]]  # fmt: skip
    return run, points


# ---------------------------------------------------------------------------- reading


def read_points(path: Path, wait_s: float = WAIT_S):
    """Every recorded point joined with its run, oldest run first (a pandas DataFrame; `config`,
    `machine` and `load` as JSON text)."""
    from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

    with connect(path, write=False, wait_s=wait_s) as con:
        tables = {row[0] for row in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}  # fmt: skip
        # version 1 has no table of accepted runs: only its baselines were references
        accepted = "a.run IS NOT NULL" if "accepted" in tables else "r.source = 'baseline'"
        join = "LEFT JOIN accepted a ON a.run = r.id" if "accepted" in tables else ""
        frame = con.execute(f"SELECT r.*, {accepted} AS accepted, p.* EXCLUDE (run) FROM points p "
                            f"JOIN runs r ON p.run = r.id {join} "
                            "ORDER BY r.created, r.id").df()  # fmt: skip
    for column in frame.columns:  # text and lists: None where missing (pandas would say NaN)
        kind = frame[column].dtype
        if not (is_numeric_dtype(kind) or is_bool_dtype(kind) or is_datetime64_any_dtype(kind)):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame
