"""``ckpt plugins [list | enable NAME | disable NAME] [--json]``.

``enable`` and ``disable`` persist the switch as ``[tool.compat] disable = [...]`` in the
``pyproject.toml`` nearest to the working directory (one is created there if none exists),
so every program started from that project sees it. ``COMPAT_DISABLE`` still wins for a
single run; the command says so when it keeps a plugin off.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from checkpoint._wording import plural
from checkpoint.errors import PluginError, UsageError
from compat.host import _pluginhost, _pyproject
from compat.host._config import ENV_DISABLE, env_names
from compat.host._pluginhost import PluginStatus, get_host

from ._output import EXIT_FAILURE, EXIT_OK, print_json, print_table

_ACTIONS = ("list", "enable", "disable")


HELP = "list compat plugins, or switch one on or off for this project"
EXITS = {EXIT_FAILURE: "the plugin cannot be switched (the message says why and how)"}
EXAMPLES = ("ckpt plugins", "ckpt plugins disable policy_store")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        choices=_ACTIONS,
        default="list",
        help="list the plugins (default), or enable or disable NAME for this project",
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="plugin to enable or disable")


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(as_json=args.json)
    if args.name is None:
        raise UsageError(
            f"`ckpt plugins {args.action}` needs the NAME of a plugin; `ckpt plugins` lists them"
        )
    return _switch(args.name, enable=args.action == "enable", as_json=args.json)


def _list(*, as_json: bool) -> int:
    statuses = get_host().statuses()
    if as_json:
        print_json(statuses)
        return EXIT_OK
    print_table(
        plural(len(statuses), "compat plugin"),
        ("name", "enabled", "distribution", "version", "source", "reason"),
        (
            (
                s["name"],
                "yes" if s["enabled"] else "no",
                s["distribution"],
                s["version"],
                s["source"],
                s["reason"],
            )
            for s in statuses
        ),
    )
    return EXIT_OK


def _switch(name: str, *, enable: bool, as_json: bool) -> int:
    verb = "enable" if enable else "disable"
    get_host().check_switch(name, enable, f"`ckpt plugins {verb}`")
    if enable and name in env_names(ENV_DISABLE):
        raise PluginError(
            f"{name} cannot be enabled while {ENV_DISABLE} lists it (it wins over "
            f"pyproject.toml); remove {name} from {ENV_DISABLE}, or unset it, and run "
            f"`ckpt plugins enable {name}` again; nothing was changed"
        )
    cwd = Path.cwd()
    pyproject = _pyproject.find_nearest(cwd) or cwd / _pyproject.FILENAME
    table = _pyproject.read_tool_table(pyproject) if pyproject.exists() else {}
    listed = _pyproject.disable_list(table, pyproject)
    if enable:
        wanted = [listed_name for listed_name in listed if listed_name != name]
    else:
        wanted = listed if name in listed else [*listed, name]
    changed = wanted != listed
    if changed:
        _pyproject.write_disable_list(pyproject, wanted)
    _pluginhost.reset()
    status = _status_of(name)
    if status["enabled"] != enable:
        raise PluginError(f"{name} stays {'off' if enable else 'on'}: {status['reason']}")
    if as_json:
        print_json({**status, "pyproject": str(pyproject), "changed": changed})
    else:
        edit = "updated" if changed else "already up to date"
        print(f"{name}: [tool.compat] disable in {pyproject} {edit}")
        print(f"{name} is now {'enabled' if enable else 'disabled'}")
    return EXIT_OK


def _status_of(name: str) -> PluginStatus:
    return next(status for status in get_host().statuses() if status["name"] == name)
