#!/usr/bin/env python3
"""Checks a server guest's "NAME: idle after N connections: ..." console lines (skiff::net::Usage)
for leaks over a run. Prints one line starting with "ok" and exits 0, or prints what is wrong and
exits 1.

  idle_reports.py CONSOLE_LOG NAME --served N [--wait S]

Waits up to S seconds for the reports to add up to N served connections (the last one is printed
once the last connection closed and was released), then requires of every report:
  - no socket still closing, one socket open (the listener), at most one command outstanding (its
    ACCEPT), nothing leaked by the frontend or the kernel;
  - the frontend's grants (held and leaked) and pages equal the kernel's counts;
  - as many event channels, in the frontend and in the kernel, as in the first report;
  - no more grants or pages than in the first report (the ring kept ready for the next connection
    can be smaller when it was allocated while memory was short, never larger).
"""
import argparse
import re
import sys
import time

LINE = re.compile(
    r"(?P<name>\S+): idle after (?P<served>\d+) connections: sockets (?P<sockets>\d+) "
    r"\((?P<closing>\d+) closing\), commands (?P<commands>\d+), grants (?P<grants>\d+), "
    r"pages (?P<pages>\d+), ports (?P<ports>\d+), leaked (?P<leaked_pages>\d+) pages "
    r"(?P<leaked_grants>\d+) grants; kernel: grants (?P<k_grants>\d+), pages (?P<k_pages>\d+), "
    r"leaked (?P<k_leaked_pages>\d+) pages, ports (?P<k_ports>\d+)"
)


def reports(path, name):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return []
    out = []
    lines = text.splitlines()
    if lines and not text.endswith("\n"):
        lines.pop()  # still being written
    for line in lines:
        m = LINE.search(line)
        if m and m["name"] == name:
            out.append({k: (v if k == "name" else int(v)) for k, v in m.groupdict().items()})
    return out


def problems(rs):
    first = rs[0]
    for i, r in enumerate(rs, 1):
        where = f"report {i} (after {r['served']} connections)"
        if r["closing"] or r["sockets"] != 1:
            yield f"{where}: {r['sockets']} sockets, {r['closing']} closing (want the listener only)"
        if r["commands"] > 1:
            yield f"{where}: {r['commands']} commands outstanding (want at most the ACCEPT)"
        for k in ("leaked_pages", "leaked_grants", "k_leaked_pages"):
            if r[k]:
                yield f"{where}: {k} = {r[k]}"
        if (r["grants"] + r["leaked_grants"], r["pages"]) != (r["k_grants"], r["k_pages"]):
            yield (f"{where}: frontend holds {r['grants']} grants and {r['pages']} pages, "
                   f"the kernel counts {r['k_grants']} and {r['k_pages']}")
        for k in ("ports", "k_ports"):
            if r[k] != first[k]:
                yield f"{where}: {k} = {r[k]}, first report {first[k]}"
        for k in ("grants", "pages"):
            if r[k] > first[k]:
                yield f"{where}: {k} = {r[k]}, more than the first report's {first[k]}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("console")
    p.add_argument("name")
    p.add_argument("--served", type=int, required=True)
    p.add_argument("--wait", type=float, default=30)
    a = p.parse_args()
    end = time.monotonic() + a.wait
    while True:
        rs = reports(a.console, a.name)
        total = sum(r["served"] for r in rs)
        if total >= a.served or time.monotonic() >= end:
            break
        time.sleep(0.5)
    if total != a.served:
        print(f"{len(rs)} idle reports add up to {total} connections, expected {a.served}")
        for r in rs:
            print(f"  {r}")
        sys.exit(1)
    bad = list(problems(rs))
    for b in bad:
        print(b)
    if bad:
        sys.exit(1)
    last = rs[-1]
    print(f"ok {len(rs)} idle reports, {total} connections: last holds {last['grants']} grants, "
          f"{last['pages']} pages, {last['ports']} ports (kernel {last['k_ports']}), as the first "
          f"or fewer", flush=True)


if __name__ == "__main__":
    main()
