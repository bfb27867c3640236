"""The real manifests pass check_manifests.py, and each deliberately broken copy fails
with the message that names what broke. Needs kubectl (for `kubectl kustomize`)."""

from __future__ import annotations

import base64
import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import check_manifests as cm  # noqa: E402

SPIN_TOML = ROOT / "spin.toml"
KUSTOMIZE = ROOT / "deploy" / "kubernetes"


def build(path: Path) -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not on PATH (scripts/check-deploy.sh installs one)")
    return subprocess.run([kubectl, "kustomize", str(path)], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def dev_docs() -> list[dict]:
    return cm.load_stream(build(KUSTOMIZE / "overlays" / "dev"))


@pytest.fixture(scope="session")
def spin() -> cm.SpinManifest:
    return cm.SpinManifest(SPIN_TOML)


@pytest.fixture(scope="session")
def schema() -> dict:
    import json

    return json.loads(cm.DEFAULT_SCHEMA.read_text())


SIDECAR = cm.SidecarConfig(ROOT / "sidecar" / "src" / "config.rs")


def check(docs, spin, schema) -> list[str]:
    return cm.Checker(docs, spin, schema, sidecar=SIDECAR).run()


def test_dev_overlay_passes(dev_docs, spin, schema):
    assert check(dev_docs, spin, schema) == []


def test_base_passes_without_secrets(spin, schema):
    docs = cm.load_stream(build(KUSTOMIZE / "base"))
    assert not [d for d in docs if d["kind"] == "Secret"]
    assert check(docs, spin, schema) == []


def test_cli_exit_codes(dev_docs, tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump_all(dev_docs))
    assert cm.main([str(good), "--spin-toml", str(SPIN_TOML)]) == 0
    broken = [d for d in dev_docs if d["kind"] != "HorizontalPodAutoscaler"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all(broken))
    assert cm.main([str(bad), "--spin-toml", str(SPIN_TOML)]) == 1
    out = capsys.readouterr().out
    assert "FAIL [hpa] SpinApp/ticketbuster" in out and "1 failure(s)" in out


# ----------------------------------------------------------------------------- breakage


def one(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def app(docs):
    return one(docs, "SpinApp", "ticketbuster")


def worker(docs):
    return one(docs, "SpinApp", "ticketbuster-worker")


def secret(docs):
    return [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"].startswith("ticketbuster-secrets")][0]


def runtime_secret(docs):
    return [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"].startswith("ticketbuster-runtime-config")][0]


def settings(docs):
    return one(docs, "ConfigMap")


def set_secret_value(docs, key, value):
    secret(docs)["data"][key] = base64.b64encode(value.encode()).decode()


def drop(docs, kind, name=None):
    target = one(docs, kind, name)
    docs.remove(target)


def drop_variable(spinapp, name):
    spinapp["spec"]["variables"] = [v for v in spinapp["spec"]["variables"] if v["name"] != name]


def rename_variable(spinapp, old, new):
    for v in spinapp["spec"]["variables"]:
        if v["name"] == old:
            v["name"] = new


def ingress_paths(docs, name):
    return one(docs, "Ingress", name)["spec"]["rules"][0]["http"]["paths"]


def sidecar(docs):
    return one(docs, "Deployment", "ticketbuster-sidecar")


def sidecar_env(docs):
    return sidecar(docs)["spec"]["template"]["spec"]["containers"][0]["env"]


def rename_env(docs, old, new):
    for e in sidecar_env(docs):
        if e["name"] == old:
            e["name"] = new


def drop_env(docs, name):
    env = sidecar_env(docs)
    env[:] = [e for e in env if e["name"] != name]


BROKEN = {
    "spintainer-old-spin": (
        lambda d: one(d, "SpinAppExecutor", "spintainer")["spec"]["deploymentConfig"].update(spinImage="ghcr.io/spinframework/spin:v4.0.2"),
        "[spintainer] SpinAppExecutor/spintainer: spinImage ghcr.io/spinframework/spin:v4.0.2: needs Spin 4.1 or later",
    ),
    "spintainer-untagged-spin": (
        lambda d: one(d, "SpinAppExecutor", "spintainer")["spec"]["deploymentConfig"].update(spinImage="ghcr.io/spinframework/spin"),
        "[spintainer] SpinAppExecutor/spintainer: spinImage ghcr.io/spinframework/spin: needs Spin 4.1 or later",
    ),
    # a: Kubernetes' schemas
    "deployment-unknown-field": (
        lambda d: sidecar(d)["spec"]["template"]["spec"]["containers"][0].update(restartPolicyy="Always"),
        "[kubernetes-schema] Deployment/ticketbuster-sidecar: spec.template.spec.containers.0: Additional properties are not allowed ('restartPolicyy' was unexpected)",
    ),
    "deployment-wrong-type": (
        lambda d: sidecar(d)["spec"].update(replicas="two"),
        "[kubernetes-schema] Deployment/ticketbuster-sidecar: spec.replicas: 'two' is not of type 'integer'",
    ),
    "ingress-missing-backend": (
        lambda d: ingress_paths(d, "ticketbuster")[0].pop("backend"),
        "[kubernetes-schema] Ingress/ticketbuster: spec.rules.0.http.paths.0: 'backend' is a required property",
    ),
    "unknown-kind": (
        lambda d: one(d, "PodDisruptionBudget", "ticketbuster").update(apiVersion="policy/v1beta7"),
        "[kubernetes-schema] PodDisruptionBudget/ticketbuster: unknown kind",
    ),
    # b: SpinKube's schema and webhook
    "spinapp-unknown-field": (
        lambda d: app(d)["spec"].update(replica=3),
        "[spinkube-schema] SpinApp/ticketbuster: spec: Additional properties are not allowed ('replica' was unexpected)",
    ),
    "spinapp-without-metadata": (
        lambda d: app(d).pop("metadata"),
        "[spinkube-schema] SpinApp/?: (top): 'metadata' is a required property",
    ),
    "spinapp-components-not-a-list": (
        lambda d: worker(d)["spec"].update(components="order-worker"),
        "[spinkube-schema] SpinApp/ticketbuster-worker: spec.components: 'order-worker' is not of type 'array'",
    ),
    "spinapp-probe-without-path": (
        lambda d: app(d)["spec"]["checks"]["readiness"]["httpGet"].pop("path"),
        "[spinkube-schema] SpinApp/ticketbuster: spec.checks.readiness.httpGet: 'path' is a required property",
    ),
    "spinapp-without-image": (
        lambda d: app(d)["spec"].pop("image"),
        "[spinkube-schema] SpinApp/ticketbuster: spec: 'image' is a required property",
    ),
    "executor-unknown-otel-field": (
        lambda d: one(d, "SpinAppExecutor", "spintainer")["spec"]["deploymentConfig"]["otel"].update(endpoint="x"),
        "[spinkube-schema] SpinAppExecutor/spintainer: spec.deploymentConfig.otel: Additional properties are not allowed ('endpoint' was unexpected)",
    ),
    "executor-without-createDeployment": (
        lambda d: one(d, "SpinAppExecutor", "spintainer")["spec"].pop("createDeployment"),
        "[spinkube-schema] SpinAppExecutor/spintainer: spec: 'createDeployment' is a required property",
    ),
    "executor-removed": (
        lambda d: drop(d, "SpinAppExecutor", "spintainer"),
        "[webhook] SpinApp/ticketbuster: executor 'spintainer' is not a SpinAppExecutor in namespace ticketbuster",
    ),
    "executor-after-spinapp": (
        lambda d: d.append(d.pop(d.index(one(d, "SpinAppExecutor", "spintainer")))),
        "[webhook] SpinApp/ticketbuster: comes before its executor 'spintainer' in the stream",
    ),
    "executor-not-named": (
        lambda d: app(d)["spec"].pop("executor"),
        "[webhook] SpinApp/ticketbuster: spec.executor is not set",
    ),
    "executor-image-and-runtime-class": (
        lambda d: one(d, "SpinAppExecutor", "spintainer")["spec"]["deploymentConfig"].update(runtimeClassName="wasmtime-spin-v2"),
        "[webhook] SpinAppExecutor/spintainer: deploymentConfig needs exactly one of runtimeClassName and spinImage",
    ),
    "replicas-with-autoscaling": (
        lambda d: app(d)["spec"].update(replicas=3),
        "[webhook] SpinApp/ticketbuster: replicas cannot be set when enableAutoscaling is true",
    ),
    "no-replicas-without-autoscaling": (
        lambda d: worker(d)["spec"].pop("replicas"),
        "[webhook] SpinApp/ticketbuster-worker: replicas must be > 0 unless enableAutoscaling is true",
    ),
    "invocation-memory-above-limit": (
        lambda d: app(d)["spec"].update(invocationLimits={"memory": "2Gi"}),
        "[webhook] SpinApp/ticketbuster: invocationLimits.memory 2Gi exceeds the pod's memory 1Gi",
    ),
    "worker-unknown-component": (
        lambda d: worker(d)["spec"]["components"].append("payments"),
        "[components] SpinApp/ticketbuster-worker: component 'payments' is not in spin.toml",
    ),
    "worker-beside-api": (
        lambda d: worker(d)["spec"]["components"].append("auth"),
        "[components] SpinApp/ticketbuster-worker: runs order-worker beside auth",
    ),
    "worker-autoscaled": (
        lambda d: (worker(d)["spec"].pop("replicas"), worker(d)["spec"].update(enableAutoscaling=True)),
        "[components] SpinApp/ticketbuster-worker: order-worker must not autoscale",
    ),
    "app-lists-untriggered-qr": (
        lambda d: app(d)["spec"]["components"].append("qr"),
        "[components] SpinApp/ticketbuster: component 'qr' has no trigger",
    ),
    "app-runs-everything": (
        lambda d: app(d)["spec"].pop("components"),
        "[components] SpinApp/ticketbuster: no spec.components: it would run every component, order-worker included",
    ),
    "worker-without-http-under-spintainer": (
        lambda d: worker(d)["spec"].update(components=["order-worker"]),
        "[spintainer] SpinApp/ticketbuster-worker: runs no HTTP component",
    ),
    "spintainer-without-runtime-config": (
        lambda d: worker(d)["spec"].pop("runtimeConfig"),
        "[spintainer] SpinApp/ticketbuster-worker: no runtimeConfig",
    ),
    # c: variables
    "required-variable-dropped": (
        lambda d: drop_variable(worker(d), "jwt_secret"),
        "[variables] SpinApp/ticketbuster-worker: required variable 'jwt_secret' is not set",
    ),
    "undeclared-variable": (
        lambda d: rename_variable(app(d), "trusted_proxies", "trusted_proxy"),
        "[variables] SpinApp/ticketbuster: variable 'trusted_proxy' is not declared in spin.toml",
    ),
    "loopback-default-left": (
        lambda d: drop_variable(worker(d), "redis_url"),
        "[variables] SpinApp/ticketbuster-worker: variable 'redis_url', used by order-worker, is not set and defaults to loopback",
    ),
    "variable-twice": (
        lambda d: worker(d)["spec"]["variables"].append({"name": "worker_batch_size", "value": "10"}),
        "[variables] SpinApp/ticketbuster-worker: variable 'worker_batch_size' is set more than once",
    ),
    # references, values, runtime config
    "secret-reference-not-rewritten": (
        lambda d: sidecar(d)["spec"]["template"]["spec"]["containers"][0]["env"][1]["valueFrom"]["secretKeyRef"].update(name="ticketbuster-secrets"),
        "[references] Deployment/ticketbuster-sidecar: Secret 'ticketbuster-secrets' is not in the stream (the stream has ticketbuster-secrets-",
    ),
    "secret-key-missing": (
        lambda d: secret(d)["data"].pop("ticket_signing_key"),
        "[references] SpinApp/ticketbuster: Secret 'ticketbuster-secrets-",
    ),
    "configmap-key-missing": (
        lambda d: settings(d)["data"].pop("worker_batch_size"),
        "has no key 'worker_batch_size'",
    ),
    "db-host-mismatch": (
        lambda d: set_secret_value(d, "db_host", "postgres.elsewhere.invalid:5432"),
        "is not the host:port of db_url (postgres.placeholder.invalid:5432)",
    ),
    "runtime-config-without-store": (
        lambda d: runtime_secret(d)["data"].update({"runtime-config.toml": base64.b64encode(b"[key_value_store.cache]\ntype = 'redis'\nurl = 'redis://r.invalid'\n").decode()}),
        "[runtime-config] SpinApp/ticketbuster: key-value store 'default' is not configured",
    ),
    # d: routes
    "ingress-root-rule-removed": (
        lambda d: one(d, "Ingress", "ticketbuster")["spec"]["rules"][0]["http"].update(paths=[]),
        "[routes] stream: route /api/auth/... (auth): no Ingress rule takes /api/auth on host ticketbuster.localtest.me",
    ),
    "ingress-ws-rule-removed": (
        lambda d: drop(d, "Ingress", "ticketbuster-ws"),
        "[routes] stream: /ws on host ticketbuster.localtest.me goes to Service ticketbuster, not to the sidecar's Service",
    ),
    "ingress-api-to-sidecar": (
        lambda d: ingress_paths(d, "ticketbuster-ws").append(
            {"path": "/api/orders", "pathType": "Prefix", "backend": {"service": {"name": "ticketbuster-sidecar", "port": {"number": 3001}}}}
        ),
        "[routes] stream: route /api/orders/... (orders): /api/orders on host ticketbuster.localtest.me goes to Service ticketbuster-sidecar, not to a SpinApp",
    ),
    "ingress-wrong-port": (
        lambda d: ingress_paths(d, "ticketbuster")[0]["backend"]["service"].update(port={"number": 8080}),
        "[routes] Ingress/ticketbuster: backend Service 'ticketbuster' has no port 8080",
    ),
    "ingress-unknown-service": (
        lambda d: ingress_paths(d, "ticketbuster-ws")[0]["backend"]["service"].update(name="sidecar"),
        "[routes] Ingress/ticketbuster-ws: backend Service 'sidecar' does not exist",
    ),
    "ingress-implementation-specific": (
        lambda d: ingress_paths(d, "ticketbuster-ws")[0].update(pathType="ImplementationSpecific"),
        "[routes] Ingress/ticketbuster-ws: path '/ws': pathType 'ImplementationSpecific' depends on the controller",
    ),
    "app-without-orders": (
        lambda d: app(d)["spec"]["components"].remove("orders"),
        "[routes] SpinApp/ticketbuster: route /api/orders/...: /api/orders on host ticketbuster.localtest.me reaches this SpinApp, which does not run orders (web would answer)",
    ),
    "service-shadowing-spinapp": (
        lambda d: d.append(
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ticketbuster", "namespace": "ticketbuster"},
             "spec": {"selector": {cm.APP_NAME_LABEL: "ticketbuster"}, "ports": [{"port": 80, "targetPort": "http-app"}]}}
        ),
        "[routes] Service/ticketbuster: clashes with the Service spin-operator makes for SpinApp ticketbuster",
    ),
    "websocket-url-empty": (
        lambda d: settings(d)["data"].update(websocket_url=""),
        "[routes] SpinApp/ticketbuster: websocket_url is empty",
    ),
    "websocket-url-other-host": (
        lambda d: settings(d)["data"].update(websocket_url="wss://tickets.example.com/ws"),
        "[routes] SpinApp/ticketbuster: websocket_url 'wss://tickets.example.com/ws': host tickets.example.com is not an Ingress host",
    ),
    "websocket-url-wrong-path": (
        lambda d: settings(d)["data"].update(websocket_url="ws://ticketbuster.localtest.me/socket"),
        "[routes] SpinApp/ticketbuster: websocket_url 'ws://ticketbuster.localtest.me/socket' does not reach the sidecar",
    ),
    # selectors and probes
    "service-selector-typo": (
        lambda d: one(d, "Service", "ticketbuster-sidecar")["spec"].update(selector={"app.kubernetes.io/name": "sidecar"}),
        "[selectors] Service/ticketbuster-sidecar: its selector matches no workload's pods",
    ),
    "service-target-port-unknown": (
        lambda d: one(d, "Service", "ticketbuster-sidecar")["spec"]["ports"][0].update(targetPort="web"),
        "[selectors] Service/ticketbuster-sidecar: targetPort 'web' is not a port of Deployment/ticketbuster-sidecar",
    ),
    "pdb-selects-nothing": (
        lambda d: one(d, "PodDisruptionBudget", "ticketbuster-worker")["spec"]["selector"]["matchLabels"].update({cm.APP_NAME_LABEL: "worker"}),
        "[selectors] PodDisruptionBudget/ticketbuster-worker: its selector matches no workload's pods",
    ),
    "probe-to-missing-component": (
        lambda d: worker(d)["spec"].update(checks={"liveness": {"httpGet": {"path": "/app-config.json"}}}),
        "[probes] SpinApp/ticketbuster-worker: liveness probe /app-config.json: no component this SpinApp runs serves it",
    ),
    # e: HPA
    "hpa-removed": (
        lambda d: drop(d, "HorizontalPodAutoscaler"),
        "[hpa] SpinApp/ticketbuster: enableAutoscaling but no HorizontalPodAutoscaler targets Deployment ticketbuster",
    ),
    "hpa-targets-spinapp": (
        lambda d: one(d, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"].update(apiVersion="core.spinkube.dev/v1alpha1", kind="SpinApp"),
        "[hpa] HorizontalPodAutoscaler/ticketbuster: targets the SpinApp, which has no scale subresource",
    ),
    "hpa-on-fixed-worker": (
        lambda d: one(d, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"].update(name="ticketbuster-worker"),
        "[hpa] HorizontalPodAutoscaler/ticketbuster: scales SpinApp ticketbuster-worker, whose replicas are fixed",
    ),
    # the sidecar's environment
    "sidecar-env-typo": (
        lambda d: rename_env(d, "REDIS_URL", "REDIS_URI"),
        "[sidecar-env] Deployment/ticketbuster-sidecar: container sidecar: REDIS_URI is not read by config.rs",
    ),
    "sidecar-env-loopback-default": (
        lambda d: drop_env(d, "DATABASE_URL"),
        "[sidecar-env] Deployment/ticketbuster-sidecar: container sidecar: DATABASE_URL is not set and defaults to loopback",
    ),
    "sidecar-env-required-missing": (
        lambda d: drop_env(d, "JWT_SECRET"),
        "[sidecar-env] Deployment/ticketbuster-sidecar: container sidecar: JWT_SECRET is required and not set",
    ),
    "sidecar-listen-port-mismatch": (
        lambda d: sidecar_env(d)[0].update(value="0.0.0.0:3002"),
        "[sidecar-env] Deployment/ticketbuster-sidecar: container sidecar: SIDECAR_LISTEN 0.0.0.0:3002 is on no port the container declares",
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_copy_fails(name, dev_docs, spin, schema):
    docs = copy.deepcopy(dev_docs)
    breaker, expected = BROKEN[name]
    breaker(docs)
    failures = check(docs, spin, schema)
    assert any(expected in f for f in failures), "\n".join(failures) or "no failure"


# ----------------------------------------------------------------------------- semantics


@pytest.mark.parametrize(
    "path, component",
    [
        ("/api/events/7/holds", "seat-lock"),
        ("/api/events/7", "catalog"),
        ("/api/events", "catalog"),
        ("/api/health/worker", "health"),
        ("/api/tickets/abc", "orders"),
        ("/", "web"),
        ("/app-config.json", "web"),
        ("/ws", "web"),
    ],
)
def test_spin_routing_follows_spin_precedence(path, component, spin):
    assert cm.spin_route(spin.http_routes, path).component == component


@pytest.mark.parametrize(
    "prefix, path, matches",
    [("/ws", "/ws", True), ("/ws", "/ws/x", True), ("/ws", "/wsx", False), ("/", "/anything", True), ("/api/", "/api", True)],
)
def test_ingress_prefix_is_element_wise(prefix, path, matches):
    assert cm.prefix_matches(prefix, path) is matches


def test_websocket_off_is_accepted(dev_docs, spin, schema):
    docs = copy.deepcopy(dev_docs)
    settings(docs)["data"]["websocket_url"] = "off"
    assert check(docs, spin, schema) == []


def test_every_required_variable_is_known(spin):
    assert {"jwt_secret", "ticket_signing_key"} <= set(spin.required_variables())
