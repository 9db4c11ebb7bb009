#!/usr/bin/env python3
"""floors.py - the layout rules of SPEC §1, checked on the tree and the build.

  floors.py SRC_DIR [BUILD_DIR]

1. Floors: a file includes project headers only from its own folder or from
   folders on lower floors (base < dns, tls, spool < conf < engine < api < cmd).
2. Size: no C, header, Python or shell source file over 1,000 lines.
3. No circles: with BUILD_DIR, the object files of each library are read
   with nm; object A depends on object B when A uses a symbol B defines.
   Two objects that depend on each other (directly or through others in a
   strongly connected set) are reported.

Exits 1 and names every violation; prints "floors: N passed, 0 failed".
"""
import os
import re
import subprocess
import sys

FLOOR = {"base": 0, "dns": 1, "tls": 1, "spool": 1, "conf": 2, "engine": 3,
         "api": 4, "cmd": 5,
         "mailauth": 2}  # SPF, DKIM, DMARC beside conf/
LIMIT = 1000
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)


def source_files(src):
    out = subprocess.run(["git", "-C", src, "ls-files"], capture_output=True,
                         text=True, check=True).stdout.split()
    return [f for f in out if not f.startswith("tests/data/")
            and f.endswith((".c", ".h", ".py", ".sh"))
            and os.path.exists(os.path.join(src, f))]


def check_floors(src, files):
    bad = []
    for f in files:
        top = f.split("/")[0]
        if top not in FLOOR or not f.endswith((".c", ".h")):
            continue
        text = open(os.path.join(src, f), encoding="utf-8", errors="replace").read()
        for folder in INCLUDE.findall(text):
            if folder == top:
                continue
            if folder not in FLOOR or FLOOR[folder] >= FLOOR[top]:
                bad.append(f"{f}: includes {folder}/ (floor {FLOOR.get(folder, '?')}), "
                           f"not below {top}/ (floor {FLOOR[top]})")
    return bad


def check_sizes(src, files):
    bad = []
    for f in files:
        with open(os.path.join(src, f), "rb") as fh:
            n = fh.read().count(b"\n")
        if n > LIMIT:
            bad.append(f"{f}: {n} lines (limit {LIMIT})")
    return bad


def object_symbols(build):
    """{object: (defined set, undefined set)} for every project library object."""
    objs = {}
    for folder in FLOOR:
        d = os.path.join(build, folder)
        for root, _, names in os.walk(d):
            for n in names:
                if not n.endswith(".c.o"):
                    continue
                path = os.path.join(root, n)
                nm = subprocess.run(["nm", "--defined-only", "-g", path],
                                    capture_output=True, text=True).stdout
                und = subprocess.run(["nm", "-u", path], capture_output=True,
                                     text=True).stdout
                defs = {l.split()[-1] for l in nm.splitlines() if l.strip()}
                undef = {l.split()[-1] for l in und.splitlines() if l.strip()}
                objs[f"{folder}/{n[:-2]}"] = (defs, undef)
    return objs


def strongly_connected(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def check_circles(build):
    objs = object_symbols(build)
    owner = {}
    for o, (defs, _) in objs.items():
        for s in defs:
            owner[s] = o
    graph = {o: set() for o in objs}
    for o, (_, undef) in objs.items():
        for s in undef:
            if s in owner and owner[s] != o:
                graph[o].add(owner[s])
    bad = []
    for comp in strongly_connected(graph):
        if len(comp) > 1:
            bad.append("files that call each other: " + ", ".join(sorted(comp)))
    return bad, len(objs)


def main():
    src = sys.argv[1]
    build = sys.argv[2] if len(sys.argv) > 2 else None
    files = source_files(src)
    checks = [("floors", check_floors(src, files)), ("sizes", check_sizes(src, files))]
    if build:
        bad, nobj = check_circles(build)
        if nobj == 0:
            bad = [f"no object files under {build}"]
        checks.append(("circles", bad))
    failed = 0
    for name, bad in checks:
        for b in bad:
            print(f"{name}: {b}")
        failed += bool(bad)
    print(f"floors: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
