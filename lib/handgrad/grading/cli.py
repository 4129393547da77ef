"""`handgrad grade`: the trusted grading round from the command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from handgrad import venv
from handgrad.grading import report
from handgrad.grading.limits import Limits
from handgrad.grading.results import InfrastructureError
from handgrad.grading.round import run_round


def dask_client(address: str) -> Any:
    """A client of the Dask cluster at ``address``; no reachable scheduler stops the round (nothing written)."""
    from distributed import Client

    try:
        return Client(address, timeout=30)
    except OSError as error:
        raise InfrastructureError(f"no Dask scheduler at {address}: {error}") from error


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the round; exit 0 when it finished, 2 when it stopped (nothing written),
    3 when it finished but some units were lost to grader faults (graded again by the next round)."""
    parser = argparse.ArgumentParser(prog="handgrad", description="handgrad course tools")
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="release, grade every submission in a sandbox, feedback, report",
                                epilog="exit status: 0 the round finished; 2 it stopped and wrote nothing; "
                                       "3 it finished and wrote its grades, but some students' units were lost "
                                       "to grader faults (listed on stderr; not graded, never a zero: the next "
                                       "round grades them)")
    grade.add_argument("--course", default=".", help="the course folder (default: the current one)")
    grade.add_argument("--assignment", action="append", dest="assignments", metavar="ID",
                       help="grade only this assignment (repeatable; default: all of source/)")
    grade.add_argument("--jobs", type=int, default=1,
                       help="students graded in parallel (default 1); under bubblewrap each keeps about two cores "
                            "busy (its notebook and the next kernel's imports): use about half the cores")
    grade.add_argument("--cell-timeout", type=float, default=Limits.cell_timeout,
                       help="seconds per cell before it is interrupted")
    grade.add_argument("--isolation", choices=["bubblewrap", "limits"], default=None,
                       help="force a sandbox kind (default: bubblewrap when it works here)")
    grade.add_argument("--salt", default=os.environ.get("HANDGRAD_SEED_SALT", ""),
                       help="seed salt so that each round draws new hidden-test inputs")
    grade.add_argument("--no-release", action="store_true", help="do not rebuild release/ first")
    grade.add_argument("--force", action="store_true",
                       help="regrade every submission (default: reuse the result of one whose inputs are unchanged)")
    grade.add_argument("--scheduler", metavar="ADDRESS",
                       help="grade each student on this Dask cluster (e.g. tcp://host:8786) instead of here")
    grade.add_argument("--detail", action="store_true",
                       help="print one table row per graded cell (default: one per student and assignment)")
    args = parser.parse_args(argv)

    # nbgrader calls helpers (alembic) found next to this Python.
    os.environ["PATH"] = venv.on_path()["PATH"]
    started = time.monotonic()
    limits = Limits(cell_timeout=args.cell_timeout)
    try:
        with contextlib.ExitStack() as stack:
            executor = stack.enter_context(dask_client(args.scheduler)) if args.scheduler else None
            results, facts = run_round(Path(args.course), args.assignments, jobs=args.jobs, limits=limits,
                                       isolation=args.isolation, salt=args.salt, do_release=not args.no_release,
                                       force=args.force, executor=executor)
    except InfrastructureError as error:
        print(f"handgrad grade: the round stopped, nothing was written: {error}", file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001 - a bug of the grader outside one student's unit: same rule, nothing written
        print(f"handgrad grade: the round stopped on a bug of the grader, nothing was written:\n"
              f"{traceback.format_exc()}", file=sys.stderr)
        return 2
    report.print_table(results, detail=args.detail)
    report.print_review(results)
    facts["seconds"] = round(time.monotonic() - started, 1)
    print("\nsummary: " + json.dumps(facts))
    if facts.get("grader_faults"):
        print(f"handgrad grade: {len(facts['grader_faults'])} unit(s) lost to grader faults, not graded "
              f"(never a zero; run the round again to grade them):", file=sys.stderr)
        for unit_name, why in facts["grader_faults"].items():
            print(f"  {unit_name}: {why}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
