"""The scaled profile's process list and its HAProxy, run for real in front of two small
HTTP servers standing in for replicas: both serve, a dead one is passed over."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from liangwang.settings import Settings
from ops.harness import free_port, wait_answering
from ops.load_balancer import Pool, haproxy_config, pools
from ops.rasa_engine import SQLITE_LOCK_STORE, lock_store_env
from ops.stack import build_stack

REDIS = "redis://127.0.0.1:6379/4"
MODEL = Path("model.tar.gz")


def names(settings: Settings) -> list[str]:
    return [p.name for p in build_stack(settings, MODEL).processes]


def test_the_embedded_default_runs_one_of_each_without_a_balancer() -> None:
    assert names(Settings())[:2] == ["actions", "rasa"]
    assert "balancer" not in names(Settings())


def test_the_scaled_profile_runs_two_of_each_behind_haproxy() -> None:
    settings = Settings(
        profile="scaled",
        database_url="postgresql://db/ours",
        tracker_store_url="postgresql://db/tracker",
        lock_store_url=REDIS,
        rasa_port=7000,
        action_port=7100,
    )
    assert names(settings)[:5] == ["actions-1", "actions-2", "rasa-1", "rasa-2", "balancer"]
    rasa, actions = pools(settings)
    assert rasa.replica_ports == (7001, 7002) and actions.replica_ports == (7101, 7102)
    specs = {p.name: p for p in build_stack(settings, MODEL).processes}
    assert "7002" in specs["rasa-2"].argv and specs["actions-2"].env["LIANGWANG_ACTION_PORT"] == (
        "7102"
    )
    # Rasa itself calls the balancer's address for actions; channels call it for Rasa.
    assert settings.action_url == "http://127.0.0.1:7100/webhook"


def test_replicas_of_one_machine_share_a_lock_file_without_redis() -> None:
    env = lock_store_env(Settings(rasa_replicas=2))
    assert env["LIANGWANG_LOCK_STORE_TYPE"] == SQLITE_LOCK_STORE
    assert env["LIANGWANG_LOCK_STORE_ADDRESS"] == Settings().lock_file_url
    assert lock_store_env(Settings())["LIANGWANG_LOCK_STORE_TYPE"] == "in_memory"
    redis = lock_store_env(Settings(rasa_replicas=2, lock_store_url=REDIS))
    assert redis["LIANGWANG_LOCK_STORE_TYPE"] == "redis"


def test_the_generated_configuration_is_valid_haproxy(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(pools(Settings(rasa_replicas=3, lock_store_url=REDIS))))
    checked = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert config.read_text().count("server rasa-") == 3


# A replica: answers every GET with its own name.
REPLICA = """
import http.server, sys
class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(sys.argv[2].encode())
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Answer).serve_forever()
"""


@pytest.fixture
def balanced(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    front, ports = free_port(), [free_port(), free_port()]
    replicas = [
        subprocess.Popen([sys.executable, "-c", REPLICA, str(port), f"replica-{i}"])
        for i, port in enumerate(ports, start=1)
    ]
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config([Pool("rasa", "127.0.0.1", front, tuple(ports), "/")]))
    proxy = subprocess.Popen(["haproxy", "-db", "-f", str(config)])
    url = f"http://127.0.0.1:{front}/"
    try:
        wait_answering(url, timeout_s=20)
        yield url, replicas
    finally:
        for proc in (proxy, *replicas):
            proc.kill()
            proc.wait()


def test_both_replicas_serve_and_a_dead_one_is_passed_over(
    balanced: tuple[str, list[subprocess.Popen[bytes]]],
) -> None:
    url, replicas = balanced
    time.sleep(1.5)  # both replicas pass their first health check
    served = {httpx.get(url, timeout=5).text for _ in range(10)}
    assert served == {"replica-1", "replica-2"}

    replicas[0].kill()
    replicas[0].wait()
    # Connection refused by the dead one: the request goes to the other, nothing fails.
    answers = [httpx.get(url, timeout=5) for _ in range(10)]
    assert [a.status_code for a in answers] == [200] * 10
    assert {a.text for a in answers} == {"replica-2"}
