#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The host side of make bench: turns a sweep into VM tests, and the VM's
KTAP back into results.json, a table, fits and plots.

  bench.py plan --sweep FILE --prog BIN [--upstream BIN] --iterations N --bindir DIR
      Writes DIR for scripts/vmtest.sh: tests.list, settings, bench-unpack
      (the two programs, packed: vmtest ships only what tests.list names)
      and one wrapper per sweep line and tool; DIR/plan.json describes them.
  bench.py report --bindir DIR --vmout DIR --out DIR [--label TEXT]
      Reads DIR/results.ktap and metadata, writes OUT/results.json,
      OUT/table.txt and OUT/*.png, *.svg (gnuplot), prints the table.

Exit: 0 done, 1 a run failed or produced nothing, 2 usage error."""

import argparse
import base64
import io
import json
import math
import os
import re
import shlex
import subprocess
import sys
import tarfile

SWEEP_KEYS = {
    # key: (default, check)
    "v": ("1", r"[1-8]"),
    "b": ("64M", r"[0-9]+[MG]"),
    "w": ("100", r"[0-9]{1,3}"),
    "m": ("get", r"get|clear"),
    "s": ("hugetlb2m", r"thp|hugetlb2m|hugetlb1g"),
    "l": ("1G", r"2M|1G"),
    "e": ("both", r"on|off|both"),
    "a": ("1", r"[1-4]"),
    "mmu": ("nested", r"nested|tdp"),
    "peer": ("yes", r"yes|no"),
    "trace": ("yes", r"yes|no"),
    "ad": ("on", r"on|off"),
}
UPSTREAM_BACKING = {"thp": "anonymous_thp", "hugetlb2m": "anonymous_hugetlb_2mb",
                    "hugetlb1g": "anonymous_hugetlb_1gb"}
# Seconds per test before the emulator's slow-down factor (vmtest scales it).
TEST_TIMEOUT = 300
EAGER_PARAM = "/sys/module/kvm/parameters/eager_page_split"
PEER_TRACE = "/sys/kernel/tracing/instances/bench-peer"
SUMMARY = ["populate", "enable", "pass_initially_set", "first_pass", "later_passes",
           "get", "clear", "disable", "repopulate"]
KERNEL_ONLY = ["enable", "get", "clear", "disable"]


class UsageError(Exception):
    pass


def size_bytes(text):
    return int(text[:-1]) << (20 if text[-1] == "M" else 30)


def parse_sweep(path):
    lines = []
    with open(path) as f:
        for lineno, raw in enumerate(f, 1):
            raw = raw.split("#", 1)[0].strip()
            if not raw:
                continue
            cfg = {k: d for k, (d, _) in SWEEP_KEYS.items()}
            for tok in raw.split():
                key, sep, val = tok.partition("=")
                if not sep or key not in SWEEP_KEYS:
                    raise UsageError(f"{path}:{lineno}: '{tok}' is not KEY=VALUE with KEY one of "
                                     f"{', '.join(SWEEP_KEYS)}")
                if not re.fullmatch(SWEEP_KEYS[key][1], val):
                    raise UsageError(f"{path}:{lineno}: {key}={val} is not {SWEEP_KEYS[key][1]}")
                cfg[key] = val
            if int(cfg["w"]) > 100:
                raise UsageError(f"{path}:{lineno}: w={cfg['w']} is over 100")
            if cfg["mmu"] == "tdp" and cfg["a"] != "1":
                raise UsageError(f"{path}:{lineno}: mmu=tdp has no L2, so no aliases")
            lines.append(cfg)
    if not lines:
        raise UsageError(f"{path}: no sweep lines")
    return lines


def ours_args(cfg, iterations):
    args = ["-v", cfg["v"], "-b", cfg["b"], "-w", cfg["w"], "-m", cfg["m"], "-s", cfg["s"],
            "-e", cfg["e"], "-i", str(iterations)]
    if cfg["mmu"] == "tdp":
        args.append("-L")
    else:
        args += ["-l", cfg["l"], "-a", cfg["a"]]
        if cfg["ad"] == "off":
            args += ["-A", "off"]
    if cfg["trace"] == "no":
        args.append("-T")
    return args


def upstream_args(cfg, iterations):
    args = ["-n", "-v", cfg["v"], "-b", cfg["b"], "-w", cfg["w"], "-i", str(iterations),
            "-s", UPSTREAM_BACKING[cfg["s"]]]
    if cfg["m"] == "get":
        args.append("-g")
    return args


def has_peer(cfg):
    # Upstream's memstress maps L2 with 1G leaves, no aliases, in L2 only.
    # It turns on EPT A/D bits in L1 whenever KVM offers them: ad=on only.
    return (cfg["peer"] == "yes" and cfg["mmu"] == "nested" and cfg["a"] == "1"
            and cfg["l"] == "1G" and cfg["ad"] == "on")


def write_script(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


def cmd_plan(a):
    sweep = parse_sweep(a.sweep)
    if a.iterations < 2:
        raise UsageError("--iterations must be 2 or more (upstream's minimum)")
    os.makedirs(a.bindir, exist_ok=True)
    for name in os.listdir(a.bindir):
        os.unlink(os.path.join(a.bindir, name))

    # vmtest ships only the tests it runs: the first one unpacks the programs.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(a.prog, arcname="nested_dirty_log_perf")
        if a.upstream:
            tar.add(a.upstream, arcname="dirty_log_perf_test")
    payload = base64.encodebytes(buf.getvalue()).decode()
    write_script(os.path.join(a.bindir, "bench-unpack"),
                 "#!/bin/sh\n# Unpacks the benchmark programs next to the tests.\n"
                 "set -e\nbase64 -d <<'EOF' | tar -xzf - -C \"$(pwd)\"\n" + payload +
                 "EOF\nls -l nested_dirty_log_perf" +
                 (" dirty_log_perf_test" if a.upstream else "") + "\n")

    tests = ["bench-unpack"]
    plan = {"iterations": a.iterations, "upstream": bool(a.upstream),
            "peer_seed_fix": bool(a.upstream and a.peer_seed_fix), "lines": []}
    for i, cfg in enumerate(sweep, 1):
        ours = f"ours-{i:02d}"
        args = ours_args(cfg, a.iterations)
        write_script(os.path.join(a.bindir, ours),
                     "#!/bin/sh\n"
                     f"echo 'bench-begin: {ours}'\n"
                     f"./nested_dirty_log_perf {shlex.join(args)}\n"
                     "rc=$?\n"
                     f"echo \"bench-end: {ours} $rc\"\n"
                     "exit $rc\n")
        tests.append(ours)
        entry = {"id": i, "config": cfg, "ours": ours, "ours_args": args}
        if a.upstream and has_peer(cfg):
            up = f"upstream-{i:02d}"
            uargs = upstream_args(cfg, a.iterations)
            eagers = {"on": ["Y"], "off": ["N"], "both": ["Y", "N"]}[cfg["e"]]
            body = ["#!/bin/sh",
                    "# Upstream's peer, once per eager_page_split value; the",
                    "# parameter is restored on exit.",
                    f"p={EAGER_PARAM}",
                    "old=$(cat $p) || exit 4",
                    "trap 'echo $old >$p' EXIT",
                    "rc=0"]
            if cfg["trace"] == "yes":
                # The peer's whole-run totals of splits and nested faults,
                # from a trace instance of its own, removed on exit.
                body += [f"ti={PEER_TRACE}",
                         "trap 'echo $old >$p; rmdir $ti 2>/dev/null' EXIT",
                         "mkdir $ti || exit 4",
                         "echo 1 >$ti/events/kvmmmu/kvm_mmu_split_huge_page/enable || exit 4",
                         "echo 1 >$ti/events/kvm/kvm_page_fault/enable || exit 4"]
            for e in eagers:
                body += [f"echo {e} >$p || exit 4",
                         f"echo 'bench-begin: {up} eager_page_split={e}'"]
                if cfg["trace"] == "yes":
                    body += ["echo >$ti/trace"]
                body += [f"./dirty_log_perf_test {shlex.join(uargs)}", "r=$?"]
                if cfg["trace"] == "yes":
                    body += ["echo \"bench-trace: splits $(grep -c 'kvm_mmu_split_huge_page:.*errno 0$'"
                             " $ti/trace) eagain $(grep -c 'kvm_mmu_split_huge_page:.*errno -11$'"
                             " $ti/trace) faults $(grep -c 'kvm_page_fault:' $ti/trace)"
                             " overrun $(cat $ti/per_cpu/cpu*/stats | sed -n 's/^overrun: //p'"
                             " | awk '{n += $1} END {print n + 0}')\""]
                body += [f"echo \"bench-end: {up} eager_page_split={e} $r\"",
                         "[ $r -eq 0 ] || rc=$r"]
            body.append("exit $rc")
            write_script(os.path.join(a.bindir, up), "\n".join(body) + "\n")
            tests.append(up)
            entry.update(upstream=up, upstream_args=uargs)
        plan["lines"].append(entry)
    with open(os.path.join(a.bindir, "tests.list"), "w") as f:
        f.write("\n".join(tests) + "\n")
    with open(os.path.join(a.bindir, "settings"), "w") as f:
        f.write(f"timeout={TEST_TIMEOUT}\n")
    with open(os.path.join(a.bindir, "plan.json"), "w") as f:
        json.dump(plan, f, indent=1)
    return 0


# ---- report ---------------------------------------------------------------

def read_metadata(path):
    """The runner's metadata: the first value of each key, and under
    "kvm_params" every "kvm_param: NAME=VALUE" line as a dict."""
    meta, params = {}, {}
    try:
        with open(path) as f:
            for line in f:
                key, sep, val = line.partition(": ")
                if not sep:
                    continue
                key, val = key.strip(), val.strip()
                meta.setdefault(key, val)
                if key == "kvm_param" and "=" in val:
                    name, _, value = val.partition("=")
                    params[name] = value
    except OSError:
        pass
    meta["kvm_params"] = params
    return meta


def ktap_blocks(path):
    """Per test name: its output lines (one '# ' of the runner removed) and verdict."""
    blocks, cur = {}, None
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r"^# selftests: kvm: (\S+)$", line)
            if m:
                cur = blocks.setdefault(m.group(1), {"lines": [], "verdict": None})
                continue
            m = re.match(r"^(ok|not ok) \d+ selftests: kvm: (\S+)(.*)$", line)
            if m:
                b = blocks.setdefault(m.group(2), {"lines": [], "verdict": None})
                b["verdict"] = m.group(1) + m.group(3)
                cur = None
                continue
            if cur is not None and line.startswith("# "):
                cur["lines"].append(line[2:])
    return blocks


def ours_runs(block):
    runs = []
    for line in block["lines"]:
        m = re.search(r"bench-json: (\{.*\})$", line)
        if m:
            runs.append(json.loads(m.group(1)))
    return runs


UP_PATTERNS = [
    (r"Populate memory time: ([0-9.]+)s", lambda m: "populate"),
    (r"Enabling dirty logging time: ([0-9.]+)s", lambda m: "enable"),
    (r"Iteration (\d+) dirty memory time: ([0-9.]+)s", lambda m: f"pass_{m.group(1)}"),
    (r"Iteration (\d+) get dirty log time: ([0-9.]+)s", lambda m: f"get_{m.group(1)}"),
    (r"Iteration (\d+) clear dirty log time: ([0-9.]+)s", lambda m: f"clear_{m.group(1)}"),
    (r"Disabling dirty logging time: ([0-9.]+)s", lambda m: "disable"),
]


def summarize(detail, manual):
    s = {}
    for d in detail:
        name, sec = d["phase"], d["seconds"]
        if name == "pass_1":
            key = "pass_initially_set" if manual else "first_pass"
        elif name == "pass_2" and manual:
            key = "first_pass"
        elif name.startswith("pass_"):
            key = "later_passes"
        elif name.startswith("get_"):
            key = "get"
        elif name.startswith("clear_"):
            key = "clear"
        else:
            key = name
        s[key] = s.get(key, 0.0) + sec
    return {k: s[k] for k in SUMMARY if k in s}


def upstream_runs(block, entry, meta):
    cfg = entry["config"]
    runs, cur, eager = [], None, None
    for line in block["lines"]:
        m = re.match(r"bench-begin: \S+ eager_page_split=([YN])$", line)
        if m:
            cur, eager, trace = [], m.group(1) == "Y", None
            continue
        m = re.match(r"bench-end: \S+ eager_page_split=[YN] (\d+)$", line)
        if m and cur is not None:
            rc = int(m.group(1))
            run = {"tool": "upstream", "mmu": "nested", "eager_page_split": eager,
                   "write_percent": int(cfg["w"]), "vcpus": int(cfg["v"]),
                   "mem_per_vcpu": size_bytes(cfg["b"]), "backing": cfg["s"],
                   "l1_leaf": "1G", "dirty_log": cfg["m"], "iterations": None,
                   "aliases": 1, "exit_code": rc, "args": entry["upstream_args"]}
            if rc == 0 and cur:
                run["detail"] = [{"phase": n, "seconds": s} for n, s in cur]
                run["phases"] = summarize(run["detail"], cfg["m"] == "clear")
                run["iterations"] = sum(1 for n, _ in cur if n.startswith("pass_"))
                if trace:
                    # Whole run: populate, enable and every pass.
                    run["traced"] = True
                    run["trace_totals"] = trace
            runs.append(run)
            cur = None
            continue
        if cur is None:
            continue
        m = re.match(r"bench-trace: splits (\d+) eagain (\d+) faults (\d+) overrun (\d+)$", line)
        if m:
            trace = dict(zip(("splits_2m", "eagain", "faults", "trace_lost"),
                             map(int, m.groups())))
            continue
        for pat, name in UP_PATTERNS:
            m = re.search(pat, line)
            if m:
                cur.append((name(m), float(m.groups()[-1])))
                break
    return runs


def fit(xs, ys):
    """Least squares y = a + b x: (a, b, r2)."""
    n = len(xs)
    if n < 2 or len(set(xs)) < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    b = sxy / sxx
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    return {"intercept_s": a, "slope_s_per_gib": b * (1 << 30),
            "slope_s_per_2m": b * (1 << 21), "r2": 1 - ss_res / ss_tot if ss_tot else 1.0,
            "points": n, "sizes": len(set(xs))}


def phase_detail(run, name):
    for d in run.get("detail", []):
        if d["phase"] == name:
            return d
    return None


def cfg_key(run):
    """The workload, whether L1's EPT pointer had A/D bits on (KVM's shadow
    of it then uses hardware A/D bits, which changes the per-page work of
    enable, GET and disable), and whether ours counted splits with the
    tracepoint (upstream never does): the tracepoint costs time in the
    phases that split.  traced stays last (peer_of)."""
    return (run["mmu"], run["vcpus"], run["mem_per_vcpu"], run["write_percent"],
            run["backing"], run["l1_leaf"], run["dirty_log"], run["aliases"],
            run.get("ept_ad"), bool(run.get("traced")))


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def merged(runs):
    """(tool, cfg_key, eager) -> one run whose phases are the medians over
    the repeats of that configuration (the first repeat's detail), with
    "repeats" = how many."""
    by = {}
    for r in runs:
        if "phases" in r:
            by.setdefault((r["tool"], cfg_key(r), r["eager_page_split"]), []).append(r)
    out = {}
    for k, rs in by.items():
        m = dict(rs[0])
        m["phases"] = {p: median([x["phases"][p] for x in rs if p in x["phases"]])
                       for p in rs[0]["phases"]}
        # The quietest repeat: interference (the peer's spinning threads,
        # the host under TCG) only ever adds time to a phase.
        m["phases_min"] = {p: min([x["phases"][p] for x in rs if p in x["phases"]])
                           for p in rs[0]["phases"]}
        m["repeats"] = len(rs)
        out[k] = m
    return out


def peer_of(m, tool, key, eager):
    """Upstream's merged run for ours' configuration key: traced with traced
    (its trace counts only), else the untraced one."""
    return m.get((tool, key, eager)) or m.get((tool, key[:-1] + (False,), eager))


def mib(n):
    return f"{n >> 20}M"


def fmt(x, width=10):
    if x is None:
        s = "-"
    elif isinstance(x, str):
        s = x
    elif x >= 100:
        s = f"{x:.1f}"
    elif x >= 0.01:
        s = f"{x:.4f}"
    else:
        s = f"{x:.6f}"
    return " " + s.rjust(width - 1)


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def analyze(runs):
    """Fits, per-split costs, drops, agreement with the peer, the seed's shape."""
    res = {}
    ours = [r for r in runs if r["tool"] == "ours" and "phases" in r]
    up = [r for r in runs if r["tool"] == "upstream" and "phases" in r]
    # One EPT A/D setting in the fits: upstream's (on) where any run had it.
    ad = any(r.get("ept_ad") for r in ours)
    base = [r for r in ours if r["mmu"] == "nested" and r["dirty_log"] == "get"
            and r["aliases"] == 1 and r["l1_leaf"] == "1G" and bool(r.get("ept_ad")) == ad]

    # Enable time against memory (eager on: the split is in the ioctl),
    # every run a point; with and without the tracepoint apart, as it
    # costs time per split.
    sc = {}
    linear = None
    for traced in (False, True):
        tag = "" if traced else ", no tracepoint"
        for label, sel in [("all", lambda r: True), ("1 vCPU", lambda r: r["vcpus"] == 1),
                           ("2 vCPUs", lambda r: r["vcpus"] == 2)]:
            pts = [(r["vcpus"] * r["mem_per_vcpu"], r["phases"]["enable"]) for r in base
                   if r["eager_page_split"] and sel(r) and bool(r.get("traced")) == traced]
            f = fit([p[0] for p in pts], [p[1] for p in pts])
            if f:
                sc[f"enable eager=Y, {label}{tag}"] = f
                # The claim's fit: the one over the most sizes, untraced first.
                if label == "all" and (not linear or f["sizes"] > sc[linear]["sizes"]):
                    linear = f"enable eager=Y, {label}{tag}"
        for eager in (True, False):
            pts = [(r["vcpus"] * r["mem_per_vcpu"], r["phases"]["first_pass"]) for r in base
                   if r["eager_page_split"] == eager and r["write_percent"] == 5
                   and bool(r.get("traced")) == traced]
            f = fit([p[0] for p in pts], [p[1] for p in pts])
            if f:
                sc[f"first_pass 5% writes eager={'Y' if eager else 'N'}{tag}"] = f
    tdp = [r for r in ours if r["mmu"] == "tdp" and r["eager_page_split"]]
    pts = [(r["vcpus"] * r["mem_per_vcpu"], r["phases"]["enable"]) for r in tdp]
    f = fit([p[0] for p in pts], [p[1] for p in pts])
    if f:
        sc["enable eager=Y, TDP MMU (L1)"] = f
    res["linear_fit"] = linear
    res["fits"] = sc

    # Cost of one 2M split in the enable ioctl, against the floor and the TDP MMU.
    per = []
    for r in base + tdp:
        d = phase_detail(r, "enable")
        if not r["eager_page_split"] or not d:
            continue
        splits = d.get("splits_2m") if "splits_2m" in d else -d["d2m"]
        if not splits:
            continue
        per.append({"mmu": r["mmu"], "vcpus": r["vcpus"], "mem": r["vcpus"] * r["mem_per_vcpu"],
                    "splits_2m": splits, "per_split_s": d["seconds"] / splits,
                    "floor_write_s": r.get("floor_write_s"),
                    "floor_alloc_s": r.get("floor_alloc_s")})
    res["per_split"] = per

    # mmu_lock drops to top up the split caches, per split 2M page.
    drops = []
    for r in ours:
        for d in r.get("detail", []):
            n = d.get("splits_2m", 0)
            if n and (d["phase"] == "enable" or d["phase"].startswith("clear_")):
                drops.append({"mmu": r["mmu"], "aliases": r["aliases"], "vcpus": r["vcpus"],
                              "mem": r["vcpus"] * r["mem_per_vcpu"], "phase": d["phase"],
                              "eager": r["eager_page_split"], "splits_2m": n,
                              "eagain": d["eagain"], "per_split": d["eagain"] / n})
    res["drops"] = drops

    # Ours against upstream, same configuration and eager setting, medians
    # over repeats.
    agree = []
    m = merged(runs)
    for (tool, k, eager), r in m.items():
        u = peer_of(m, "upstream", k, eager)
        if tool != "ours" or not u:
            continue
        row = {"config": k, "eager": eager, "traced": k[-1], "repeats": r["repeats"],
               "upstream_repeats": u["repeats"], "ratios": {}, "ratios_min": {}}
        for p in r["phases"]:
            if p in u["phases"]:
                row["ratios"][p] = ratio(r["phases"][p], u["phases"][p])
                row["ratios_min"][p] = ratio(r["phases_min"][p], u["phases_min"][p])
        agree.append(row)
    res["vs_upstream"] = agree

    # The seed's shape, as ratios of this run (medians over repeats).
    shape = []
    for (tool, k, eager), r in sorted(m.items(), key=lambda x: str(x[0])):
        if (tool != "ours" or not eager or r["write_percent"] != 5 or r["mmu"] != "nested"
                or r["dirty_log"] != "get" or r["aliases"] != 1 or r["l1_leaf"] != "1G"):
            continue
        off = m.get((tool, k, False))
        if off:
            q = ratio(off["phases"]["first_pass"], r["phases"]["first_pass"])
            shape.append({"claim": "5% writes: first pass eager=N / eager=Y >= 10",
                          "config": f"{r['vcpus']} vCPU x {mib(r['mem_per_vcpu'])}"
                                    f"{'' if k[-1] else ' untraced'}"
                                    f"{' no EPT A/D' if k[-2] is False and r['vendor'] == 'vmx' else ''}",
                          "value": q, "holds": q is not None and q >= 10})
    f = sc.get(linear) if linear else None
    # A line through two sizes fits exactly: linearity needs three or more.
    if f and f["sizes"] >= 3:
        shape.append({"claim": "enable time linear in memory (R^2 >= 0.95)", "config":
                      f"{f['points']} points, {f['sizes']} sizes"
                      f"{'' if 'no tracepoint' in linear else ', traced'}",
                      "value": f["r2"], "holds": f["r2"] >= 0.95})
    for d in drops:
        if d["aliases"] > 1 and d["phase"] == "enable":
            shape.append({"claim": "-EAGAIN drops per split 2M page far below one (< 0.1)",
                          "config": f"{d['aliases']} aliases, {mib(d['mem'])}",
                          "value": d["per_split"], "holds": d["per_split"] < 0.1})
    for traced in (False, True):
        for k in KERNEL_ONLY:
            # Each tool's quietest repeat of a configuration (a
            # configuration run once is its own quietest).
            qs = [row["ratios_min"][k] for row in agree
                  if row["traced"] == traced and row["ratios_min"].get(k) is not None]
            if not qs:
                continue
            within = [q for q in qs if abs(q - 1) <= 0.10]
            shape.append({"claim": f"ours/upstream {k} within 10%, quietest runs"
                                   f"{' (ours traced)' if traced else ''}",
                          "config": f"{len(within)} of {len(qs)}, {min(qs):.2f}..{max(qs):.2f}",
                          "value": median(qs), "holds": len(within) == len(qs)})
    res["shape"] = shape
    return res


def config_title(k):
    mmu, v, mem, w, backing, leaf, mode, aliases, ept_ad, traced = k
    t = f"{'L1 (TDP MMU)' if mmu == 'tdp' else 'L2'} {v} vCPU x {mib(mem)} {backing}"
    if mmu == "nested":
        t += f" {leaf} leaf"
    t += f", {w}% writes, {mode}"
    if aliases > 1:
        t += f", {aliases} aliases"
    if ept_ad is not None and mmu == "nested":
        t += ", EPT A/D" if ept_ad else ", no EPT A/D"
    if not traced:
        t += ", no tracepoint"
    return t


def peer_groups(m):
    """cfg_key -> {(tool, eager): merged run}: each of ours' configurations
    with upstream's runs of the same workload."""
    groups = {}
    for (tool, k, eager), r in m.items():
        if tool == "ours":
            g = groups.setdefault(k, {})
            g[("ours", eager)] = r
            for e in (True, False):
                u = peer_of(m, "upstream", k, e)
                if u:
                    g[("upstream", e)] = u
    for (tool, k, eager), r in m.items():
        if tool == "upstream" and not any(kk[:-1] == k[:-1] for kk in groups):
            groups.setdefault(k, {})[("upstream", eager)] = r
    return groups


def table(runs, res):
    out = []
    repeats = {}
    for r in runs:
        if "phases" in r:
            c = (r["tool"], r["eager_page_split"])
            repeats.setdefault((cfg_key(r), c), []).append(r)
    # Repeated configurations show as their median, with the spread below;
    # upstream's columns next to each of ours of the same workload.
    groups = peer_groups(merged(runs))
    for k, g in groups.items():
        out.append("")
        out.append(config_title(k))
        cols = [("ours", True), ("ours", False), ("upstream", True), ("upstream", False)]
        hdr = f"  {'phase':<19}{'ours Y':>10}{'ours N':>10}{'N/Y':>8}"
        have_up = any(c in g for c in cols[2:])
        if have_up:
            hdr += f"{'up Y':>10}{'up N':>10}{'N/Y':>8}{'ours/up Y':>10}{'ours/up N':>10}"
        out.append(hdr)
        phases = []
        for c in cols:
            if c in g:
                phases += [p for p in g[c]["phases"] if p not in phases]
        for p in phases:
            v = [g[c]["phases"].get(p) if c in g else None for c in cols]
            line = f"  {p:<19}{fmt(v[0])}{fmt(v[1])}{fmt(ratio(v[1], v[0]), 8)}"
            if have_up:
                line += (f"{fmt(v[2])}{fmt(v[3])}{fmt(ratio(v[3], v[2]), 8)}"
                         f"{fmt(ratio(v[0], v[2]))}{fmt(ratio(v[1], v[3]))}")
            out.append(line)
        for c in cols[2:]:
            t = g.get(c, {}).get("trace_totals")
            if t:
                out.append(f"    up eager={'Y' if c[1] else 'N'} whole run (traced): "
                           f"{t['faults']} nested faults, {t['splits_2m']} splits, "
                           f"-EAGAIN {t['eagain']}, {t['trace_lost']} events lost")
        # What explains the enable and first-pass times.
        for c in cols[:2]:
            r = g.get(c)
            if not r:
                continue
            for name in ("enable", "pass_1", "get_1", "pass_2", "clear_1"):
                d = phase_detail(r, name)
                if not d:
                    continue
                extra = ""
                if name.startswith("get_"):
                    out.append(f"    eager={'Y' if c[1] else 'N'} {name:<8} {d['pages_dirty']} "
                               f"pages reported dirty, {d.get('pages_read_dirty', 0)} of them "
                               f"only read")
                    continue
                if "splits_2m" in d:
                    extra = (f", splits 2M {d['splits_2m']} 1G {d['splits_1g']},"
                             f" -EAGAIN {d['eagain']}")
                out.append(f"    eager={'Y' if c[1] else 'N'} {name:<8} 4K {d['d4k']:+d} 2M "
                           f"{d['d2m']:+d} 1G {d['d1g']:+d}, faults {d['pf_taken']}{extra}")
    spread = [(k, c, rs) for (k, c), rs in repeats.items() if len(rs) > 1]
    if spread:
        out.append("")
        out.append("Repeats of one configuration: max/min - 1 per phase (the noise):")
        for k, c, rs in spread:
            parts = []
            for p in rs[0]["phases"]:
                v = [x["phases"][p] for x in rs if x["phases"].get(p)]
                if len(v) == len(rs) and min(v) > 0:
                    parts.append(f"{p} {100 * (max(v) / min(v) - 1):.1f}%")
            out.append(f"  {config_title(k)}, {c[0]} eager={'Y' if c[1] else 'N'}, "
                       f"{len(rs)} runs: {', '.join(parts)}")
    out.append("")
    out.append("Scaling (least squares, time = intercept + slope x memory):")
    for name, f in res["fits"].items():
        out.append(f"  {name:<36} slope {f['slope_s_per_gib']:.4f} s/GiB "
                   f"({f['slope_s_per_2m'] * 1e6:.1f} us per 2M), intercept "
                   f"{f['intercept_s'] * 1e3:.2f} ms, R^2 {f['r2']:.4f}, {f['points']} points")
    if res["per_split"]:
        out.append("")
        out.append("Cost of one 2M split in the enable ioctl (eager=Y), against the floor "
                   "(8 KiB of stores; with a page fault):")
        for p in res["per_split"]:
            out.append(f"  {p['mmu']:<6} {p['vcpus']} vCPU x {mib(p['mem'] // p['vcpus'])}: "
                       f"{p['per_split_s'] * 1e6:9.1f} us per split, {p['splits_2m']} splits; "
                       f"floor {p['floor_write_s'] * 1e6:.1f} us / "
                       f"{p['floor_alloc_s'] * 1e6:.1f} us: "
                       f"{ratio(p['per_split_s'], p['floor_write_s']) or 0:.0f}x / "
                       f"{ratio(p['per_split_s'], p['floor_alloc_s']) or 0:.1f}x")
        nested = [p["per_split_s"] for p in res["per_split"] if p["mmu"] == "nested"]
        tdp = [p["per_split_s"] for p in res["per_split"] if p["mmu"] == "tdp"]
        if nested and tdp:
            out.append(f"  nested / TDP MMU per split: "
                       f"{(sum(nested) / len(nested)) / (sum(tdp) / len(tdp)):.2f}")
    if res["drops"]:
        out.append("")
        out.append("mmu_lock drops to top up the split caches (-EAGAIN) per split 2M page:")
        for d in res["drops"]:
            out.append(f"  {d['mmu']:<6} {d['vcpus']} vCPU {mib(d['mem'])} {d['aliases']} "
                       f"alias(es) {d['phase']:<8}: {d['eagain']} drops / {d['splits_2m']} "
                       f"splits = {d['per_split']:.3f}")
    if res["shape"]:
        out.append("")
        out.append("The seed's shape, in this run:")
        for s in res["shape"]:
            v = s["value"]
            out.append(f"  {'holds' if s['holds'] else 'NO   '}  {s['claim']:<52} "
                       f"{s['config']:<28} {v:.3f}" if v is not None else "")
    return "\n".join(out) + "\n"


def gnuplot(out_dir, runs, res):
    """phases.png/svg: the phases of each 5%-writes configuration, eager on
    against off, ours and upstream; enable.png/svg: enable time against memory."""
    data = os.path.join(out_dir, "data")
    os.makedirs(data, exist_ok=True)
    groups = peer_groups(merged(runs))
    # The phase plot: the 1-vCPU 5% base configuration of the middle size,
    # with eager on and off, and upstream if it ran.
    cand = sorted((("upstream", True) not in g, k) for k, g in groups.items()
                  if k[0] == "nested" and k[3] == 5 and k[1] == 1 and k[5] == "1G"
                  and k[6] == "get" and k[7] == 1 and ("ours", False) in g)
    cand = [k for up, k in cand if up == cand[0][0]] if cand else []
    plots = []
    if cand:
        k = cand[len(cand) // 2]
        g = groups[k]
        names = [p for p in SUMMARY if any(p in r["phases"] for r in g.values())]
        with open(os.path.join(data, "phases.dat"), "w") as f:
            f.write("# phase ours_Y ours_N upstream_Y upstream_N (seconds)\n")
            for p in names:
                vals = []
                for c in [("ours", True), ("ours", False), ("upstream", True),
                          ("upstream", False)]:
                    v = g[c]["phases"].get(p) if c in g else None
                    vals.append(f"{v:.9f}" if v else "NaN")
                f.write(f"{p} {' '.join(vals)}\n")
        plots.append(("phases", f"""
set title "{config_title(k)}: phase times" noenhanced
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel "seconds (log)"
set xtics rotate by -30 noenhanced
set key top right
set grid ytics
plot '{data}/phases.dat' using 2:xtic(1) title 'ours eager=Y', \\
     '' using 3 title 'ours eager=N', \\
     '' using 4 title 'upstream eager=Y', \\
     '' using 5 title 'upstream eager=N'
"""))
    # Enable time and first pass against memory.
    series = []
    for label, sel in [("ours 1 vCPU", lambda r: r["tool"] == "ours" and r["vcpus"] == 1),
                       ("ours 2 vCPUs", lambda r: r["tool"] == "ours" and r["vcpus"] == 2),
                       ("upstream 1 vCPU", lambda r: r["tool"] == "upstream" and r["vcpus"] == 1),
                       ("upstream 2 vCPUs", lambda r: r["tool"] == "upstream" and r["vcpus"] == 2),
                       ("ours L1 (TDP MMU)", lambda r: r["tool"] == "ours" and r["mmu"] == "tdp")]:
        by_mem = {}
        for r in runs:
            if ("phases" in r and r["eager_page_split"] and r["dirty_log"] == "get"
                    and r["aliases"] == 1 and (r["mmu"] == "tdp") == ("TDP" in label)
                    and sel(r)):
                by_mem.setdefault(r["vcpus"] * r["mem_per_vcpu"] >> 20, []).append(
                    r["phases"]["enable"])
        # Several runs of one size (other write percentages): their mean.
        pts = sorted((x, sum(v) / len(v)) for x, v in by_mem.items())
        if pts:
            fn = f"enable-{len(series)}.dat"
            with open(os.path.join(data, fn), "w") as f:
                f.write("# total MiB, enable seconds\n")
                for x, y in pts:
                    f.write(f"{x} {y:.9f}\n")
            series.append((fn, label))
    if series:
        f = res["fits"].get(res["linear_fit"]) if res["linear_fit"] else None
        lines = [f"'{data}/{fn}' using 1:2 with linespoints pt {i + 5} title '{t}'"
                 for i, (fn, t) in enumerate(series)]
        if f:
            lines.append(f"{f['intercept_s']} + {f['slope_s_per_gib'] / 1024} * x with lines "
                         f"dt 2 lc rgb 'black' title 'fit (ours, nested): "
                         f"{f['slope_s_per_gib']:.3f} s/GiB, R^2 {f['r2']:.3f}'")
        plots.append(("enable", f"""
set title "Enabling dirty logging with eager_page_split=Y against memory" noenhanced
set xlabel "memory logged (MiB, all vCPUs)"
set ylabel "seconds"
set key top left noenhanced
set grid
plot {', '.join(lines)}
"""))
    made = []
    for name, body in plots:
        for term, ext in (("pngcairo size 1000,600", "png"), ("svg size 1000,600", "svg")):
            script = f"set terminal {term}\nset output '{out_dir}/{name}.{ext}'\n" + body
            with open(os.path.join(data, f"{name}.{ext}.gp"), "w") as f:
                f.write(script)
            r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
            if r.returncode:
                print(f"bench: gnuplot failed for {name}.{ext}: {r.stderr.strip()}",
                      file=sys.stderr)
            else:
                made.append(f"{name}.{ext}")
    return made


def cmd_report(a):
    with open(os.path.join(a.bindir, "plan.json")) as f:
        plan = json.load(f)
    ktap = os.path.join(a.vmout, "results.ktap")
    if not os.path.exists(ktap):
        print(f"bench: no {ktap}: the VM produced no results", file=sys.stderr)
        return 1
    meta = read_metadata(os.path.join(a.vmout, "metadata"))
    blocks = ktap_blocks(ktap)
    kernel = meta.get("kernel_release", "unknown")
    emulator = meta.get("emulator", "unknown")
    accel = meta.get("accelerator", "").split(" ")[0]
    if accel and accel != "bochs":
        emulator += f", {accel}"
    runs, problems = [], []
    for entry in plan["lines"]:
        b = blocks.get(entry["ours"])
        if not b or not b["verdict"] or not b["verdict"].startswith("ok"):
            problems.append(f"{entry['ours']}: {b['verdict'] if b else 'no output'}")
        got = ours_runs(b) if b else []
        if b and not got and b["verdict"] and "SKIP" not in b["verdict"]:
            problems.append(f"{entry['ours']}: no bench-json record")
        for r in got:
            r.update(kernel=kernel, emulator=emulator, sweep_line=entry["id"],
                     args=entry["ours_args"])
            runs.append(r)
        if "upstream" in entry:
            b = blocks.get(entry["upstream"])
            if not b or not b["verdict"] or not b["verdict"].startswith("ok"):
                problems.append(f"{entry['upstream']}: {b['verdict'] if b else 'no output'}")
            # Upstream's memstress turns EPT A/D on when KVM offers it, which
            # ours' ad=on run of the same VM found out.
            ad = next((o["ept_ad"] for o in got if "ept_ad" in o), None)
            for r in upstream_runs(b, entry, meta) if b else []:
                r.update(kernel=kernel, emulator=emulator, sweep_line=entry["id"], ept_ad=ad,
                         peer_seed_fix=plan.get("peer_seed_fix", False))
                if "phases" not in r:
                    problems.append(f"{entry['upstream']} eager={r['eager_page_split']}: "
                                    f"exit {r['exit_code']}, no timings")
                runs.append(r)
    res = analyze(runs)
    os.makedirs(a.out, exist_ok=True)
    doc = {"kernel": kernel, "emulator": emulator, "label": a.label,
           "date": meta.get("date"), "modules": meta.get("replacement_modules"),
           "kvm_params": meta["kvm_params"],
           "iterations": plan["iterations"], "runs": runs, "analysis": res,
           "problems": problems}
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(doc, f, indent=1)
    seed = (", upstream built with its guest seed fixed"
            if plan.get("peer_seed_fix") else "")
    # The TDP MMU (or not) under L1: say so when it is off.
    tdp = meta["kvm_params"].get("kvm.tdp_mmu")
    tdp = ", kvm.tdp_mmu=N" if tdp == "N" else ""
    text = (f"Benchmark: kernel {kernel}, {emulator}{tdp}"
            f"{', ' + a.label if a.label else ''}{seed}, {plan['iterations']} iterations; "
            f"seconds per phase (GET and CLEAR summed over the iterations)\n" + table(runs, res))
    made = gnuplot(os.path.abspath(a.out), runs, res)
    if made:
        text += "\nPlots: " + ", ".join(os.path.join(a.out, m) for m in made) + "\n"
    if problems:
        text += "\nRuns that did not complete:\n" + "".join(f"  {p}\n" for p in problems)
    with open(os.path.join(a.out, "table.txt"), "w") as f:
        f.write(text)
    sys.stdout.write(text)
    print(f"bench: {len(runs)} runs in {os.path.join(a.out, 'results.json')}")
    return 1 if problems or not runs else 0


def main():
    p = argparse.ArgumentParser(prog="bench.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pl = sub.add_parser("plan")
    pl.add_argument("--sweep", required=True)
    pl.add_argument("--prog", required=True)
    pl.add_argument("--upstream")
    pl.add_argument("--peer-seed-fix", action="store_true")
    pl.add_argument("--iterations", type=int, default=2)
    pl.add_argument("--bindir", required=True)
    rp = sub.add_parser("report")
    rp.add_argument("--bindir", required=True)
    rp.add_argument("--vmout", required=True)
    rp.add_argument("--out", required=True)
    rp.add_argument("--label", default="")
    a = p.parse_args()
    try:
        return cmd_plan(a) if a.cmd == "plan" else cmd_report(a)
    except UsageError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
