"""privlink benchmarks, side by side in one run: the data plane (a real privlink endpoint,
privlink's relay alone, a direct connection, HAProxy, a minimal C proxy), the control plane
(privlink vs a moto server, the same boto3 code) and DNS (a privlink VPC resolver vs
dnsmasq).

    python -m bench            # full run, ~12 minutes on a 2-core VM
    python -m bench --quick    # a smaller run for developers, < 2 minutes (not run by CI)
    python -m bench --sections dataplane,control,dns --json results.json

Loopback only. Every loop is bounded in count and time. The load generators and the
target servers are C (bench/loadgen.c, compiled with the machine's gcc into a temp dir)
so that the baseline measures the kernel, not the generator.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from .candidates import BenchEnv, default_factories, load_factory, wait_listening

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")

FULL = dict(
    reps=5,
    bulk_bytes=2 << 30,
    conn_seconds=3.0,
    pings=20000,
    idle=(1000, 10000),
    mem_reps=5,
    control_reps=5,
    control_seconds=1.0,
    control_sizes=(1, 50, 500),
    dns_reps=5,
    dns_seconds=2.0,
)
# quick: fewer candidates (see default_factories), the idle-flow memory (a fresh proxy per
# measurement) only in the first repetition, one control-plane repetition
QUICK = dict(
    reps=3,
    bulk_bytes=256 << 20,
    conn_seconds=0.5,
    pings=3000,
    idle=(1000, 2000),
    mem_reps=1,
    control_reps=1,
    control_seconds=0.3,
    control_sizes=(1, 50, 500),
    dns_reps=3,
    dns_seconds=0.5,
)
SECTIONS = ("dataplane", "control", "dns")

LATENCY_SLICES = 4

METRICS = [
    # key, row label, unit, better ("hi"/"lo"), ratio baseline
    ("bulk", "bulk", "Gbit/s", "hi", "direct"),
    ("conn", "conn/s", "conn/s", "hi", "direct"),
    ("p50", "p50", "µs", "lo", "direct"),
    ("p99", "p99", "µs", "lo", "direct"),
    ("added_p50", "added p50", "µs", "lo", None),
    ("cpu_gb", "CPU per GB", "s", "lo", "haproxy"),
    ("cpu_kconn", "CPU per 1,000 conns", "s", "lo", "haproxy"),
    ("mem_small", "memory per idle flow @{small}", "kB", "lo", "haproxy"),
    ("mem_large", "memory per idle flow @{large}", "kB", "lo", "haproxy"),
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- helpers
def build_loadgen(workdir: str) -> str:
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise SystemExit("bench needs a C compiler (gcc) to build its load generator")
    out = os.path.join(workdir, "loadgen")
    subprocess.run([cc, "-O2", "-pthread", "-o", out, os.path.join(HERE, "loadgen.c")], check=True)
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime, all threads
    return total / CLK_TCK


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def set_affinity(pid: int, cpus: set[int]) -> None:
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:
            pass


def dest(addr: tuple) -> str:
    """The load generators' destination argument: HOST:PORT (HOST in 127.0.0.0/8)."""
    return f"{addr[0]}:{addr[1]}"


def loadgen(env: BenchEnv, *args, timeout: float = 120.0, pin: bool = False) -> list[str]:
    pre = (lambda: os.sched_setaffinity(0, {0})) if pin else None
    r = subprocess.run(
        [env.loadgen, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=pre,
    )
    if r.returncode != 0:
        raise RuntimeError(f"loadgen {' '.join(map(str, args))}: {r.stderr.strip()}")
    return r.stdout.split()


# --------------------------------------------------------------------------- figures
def measure_bulk(env, cand, nbytes) -> dict:
    pids = cand.bulk_pids()
    c0 = cpu_seconds(pids)
    sent, confirmed, secs = loadgen(env, "bulk", dest(cand.bulk_addr), nbytes, timeout=300)
    c1 = cpu_seconds(pids)
    sent, confirmed, secs = int(sent), int(confirmed), float(secs)
    if confirmed != sent:
        raise RuntimeError(f"{cand.name}: the sink confirmed {confirmed} of {sent} bytes")
    out = {"bulk": sent * 8 / secs / 1e9}
    if pids:
        out["cpu_gb"] = (c1 - c0) / (sent / 1e9)
    return out


def measure_conn(env, cand, seconds) -> dict:
    pids = cand.echo_pids()
    c0 = cpu_seconds(pids)
    done, errors, secs = loadgen(
        env, "connrate", dest(cand.echo_addr), 50, seconds, 10_000_000, timeout=seconds + 60
    )
    c1 = cpu_seconds(pids)
    done, errors, secs = int(done), int(errors), float(secs)
    out = {"conn": done / secs, "conn_errors": errors}
    if pids and done:
        out["cpu_kconn"] = (c1 - c0) / (done / 1000)
    return out


def measure_latency(env, cand, count, echo_pid) -> dict:
    everyone = set(range(os.cpu_count() or 1))
    pids = [echo_pid, *cand.echo_pids()]
    for p in pids:
        set_affinity(p, {0})
    try:
        p50, p99, _mean = loadgen(
            env, "pingpong", dest(cand.echo_addr), count, pin=True, timeout=120
        )
    finally:
        for p in pids:
            set_affinity(p, everyone)
    return {"p50": int(p50) / 1000, "p99": int(p99) / 1000}


def measure_idle_memory(env, factory, flows: int) -> tuple[float, int]:
    """kB of proxy RSS per idle flow, on a fresh proxy instance; returns (kB, flows held)."""
    cand = factory()
    cand.start(env)
    try:
        wait_listening(cand.echo_addr)
        pids = cand.echo_pids()
        time.sleep(0.2)
        before = sum(rss_kb(pid) for pid in pids)
        p = subprocess.Popen(
            [env.loadgen, "idle", dest(cand.echo_addr), str(flows)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            line = p.stdout.readline().split()
            held = int(line[1]) if len(line) == 2 else 0
            time.sleep(0.5)
            after = sum(rss_kb(pid) for pid in pids)
        finally:
            p.stdin.close()
            p.wait(60)
        return ((after - before) / held if held else float("nan")), held
    finally:
        cand.stop()


# --------------------------------------------------------------------------- run
def run_dataplane(opts, cfg: dict, env: BenchEnv) -> dict:
    fd_limit = env.fd_limit
    # a proxy holds two sockets per flow, plus its own descriptors
    small, large = cfg["idle"]
    large_cap = max(100, (fd_limit - 300) // 2)
    if large > large_cap:
        log(f"RLIMIT_NOFILE hard limit is {fd_limit}: idle flows capped at {large_cap}")
        large = large_cap
    small = min(small, large)
    factories = default_factories(quick=opts.quick, extra=opts.extra)
    for spec in opts.candidate or []:
        factories.append(load_factory(spec))
    if opts.compare_src:
        from .endpoint import compare_factories

        factories += compare_factories(opts.compare_src)
    if opts.only:
        keep = set(opts.only.split(","))
        factories = [f for f in factories if f().name in keep or f().name == "direct"]

    results: dict = {}
    try:
        env.sink, _ = env.start_server("sink")
        # Each candidate gets its own echo server port: short connections leave
        # TIME_WAIT entries keyed by the destination port, and a proxy that connects
        # to a port another candidate has just hammered pays for a long search of the
        # ephemeral port space (the first proxy measured after "direct" was 10-20×
        # slower before this).
        cands = []
        echo_pid: dict = {}
        for f in factories:
            c = f()
            if getattr(c, "own_targets", False):  # runs its targets itself
                addr, pid = env.echo, None
            else:
                addr, pid = env.start_server("echo")
            cenv = dataclasses.replace(env, echo=addr)
            c.start(cenv)
            c.bench_env = cenv
            echo_pid[c.name] = getattr(c, "echo_server_pid", None) or pid
            cands.append((f, c))
            log(f"started {c.label}")
        for _, c in cands:
            results[c.name] = {"label": c.label, "proxied": c.proxied, "runs": []}
        t0 = time.time()
        for rep in range(cfg["reps"]):
            proxies = [c for _, c in cands if c.proxied]
            direct = next(c for _, c in cands if not c.proxied)
            k = rep % len(proxies)
            order = proxies[k:] + proxies[:k]
            runs = {c.name: {} for _, c in cands}
            # bulk and conn/s: the direct baseline runs first and last in each round and
            # counts as the mean of the two, so that a slow drift of the (shared) machine
            # between the start and the end of a round does not bias the ratios
            for measure, arg in (
                (measure_bulk, cfg["bulk_bytes"]),
                (measure_conn, cfg["conn_seconds"]),
            ):
                first = measure(env, direct, arg)
                for c in order:
                    runs[c.name].update(measure(env, c, arg))
                last = measure(env, direct, arg)
                for key in first:
                    runs["direct"][key] = (first[key] + last[key]) / 2
            # latency: several short slices, round robin, median of the slices per
            # candidate (pinned latency on these VMs switches between two levels)
            slices: dict = {c.name: [] for _, c in cands}
            for _ in range(LATENCY_SLICES):
                for c in [direct, *order]:
                    slices[c.name].append(
                        measure_latency(env, c, cfg["pings"] // LATENCY_SLICES, echo_pid[c.name])
                    )
            for name, got in slices.items():
                runs[name]["p50"] = statistics.median(g["p50"] for g in got)
                runs[name]["p99"] = statistics.median(g["p99"] for g in got)
            for f, c in cands:
                if not c.proxied or rep >= cfg["mem_reps"]:
                    continue
                kb, n = measure_idle_memory(c.bench_env, f, small)
                runs[c.name]["mem_small"] = kb
                runs[c.name]["mem_small_flows"] = n
                kb, n = measure_idle_memory(c.bench_env, f, large)
                runs[c.name]["mem_large"] = kb
                runs[c.name]["mem_large_flows"] = n
            d = runs["direct"]
            for name, r in runs.items():
                if "p50" in r:
                    r["added_p50"] = r["p50"] - d["p50"]
                results[name]["runs"].append(r)
            log(
                f"repetition {rep + 1}/{cfg['reps']} done ({time.time() - t0:.0f} s): "
                + ", ".join(
                    f"{n} {r['bulk']:.1f} Gbit/s {r['conn']:.0f} conn/s p50 {r['p50']:.1f} µs"
                    for n, r in runs.items()
                )
            )
        for _, c in cands:
            if hasattr(c, "evidence"):
                try:
                    results[c.name]["evidence"] = c.evidence()
                except Exception as e:  # the figures stand; say why there is no evidence
                    results[c.name]["evidence"] = f"could not read the flow log: {e}"
    finally:
        for _, c in locals().get("cands", []):
            c.stop()
    return {
        "config": {**cfg, "idle": [small, large], "fd_limit": fd_limit},
        "results": results,
    }


def machine() -> dict:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    hap = ""
    if shutil.which("haproxy"):
        hap = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout.split("\n")[
            0
        ]
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "haproxy": hap,
        "load": os.getloadavg(),
    }


# --------------------------------------------------------------------------- report
def summarize(data: dict) -> list[dict]:
    res = data["results"]
    small, large = data["config"]["idle"]
    rows = []
    for key, label, unit, better, base in METRICS:
        label = label.format(small=f"{small:,}", large=f"{large:,}")
        row = {"key": key, "label": label, "unit": unit, "better": better, "cells": {}}
        for name, r in res.items():
            vals = [run[key] for run in r["runs"] if key in run]
            if not vals:
                continue
            cell = {"median": statistics.median(vals)}
            if base and base in res:
                ratios = [
                    run[key] / b[key]
                    for run, b in zip(r["runs"], res[base]["runs"], strict=False)
                    if key in run and key in b and b[key]
                ]
                if ratios:
                    cell["ratio"] = statistics.median(ratios)
            row["cells"][name] = cell
        rows.append(row)
    return rows


def fmt(v: float, unit: str) -> str:
    if unit in ("conn/s",):
        return f"{v:,.0f}"
    if unit == "s":
        return f"{v:.3f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.1f}"


def table(data: dict) -> str:
    rows = summarize(data)
    names = list(data["results"])
    labels = [data["results"][n]["label"] for n in names]
    out = ["| figure | " + " | ".join(labels) + " |", "|---" * (len(names) + 1) + "|"]
    for row in rows:
        cells = []
        for n in names:
            c = row["cells"].get(n)
            if not c:
                cells.append("—")
                continue
            s = f"{fmt(c['median'], row['unit'])}"
            if "ratio" in c:
                s += f" ({c['ratio']:.2f}×)"
            cells.append(s)
        out.append(f"| {row['label']} ({row['unit']}) | " + " | ".join(cells) + " |")
    return "\n".join(out)


def paired_ratio(data: dict, key: str, name: str, base: str) -> float | None:
    """Median over repetitions of name's figure / base's figure in the same repetition."""
    res = data["results"]
    if name not in res or base not in res:
        return None
    ratios = [
        a[key] / b[key]
        for a, b in zip(res[name]["runs"], res[base]["runs"], strict=False)
        if key in a and key in b and b[key]
    ]
    return statistics.median(ratios) if ratios else None


def verdicts(data: dict) -> list[str]:
    """The data-plane targets, checked against the medians (privlink relay, splice)."""
    rows = {r["key"]: r["cells"] for r in summarize(data)}
    out = []

    def cell(key, name):
        return rows.get(key, {}).get(name)

    for name in [n for n in data["results"] if n.startswith("cproxy")]:
        label = data["results"][name]["label"]
        b, c = cell("bulk", name), cell("conn", name)
        if b and c:
            out.append(
                f"{label} (reference, the ceiling for a proxy on this machine): bulk"
                f" {b['ratio']:.2f}× direct, conn/s {c['ratio']:.2f}× direct"
            )
    for name in [n for n in data["results"] if n.startswith("privlink")]:
        label = data["results"][name]["label"]
        b = cell("bulk", name)
        vs_hap = paired_ratio(data, "bulk", name, "haproxy")
        if b and vs_hap is not None:
            out.append(
                f"{label}: bulk {vs_hap:.3f}× HAProxy tuned (target ≥ 1.00×):"
                f" {'met' if vs_hap >= 1.0 else 'MISSED by %.2f%%' % ((1 - vs_hap) * 100)}"
            )
        if b:
            r = b.get("ratio", 0)
            out.append(
                f"{label}: bulk {r:.2f}× direct (target ≥ 0.70×):"
                f" {'met' if r >= 0.7 else 'MISSED by %.0f%%' % ((0.7 - r) / 0.7 * 100)}"
            )
        c = cell("conn", name)
        if c:
            out.append(
                f"{label}: conn/s {c['ratio']:.2f}× direct (target ≥ 0.80×):"
                f" {'met' if c['ratio'] >= 0.8 else 'MISSED by %.0f%%' % ((0.8 - c['ratio']) / 0.8 * 100)}"
            )
        a, ha = cell("added_p50", name), cell("added_p50", "haproxy")
        if a and ha:
            # the difference in each repetition, then the median: pinned latency on these VMs
            # moves between levels from one repetition to the next, for every candidate
            res = data["results"]
            diffs = [
                x["added_p50"] - y["added_p50"]
                for x, y in zip(res[name]["runs"], res["haproxy"]["runs"], strict=False)
                if "added_p50" in x and "added_p50" in y
            ]
            d = statistics.median(diffs)
            out.append(
                f"{label}: added p50 {a['median']:.1f} µs vs HAProxy's {ha['median']:.1f} µs,"
                f" {d:+.1f} µs in the median repetition"
                f" (target ≤ +5 µs): {'met' if d <= 5 else 'MISSED by %.1f µs' % (d - 5)}"
            )
        for key in ("mem_small", "mem_large"):
            m = cell(key, name)
            if m:
                out.append(
                    f"{label}: {m['median']:.1f} kB per idle flow ({key})"
                    f" (target ≤ 50 kB): {'met' if m['median'] <= 50 else 'MISSED'}"
                )
    return out


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes, < 2 minutes")
    p.add_argument("--reps", type=int, help="data-plane repetitions (default 5, quick 3)")
    p.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help="comma-separated: dataplane, control, dns (default: all three)",
    )
    p.add_argument("--only", help="comma-separated candidate names (direct is always kept)")
    p.add_argument(
        "--extra",
        action="store_true",
        help="also the C proxy's splice row and the relay's PPv2, splice-only, copy-only and"
        " two-process rows",
    )
    p.add_argument(
        "--candidate",
        action="append",
        metavar="NAME=module:factory",
        help="add a data-plane candidate; see bench/candidates.py",
    )
    p.add_argument(
        "--compare-src",
        metavar="DIR",
        help="another privlink tree's src/ (e.g. a checkout of an older commit), measured"
        " side by side as extra endpoint rows and an extra control-plane column (A/B)",
    )
    p.add_argument("--json", metavar="FILE", help="also write the raw results here")
    p.add_argument(
        "--report", metavar="FILE", help="print the tables of a --json file again, run nothing"
    )
    opts = p.parse_args(argv)
    if opts.report:
        with open(opts.report) as f:
            report(json.load(f))
        return 0
    if opts.compare_src and not os.path.isdir(os.path.join(opts.compare_src, "privlink")):
        p.error(f"--compare-src: no privlink package in {opts.compare_src}")
    if opts.reps is not None and not 1 <= opts.reps <= 50:
        p.error("--reps must be between 1 and 50")
    sections = [x.strip() for x in opts.sections.split(",") if x.strip()]
    for x in sections:
        if x not in SECTIONS:
            p.error(f"unknown section {x!r} (dataplane, control, dns)")
    if "dataplane" in sections and not shutil.which("haproxy"):
        log("haproxy is not installed (Debian: apt-get install haproxy); HAProxy rows are skipped")
    cfg = dict(QUICK if opts.quick else FULL)
    if opts.reps:
        cfg["reps"] = opts.reps
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    data: dict = {"machine": machine(), "config": cfg, "load": {}}
    t_start = time.time()
    with tempfile.TemporaryDirectory(prefix="privlink-bench-") as workdir:
        servers: list = []
        env = BenchEnv(
            workdir=workdir,
            loadgen=build_loadgen(workdir),
            sink=("127.0.0.1", 0),
            echo=("127.0.0.1", 0),
            fd_limit=hard,
            port_base=0,
            servers=servers,
        )
        try:
            for section in sections:
                before = loadavg()
                t0 = time.time()
                log(f"== {section} (load average {before})")
                if section == "dataplane":
                    data["dataplane"] = run_dataplane(opts, cfg, env)
                elif section == "control":
                    from .controlplane import run_control

                    data["control"] = run_control(
                        workdir,
                        env,
                        cfg["control_reps"],
                        cfg["control_seconds"],
                        cfg["control_sizes"],
                        log,
                        compare_src=opts.compare_src,
                    )
                elif section == "dns":
                    from .dnsbench import run_dns

                    data["dns"] = run_dns(
                        workdir, env.loadgen, cfg["dns_reps"], cfg["dns_seconds"], log
                    )
                data["load"][section] = {
                    "before": before,
                    "after": loadavg(),
                    "seconds": round(time.time() - t0),
                }
        finally:
            for proc in servers:
                proc.kill()
                proc.wait()
    data["seconds"] = round(time.time() - t_start)
    report(data)
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(data, f, indent=1, default=str)
    return 0


def report(data: dict) -> None:
    m = data["machine"]
    print(
        f"privlink benchmarks ({data['seconds']} s): {m['cpus']} × {m['cpu']}, Linux {m['kernel']},"
        f" Python {m['python']}, {m['haproxy'] or 'no HAProxy'}"
    )
    for section, load in data["load"].items():
        print(
            f"load average (1/5/15 min) {section}: {load['before']} before,"
            f" {load['after']} after ({load['seconds']} s)"
        )
    dp = data.get("dataplane")
    if dp:
        c = dp["config"]
        print()
        print(f"## Data plane — medians of {c['reps']} interleaved repetitions")
        print(
            f"bulk {c['bulk_bytes'] / 2**30:.2f} GiB per stream; conn/s 50 concurrent for"
            f" {c['conn_seconds']} s; latency {c['pings']} × 64 B pinned to CPU 0;"
            f" idle flows {c['idle'][0]:,} and {c['idle'][1]:,}"
        )
        print(
            "ratios: bulk/conn/p50/p99 to direct in the same repetition;"
            " CPU and memory to HAProxy tuned"
        )
        print()
        print(table(dp))
        print()
        for line in verdicts(dp):
            print(line)
        for r in dp["results"].values():
            if r.get("evidence"):
                print(f"{r['label']}: {r['evidence']}")
    cp = data.get("control")
    if cp:
        from .controlplane import control_rows, control_verdicts

        print()
        n = len(cp["runs"]["privlink"])
        print(
            f"## Control plane — medians of {n} repetition(s), one boto3 client, calls in"
            f" sequence for {cp['seconds']} s each; ratio privlink / moto in the same repetition;"
            " server and boto3 client CPU time per call"
        )
        print()
        for line in control_rows(cp):
            print(line)
        print()
        for line in control_verdicts(cp):
            print(line)
    dn = data.get("dns")
    if dn:
        from .dnsbench import dns_rows

        print()
        n = len(dn["runs"]["privlink"])
        print(
            f"## DNS — medians of {n} alternating repetitions of {dn['seconds']} s;"
            f" name {dn['info'].get('name', '?')} (A); ratio privlink / dnsmasq"
        )
        print()
        for line in dns_rows(dn):
            print(line)


if __name__ == "__main__":
    sys.exit(main())
