"""Run the issue-15 red-team matrix: every case against every applicable entry point.

    .venv/bin/python tests/redteam/run.py                      # the full matrix (2 jobs)
    .venv/bin/python tests/redteam/run.py --quick              # a subset, under 3 minutes
    .venv/bin/python tests/redteam/run.py --cases 'zip_two*' --entry 'api.*' --json out.json
    .venv/bin/python tests/redteam/run.py --list               # cases and entries, no runs

Each run is a fresh, fenced process (see harness.py): RSS watchdog, address-space limit,
wall-clock timeout, empty working directory for payload markers. The table shows one
letter per case and entry point; a ``!`` marks an outcome the issue does not accept.
Exit status: 0 when every run matched, 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cases  # noqa: E402
import harness  # noqa: E402

LETTERS = {
    "executed": "X",
    "refused": "R",
    "unreadable": "U",
    "uncaught": "C",
    "oom": "M",
    "timeout": "T",
    "crashed": "S",
    "loaded": "L",
    "accepted": "A",
    "infra": "?",
}
LEGEND = (
    "X executed (PWNED marker / canary __init__)  R refused  U unreadable (named error)  "
    "C uncaught exception  M out of memory  T timeout  S crashed by a signal  L loaded  "
    "A accepted hostile bytes (loaded, but a post-check failed)  ? harness/infra error  "
    "! = not what issue 15 expects  . = not applicable"
)
QUICK_ENTRIES = (
    "api.inspect",
    "api.load",
    "api.load_trust",
    "api.convert",
    "policy_store",
    "manager.list",
    "manager.load_state_dict",
    "manager.load_trainer_state",
    "manager.load_agent",
    "cli.migrate",
    "cli.verify",
)
INFRA_HINTS = ("No module named 'compat", "No module named 'checkpoint", "cannot import name")


def _patterns(values: Sequence[str]) -> list[str]:
    return [p.strip() for value in values for p in value.split(",") if p.strip()]


def plan(args: argparse.Namespace) -> list[tuple[cases.Case, str, cases.Record]]:
    """(case, entry, record) for every run of the matrix, longest-looking runs first."""
    chosen = cases.select(_patterns(args.cases), args.quick)
    entry_patterns = _patterns(args.entry)
    runs = []
    with harness.scratch() as root:
        for case in chosen:
            record = cases.build(case, root / case.name)
            for entry in harness.entries_for(record):
                if entry_patterns and not any(
                    fnmatch.fnmatchcase(entry, p) for p in entry_patterns
                ):
                    continue
                if args.quick and entry not in QUICK_ENTRIES:
                    continue
                cli_ok = case.cli is None or entry in case.cli
                if entry.startswith("cli.") and not (cli_ok or args.all_cli):
                    continue
                if args.quick and entry == "cli.verify" and record.container not in ("tree", "v1"):
                    continue
                runs.append((case, entry, record))

    def cost(run: tuple[cases.Case, str, cases.Record]) -> float:
        case, entry, record = run
        slow = harness.ENTRIES[entry].kind == "cli" and args.cli == "exec"
        bomb = case.item.startswith(("15.2", "15.3"))
        return (
            (5.0 if slow else 0.6)
            + (4.0 if bomb else 0.0)
            + (3.0 if record.container == "tree" else 0.0)
        )

    return sorted(runs, key=cost, reverse=True)


def _infra(result: harness.RunResult) -> bool:
    return result.outcome == "uncaught" and any(h in result.detail for h in INFRA_HINTS)


def execute(
    args: argparse.Namespace, runs: list[tuple[cases.Case, str, cases.Record]]
) -> list[harness.RunResult]:
    options = harness.Options(
        timeout=args.timeout,
        rss_limit=args.rss_limit_mb << 20,
        as_limit=args.as_limit_gb << 30,
        isolation=args.isolation,
        cli=args.cli,
        keep=args.keep,
    )
    results: list[harness.RunResult] = []
    lock = threading.Lock()
    started = time.monotonic()

    def one(run: tuple[cases.Case, str, cases.Record]) -> harness.RunResult:
        case, entry, _ = run
        for _ in range(4):
            result = harness.run_one(case, entry, options, cases.build)
            if not _infra(result):
                break
            print(
                f"  [infra] {case.name} {entry}: {result.detail[:120]}; retrying in 30 s",
                file=sys.stderr,
            )
            time.sleep(30)
        else:
            result.outcome, result.match = "infra", False
        with lock:
            results.append(result)
            if args.verbose or not result.match:
                mark = " " if result.match else "!"
                print(
                    f"{mark} [{len(results):4}/{len(runs)} {time.monotonic() - started:6.0f}s] "
                    f"{result.case:52} {result.entry:26} {result.outcome:10} {result.detail[:110]}",
                    file=sys.stderr,
                    flush=True,
                )
            elif len(results) % 25 == 0:
                print(
                    f"  [{len(results):4}/{len(runs)} {time.monotonic() - started:6.0f}s]",
                    file=sys.stderr,
                    flush=True,
                )
        return result

    # Work queue shared by --jobs threads, each owning one zygote.
    queue = list(runs)
    qlock = threading.Lock()

    def take() -> list[tuple[cases.Case, str, cases.Record]]:
        with qlock:
            return [queue.pop(0)] if queue else []

    def loop() -> None:
        try:
            while True:
                item = take()
                if not item:
                    return
                one(item[0])
        finally:
            harness.close_zygote()

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(loop) for _ in range(args.jobs)]
        for future in futures:
            future.result()
    order = {
        (case.name, entry): i
        for i, (case, entry, _) in enumerate(
            sorted(
                runs,
                key=lambda r: (
                    list(cases.CASES).index(r[0].name),
                    list(harness.ENTRIES).index(r[1]),
                ),
            )
        )
    }
    return sorted(results, key=lambda r: order[(r.case, r.entry)])


def preflight(args: argparse.Namespace) -> None:
    """Wait until the project imports and loads an honest file (src/ may be mid-move)."""
    options = harness.Options(timeout=60, isolation=args.isolation, cli=args.cli)
    case = cases.CASES["legit_corpus_record_zip"]
    for _ in range(10):
        result = harness.run_one(case, "api.load", options, cases.build)
        harness.close_zygote()
        if result.outcome == "loaded":
            return
        print(
            f"preflight: an honest file does not load ({result.outcome}: "
            f"{result.detail[:200]}); retrying in 60 s",
            file=sys.stderr,
        )
        time.sleep(60)
    raise SystemExit("preflight failed: the project under src/ does not import or load; try later")


def check_zip_readers(selected: list[cases.Case]) -> dict[str, Any]:
    """For cases that claim zipfile and torch's reader see different data.pkl, show both."""
    with harness.scratch() as root:
        paths = {}
        for case in selected:
            record = cases.build(case, root / case.name)
            if record.checks.get("readers_disagree"):
                paths[case.name] = record.file or record.path
        if not paths:
            return {}
        views = harness.zip_reader_views(list(paths.values()))
        return {name: views[path] for name, path in paths.items()}


def code_state() -> dict[str, Any]:
    """The commit and the uncommitted files of src/ and plugins/ the matrix ran against."""

    def git(*argv: str) -> str:
        done = subprocess.run(
            ["git", *argv], cwd=harness.REPO, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "subject": git("log", "-1", "--format=%s"),
        "dirty": git("status", "--short", "--", "src", "plugins").splitlines(),
    }


def table(results: list[harness.RunResult]) -> str:
    entries = [e for e in harness.ENTRIES if any(r.entry == e for r in results)]
    by = {(r.case, r.entry): r for r in results}
    names = list(dict.fromkeys(r.case for r in results))
    width = max(len(n) for n in names) + 1
    head = f"{'case':{width}} {'cont':6} {'expect':10} " + " ".join(
        f"{harness.ENTRIES[e].short:>4}" for e in entries
    )
    lines = [head, "-" * len(head)]
    for name in names:
        case = cases.CASES[name]
        cells = []
        for entry in entries:
            r = by.get((name, entry))
            if r is None:
                cells.append(f"{'.':>4}")
            else:
                cells.append(f"{LETTERS.get(r.outcome, '?') + ('' if r.match else '!'):>4}")
        lines.append(f"{name:{width}} {case.container:6} {case.expect:10} " + " ".join(cells))
    lines.append("")
    lines.append("columns: " + "  ".join(f"{harness.ENTRIES[e].short}={e}" for e in entries))
    lines.append("cells:   " + LEGEND)
    return "\n".join(lines)


def _canary(result: harness.RunResult) -> bool:
    """An ``executed`` run whose marker came from a canary class's ``__init__``."""
    return "_canary_init" in result.detail or "_agent_init_kwargs" in result.detail


def totals(results: list[harness.RunResult]) -> dict[str, Any]:
    outcomes = Counter(r.outcome for r in results)
    trust = [r for r in results if r.entry == "api.load_trust"]
    return {
        "runs": len(results),
        "cases": len({r.case for r in results}),
        "matched": sum(r.match for r in results),
        "mismatched": sum(not r.match for r in results),
        "executed_inert_paths": sum(
            r.outcome == "executed" and r.entry != "api.load_trust" and not _canary(r)
            for r in results
        ),
        "executed_with_trust": sum(r.outcome == "executed" and not _canary(r) for r in trust),
        "constructors_reached": sum(r.outcome == "executed" and _canary(r) for r in results),
        "oom_or_timeout": outcomes["oom"] + outcomes["timeout"],
        "uncaught": outcomes["uncaught"],
        "crashed": outcomes["crashed"],
        "accepted_hostile_bytes": outcomes["accepted"],
        "outcomes": dict(outcomes),
        "mismatches_by_item": dict(
            Counter(cases.CASES[r.case].item.split(" ")[0] for r in results if not r.match)
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", action="append", default=[], metavar="GLOB[,GLOB]")
    parser.add_argument("--entry", action="append", default=[], metavar="GLOB[,GLOB]")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, metavar="OUT")
    parser.add_argument("--quick", action="store_true", help="the quick subset (< 3 min)")
    parser.add_argument("--timeout", type=float, help="seconds per run (15; quick 10)")
    parser.add_argument("--rss-limit-mb", type=int, help="RSS watchdog (1536; quick 1024)")
    parser.add_argument("--as-limit-gb", type=int, default=32)
    parser.add_argument("--isolation", choices=("fork", "exec"), default="fork", help="API runs")
    parser.add_argument("--cli", choices=("exec", "fork"), default="exec", help="CLI runs")
    parser.add_argument(
        "--all-cli", action="store_true", help="CLI verbs on every container of each technique"
    )
    parser.add_argument("--keep", action="store_true", help="keep each run's temp dir")
    parser.add_argument("--no-preflight", action="store_true")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every run")
    args = parser.parse_args(argv)
    if args.timeout is None:
        args.timeout = 10.0 if args.quick else 15.0
    if args.rss_limit_mb is None:
        args.rss_limit_mb = 1024 if args.quick else 1536
    runs = plan(args)
    if args.list:
        for case, entry, record in runs:
            print(f"{case.name:55} {entry:28} expects {'/'.join(record.acceptable(entry))}")
        print(f"{len(runs)} run(s)")
        return 0
    if not runs:
        print("no runs selected", file=sys.stderr)
        return 2
    selected = list(dict.fromkeys(case for case, _, _ in runs))
    print(
        f"{len(runs)} runs of {len(selected)} cases, {args.jobs} jobs, "
        f"timeout {args.timeout:.0f}s, RSS limit {args.rss_limit_mb} MB",
        file=sys.stderr,
    )
    if not args.no_preflight:
        preflight(args)
    zip_views = check_zip_readers(selected)
    started = time.monotonic()
    results = execute(args, runs)
    elapsed = time.monotonic() - started
    state = code_state()
    print(f"\ncode under test: {state['commit'][:10]} {state['subject']!r}", end="")
    print(
        f", {len(state['dirty'])} uncommitted file(s) in src/ and plugins/"
        if state["dirty"]
        else ""
    )
    print(table(results))
    if zip_views:
        print(
            "\nzip reader check (what each reader finds as data.pkl; 'forged' = the PWNED_ pickle):"
        )
        for name, view in zip_views.items():
            z, t = view["zipfile"], view["torch"]
            differ = z.get("sha") != t.get("sha")
            print(f"  {name:40} zipfile={z}  torch={t}  {'DISAGREE' if differ else 'agree'}")
    bad = [r for r in results if not r.match]
    if bad:
        print(f"\nmismatches ({len(bad)}):")
        for r in bad:
            print(
                f"  {r.case:52} {r.entry:26} {r.outcome:10} "
                f"(expected {'/'.join(r.expected)}) {r.detail[:160]}"
            )
    summary = totals(results)
    summary["seconds"] = round(elapsed, 1)
    print(
        f"\ntotals: {summary['runs']} runs of {summary['cases']} cases in {elapsed:.0f}s; "
        f"{summary['matched']} as expected, {summary['mismatched']} not; "
        f"executed: {summary['executed_inert_paths']} on inert paths, "
        f"{summary['executed_with_trust']} with trust=True; "
        f"constructors reached: {summary['constructors_reached']}; "
        f"oom/timeout: {summary['oom_or_timeout']}; uncaught: {summary['uncaught']}; "
        f"crashed: {summary['crashed']}; "
        f"accepted hostile bytes: {summary['accepted_hostile_bytes']}"
    )
    print(f"outcomes: {summary['outcomes']}")
    print(f"mismatches by issue item: {summary['mismatches_by_item']}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "options": {
                        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                    },
                    "code_under_test": state,
                    "totals": summary,
                    "zip_reader_check": zip_views,
                    "cases": {
                        c.name: {
                            "container": c.container,
                            "item": c.item,
                            "expect": c.expect,
                            "description": c.description,
                        }
                        for c in selected
                    },
                    "results": [r.to_json() for r in results],
                },
                indent=1,
            )
        )
    return 0 if not bad else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
