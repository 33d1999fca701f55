"""``ckpt inspect PATH``: a checkpoint's container, torch-version hints, globals and verdict."""

from __future__ import annotations

import argparse

from checkpoint._wording import plural

from ._arguments import path_or_url
from ._interrupt import interrupts_held
from ._output import EXIT_FAILURE, EXIT_OK, EXIT_UNSAFE, print_json, print_table

HELP = "show what a checkpoint holds and whether it is safe, without loading it"
EXITS = {
    EXIT_FAILURE: "the file is missing, unreadable or not a checkpoint",
    EXIT_UNSAFE: "the file would be refused as unsafe (nothing in it was run)",
}
EXAMPLES = ("ckpt inspect runs/old/model_0004.pt",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", type=path_or_url, metavar="PATH", help="a checkpoint file or checkpoint folder"
    )


def run(args: argparse.Namespace) -> int:
    with interrupts_held():  # imports torch: only when the verb runs
        from compat.engine._safe import Verdict, inspect

    report = inspect(args.path)
    code = EXIT_UNSAFE if report.verdict is Verdict.REFUSED else EXIT_OK
    if args.json:
        print_json(report.to_json())
        return code
    print(f"{report.url or report.path}: {report.format}, pickle protocol {report.protocol}")
    for hint in report.torch_version_hints:
        print(f"  {hint}")
    print(f"verdict: {report.verdict} ({'; '.join(report.reasons)})")
    refused = set(report.refused_globals)
    print_table(
        f"{plural(len(report.globals), 'global')} referenced",
        ("global", "category", "called", "refused"),
        (
            (info.name, str(info.category), info.called, info.name in refused)
            for info in report.globals
        ),
    )
    if report.nested_globals:
        print(f"hidden pickle(s) in bytes reference: {', '.join(report.nested_globals)}")
    return code
