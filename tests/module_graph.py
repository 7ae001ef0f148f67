#!/usr/bin/env python3
"""Checks the kernel crate's shape (part of `make check`):

  1. the graph of modules under kernel/src (an edge for every `crate::`/`super::` path a module
     names) has no cycle: lower layers offer hooks instead of calling up;
  2. hypercall numbers (`skiff_xen::hypercall`'s `__HYPERVISOR_*` constants) are named only in the
     hypercall table, kernel/src/xen/abi.rs, and hypercall stubs are entered only by
     kernel/src/xen/hypercall.rs (and the register diagnostic, xen/selfcheck.rs, through the table);
  3. every module file without unsafe code says `#![forbid(unsafe_code)]`, so the trusted base is
     the files that do not.

Usage: tests/module_graph.py [--list] [KERNEL_SRC]   (--list prints the graph, one module a line)
Exits 1 and says what is wrong if a check fails.
"""
import os
import re
import sys

# Macros exported at the crate root, and the module that defines them.
MACROS = {"print": "xen::console", "println": "xen::console", "main": "app"}
HYPERCALL_NUMBERS = re.compile(
    r"\b(MEMORY_OP|XEN_VERSION|CONSOLE_IO|GRANT_TABLE_OP|VCPU_OP|SCHED_OP|EVENT_CHANNEL_OP|HVM_OP)\b")
TABLE = os.path.join("xen", "abi.rs")
STUB_USERS = {os.path.join("xen", "hypercall.rs"), os.path.join("xen", "selfcheck.rs")}


def modules(root):
    mods = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            parts = os.path.relpath(path, root)[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib"):
                parts = parts[:-1]
            mods["::".join(parts)] = path
    return mods


def strip_comments(src):
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return re.sub(r"//[^\n]*", "", src)


def resolve(mods, segs):
    """The longest prefix of `segs` that is a module (None for the crate root)."""
    if segs and segs[0] in MACROS and len(segs) == 1:
        return MACROS[segs[0]]
    for i in range(len(segs), 0, -1):
        m = "::".join(segs[:i])
        if m in mods:
            return m
    return None


def edges(mods):
    graph = {}
    for m, path in mods.items():
        src = strip_comments(open(path, encoding="utf-8").read())
        here = m.split("::") if m else []
        deps = set()

        def add(base, rest):
            for item in rest:
                d = resolve(mods, base + item)
                if d is not None and d != "" and d != m and not m.startswith(d + "::") \
                        and not d.startswith(m + "::" if m else "\0"):
                    deps.add(d)

        for kind, path_s in re.findall(r"\b(crate|super)((?:::\w+)+)", src):
            base = [] if kind == "crate" else here[:-1]
            add(base, [path_s.strip(":").split("::")])
        for kind, inner in re.findall(r"\b(crate|super)::\{([^}]*)\}", src):
            base = [] if kind == "crate" else here[:-1]
            items = [i.strip().split(" ")[0] for i in inner.split(",") if i.strip()]
            add(base, [i.split("::") for i in items if i not in ("self",)])
        for mac in re.findall(r"\bcrate::(\w+)!", src):
            if mac in MACROS and MACROS[mac] != m:
                deps.add(MACROS[mac])
        graph[m] = deps
    return graph


def cycles(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def hypercall_problems(root):
    problems = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, root)
            src = strip_comments(open(path, encoding="utf-8").read())
            if rel != TABLE and "skiff_xen::hypercall" in src and HYPERCALL_NUMBERS.search(src):
                problems.append(f"{rel} names a hypercall number outside the table ({TABLE})")
            if rel not in STUB_USERS and re.search(r"\bstub\(|\bvmmcall\b|\bvmcall\b", src):
                problems.append(f"{rel} enters a hypercall stub itself")
    return problems


def forbid_problems(root):
    problems = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs") or f in ("mod.rs", "lib.rs"):
                continue
            path = os.path.join(dirpath, f)
            src = open(path, encoding="utf-8").read()
            if "unsafe" not in strip_comments(src) and "#![forbid(unsafe_code)]" not in src:
                problems.append(f"{os.path.relpath(path, root)} has no unsafe code but does not "
                                "say #![forbid(unsafe_code)]")
    return problems


def main():
    args = [a for a in sys.argv[1:] if a != "--list"]
    root = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "kernel", "src")
    graph = edges(modules(root))
    if "--list" in sys.argv:
        for m in sorted(graph):
            print(f"{m or '(root)'} -> {' '.join(sorted(graph[m])) or '-'}")
    problems = [f"cycle: {' <-> '.join(c)}" for c in cycles(graph)]
    problems += hypercall_problems(root)
    problems += forbid_problems(root)
    for p in problems:
        print(f"module_graph: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"module_graph: {len(graph)} kernel modules, no cycle; hypercall numbers only in {TABLE}; "
          "safe modules forbid unsafe code")


if __name__ == "__main__":
    main()
