"""Every bad input to the command: exit 2, one line on stderr naming the field, no traceback.

Each case runs ``python -m pyscheduler`` as a child process, as an operator would. None needs an
API server: the kubeconfig used where one must load points at a closed loopback port, and every
case fails before anything is sent.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

HEADER = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n"

KUBECONFIG_CLOSED_PORT = """\
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: x}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
"""

# (case id, config file text or None, extra argv, what the one line must contain)
CASES: list[tuple[str, str | None, list[str], list[str]]] = [
    ("every-problem-in-one-pass", HEADER + """\
foo: 1
profiles:
- schedulerName: a
  plugins:
    score:
      enabled: [{name: NodeResourceFit}]
- schedulerName: b
  pluginConfig:
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: Foo}}
""", [], ['unknown field "foo"', 'profiles[0].plugins.score.enabled[0]',
          'did you mean "NodeResourcesFit"',
          'profiles[1].pluginConfig[0].args.scoringStrategy.type: Unsupported value: "Foo"']),
    ("misspelt-field", HEADER + "profiles:\n- schedulerName: a\n  pluginConfg: []\n", [],
     ['unknown field "profiles[0].pluginConfg"', 'did you mean "pluginConfig"']),
    ("older-api-version", "apiVersion: kubescheduler.config.k8s.io/v1beta1\n"
     "kind: KubeSchedulerConfiguration\nhealthzBindAddress: 0.0.0.0:10251\n", [],
     ['apiVersion: Unsupported value: "kubescheduler.config.k8s.io/v1beta1"',
      "v1beta1 is no longer supported"]),
    ("configmap-as-config", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
     "data:\n  config.yaml: |\n    kind: KubeSchedulerConfiguration\n", [],
     ['kind: Unsupported value: "ConfigMap"', "--config-map"]),
    ("plugin-at-unsupported-point", HEADER + "profiles:\n- schedulerName: a\n  plugins:\n"
     "    bind:\n      enabled: [{name: NodeResourcesFit}]\n", ["@kubeconfig"],
     ["profiles[0].plugins.bind.enabled[0]", "does not implement bind"]),
    ("default-scheduler-needs-acknowledgement",
     HEADER + "profiles:\n- schedulerName: default-scheduler\n", ["@kubeconfig"],
     ["profiles[0].schedulerName", "--allow-default-scheduler-name"]),
    ("bad-yaml", HEADER + "profiles: [\n", [], ["yaml: line"]),
    ("missing-config-file", None, ["--config", "/nonexistent/pyscheduler.yaml"],
     ["/nonexistent/pyscheduler.yaml"]),
    ("missing-kubeconfig-flag", HEADER, ["--kubeconfig", "/nonexistent/kubeconfig"],
     ["--kubeconfig", "/nonexistent/kubeconfig"]),
    ("missing-client-connection-kubeconfig",
     HEADER + "clientConnection:\n  kubeconfig: /nonexistent/from-config\n", [],
     ["clientConnection.kubeconfig", "/nonexistent/from-config"]),
    ("no-kubeconfig-anywhere", HEADER, ["@no-kubeconfig"], ["--kubeconfig", "~/.kube/config"]),
    ("bad-leader-elect", None, ["--leader-elect", "maybe"], ["--leader-elect", "'maybe'"]),
    ("bad-metrics-bind-address", None, ["--metrics-bind-address", "localhost"],
     ["--metrics-bind-address", "'localhost'"]),
    ("bad-verbosity", None, ["-v", "loud"], ["-v/--v", "'loud'"]),
    ("bad-logging-format", None, ["--logging-format", "xml"], ["--logging-format", "'xml'"]),
    ("unknown-option", None, ["--no-such-flag"], ["--no-such-flag"]),
]


def _run(tmp_path: Path, config: str | None, extra: list[str]) -> subprocess.CompletedProcess[str]:
    # The secure port stays on (as deployed), on a free loopback port.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        secure = sock.getsockname()[1]
    argv = [sys.executable, "-m", "pyscheduler", "run", "--bind-address-insecure",
            "127.0.0.1:0", "--bind-address", "127.0.0.1", "--secure-port", str(secure),
            "--startup-timeout", "5"]
    env = {k: v for k, v in os.environ.items()
           if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env["HOME"] = str(tmp_path / "home")  # no ~/.kube/config to fall back on
    if config is not None:
        path = tmp_path / "config.yaml"
        path.write_text(config)
        argv += ["--config", str(path)]
    for arg in extra:
        if arg == "@kubeconfig":
            kc = tmp_path / "kubeconfig"
            kc.write_text(KUBECONFIG_CLOSED_PORT)
            argv += ["--kubeconfig", str(kc)]
        elif arg != "@no-kubeconfig":
            argv.append(arg)
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60,
                          check=False)


@pytest.mark.parametrize(("config", "extra", "wanted"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_naming_the_field(
    tmp_path: Path, config: str | None, extra: list[str], wanted: list[str],
) -> None:
    proc = _run(tmp_path, config, extra)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    for fragment in wanted:
        assert fragment in lines[0], lines[0]


def test_unreachable_api_server_retries_then_exits_with_a_message(tmp_path: Path) -> None:
    """Not a configuration error: one warning while retrying, then one error, exit 1."""
    proc = _run(tmp_path, HEADER + "leaderElection: {leaderElect: false}\n",
                ["@kubeconfig", "--startup-timeout", "2", "--logging-format", "json"])
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    records = [json.loads(line) for line in proc.stderr.splitlines()]
    warnings = [r for r in records if r["level"] == "warning"]
    errors = [r for r in records if r["level"] == "error"]
    assert [r["event"] for r in warnings] == ["cannot reach the API server; retrying"]
    assert [r["event"] for r in errors] == ["giving up: the API server did not answer"]
    assert errors[0]["server"] == "https://127.0.0.1:1"
    assert "Connect call failed" in errors[0]["error"]
