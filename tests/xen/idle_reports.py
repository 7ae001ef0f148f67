#!/usr/bin/env python3
"""Checks a server guest's "NAME: idle after N connections: ..." console lines (skiff::net::Usage)
for leaks over a run. Prints one line starting with "ok" and exits 0, or prints what is wrong and
exits 1.

  idle_reports.py CONSOLE_LOG NAME --served N [--wait S]

Waits up to S seconds for the reports to add up to N served connections and for the last one to show
no socket closing (a report made while sockets were still closing is followed by another, "after 0
connections", once they are released; skiff_net::IdleReport), then requires:
  - of every report: nothing leaked by the frontend or the kernel, and the frontend's grants (held
    and leaked) and pages equal to the kernel's counts;
  - of every report with no socket closing: one socket open (the listener), at most one command
    outstanding (its ACCEPT), as many event channels, in the frontend and in the kernel, as in the
    first such report, and no more grants or pages than it (the ring kept ready for the next
    connection can be smaller when it was allocated while memory was short, never larger);
  - that the last report has no socket closing: every socket was released in the end.
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


def settled(r):
    return r["closing"] == 0


def problems(rs):
    base = next((r for r in rs if settled(r)), None)
    if base is None:
        yield "no report without sockets closing"
        return
    for i, r in enumerate(rs, 1):
        where = f"report {i} (after {r['served']} connections)"
        for k in ("leaked_pages", "leaked_grants", "k_leaked_pages"):
            if r[k]:
                yield f"{where}: {k} = {r[k]}"
        if (r["grants"] + r["leaked_grants"], r["pages"]) != (r["k_grants"], r["k_pages"]):
            yield (f"{where}: frontend holds {r['grants']} grants (+{r['leaked_grants']} leaked) "
                   f"and {r['pages']} pages, the kernel counts {r['k_grants']} and {r['k_pages']}")
        if not settled(r):
            continue
        if r["sockets"] != 1:
            yield f"{where}: {r['sockets']} sockets (want the listener only)"
        if r["commands"] > 1:
            yield f"{where}: {r['commands']} commands outstanding (want at most the ACCEPT)"
        for k in ("ports", "k_ports"):
            if r[k] != base[k]:
                yield f"{where}: {k} = {r[k]}, first settled report {base[k]}"
        for k in ("grants", "pages"):
            if r[k] > base[k]:
                yield f"{where}: {k} = {r[k]}, more than the first settled report's {base[k]}"
    if not settled(rs[-1]):
        yield f"the last report still has {rs[-1]['closing']} socket(s) closing"


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
        if total > a.served or (total == a.served and settled(rs[-1])):
            break
        if time.monotonic() >= end:
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
    late = sum(1 for r in rs if not settled(r))
    print(f"ok {len(rs)} idle reports, {total} connections ({late} made with sockets still closing, "
          f"each released later): last holds {last['grants']} grants, {last['pages']} pages, "
          f"{last['ports']} ports (kernel {last['k_ports']}), as the first or fewer", flush=True)


if __name__ == "__main__":
    main()
