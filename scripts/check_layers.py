#!/usr/bin/env python3
"""Checks that ltcl's areas include each other only downwards.

  scripts/check_layers.py [--root DIR]

Reads every `#include "ltcl/<area>/..."` in include/ltcl/<area>/ and
src/<area>/ and fails (exit 1, one `file:line: ...` message per problem) on
  - an include against the layer order below (a lower area may not include a
    higher one; areas on one level only where SAME_LEVEL allows it),
  - an include cycle between areas,
  - `#include <torch/torch.h>` in a public header (include/): each file that
    includes it costs ~28 s to compile, so headers include what they use,
  - an area folder that the table does not know (add it to LAYERS).
apps/, tests/ and bench/ may include anything and are not read.
Plain python3, no third-party modules.
"""

import argparse
import os
import re
import sys

# Lowest first; an area may include its own level only where SAME_LEVEL says.
LAYERS = [
    ["util"],
    ["data"],
    ["augment"],
    ["pipeline"],
    ["models", "losses", "dist"],
    ["eval"],
    ["train"],
]

# (from, to): allowed includes between areas of one level, with the reason.
SAME_LEVEL = {
    ("models", "dist"):
        "the networks build their norm layers with dist::SyncBatchNorm",
}

INCLUDE = re.compile(r'^\s*#\s*include\s*(["<])([^">]+)[">]')
LTCL_AREA = re.compile(r"^ltcl/([A-Za-z0-9_]+)/")
SOURCE_ENDINGS = (".h", ".hpp", ".cpp", ".cc", ".cxx", ".inl")


def levels_of_areas():
    levels = {}
    for i, areas in enumerate(LAYERS):
        for area in areas:
            levels[area] = i
    return levels


def order_text():
    return " < ".join(
        a[0] if len(a) == 1 else "{" + ", ".join(a) + "}" for a in LAYERS)


def area_files(root, levels, problems):
    """Yields (area, path, is public header) for each file of a known area."""
    for top, public in (("include/ltcl", True), ("src", False)):
        base = os.path.join(root, top)
        if not os.path.isdir(base):
            continue
        for area in sorted(os.listdir(base)):
            folder = os.path.join(base, area)
            if not os.path.isdir(folder):
                continue
            if area not in levels:
                problems.append(
                    f"{top}/{area}: area '{area}' is not in the layer table "
                    f"(LAYERS in scripts/check_layers.py)")
                continue
            for dirpath, dirnames, filenames in os.walk(folder):
                dirnames.sort()
                for name in sorted(filenames):
                    if name.endswith(SOURCE_ENDINGS):
                        yield area, os.path.join(dirpath, name), public


def includes(path):
    """Yields (line number, included path) for each #include of a file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                yield number, m.group(2).strip()


def find_cycles(edges):
    """Strongly connected components of more than one area (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return cycles


def shortest_cycle(edges, component):
    """A shortest cycle [a, ..., a] through the first area of `component`."""
    start, members = component[0], set(component)
    parent, queue = {}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges.get(v, ())):
            if w not in members:
                continue
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return path[::-1] + [start]
            if w not in parent:
                parent[w] = v
                queue.append(w)
    return [start]  # not reached for a strongly connected component


def check(root):
    """All problems of the tree at `root`, as printable lines."""
    levels = levels_of_areas()
    problems = []
    edges = {}  # area -> {included area: first "file:line"}
    for area, path, public in area_files(root, levels, problems):
        rel = os.path.relpath(path, root)
        for number, target in includes(path):
            where = f"{rel}:{number}"
            if public and target == "torch/torch.h":
                problems.append(
                    f"{where}: <torch/torch.h> in a public header; include "
                    f"the torch headers it uses (<torch/types.h>, ...)")
                continue
            m = LTCL_AREA.match(target)
            if not m or m.group(1) == area:
                continue
            to = m.group(1)
            if to not in levels:
                problems.append(
                    f"{where}: includes '{target}' of area '{to}', which is "
                    f"not in the layer table")
                continue
            edges.setdefault(area, {}).setdefault(to, where)
            if levels[to] > levels[area]:
                problems.append(
                    f"{where}: '{area}' includes '{target}' of the higher "
                    f"area '{to}' (order: {order_text()})")
            elif levels[to] == levels[area] and (area, to) not in SAME_LEVEL:
                problems.append(
                    f"{where}: '{area}' includes '{target}' of '{to}' on its "
                    f"own level; allow it in SAME_LEVEL with a reason, or "
                    f"move the code")
    for component in find_cycles(edges):
        path = shortest_cycle(edges, component)
        links = [f"{a} -> {b} ({edges[a][b]})" for a, b in zip(path, path[1:])]
        problems.append(
            f"include cycle between areas {', '.join(component)}: "
            + "; ".join(links))
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root",
        default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        help="the repository root (default: the one holding this script)")
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.root, "include", "ltcl")):
        print(f"check_layers: no include/ltcl under {args.root}",
              file=sys.stderr)
        return 2
    problems = check(args.root)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check_layers: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_layers: ok ({order_text()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
