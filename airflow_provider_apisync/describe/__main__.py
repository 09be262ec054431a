"""``python -m airflow_provider_apisync.describe DAG_FILE_OR_FOLDER [--out DIR] [--check]``.

Exit codes: 0 done / current; 1 ``--check`` found stale pages; 2 bad path, DAG import
errors or bad arguments (one line on stderr each, no traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from airflow_provider_apisync.describe import (
    DescribeError,
    generate,
    refresh_command,
    stale_pages,
    write_pages,
)
from airflow_provider_apisync.describe.loader import check_path

PROG = "python -m airflow_provider_apisync.describe"
DEFAULT_OUT = "docs/dags"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Write one Markdown integration page per DAG (plus README.md) from DAG "
        "files: systems, endpoints, paging, incremental strategy, idempotency, retries and "
        "rate limits, outputs, assets, known limits.",
    )
    p.add_argument("path", metavar="DAG_FILE_OR_FOLDER", help="a DAG file or a DAG folder")
    p.add_argument(
        "--out", default=DEFAULT_OUT, help=f"folder for the pages (default: {DEFAULT_OUT})"
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming every page that is missing or out of date",
    )
    mode.add_argument(
        "--print", action="store_true", help="write the pages to stdout instead of --out"
    )
    p.add_argument(
        "--connections",
        action="store_true",
        help="resolve each connection (env vars, secrets backends) and show its public "
        "settings; the pages then depend on this environment: do not commit them",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Airflow's own log lines (DagBag filling, import tracebacks) would mix with the pages
    # and the one-line errors below; set AIRFLOW__LOGGING__LOGGING_LEVEL=ERROR to see them.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "CRITICAL")
    try:
        check_path(args.path)  # instant, before Airflow is imported
        result = generate(args.path, out=args.out, connections=args.connections)
    except DescribeError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    if args.print:
        for name, text in sorted(result.pages.items()):
            print(f"<!-- {name} -->\n{text}")
        return 0
    if args.check:
        stale = stale_pages(result.pages, args.out)
        if stale:
            print(
                f"{len(stale)} page(s) in {args.out} out of date: {', '.join(stale)}. "
                f"Refresh with: {refresh_command(args.path, args.out)}",
                file=sys.stderr,
            )
            return 1
        print(f"{len(result.pages)} page(s) in {args.out} are current.")
        return 0
    changed = write_pages(result.pages, args.out)
    print(
        f"{len(result.docs)} DAG(s) described in {args.out}: "
        + (", ".join(changed) + " updated." if changed else "nothing changed.")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
