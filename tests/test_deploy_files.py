"""deploy/ for more than one machine: every file checked against its published schema and
against the code it runs (no container engine or cluster runs here; see deploy/README.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from contracts.topics import PARTITIONS, TOPICS
from devstack.services import BACKENDS, DEFAULT_PORTS

pytestmark = pytest.mark.unit

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
K8S_VERSION = "1.30.0"
"""The oldest Kubernetes release the manifests are written for."""


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = _yaml(DEPLOY / "compose.yaml")
    return doc


def _k8s_docs() -> list[tuple[str, dict[str, Any]]]:
    return [(p.name, d) for p in sorted((DEPLOY / "k8s").glob("*.yaml"))
            for d in yaml.safe_load_all(p.read_text()) if d]


def test_compose_file_is_valid_against_the_compose_specification(
    compose: dict[str, Any],
) -> None:
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(compose)


def test_compose_schema_check_can_fail(compose: dict[str, Any]) -> None:
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
    broken = {**compose, "services": {**compose["services"], "gateway": {"portz": []}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_kafka_is_three_kraft_brokers_with_rf_3_and_min_isr_2(compose: dict[str, Any]) -> None:
    brokers = {k: v for k, v in compose["services"].items() if k.startswith("kafka-")}
    assert len(brokers) == 3
    for name, svc in brokers.items():
        env = svc["environment"]
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092,BROKER://{name}:9094"
        voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
        assert sorted(v.split("@")[1].split(":")[0] for v in voters) == sorted(brokers)
    assert len({b["environment"]["KAFKA_NODE_ID"] for b in brokers.values()}) == 3
    topics = compose["services"]["topics"]["command"]
    assert topics[topics.index("--replication-factor") + 1] == "3"


def test_erasure_tombstone_topics_are_compacted() -> None:
    compacted = [t.name for t in TOPICS if t.config.get("cleanup.policy") == "compact"]
    assert "accounts.public-profiles.v1" in compacted


def test_compose_runs_every_service_with_the_ports_the_code_uses(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in (*BACKENDS, "gateway"):
        assert services[name]["command"] == ["python", "-m", name]
        assert "/readyz" not in str(services[name])  # readiness is the platform's own
    env = services["gateway"]["environment"]
    for name in BACKENDS:
        assert env[f"GATEWAY_{name.upper()}_URL"] == f"http://{name}:{DEFAULT_PORTS[name]}"
    assert env["GATEWAY_OPS_OPEN"] == "false"  # OPS-1: behind the ops role off the laptop
    assert {"otel-collector", "prometheus", "grafana", "postgres"} <= set(services)
    shared = services["accounts"]["environment"]
    assert shared["MARKET_OTLP_ENDPOINT"].startswith("http://otel-collector:4318")
    assert all(str(v).startswith("${") for k, v in shared.items() if "SECRETS" in k)


def test_prometheus_scrapes_every_service_port(compose: dict[str, Any]) -> None:
    conf = _yaml(DEPLOY / "prometheus" / "prometheus.yml")
    targets = {f"{n['names'][0]}:{n['port']}" for job in conf["scrape_configs"]
               for n in job.get("dns_sd_configs", [])}
    targets |= {t for job in conf["scrape_configs"] for sc in job.get("static_configs", [])
                for t in sc["targets"]}
    metrics_port = compose["services"]["gateway"]["environment"]["GATEWAY_METRICS_PORT"]
    assert targets == {*(f"{n}:{DEFAULT_PORTS[n]}" for n in BACKENDS),
                       f"gateway:{metrics_port}"}


SECRETS_USED = {
    **{name: {"MARKET_PG_PASSWORD", "MARKET_SECRETS_MASTER_KEY", "MARKET_SECRETS_INDEX_KEY",
              "MARKET_SECRETS_INTERNAL_KEY", "MARKET_KAFKA_PASSWORD"} for name in BACKENDS},
    "gateway": {"MARKET_SECRETS_INTERNAL_KEY", "MARKET_KAFKA_PASSWORD"},
    "sealer": {"MARKET_PG_PASSWORD", "MARKET_SECRETS_INDEX_KEY", "MARKET_KAFKA_PASSWORD"},
    "seal-stream-heads": {"MARKET_PG_PASSWORD", "MARKET_SECRETS_INDEX_KEY",
                          "MARKET_KAFKA_PASSWORD"},
    "topics": {"MARKET_KAFKA_PASSWORD"},
}
"""The secrets each component of deploy/ uses, and so is given (issue 26, SEC-2): every
Kafka client logs in as its own principal (SASL/SCRAM, ACLs on its own topics)."""
SECRETS_USED["listings"] = SECRETS_USED["listings"] | {"LISTINGS_TELEPHONY_SECRET"}


def _secret(name: str) -> bool:
    return "SECRET" in name or "PASSWORD" in name


def test_the_gateway_reads_no_secret_but_the_internal_key() -> None:
    """What SECRETS_USED says of the gateway, read from its settings: no database, no root
    secret but the key it signs internal calls with."""
    from gateway.settings import GatewaySettings
    from kernel.internal_auth import InternalAuthSettings
    from kernel.settings import PostgresSettings, SecretsSettings

    nested = {f.annotation for f in GatewaySettings.model_fields.values()}
    assert InternalAuthSettings in nested
    assert not nested & {PostgresSettings, SecretsSettings}


def test_each_compose_component_is_given_only_the_secrets_it_uses(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    given = {name: {k for k in svc.get("environment", {}) if _secret(k)}
             for name, svc in services.items() if name in SECRETS_USED}
    assert given == {k: v for k, v in SECRETS_USED.items() if k in services}
    assert set(given) == {*BACKENDS, "gateway", "sealer", "topics"}


def test_each_kubernetes_workload_is_given_only_the_secrets_it_uses() -> None:
    given = {}
    for _, doc in _k8s_docs():
        spec = doc.get("spec", {})
        pod = (spec.get("jobTemplate", {}).get("spec", spec).get("template", {})
               .get("spec"))
        if not pod:
            continue
        for c in pod["containers"]:
            assert not [e for e in c.get("envFrom", []) if "secretRef" in e]
            given[doc["metadata"]["name"]] = {
                e["name"] for e in c.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {}) or _secret(e["name"])}
    assert given == {k: v for k, v in SECRETS_USED.items() if k != "sealer"}


def test_metrics_are_not_published_beyond_the_internal_network(
    compose: dict[str, Any],
) -> None:
    """Only the gateway's public port and Grafana (behind its log-in) are published; the
    gateway answers /metrics on its own unpublished port; the k8s Services an ingress may
    expose carry no metrics port."""
    services = compose["services"]
    published = {name: svc["ports"] for name, svc in services.items() if svc.get("ports")}
    assert published == {"gateway": ["8000:8000"], "grafana": ["3000:3000"]}
    metrics_port = services["gateway"]["environment"]["GATEWAY_METRICS_PORT"]
    assert metrics_port != "8000"
    docs = [d for _, d in _k8s_docs()]
    (gateway,) = [d for d in docs if d["kind"] == "Deployment"
                  and d["metadata"]["name"] == "gateway"]
    (c,) = gateway["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["GATEWAY_METRICS_PORT"] == metrics_port
    annotations = gateway["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == metrics_port
    for svc in (d for d in docs if d["kind"] == "Service"):
        for port in svc["spec"]["ports"]:
            assert str(port["port"]) != metrics_port and port.get("name") != "metrics"
        assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert not [d for d in docs if d["kind"] == "Ingress"
                and "/metrics" in json.dumps(d)]


def test_grafana_dashboards_query_metrics_the_platform_exports() -> None:
    from gateway.ops import CONSENT_DECISIONS  # noqa: F401 - registers its family
    from kernel.metrics import REGISTRY

    known = set()
    for fam in REGISTRY.collect():
        known |= {fam.name, f"{fam.name}_total", f"{fam.name}_bucket"}
    source = _yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml")
    uids = {d["uid"] for d in source["datasources"]}
    boards = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
    assert boards
    for board in boards:
        dash = json.loads(board.read_text())
        assert dash["uid"] and dash["panels"]
        for panel in dash["panels"]:
            assert panel["datasource"]["uid"] in uids
            for target in panel["targets"]:
                expr = re.sub(r"by \([^)]*\)", "", target["expr"])
                names = set(re.findall(r"\b([a-z_]+)(?:\{|\[|\))", expr))
                assert names and names <= known, (panel["title"], names - known)


def test_otel_collector_pipelines_use_only_defined_components() -> None:
    conf = _yaml(DEPLOY / "otel-collector.yaml")
    for pipeline in conf["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(kind, [])) <= set(conf[kind]), kind


@pytest.mark.parametrize(("name", "doc"), _k8s_docs(),
                         ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_kubernetes_manifest_is_valid_against_the_openapi_schema(
    name: str, doc: dict[str, Any],
) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kubernetes_schema_check_can_fail() -> None:
    _, dep = next((n, d) for n, d in _k8s_docs() if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(dep))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_kubernetes_has_one_deployment_per_service_ready_on_readyz_with_secrets() -> None:
    docs = [d for _, d in _k8s_docs()]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {*BACKENDS, "gateway"}
    for name, dep in deployments.items():
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        assert c["command"] == ["python", "-m", name]
        assert c["ports"][0]["containerPort"] == DEFAULT_PORTS[name]
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        secret_env = {e["name"] for e in c["env"] if "secretKeyRef" in e.get("valueFrom", {})}
        assert secret_env == SECRETS_USED[name]
        assert c["securityContext"]["runAsNonRoot"] is True
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    assert not any("SECRETS" in k or "PASSWORD" in k for k in config["data"])
    assert not [d for d in docs if d["kind"] == "Secret"]  # created by the operator


def test_consumers_scale_by_replicas_up_to_the_partition_count() -> None:
    docs = [d for _, d in _k8s_docs()]
    hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    assert hpas
    for hpa in hpas:
        assert hpa["spec"]["scaleTargetRef"]["name"] in BACKENDS
        assert 1 < hpa["spec"]["maxReplicas"] <= PARTITIONS
    job = next(d for d in docs if d["kind"] == "Job")
    cron = next(d for d in docs if d["kind"] == "CronJob")
    seal = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert seal["command"] == ["marketplace-audit", "seal"]  # AUD-2: heads sealed
    assert "--replication-factor 3" in " ".join(
        job["spec"]["template"]["spec"]["containers"][0]["command"])


def test_the_compose_header_names_every_variable_compose_requires() -> None:
    """A deployer reads the header to write deploy/secrets.env: every `${X:?…}` is in it."""
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    assert required and {v for v in required if v not in header} == set()
