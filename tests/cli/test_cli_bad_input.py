"""Every verb of the real ``ckpt`` console script against what people hand it by mistake: a
missing path, a file nobody may read, a directory where a file goes and the reverse, an
empty file, text named ``.pt``, a truncated checkpoint. Each gets one line naming the path
and the reason, the exit code of SPEC §5, and never a traceback.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "legacy"

CKPT = Path(sys.executable).with_name("ckpt")
FIXTURE = CORPUS / "torch-2.0.1" / "state_dict_zip.pt"
#: Root reads any file; without these capabilities it obeys the file's mode like anyone.
SETPRIV = shutil.which("setpriv")
DROP_DAC = ("--bounding-set=-dac_override,-dac_read_search", "--")


def _inputs(root: Path) -> dict[str, Path]:
    (root / "a_directory").mkdir()
    (root / "empty.pt").write_bytes(b"")
    (root / "text.pt").write_text("not a checkpoint, just text\n")
    data = FIXTURE.read_bytes()
    (root / "truncated.pt").write_bytes(data[: len(data) // 2])
    unreadable = root / "unreadable.pt"
    unreadable.write_bytes(data)
    unreadable.chmod(0)
    return {
        "missing": root / "nope" / "x.pt",
        "directory": root / "a_directory",
        "empty": root / "empty.pt",
        "text": root / "text.pt",
        "truncated": root / "truncated.pt",
        "unreadable": unreadable,
    }


def _ckpt(*argv: str, cwd: Path, drop_dac: bool = False) -> subprocess.CompletedProcess[str]:
    command = [str(CKPT), *argv]
    if drop_dac:
        assert SETPRIV is not None
        command = [SETPRIV, *DROP_DAC, *command]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, check=False)


#: How each verb takes its input. A file given to a verb that takes a tree is a usage error
#: (exit 2); everything else here fails (exit 1): missing, unreadable, no checkpoint found.
FILE_VERBS = {
    "inspect": lambda p, out: ["inspect", str(p)],
    "verify": lambda p, out: ["verify", str(p)],
    "convert": lambda p, out: ["convert", str(p), f"{out}/"],
}
TREE_VERBS = {
    "ls": lambda p, out: ["ls", str(p)],
    "migrate": lambda p, out: ["migrate", str(p), "--out", str(out)],
}
CASES = [
    (verb, name)
    for verb in (*FILE_VERBS, *TREE_VERBS)
    for name in ("missing", "directory", "empty", "text", "truncated", "unreadable")
]


@pytest.mark.parametrize(("verb", "name"), CASES, ids=[f"{v}-{n}" for v, n in CASES])
def test_every_verb_names_the_path_and_the_reason(verb: str, name: str, tmp_path: Path) -> None:
    if name == "unreadable" and SETPRIV is None:
        pytest.skip("setpriv is not installed: cannot drop root's right to read any file")
    inputs = _inputs(tmp_path)
    path = inputs[name]
    argv = {**FILE_VERBS, **TREE_VERBS}[verb](path, tmp_path / "out")
    run = _ckpt(*argv, cwd=tmp_path, drop_dac=name == "unreadable")
    assert "Traceback" not in run.stderr + run.stdout
    usage = verb in TREE_VERBS and name not in ("missing", "directory")
    assert run.returncode == (2 if usage else 1), (run.returncode, run.stdout, run.stderr)
    said = run.stderr + run.stdout
    assert path.name in said or str(path) in said, said
    if run.stderr:
        assert run.stderr.count("\n") == 1 and run.stderr.startswith("ckpt: error: "), run.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.pt"))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("missing", "No such file or directory"),
        ("empty", "is not a checkpoint"),
        ("text", "is not a checkpoint"),
        ("truncated", "truncated"),
        ("unreadable", "Permission denied"),
    ],
)
def test_the_reason_is_the_real_one(name: str, reason: str, tmp_path: Path) -> None:
    if name == "unreadable" and SETPRIV is None:
        pytest.skip("setpriv is not installed: cannot drop root's right to read any file")
    path = _inputs(tmp_path)[name]
    run = _ckpt("convert", str(path), f"{tmp_path / 'out'}/", cwd=tmp_path, drop_dac=True)
    assert reason in run.stderr, run.stderr


def test_a_file_given_to_migrate_points_at_convert(tmp_path: Path) -> None:
    source = tmp_path / "model_0001.pt"
    shutil.copy(FIXTURE, source)
    run = _ckpt("migrate", str(source), cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert f"ckpt convert {source}" in run.stderr


def test_nothing_found_is_exit_1_for_every_verb_that_looks(tmp_path: Path) -> None:
    """One rule: a verb that looks for checkpoints and finds none fails (exit 1)."""
    empty = tmp_path / "empty_run"
    empty.mkdir()
    for argv in (["ls", str(empty)], ["verify", str(empty)], ["migrate", str(empty)]):
        run = _ckpt(*argv, cwd=tmp_path)
        assert run.returncode == 1, (argv, run.stdout, run.stderr)
        assert "no checkpoint" in run.stderr, run.stderr


@pytest.mark.parametrize(
    "verb", ["inspect", "ls", "verify", "plugins", "deprecations", "convert", "migrate"]
)
def test_every_verb_has_help_with_exit_codes_and_an_example(verb: str, tmp_path: Path) -> None:
    run = _ckpt(verb, "--help", cwd=tmp_path)
    assert run.returncode == 0
    assert "exit codes:" in run.stdout
    examples = re.split(r"\bexamples?:\n", run.stdout)
    assert len(examples) == 2 and f"ckpt {verb}" in examples[1], run.stdout
