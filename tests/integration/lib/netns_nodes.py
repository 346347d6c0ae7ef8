"""Helpers of the Python part of the discovery tests (tests/integration/disc_*.sh), which
start chum processes in the namespaces of lib/netns.sh and poll their snapshot files.

    import sys; sys.path.insert(0, LIB_DIR)
    from netns_nodes import procs, now, load, fail, wait_until, instance_ids, setup
    setup(chum, tmp, tag, log_lines=20, poll=0.02)

procs maps node numbers to the subprocess.Popen of each running chum; fail() kills them.
"""
import json
import subprocess
import sys
import time

procs = {}
_cfg = {"chum": "chum", "tmp": ".", "tag": "", "nodes": (1, 2, 3), "log_lines": 20, "poll": 0.02}


def setup(chum, tmp, tag, nodes=(1, 2, 3), log_lines=20, poll=0.02):
    """|chum| is the binary; node i's directory is {tmp}/n{i}, its log {tmp}/log{i}, its
    namespace {tag}n{i} (lib/netns.sh). fail() prints the last |log_lines| lines of each log;
    wait_until() polls every |poll| seconds."""
    _cfg.update(chum=chum, tmp=tmp, tag=tag, nodes=tuple(nodes), log_lines=log_lines, poll=poll)


def start_discover(i, secs, *extra):
    """`chum -v discover --iface eth0 --duration SECS --json EXTRA` of node i in its namespace
    (procs[i]; stdout to {tmp}/out{i}, stderr appended to {tmp}/log{i})."""
    tmp = _cfg["tmp"]
    out = open(f"{tmp}/out{i}", "w")
    log = open(f"{tmp}/log{i}", "a")
    procs[i] = subprocess.Popen(["ip", "netns", "exec", f"{_cfg['tag']}n{i}", _cfg["chum"], "--dir",
                                 f"{tmp}/n{i}", "-v", "discover", "--iface", "eth0", "--duration",
                                 str(secs), "--json", *extra], stdout=out, stderr=log)


def now():
    return time.monotonic()


def load(path):
    """The JSON in |path|, or None while it is missing or half-written."""
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


def instance_ids():
    """{i: the instanceId of node i} from each node's node.json."""
    return {i: json.load(open(f"{_cfg['tmp']}/n{i}/node.json"))["instanceId"] for i in _cfg["nodes"]}


def fail(msg):
    """Print FAIL and the end of every node's log, kill the nodes, exit 1."""
    print("FAIL:", msg)
    for i in _cfg["nodes"]:
        print(f"--- node {i} log")
        try:
            print("".join(open(f"{_cfg['tmp']}/log{i}").readlines()[-_cfg["log_lines"]:]))
        except OSError:
            pass
    for p in procs.values():
        p.kill()
    sys.exit(1)


def wait_until(limit, cond):
    """Poll cond() for at most |limit| seconds: the seconds it took, or None."""
    t0 = now()
    while now() - t0 < limit:
        if cond():
            return now() - t0
        time.sleep(_cfg["poll"])
    return None
