"""The ``gim-faust`` command line: help for every command, exit codes (``operations.md``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gim_faust.commands import cli

SCRIPT = Path(sys.executable).with_name("gim-faust")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIM_")}
    return {**env, **extra}


@pytest.mark.parametrize("path", [c.path for c in cli.COMMANDS],
                         ids=[" ".join(c.path) for c in cli.COMMANDS])
def test_help_of_every_command_exits_0(path: tuple[str, ...],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([*path, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gim-faust " + " ".join(path))
    assert "--kafka-bootstrap" in out  # every command takes every setting as a flag


@pytest.mark.parametrize("path", [(), ("gca",), ("gsp",), ("gim",), ("infomart",)])
def test_help_of_every_group_exits_0(path: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([*path, "--help"])
    assert info.value.code == 0


def test_the_console_script_is_installed_and_answers_help() -> None:
    done = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True,
                          env=_clean_env(), timeout=60)
    assert done.returncode == 0, done.stderr
    for command in cli.COMMANDS:
        assert command.path[0] in done.stdout


def test_bad_configuration_exits_2_with_one_line() -> None:
    done = subprocess.run([str(SCRIPT), "infomart", "migrate"], capture_output=True, text=True,
                          env=_clean_env(GIM_TENANT="acme", GIM_KAFKA_BOOTSTRAP="nonsense"),
                          timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "GIM_KAFKA_BOOTSTRAP" in lines[0] and "nonsense" in lines[0]
    assert done.stdout == ""


def test_a_missing_tenant_exits_2_in_process(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    for name in list(os.environ):
        if name.startswith("GIM_"):
            monkeypatch.delenv(name)
    assert cli.main(["infomart", "migrate"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "GIM_TENANT" in err


def test_a_flag_fixes_what_the_environment_breaks(monkeypatch: pytest.MonkeyPatch) -> None:
    # The flag wins over the bad variable, so parsing gets past the settings and reaches the
    # handler; a stub handler shows which settings it was given.
    seen = {}

    def handler(settings, args):  # type: ignore[no-untyped-def]
        seen["settings"] = settings
        return 0

    monkeypatch.setenv("GIM_TENANT", "acme")
    monkeypatch.setenv("GIM_KAFKA_BOOTSTRAP", "nonsense")
    monkeypatch.setattr(cli, "_handler", lambda spec: handler)
    assert cli.main(["infomart", "migrate", "--kafka-bootstrap", "k:9092"]) == 0
    assert seen["settings"].kafka_bootstrap == "k:9092"


def test_unknown_commands_are_usage_errors() -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["teleport"])
    assert info.value.code == 2


def test_every_available_handler_resolves_to_a_function() -> None:
    assert {c.path for c in cli.COMMANDS} >= {
        ("infomart", "migrate"), ("gca", "run"), ("gsp", "worker"), ("gsp", "snapshot"),
        ("gsp", "restore"), ("gim", "worker"), ("gim", "export"), ("gim", "maintenance"),
        ("replay",)}
    for command in cli.COMMANDS:
        assert callable(cli._handler(command.handler)), command


def test_replay_refuses_a_to_time_before_the_from_time(capsys) -> None:
    assert cli.main(["replay", "--topic", "acme.voice.interactions", "--from-time",
                     "2026-11-02T00:00:00Z", "--to-time", "2026-11-01T00:00:00Z",
                     "--tenant", "acme"]) == 2
    assert "--to-time must be after --from-time" in capsys.readouterr().err


def test_the_migrate_handler_resolves() -> None:
    assert callable(cli._handler("gim_faust.commands.infomart:run_migrate"))


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "EST5EDT,M3.2.0", "../etc/passwd", ""])
def test_an_unknown_time_zone_exits_2_with_how_to_mend_it(zone: str) -> None:
    done = subprocess.run([str(SCRIPT), "gim", "aggregate", "--all"], capture_output=True,
                          text=True, env=_clean_env(GIM_TENANT="acme", GIM_TIMEZONE=zone or " "),
                          timeout=60)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "GIM_TIMEZONE" in done.stderr and "America/New_York" in done.stderr


def test_aggregate_needs_a_range_or_all(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIM_TENANT", "acme")
    for args in ([], ["--from", "2026-11-01T00:00:00Z"], ["--all", "--from", "2026-11-01",
                                                          "--to", "2026-11-02"]):
        assert cli.main(["gim", "aggregate", *args]) == 2
        assert "--all" in capsys.readouterr().err
