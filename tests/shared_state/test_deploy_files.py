"""deploy/compose.yaml (two replicas, Redis, a reverse proxy) checked without Docker: it parses, and every
setting it gives the replicas is one qdi-mcp declares, with what a remote bind and shared state need."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from qdi_mcp.settings import OPTIONS, Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def test_two_replicas_share_one_redis_behind_a_proxy() -> None:
    services = compose()["services"]
    replicas = [name for name, service in services.items() if "qdi-mcp serve" in str(service.get("command", ""))]
    assert len(replicas) == 2
    for name in replicas:
        service = services[name]
        env = service["environment"]
        assert env["QDI_MCP_STATE_URL"] == "redis://redis:6379/0"
        assert "redis" in service["depends_on"]
        assert "--allow-remote" in service["command"] and "--transport http" in service["command"]
    # Both replicas get the same environment (one anchor), so one signing key and one Redis.
    assert services[replicas[0]]["environment"] == services[replicas[1]]["environment"]
    assert "--appendonly" in services["redis"]["command"]
    proxy = services["proxy"]
    assert set(proxy["depends_on"]) == set(replicas)
    upstream = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    assert all(f"server {name}:8000" in upstream for name in replicas)


def test_every_variable_given_to_a_replica_is_a_declared_setting_and_secrets_come_from_the_env_file() -> None:
    declared = {option.env for option in OPTIONS if option.env}
    env = compose()["services"]["replica-a"]["environment"]
    assert set(env) <= declared, set(env) - declared
    secrets = {option.env for option in OPTIONS if option.secret}
    for name in set(env) & secrets:
        assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", env[name]), f"{name} must come from the env file, required"
    for name in ("QDI_MCP_SECRET", "QDI_MCP_HTTP_TOKEN", "QDI_MCP_HTTP_ALLOWED_HOSTS", "QDI_MCP_STATE_URL"):
        assert name in env
    listed = {line.split("=", 1)[0] for line in (DEPLOY / "env.example").read_text().splitlines() if "=" in line}
    referenced = set(re.findall(r"\$\{([A-Z_]+)", (DEPLOY / "compose.yaml").read_text(encoding="utf-8")))
    assert referenced <= listed, referenced - listed


def test_the_replica_settings_load_as_qdi_mcp_reads_them(tmp_path: Path) -> None:
    env = {
        name: re.sub(r"\$\{[A-Z_]+(:[?-][^}]*)?\}", "x" * 40, str(value))
        for name, value in compose()["services"]["replica-a"]["environment"].items()
    }
    env["QDI_MCP_WORKDIR"] = str(tmp_path)
    env["QLIK_TENANT_URL"] = "https://acme.eu.qlikcloud.com"
    settings = Settings.from_env(env)
    assert settings.shared_state is not None and settings.shared_state.host == "redis"
    assert settings.secret and settings.http_token


def test_the_replicas_run_an_image_built_from_this_repository_not_a_package_from_an_index() -> None:
    replica = compose()["services"]["replica-a"]
    assert replica["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert "pip install" not in str(replica["command"])
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    copied = re.findall(r"^COPY (\S+)", dockerfile, re.M)
    # What a wheel needs: the package and the tool specs it carries (pyproject's force-include), and no index.
    assert {"qdi_mcp", "tool_specs", "pyproject.toml"} <= set(copied)
    assert "pip install --no-cache-dir ." in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignored[ignored.index("*") + 1 :] and "!qdi_mcp/" in ignored and "!tool_specs/" in ignored
