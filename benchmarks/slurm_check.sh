#!/usr/bin/env bash
# `make slurm-check`: `rtbench sweep --executor slurm` against a real SLURM (Debian's 22.05) on
# this one machine. Installs what is missing (apt; needs root), starts munged, slurmctld and
# slurmd on a private configuration (a temporary folder, its own munge socket and ports: nothing
# under /etc is touched), waits until the node is idle, then checks:
#
#   sbatch-to-start   a plain `sbatch --wrap` job: seconds from sbatch to the job running
#   grid-array        2 variants x 2 sizes as one job array, --max-parallel 1; merged report
#   batch-script      the #SBATCH lines our flags asked for, and what SLURM made of them
#   short-limit       --timeout-min 1: the point is measured (SLURM's warning signal comes in time)
#   cancel            scancel a running point: the sweep records SLURM's state, exits 1
#   resume-cancelled  --resume measures that point again and no other
#   resume-refused    --resume while the sweep's job still runs (its driver killed): refused
#
# One line per step: name, pass/FAIL, seconds (a failed step adds its log's last lines). Exits
# non-zero when a step failed; a cluster that does not start is a failure with the daemons' own
# log lines, never a skip. The daemons are stopped and the folder removed on exit.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PYTHON=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" # the jobs import this tree's rtbench
T_START=$(date +%s.%N)

WORK=$(mktemp -d /tmp/rtbench-slurm.XXXXXX)
chmod 755 "$WORK" # munged runs as its own user and must reach its folder
mkdir -p "$WORK"/{etc,state,spool,log,munge,results}
export SLURM_CONF=$WORK/etc/slurm.conf # every SLURM command, the daemons and the jobs read it
SWEEPS=$WORK/results/sweeps
SWEEP=("$PYTHON" -m rtbench sweep --results-dir "$WORK/results" --no-plots)
# One CPU per job, so one thread (SLURM_CPUS_PER_TASK): two would crawl on a busy 2-core machine.
TINY=(--scope encoder --device cpu --no-flops --warmup 1 --cpus-per-job 1)
FAILED=0

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# step NAME FUNCTION: run it in a subshell (`fail` ends it), its output into log/NAME.log; print
# one line. A function may write a note (one line) into $WORK/note, printed after its time.
step() {
    local name=$1 t0 result note=""
    t0=$(date +%s.%N)
    : >"$WORK/note"
    if ("$2") >"$WORK/log/$name.log" 2>&1; then result=pass; else result=FAIL; FAILED=1; fi
    [[ -s $WORK/note ]] && note="  ($(head -c 300 "$WORK/note"))"
    printf '%-17s %-4s %6s s%s\n' "$name" "$result" "$(elapsed "$t0")" "$note"
    if [[ $result == FAIL ]]; then
        tail -n 25 "$WORK/log/$name.log" | sed 's/^/    | /'
    fi
    [[ $result == pass ]]
}

note() { echo "$*" >"$WORK/note"; }
fail() { echo "FAIL: $*"; exit 1; }
daemon() { # NAME COMMAND...: start a daemon; its pid into $WORK/pids, its name into name.PID
    local name=$1
    shift
    "$@" &
    echo $! >>"$WORK/pids"
    echo "$name" >"$WORK/name.$!"
}
alive() { [[ -e /proc/$1 && $(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) != Z ]]; } # not a zombie

# What a step checks, in Python (the sweep's JSON files); exits non-zero with a line on failure.
check_py() { "$PYTHON" - "$@"; }

daemon_logs() { # each daemon's own error lines (the PMIx plugin's, which we do not use, left out)
    local log lines
    for log in "$WORK"/log/{munged,slurmctld,slurmd}.{log,out}; do
        [[ -s $log ]] || continue
        lines=$(grep -iE 'error|fatal|fail|refus|denied|invalid' "$log" | grep -vE 'pmix|MPI: Cannot')
        [[ -n $lines ]] && printf -- '--- %s:\n%s\n' "$log" "$(tail -n 6 <<<"$lines")"
    done
    return 0
}

# ------------------------------------------------------------------------------ stop, on exit

stop() {
    local t0 left="" pid pids=() out
    t0=$(date +%s.%N)
    [[ -s $WORK/pids ]] && mapfile -t pids <"$WORK/pids"
    if ((${#pids[@]})) && timeout 5 squeue >/dev/null 2>&1; then # the controller answers
        timeout 10 scancel --user="$(id -un)" >/dev/null 2>&1
        for _ in $(seq 40); do
            out=$(timeout 5 squeue --noheader 2>/dev/null) || break
            [[ -z $out ]] && break
            sleep 0.25
        done
    fi
    # Reverse order: slurmd, slurmctld, then munged (which they need to the end).
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 40); do alive "$pid" || break; sleep 0.25; done
        alive "$pid" && { kill -9 "$pid" 2>/dev/null; left+=" $pid"; }
    done
    # Job steps outlive slurmd: any slurmstepd of this cluster (its SLURM_CONF) is ended too.
    for pid in $(grep -lx slurmstepd /proc/[0-9]*/comm 2>/dev/null | cut -d/ -f3); do
        alive "$pid" || continue
        { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qx "SLURM_CONF=$SLURM_CONF" &&
            kill -9 "$pid" 2>/dev/null && left+=" slurmstepd:$pid"
    done
    if [[ -n ${SLURM_CHECK_KEEP:-} ]]; then # the logs and sweep folders, to look at afterwards
        mkdir -p "$SLURM_CHECK_KEEP" && cp -r "$WORK/log" "$WORK/results" "$SLURM_CHECK_KEEP/"
    fi
    rm -rf "$WORK"
    if [[ -n $left ]]; then
        printf '%-17s %-4s %6s s  (killed with SIGKILL:%s)\n' stop FAIL "$(elapsed "$t0")" "$left"
        return 1
    fi
    printf '%-17s %-4s %6s s\n' stop pass "$(elapsed "$t0")"
}

on_exit() {
    local code=$?
    trap - EXIT INT TERM
    stop || code=1
    echo "slurm-check: $([[ $code == 0 ]] && echo pass || echo FAIL) in $(elapsed "$T_START") s"
    exit "$code"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------ the cluster

PACKAGES=(munge slurmctld slurmd slurm-client)

install() {
    local missing=() pkg
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        note "installed: $(dpkg-query -W -f='${Version}' slurmctld)"
        return 0
    fi
    [[ $(id -u) == 0 ]] || fail "not root: cannot apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
        fail "apt-get install ${missing[*]}"
    note "apt-get installed ${missing[*]}: $(dpkg-query -W -f='${Version}' slurmctld)"
}

start() {
    local host node pid
    host=$(hostname -s)
    # This machine as it is: CPUs, sockets, cores and memory as slurmd sees them.
    node=$(slurmd -C | head -n 1)
    [[ $node == NodeName=* ]] || fail "slurmd -C printed: $node"
    cat >"$SLURM_CONF" <<EOF
ClusterName=rtbench
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$WORK/munge/munge.socket
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
# No cgroups, no accounting database (so no sacct): what the simplest cluster has.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=2
$node NodeAddr=127.0.0.1 Features=rtbench State=UNKNOWN
PartitionName=rtbench Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    # munged: its own key, socket and user; nothing of a system munged is used or disturbed. Its
    # socket's folder must be open to all (munged checks); the key is the munge user's alone.
    local socket=$WORK/munge/munge.socket
    mungekey --create --keyfile="$WORK/munge/munge.key" || fail "mungekey"
    chown -R munge:munge "$WORK/munge" && chmod 755 "$WORK/munge"
    daemon munged setpriv --reuid=munge --regid=munge --init-groups munged --foreground \
        --socket="$socket" --key-file="$WORK/munge/munge.key" \
        --pid-file="$WORK/munge/munged.pid" --seed-file="$WORK/munge/munged.seed" \
        2>"$WORK/log/munged.log"
    for _ in $(seq 50); do [[ -S $socket ]] && break; sleep 0.1; done
    munge -n --socket="$socket" | unmunge --socket="$socket" >/dev/null ||
        { daemon_logs; fail "munged does not answer on $socket"; }
    daemon slurmctld slurmctld -D -i >"$WORK/log/slurmctld.out" 2>&1
    daemon slurmd slurmd -D >"$WORK/log/slurmd.out" 2>&1
    local state=""
    for _ in $(seq 60); do
        state=$(timeout 5 sinfo --noheader --nodes="$host" --format=%T 2>&1)
        [[ $state == idle ]] && break
        while read -r pid; do
            alive "$pid" || { daemon_logs; fail "$(cat "$WORK/name.$pid") exited"; }
        done <"$WORK/pids"
        sleep 0.5
    done
    [[ $state == idle ]] ||
        { daemon_logs; fail "node $host not idle within 30 s: sinfo says $state"; }
    note "node $host idle: $(sinfo --noheader --nodes="$host" --format='%c CPUs, %m MB');" \
        "SLURM $(sinfo --version | cut -d' ' -f2)"
}

# ------------------------------------------------------------------------------ the checks

sbatch_to_start() {
    local t0 started
    t0=$(date +%s.%N)
    timeout 30 sbatch --parsable --output="$WORK/log/probe.out" \
        --wrap "date +%s.%N > $WORK/probe.tmp && mv $WORK/probe.tmp $WORK/probe.started" ||
        fail sbatch
    for _ in $(seq 200); do [[ -s $WORK/probe.started ]] && break; sleep 0.05; done
    [[ -s $WORK/probe.started ]] ||
        { squeue; cat "$WORK/log/probe.out"; fail "the job did not start within 10 s"; }
    started=$(cat "$WORK/probe.started")
    note "$(awk -v a="$t0" -v b="$started" 'BEGIN { printf "%.2f", b - a }') s from sbatch" \
        "to the job running"
}

grid_array() {
    timeout 180 "${SWEEP[@]}" "${TINY[@]}" --variants A,E --sizes 128,160 --iters 3 \
        --min-time 0.1 --executor slurm --max-parallel 1 --timeout-min 5 --partition rtbench \
        --constraint rtbench --account rtbench --qos normal --sweep-id grid ||
        fail "sweep exited $?"
    [[ -s $SWEEPS/grid/report/points.csv ]] || fail "no merged report in $SWEEPS/grid/report"
    # Every point done in a job of the array; measured with the 1 CPU the job was given.
    check_py "$SWEEPS/grid" >"$WORK/note" <<'EOF' || fail "the points' files"
import datetime as dt, json, pathlib, subprocess, sys
folder = pathlib.Path(sys.argv[1])
jobs = json.loads((folder / "jobs.json").read_text())
waits = []
for point, job in sorted(jobs.items()):
    status = json.loads((folder / "points" / point / "status.json").read_text())
    results = json.loads((folder / "points" / point / "results.json").read_text())
    assert status["status"] == "done" and status["job_id"] == job["job_id"], status
    assert results["environment"]["threads"] == 1, results["environment"]  # SLURM_CPUS_PER_TASK
    when = lambda s: dt.datetime.fromisoformat(s).timestamp()
    waits.append(when(status["started"]) - when(job["submitted"]))
# SLURM's own record of the first task: submitted and started, to the second.
info = subprocess.run(["scontrol", "show", "job", "-o", jobs["s128-b1-fp32"]["job_id"]],
                      capture_output=True, text=True, check=True).stdout
field = dict(kv.split("=", 1) for kv in info.split() if "=" in kv)
slurm = when(field["StartTime"]) - when(field["SubmitTime"])
print(f"2 points done; SLURM SubmitTime->StartTime {slurm:.0f} s, jobs.json submitted -> "
      f"status.json started {waits[0]:.0f} s (Python and torch imports included)")
EOF
}

batch_script() {
    local script job wanted line
    script=$(ls "$SWEEPS"/grid/jobs/*_submission.sh) || fail "no *_submission.sh in jobs/"
    wanted=(--partition=rtbench --cpus-per-task=1 --constraint=rtbench --account=rtbench
        --qos=normal --time=5 --array=0-1%1 --job-name=rtbench-grid --signal=USR2@75)
    for line in "${wanted[@]}"; do
        grep -qx -- "#SBATCH $line" "$script" || { cat "$script"; fail "no '#SBATCH $line'"; }
    done
    # What SLURM made of them (the array's first task, still in the controller's memory).
    job=$(job_of grid s128-b1-fp32)
    scontrol show job -o "$job" | tr ' ' '\n' | tee "$WORK/job" |
        grep -E '^(Partition|CPUs/Task|TimeLimit|ArrayTaskThrottle|JobName|Account|QOS|Features)='
    # No accounting database: SLURM takes --qos but keeps none (QOS=(null)).
    for line in Partition=rtbench CPUs/Task=1 TimeLimit=00:05:00 ArrayTaskThrottle=1 \
        JobName=rtbench-grid Account=rtbench Features=rtbench; do
        grep -qx -- "$line" "$WORK/job" || fail "scontrol show job $job: no $line"
    done
    note "${#wanted[@]} #SBATCH lines; SLURM's record of job $job agrees" \
        "(QOS: $(grep ^QOS= "$WORK/job" | cut -d= -f2), no accounting)"
}

short_limit() {
    # 1 minute: submitit's default warning (USR2 90 s before the limit) would come at once and
    # fail the point as timed out; it now comes in the limit's last quarter.
    timeout 120 "${SWEEP[@]}" "${TINY[@]}" --variants A --sizes 128 --iters 3 --min-time 0.1 \
        --executor slurm --timeout-min 1 --sweep-id short || fail "sweep exited $?"
    grep -qx -- "#SBATCH --signal=USR2@15" "$SWEEPS"/short/jobs/*_submission.sh ||
        fail "no '#SBATCH --signal=USR2@15'"
    note "--timeout-min 1, #SBATCH --signal=USR2@15: point $(field short s128-b1-fp32 status)"
}

json_get() { # FILE KEY...: a value of a JSON file, empty when missing
    check_py "$@" <<<'import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2:]:
    value = value.get(key, "") if isinstance(value, dict) else ""
print(value)'
}

field() { json_get "$SWEEPS/$1/points/$2/status.json" "$3" 2>/dev/null; } # SWEEP POINT KEY
job_of() { json_get "$SWEEPS/$1/jobs.json" "$2" job_id; } # SWEEP POINT: its SLURM job id

wait_running() { # SWEEP POINT: until the point says it runs (at most 60 s)
    for _ in $(seq 240); do
        [[ $(field "$1" "$2" status) == running ]] && return 0
        sleep 0.25
    done
    fail "point $2 of $1 never ran"
}

cancel() {
    local code job
    # Points of 3 s or more each: the cancelled one cannot finish within KillWait (2 s).
    timeout 180 "${SWEEP[@]}" "${TINY[@]}" --variants A --sizes 128,160 --iters 40 \
        --executor slurm --timeout-min 5 --sweep-id cancel &
    SWEEP_PID=$!
    trap 'kill "$SWEEP_PID" 2>/dev/null' EXIT # a failed step leaves no sweep behind
    wait_running cancel s128-b1-fp32
    job=$(job_of cancel s128-b1-fp32)
    scancel "$job" || fail "scancel $job"
    wait "$SWEEP_PID"
    code=$?
    [[ $code == 1 ]] || fail "the sweep exited $code, not 1"
    [[ $(field cancel s128-b1-fp32 status) == interrupted ]] || fail "s128 not interrupted"
    [[ $(field cancel s128-b1-fp32 slurm_state) == CANCELLED ]] || fail "s128: no CANCELLED"
    [[ $(field cancel s160-b1-fp32 status) == "done" ]] || fail "s160 not done"
    note "s128: $(field cancel s128-b1-fp32 error)"
}

resume_cancelled() {
    local before after jobs_before
    before=$(stat -c %Y.%s "$SWEEPS/cancel/points/s160-b1-fp32/results.json") || fail "no results"
    jobs_before=$(job_of cancel s160-b1-fp32)
    timeout 120 "${SWEEP[@]}" --resume "$SWEEPS/cancel" || fail "resume exited $?"
    after=$(stat -c %Y.%s "$SWEEPS/cancel/points/s160-b1-fp32/results.json")
    [[ $(field cancel s128-b1-fp32 status) == "done" ]] || fail "s128 not done"
    [[ $(field cancel s128-b1-fp32 attempt) == 2 ]] || fail "s128: not attempt 2"
    [[ $(field cancel s160-b1-fp32 attempt) == 1 ]] || fail "s160 measured again"
    [[ $before == "$after" ]] || fail "s160's results.json was rewritten"
    [[ $(job_of cancel s160-b1-fp32) == "$jobs_before" ]] || fail "s160 was submitted again"
    note "s128 attempt 2 in job $(job_of cancel s128-b1-fp32);" \
        "s160 untouched (attempt 1, job $jobs_before, results.json mtime kept)"
}

resume_refused() {
    local sweep_pid job out code
    # Points of about 30 s: the first still runs when --resume asks (then it is cancelled).
    "${SWEEP[@]}" "${TINY[@]}" --variants A --sizes 128,160 --iters 400 --executor slurm \
        --timeout-min 5 --sweep-id refused &
    sweep_pid=$!
    (wait_running refused s128-b1-fp32) || { kill -9 "$sweep_pid"; fail "never ran"; }
    kill -9 "$sweep_pid" # the driver dies (its lock with it); its jobs go on
    wait "$sweep_pid" 2>/dev/null
    job=$(job_of refused s128-b1-fp32)
    squeue --noheader --array --jobs="${job%_*}" --format='%i %T'
    [[ $(squeue --noheader --jobs="$job" --format=%T) == RUNNING ]] || fail "job $job not running"
    out=$("${SWEEP[@]}" --resume "$SWEEPS/refused" 2>&1 >"$WORK/log/refused.out")
    code=$?
    echo "$out"
    scancel "${job%_*}"
    [[ $code != 0 ]] || fail "--resume measured while job $job runs"
    [[ $(wc -l <<<"$out") == 1 ]] || fail "not one line on stderr"
    [[ $out == "error: point "*" still has SLURM job "*" RUNNING"* ]] || fail "not that refusal"
    [[ $(field refused s128-b1-fp32 attempt) == 1 ]] || fail "s128 measured again"
    note "$out"
}

step install install || exit 1
step start start || exit 1
step sbatch-to-start sbatch_to_start || exit 1
step grid-array grid_array && step batch-script batch_script
step short-limit short_limit
step cancel cancel && step resume-cancelled resume_cancelled
step resume-refused resume_refused
exit "$FAILED"
