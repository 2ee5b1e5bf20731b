"""Compare the `STEP COST` lines and predicted labels of two runs' stdout (used by gpu_check.sh)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

STEP_LINE = re.compile(r"^(\d+) (\S+)$", re.M)


def read(path: Path) -> tuple[dict[int, float], str]:
    text = path.read_text()
    costs = {int(step): float(cost) for step, cost in STEP_LINE.findall(text)}
    predicted = text.split("predicted:", 1)[-1].split("accuracy:", 1)[0]
    return costs, " ".join(predicted.split())


def compare_copies(reference: Path, candidate: Path, tol: float) -> int:
    """Two study runs' copies.csv: every copy's final cost within tol, and how many solved-steps agree."""
    import csv

    with open(reference, newline="") as f, open(candidate, newline="") as g:
        ref, cand = list(csv.DictReader(f)), list(csv.DictReader(g))
    if len(ref) != len(cand) or not ref:
        print(f"{candidate}: {len(cand)} copies, reference has {len(ref)}")
        return 1
    diffs = [abs(float(r["final_cost"]) - float(c["final_cost"])) for r, c in zip(ref, cand, strict=True)]
    same_steps = sum(r["solved_step"] == c["solved_step"] for r, c in zip(ref, cand, strict=True))
    ok = max(diffs) <= tol
    print(
        f"study copies: max |final cost difference| {max(diffs):.3g} over {len(ref)} copies (tol {tol:g}), "
        f"same solved step for {same_steps}/{len(ref)} -> {'OK' if ok else 'MISMATCH'}"
    )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reference", type=Path)
    parser.add_argument("candidate", type=Path)
    parser.add_argument("--tol", type=float, default=1e-3, help="largest allowed |difference| of a printed cost")
    parser.add_argument("--copies", action="store_true", help="compare two study runs' copies.csv instead")
    args = parser.parse_args()
    if args.copies:
        return compare_copies(args.reference, args.candidate, args.tol)
    (ref, ref_pred), (cand, cand_pred) = read(args.reference), read(args.candidate)
    if not ref or ref.keys() != cand.keys():
        print(f"{args.candidate.name}: printed steps differ from {args.reference.name}")
        return 1
    worst = max(ref, key=lambda s: abs(ref[s] - cand[s]))
    diff = abs(ref[worst] - cand[worst])
    same_labels = ref_pred == cand_pred
    ok = diff <= args.tol and same_labels
    print(
        f"{args.candidate.stem}: max |cost difference| {diff:.3g} at step {worst} (tol {args.tol:g}), "
        f"final cost {ref[max(ref)]:.6g} vs {cand[max(cand)]:.6g}, same predicted labels: {same_labels} "
        f"-> {'OK' if ok else 'MISMATCH'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
