"""docker-compose.yml: Prometheus scrapes every service's /metrics with an operator token from a file,
Grafana is provisioned from files in the repo, and every metric the dashboard plots exists."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from liveshop.shared.metrics import ServiceMetrics
from tests.unit.infra.test_compose import ROOT, SERVICES, mounts, services


def _yaml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def _mounted(svc: dict[str, Any], target: str) -> dict[str, Any]:
    (m,) = [m for m in mounts(svc) if m["target"] == target]
    return m


def test_prometheus_scrapes_every_service_with_an_operator_token_file() -> None:
    c = services()
    prom = c["prometheus"]
    config_mount = _mounted(prom, "/etc/prometheus/prometheus.yml")
    assert config_mount["read_only"] is True
    config = _yaml(ROOT / config_mount["source"])
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    port = c["order"]["environment"]["HTTP_PORT"]
    assert targets == {f"{name}:{port}" for name in SERVICES}, "every service, on its container port"
    auth = job["authorization"]
    assert auth.get("type", "Bearer") == "Bearer" and "credentials" not in auth, "never a token in the repo"
    token = _mounted(prom, auth["credentials_file"])
    assert token["source"].removeprefix("./").startswith(".liveshop/auth/"), "made on the host, git-ignored"
    assert token["read_only"] is True and token.get("bind", {}).get("create_host_path") is False
    assert set(prom["depends_on"]) >= set(SERVICES)
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]


def test_grafana_is_provisioned_from_the_repo() -> None:
    c = services()
    graf = c["grafana"]
    prov = _mounted(graf, "/etc/grafana/provisioning")
    dashboards = _mounted(graf, "/var/lib/grafana/dashboards")
    assert prov["read_only"] and dashboards["read_only"]
    assert graf["depends_on"] == {"prometheus": {"condition": "service_healthy"}}
    root = ROOT / prov["source"]
    (source,) = _yaml(root / "datasources" / "prometheus.yml")["datasources"]
    prom_port = c["prometheus"]["ports"][0].rsplit(":", 1)[1]
    assert source["type"] == "prometheus" and source["url"] == f"http://prometheus:{prom_port}"
    (provider,) = _yaml(root / "dashboards" / "liveshop.yml")["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    files = sorted((ROOT / dashboards["source"]).glob("*.json"))
    assert files, "a dashboard file"
    for f in files:
        dash = json.loads(f.read_text(encoding="utf-8"))
        for panel in dash["panels"]:
            assert panel["datasource"]["uid"] == source["uid"], f"{f.name}: {panel['title']}"


def _exposed_names() -> set[str]:
    """Every sample name a service exposes (histograms with their suffixes)."""
    from prometheus_client.parser import text_string_to_metric_families

    class Pool:
        def get_size(self) -> int:
            return 1

        get_idle_size = get_max_size = get_size

    m = ServiceMetrics(SimpleNamespace(service="x", runners={}, pool=Pool(), replay_mode=False))
    m._outbox = (0, 0, 0.0)
    m.http_duration.labels("GET", "/", "200").observe(0)
    m.observe_publish(0, ["t"])
    from prometheus_client.exposition import generate_latest

    names = {s.name for f in text_string_to_metric_families(generate_latest(m.registry).decode()) for s in f.samples}
    # counters the runners add at scrape time
    return names | {
        "liveshop_consumer_events_total",
        "liveshop_consumer_retries_total",
        "liveshop_consumer_dead_lettered_total",
        "liveshop_consumer_lag",
    }


def test_every_metric_on_the_dashboard_exists() -> None:
    exposed = _exposed_names()
    for f in (ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"):
        for panel in json.loads(f.read_text(encoding="utf-8"))["panels"]:
            for target in panel["targets"]:
                for name in re.findall(r"\bliveshop_[a-z_]+", target["expr"]):
                    assert name in exposed, f"{f.name} / {panel['title']}: {name} is not exposed"


def test_the_scrape_token_file_is_never_committed_nor_in_an_image() -> None:
    gitignore = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".liveshop/" in gitignore and ".liveshop" in dockerignore
