#!/usr/bin/env python3
"""Prints the main comparison of `make experiment-main` as Markdown, from its results.json files.

Usage: scripts/main-table.py DIR   (DIR holds phantoms-a/ and phantoms-b/, each with results.json)

Per phantom set and over both: each setup's final Dice per organ (mean over the external cases and the three
training seeds), the minimum over the last five rounds of the seed-mean curve, and issue 18's gates: the recipe
within 0.02 of centralised, the recipe's secure run within 0.01 of its plain run.
"""
import json
import os
import sys

ORGANS = ["liver", "spleen"]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"{path}: cannot read the experiment's results ({e})")


def rows(results, path):
    table = {}
    for row in results.get("table", []):
        curve = row.get("diceByRound") or []
        table[(row["name"], row["organ"])] = (row["dice"]["mean"], min(curve[-5:]) if curve else float("nan"))
    if not table:
        sys.exit(f"{path}: field 'table' is empty")
    return table


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    base = sys.argv[1]
    sets = {}
    for name in ["phantoms-a", "phantoms-b"]:
        path = os.path.join(base, name, "results.json")
        sets[name] = rows(load(path), path)
    names = []
    for t in sets.values():
        for (n, _) in t:
            if n not in names:
                names.append(n)
    print("| setup | phantoms | liver final | liver last-5 min | spleen final | spleen last-5 min |")
    print("|---|---|---|---|---|---|")
    mean = {}
    for n in names:
        for s, t in sets.items():
            cells = [f"{t[(n, o)][i]:.3f}" if (n, o) in t else "–" for o in ORGANS for i in (0, 1)]
            print(f"| {n} | {s[-1]} | " + " | ".join(cells) + " |")
        for o in ORGANS:
            vals = [t[(n, o)][0] for t in sets.values() if (n, o) in t]
            if len(vals) == len(sets):
                mean[(n, o)] = sum(vals) / len(vals)
        cells = [f"{mean[(n, o)]:.3f}" if (n, o) in mean else "–" for o in ORGANS]
        print(f"| {n} | both | {cells[0]} | | {cells[1]} | |")
    print()
    for label, a, b, margin, both_ways in [("recipe minus centralised", "recipe", "centralised", 0.02, False),
                                           ("recipe-secure minus recipe", "recipe-secure", "recipe", 0.01, True)]:
        if all((x, o) in mean for x in (a, b) for o in ORGANS):
            d = {o: mean[(a, o)] - mean[(b, o)] for o in ORGANS}
            ok = all((abs(v) if both_ways else -v) <= margin for v in d.values())
            print(f"- {label} (both sets, 6 seed pairs): liver {d['liver']:+.3f}, spleen {d['spleen']:+.3f}; "
                  f"within {margin}: {'yes' if ok else 'no'}")


if __name__ == "__main__":
    main()
