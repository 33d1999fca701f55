"""``ckpt convert SRC DST``: write one checkpoint as a verified v1 checkpoint.

`DST` is a v1 name (`<run>.e<8-digit epoch>.pt`), a directory (an existing one, or `DIR/`
to create; the output is named after the source), or any `name.pt`, written as is with its
sidecar beside it (`CheckpointManager` lists v1 names only, so a warning suggests one).
Converting the same source to the same place again verifies the output and says "already
done". Nothing is written when the source is refused as unsafe.
"""

from __future__ import annotations

import argparse

from ._arguments import path_or_url
from ._interrupt import interrupts_held
from ._output import EXIT_FAILURE, EXIT_OK, EXIT_UNSAFE, print_json, print_table, print_warning

HELP = "convert one legacy checkpoint to a verified v1 checkpoint"
EXITS = {
    EXIT_FAILURE: "the conversion failed (the message names the file and what is missing)",
    EXIT_UNSAFE: "the source was refused as unsafe: nothing was written",
}
EXAMPLES = (
    "ckpt convert runs/old/model_0005.pt runs/new/run7.e00000005.pt",
    "ckpt convert runs/old/model_0005.pt converted/",
    "ckpt convert s3://bucket/old/model_0005.pt s3://bucket/runs/run7/",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "src",
        type=path_or_url,
        metavar="SRC",
        help="a checkpoint: a file, a checkpoint folder (transformers) or archive (SB3)",
    )
    parser.add_argument(
        "dst",
        metavar="DST",
        help="<run>.e<8-digit epoch>.pt (a v1 name), a directory (DIR/ is created), "
        "or any name.pt (written as is)",
    )


def run(args: argparse.Namespace) -> int:
    with interrupts_held():  # imports torch: only when the verb runs
        from compat.upgrade._convert import convert_file
        from compat.upgrade._targets import target_of, v1_name_hint

    destination = path_or_url(args.dst)
    if isinstance(args.src, str) or isinstance(destination, str):  # a URL: s3://bucket/run7/
        from compat.upgrade._remote import convert_remote  # fsspec: only for URLs

        conversion = convert_remote(str(args.src), str(destination))
    else:
        target = target_of(args.src, args.dst)
        conversion = convert_file(args.src, target)
        hint = v1_name_hint(target, conversion.written.epoch)
        if hint is not None:
            print_warning(hint)
    report = conversion.to_json()
    if args.json:
        print_json(report)
        return EXIT_OK
    origin = conversion.provenance
    what = "already done, verified" if conversion.written.already_done else "verified bit for bit"
    print_table(
        f"converted {args.src} ({what})",
        ("field", "value"),
        [
            ("weights", report["weights"]),
            ("trainer state", report["trainer_state"]),
            ("run", report["run_name"]),
            ("epoch", report["epoch"]),
            ("source format", origin.format),
            ("legacy classes", len(origin.legacy_classes)),
            ("migrations", ", ".join(step.split(": ")[0] for step in origin.migrations) or None),
        ],
    )
    return EXIT_OK
