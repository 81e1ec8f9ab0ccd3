"""Bad configuration ends in one clear line naming the problem, exit code 2, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from workers.errors import ConfigError
from workers.stack.embedded import venv_binary


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli.main", *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("demandflow: ")
    for needle in needles:
        assert needle in last


def test_a_taken_api_port_is_named_with_its_setting(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            "up",
            env={
                "DATA_DIR": str(tmp_path),
                "API_PORT": str(port),
                "TEMPORAL_PORT": "17233",
                "TEMPORAL_UI_PORT": "18233",
            },
        )
    assert_one_clear_line(result, f"port {port}", "API_PORT")


def test_an_unreachable_database_url_is_named_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://someone:s3cret-pw@127.0.0.1:1/nowhere"
    result = run_cli(
        "up",
        env={
            "DATA_DIR": str(tmp_path),
            "DATABASE_URL": url,
            "API_PORT": "18001",
            "TEMPORAL_PORT": "17234",
            "TEMPORAL_UI_PORT": "18234",
        },
    )
    assert_one_clear_line(result, "DATABASE_URL", "127.0.0.1:1")
    assert "s3cret-pw" not in result.stderr


def test_an_unreachable_temporal_address_is_named() -> None:
    result = run_cli(
        "worker",
        env={
            "TEMPORAL_ADDRESS": "127.0.0.1:1",
            "DATABASE_URL": "postgresql+asyncpg://x@127.0.0.1:1/x",
        },
    )
    assert_one_clear_line(result, "TEMPORAL_ADDRESS=127.0.0.1:1")


def test_an_invalid_setting_names_the_variable() -> None:
    result = run_cli("migrate", env={"API_PORT": "not-a-port"})
    assert_one_clear_line(result, "API_PORT")


def test_a_live_lock_is_refused(tmp_path: Path) -> None:
    (tmp_path / "up.lock").write_text(str(os.getpid()))  # this test process is alive
    result = run_cli(
        "up",
        env={
            "DATA_DIR": str(tmp_path),
            "API_PORT": "18002",
            "TEMPORAL_PORT": "17235",
            "TEMPORAL_UI_PORT": "18235",
        },
    )
    assert_one_clear_line(result, "another demandflow stack", str(os.getpid()))


def test_a_missing_binary_says_how_to_install_it() -> None:
    with pytest.raises(ConfigError, match="make install"):
        venv_binary("temporal-binary-that-does-not-exist")


@pytest.mark.parametrize(
    "own_keys, refused", [(False, "API_KEYS_FILE"), (True, "CONSOLE_USERS_FILE")]
)
def test_production_refuses_the_demo_keys_and_console_users(
    tmp_path: Path, own_keys: bool, refused: str
) -> None:
    repo = Path(__file__).resolve().parents[2]
    env = {
        "ENVIRONMENT": "production",
        "DATABASE_URL": "postgresql+asyncpg://x@127.0.0.1:1/x",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        "PAYLOAD_KEYS": "k1=" + "A" * 43 + "=",
    }
    if own_keys:  # a key table of its own (a copy): then the demo console users are refused
        keys = tmp_path / "keys.yaml"
        keys.write_text((repo / "deploy" / "api-keys.yaml").read_text(encoding="utf-8"))
        env["API_KEYS_FILE"] = str(keys)
    result = run_cli("api", env=env)
    assert_one_clear_line(result, refused, "demo")


@pytest.mark.parametrize("command", ["submit", "import-csv"])
def test_a_missing_input_file_is_named_with_the_fix(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "nowhere.json"
    result = run_cli(command, str(missing), env={"DEMANDFLOW_API_KEY": "demo-integrator"})
    assert_one_clear_line(result, str(missing), "No such file", "check the path")


def test_a_malformed_submission_file_is_named_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "need.json"
    bad.write_text('{"channel": "app",\n "title": }', encoding="utf-8")
    result = run_cli("submit", str(bad), env={"DEMANDFLOW_API_KEY": "demo-integrator"})
    assert_one_clear_line(result, str(bad), "is not JSON", "line 2")
