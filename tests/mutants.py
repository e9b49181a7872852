"""Mutation check of the metrics core and its neighbours: each mutant must make ``tests/`` fail.

Each mutant is one small, plausible mistake in ``faceeval/metrics.py`` (or the module it names:
the normalisers, the bootstrap, the convention checks). The script copies
the checkout to a temporary folder, applies one mutant there, runs ``pytest tests/ -x``
against the copy (the doctests are left out, so the unit tests alone must catch it) and
reports the first test that failed, or SURVIVED. Exit status 1 if any mutant survives.

    python tests/mutants.py            # all mutants (about a minute each at most)
    python tests/mutants.py step-auc   # one by name
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = "faceeval/metrics.py"

#: name -> (what it does, [(original text, mutated text), ...][, file]) in faceeval/metrics.py unless a file is named
MUTANTS = {
    "inter-pupil-5-points": (
        "inter-pupil distance from 5 of the 6 points of each eye",
        [("a, b = (np.asarray(g, dtype=np.intp) for g in scheme.eye_centres)",
          "a, b = (np.asarray(g, dtype=np.intp)[:5] for g in scheme.eye_centres)")], "faceeval/protocol/normalisers.py"),
    "inclusive-ignored": (
        "evaluate(..., inclusive_failure=True) ignores the flag",
        [("return summarize(errors, alpha, norm, inclusive_failure), errors",
          "return summarize(errors, alpha, norm), errors")]),
    "step-auc-of-curve": (
        "auc_of_curve interpolates the curve as a step function (previous value)",
        [("_area_over_alpha(np.interp(grid, x, y), grid, alpha)",
          "_area_over_alpha(y[np.clip(np.searchsorted(x, grid, side='right') - 1, 0, None)], grid, alpha)")]),
    "failure-greater-equal": (
        "failure counts error >= alpha by default",
        [('side="left" if inclusive else "right"', 'side="left"'),
         ("e >= alpha if inclusive else e > alpha", "e >= alpha")]),
    "trapezoid-auc": (
        "AUC integrated with the trapezoid rule instead of Simpson's",
        [("simpson(ced_values, x=grid)", "np.trapz(ced_values, x=grid)")]),
    # the four a check of the modules issue 21 extends found unnoticed
    "ci-level-ignored": (
        "summary_intervals ignores its confidence level (always 95%)",
        [("percentile_interval(samples[k], boot.level)", "percentile_interval(samples[k])")], "faceeval/stats.py"),
    "explain-rules-swapped": (
        "--explain gives the protocol's failure rule the other rule's count and vice versa",
        [("fail = failure_rate(e, alpha, inclusive_failure)", "fail = failure_rate(e, alpha, not inclusive_failure)"),
         ("failure_rate(e, alpha, not inclusive_failure), fail,", "failure_rate(e, alpha, inclusive_failure), fail,")],
        "faceeval/conventions.py"),
    "shift-no-axis-tolerance": (
        "the 1-px shift warning without its per-axis tolerance",
        [(" and np.all(np.abs(offset - sign) < SHIFT_AXIS_TOLERANCE_PX)", "")], "faceeval/conventions.py"),
    "shift-no-standard-error": (
        "the 1-px shift warning without its standard-error check",
        [("if close and np.all(stderr < SHIFT_MAX_STANDARD_ERROR_PX):", "if close:")], "faceeval/conventions.py"),
}


def _copy_checkout(dest: Path) -> None:
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", "*.egg-info", "results",
                                    "reports", "build", "dist")
    for name in ("faceeval", "methods", "tests", "benchmarks", "pyproject.toml"):
        src = ROOT / name
        (shutil.copytree(src, dest / name, ignore=ignore) if src.is_dir() else shutil.copy2(src, dest / name))


def run_mutant(name: str) -> tuple[str, float]:
    """Apply mutant ``name`` to a copy and run the tests; returns (first failing test or "SURVIVED", seconds)."""
    _, edits, *where = MUTANTS[name]
    target_name = where[0] if where else TARGET
    with tempfile.TemporaryDirectory(prefix=f"faceeval-mutant-{name}-") as tmp:
        tmp = Path(tmp)
        _copy_checkout(tmp)
        target = tmp / target_name
        text = target.read_text()
        for old, new in edits:
            if text.count(old) != 1:
                raise SystemExit(f"mutant {name}: {old!r} found {text.count(old)} times in {target_name} "
                                 f"(update the mutant)")
            text = text.replace(old, new)
        target.write_text(text)
        env = {**os.environ, "PYTHONPATH": str(tmp), "PYTHONDONTWRITEBYTECODE": "1"}
        start = time.perf_counter()
        # every test file of tests/, the metrics' own first (the likeliest to fail, and fast)
        files = sorted(p.relative_to(tmp).as_posix() for p in (tmp / "tests").glob("test_*.py"))
        first = {"faceeval/stats.py": "tests/test_stats.py", "faceeval/conventions.py": "tests/test_conventions.py"}
        files.sort(key=lambda f: f != first.get(target_name, "tests/test_metrics.py"))
        proc = subprocess.run([sys.executable, "-m", "pytest", *files, "-x", "-q", "-p", "no:cacheprovider",
                               "--no-header", "-o", "addopts=", "-rf"], cwd=tmp, env=env,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - start
        failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", proc.stdout, flags=re.M)
        if proc.returncode == 0:
            return "SURVIVED", seconds
        return (failed[0] if failed else f"pytest exit {proc.returncode}: {proc.stdout[-300:]}"), seconds


def main(argv: list[str]) -> int:
    names = argv or list(MUTANTS)
    unknown = [n for n in names if n not in MUTANTS]
    if unknown:
        raise SystemExit(f"unknown mutant(s) {unknown}; choose from {', '.join(MUTANTS)}")
    survived = 0
    for name in names:
        result, seconds = run_mutant(name)
        survived += result == "SURVIVED"
        print(f"{name:24s} {'SURVIVED' if result == 'SURVIVED' else 'killed by ' + result}  ({seconds:.0f} s)"
              f"  -- {MUTANTS[name][0]}", flush=True)
    print(f"{len(names) - survived} of {len(names)} mutants killed by tests/")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
