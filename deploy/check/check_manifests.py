#!/usr/bin/env python3
"""Checks a built Kubernetes manifest stream (`kubectl kustomize <dir>`) against
Kubernetes' schemas, SpinKube's, and TicketBuster's spin.toml.

    kubectl kustomize deploy/kubernetes/overlays/dev | \\
        python3 deploy/check/check_manifests.py --spin-toml spin.toml -

Every failure is printed as `FAIL [check] Kind/name: message`; the exit status is 1 if
there is any. The checks:

  kubernetes-schema  built-in kinds against the Kubernetes JSON schemas of one version,
                     strict (unknown fields fail), with kubernetes-validate
  spinkube-schema    SpinApp and SpinAppExecutor against spinkube-schema.json (from
                     spin-operator's CRDs)
  webhook            the operator's admission rules: executor named and present in the
                     namespace (and earlier in the stream, as `kubectl apply` goes in order),
                     replicas > 0 xor enableAutoscaling, an executor's runtimeClassName xor
                     spinImage, invocation memory within resources
  components         SpinApp components exist in spin.toml and have a trigger; order-worker
                     runs with fixed replicas, beside nothing but `health`
  spintainer         a SpinApp on a spinImage executor runs an HTTP component (the executor
                     always passes --listen, which only Spin's HTTP trigger accepts) and
                     has a runtime config (it always passes --runtime-config-file); the
                     spinImage is Spin 4.1 or later (`vX.Y.Z` tag) or `canary`: older Spins
                     cannot run components built for the final WASI 0.3.0
  variables          what SpinApps set is declared in spin.toml, once; every required
                     variable is set by every SpinApp (Spin refuses to start otherwise,
                     whichever components run); variables whose default is a loopback
                     address are set where a component that runs uses them
  references         Secret and ConfigMap references (SpinApp variables and runtime config,
                     env of Deployments and Jobs) name objects and keys in the stream; only
                     checked when the stream holds objects of that kind at all, since a
                     base may leave its Secrets to the cluster
  secret-values      within a Secret in the stream: db_host and redis_host are the
                     host:port of db_url and redis_url; database_url reaches the same server
  runtime-config     a runtime config in the stream configures every key-value store the
                     components that run use
  routes             every HTTP route of spin.toml, through the Ingresses, reaches a SpinApp
                     that runs the component spin.toml routes it to (the same one Spin would
                     pick among the components retained); /ws reaches the sidecar; the
                     backends exist with the ports named; websocket_url points at /ws
  selectors          Services and PodDisruptionBudgets select some workload's pods, and a
                     Service's targetPort is a port those pods declare
  probes             a SpinApp's probe paths go to a component it runs
  hpa                every autoscaled SpinApp's Deployment (named after it) has an HPA, and
                     no HPA scales a SpinApp with fixed replicas
  sidecar-env        the sidecar's containers (those setting SIDECAR_LISTEN or running an
                     image named *sidecar*) set only variables sidecar/src/config.rs reads,
                     every one it requires, and those whose default is a loopback address;
                     SIDECAR_LISTEN's port is a port of the container
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import yaml

HERE = Path(__file__).resolve().parent
DEFAULT_SCHEMA = HERE / "spinkube-schema.json"
DEFAULT_KUBERNETES_VERSION = "1.33"

SPINKUBE_GROUP = "core.spinkube.dev"
# What spin-operator puts on a SpinApp's pods, Deployment and Service (pkg/spinapp).
APP_NAME_LABEL = "core.spinkube.dev/app-name"
APP_PORT = 80
APP_PORT_NAME = "http-app"
WORKER = "order-worker"
# Beside the worker: only to give Spin an HTTP trigger for the spintainer's --listen.
WORKER_COMPANIONS = {"health"}
RUNTIME_CONFIG_KEY = "runtime-config.toml"
LOOPBACK = re.compile(r"(^|[/@=\s])(127\.0\.0\.1|localhost|\[::1\])([:/\s]|$)")
TEMPLATE_VAR = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}")


# ----------------------------------------------------------------------------- spin.toml


@dataclass
class Route:
    route: str
    component: str
    prefix: tuple[str, ...]
    wildcard: bool

    @staticmethod
    def parse(route: str, component: str) -> Route:
        wildcard = route == "/..." or route.endswith("/...")
        body = route[: -len("/...")] if wildcard else route
        return Route(route, component, tuple(s for s in body.split("/") if s), wildcard)

    def matches(self, segments: tuple[str, ...]) -> bool:
        if len(segments) < len(self.prefix) or (not self.wildcard and len(segments) != len(self.prefix)):
            return False
        return all(p.startswith(":") or p == s for p, s in zip(self.prefix, segments, strict=False))

    def rank(self) -> tuple[int, ...]:
        # Spin's router (routefinder): segment by segment, exact before parameter before
        # wildcard; a route that ends there (exact) before one that continues.
        ranks = [1 if p.startswith(":") else 0 for p in self.prefix]
        return tuple(ranks + [2 if self.wildcard else -1])

    def samples(self) -> list[str]:
        """Concrete paths this route must serve."""
        base = "/" + "/".join("1" if p.startswith(":") else p for p in self.prefix)
        if not self.wildcard:
            return [base]
        deeper = base.rstrip("/") + "/x"
        return [base, deeper]


def spin_route(routes: list[Route], path: str) -> Route | None:
    segments = tuple(s for s in path.split("?")[0].split("/") if s)
    matching = [r for r in routes if r.matches(segments)]
    return min(matching, key=Route.rank) if matching else None


class SpinManifest:
    def __init__(self, path: Path):
        with open(path, "rb") as f:
            self.raw = tomllib.load(f)
        self.path = path
        self.variables: dict = self.raw.get("variables", {})
        self.components: dict = self.raw.get("component", {})
        self.triggers: dict[str, list[tuple[str, dict]]] = {}  # component -> [(type, config)]
        self.http_routes: list[Route] = []
        for trigger_type, entries in self.raw.get("trigger", {}).items():
            for entry in entries:
                component = entry.get("component")
                if not isinstance(component, str):
                    raise SystemExit(f"{path}: only `component = \"id\"` triggers are understood")
                self.triggers.setdefault(component, []).append((trigger_type, entry))
                if trigger_type == "http" and isinstance(entry.get("route"), str):
                    self.http_routes.append(Route.parse(entry["route"], component))
        self.app_trigger_config: dict = self.raw.get("application", {}).get("trigger", {})

    def required_variables(self) -> list[str]:
        return sorted(n for n, v in self.variables.items() if v.get("required") or "default" not in v)

    def http_components(self) -> set[str]:
        return {r.component for r in self.http_routes}

    def variables_used_by(self, component: str) -> set[str]:
        used: set[str] = set()
        texts: list[str] = []
        spec = self.components.get(component, {})
        texts += [str(v) for v in spec.get("variables", {}).values()]
        texts += [str(v) for v in spec.get("allowed_outbound_hosts", [])]
        for trigger_type, entry in self.triggers.get(component, []):
            texts += [str(v) for v in entry.values()]
            texts += [str(v) for v in self.app_trigger_config.get(trigger_type, {}).values()]
        for text in texts:
            used.update(TEMPLATE_VAR.findall(text))
        return used

    def key_value_stores_of(self, component: str) -> set[str]:
        return set(self.components.get(component, {}).get("key_value_stores", []))


class SidecarConfig:
    """The environment variables sidecar/src/config.rs reads: all names, the required
    ones (looked up with no default), and the defaults given as literals or constants."""

    def __init__(self, path: Path):
        text = path.read_text()
        self.path = path
        consts = dict(re.findall(r'const ([A-Z_]+): &str = "([^"]*)"', text))
        self.names = set(re.findall(r'"([A-Z][A-Z0-9_]*)"', text)) - set(consts.values())
        self.required = set(re.findall(r'lookup\(\s*"([A-Z0-9_]+)"\s*\)\s*\.context', text))
        self.defaults: dict[str, str] = {}
        for name, literal, const in re.findall(r'text\(\s*"([A-Z0-9_]+)",\s*(?:"([^"]*)"|Self::([A-Z_]+))', text):
            self.defaults[name] = literal or consts.get(const, "")


# ----------------------------------------------------------------------------- manifests

# The first Spin whose HTTP trigger speaks the final WASI 0.3.0 interface of spin-sdk 7.
MIN_SPIN = (4, 1)


def spin_image_is_recent(image: str) -> bool:
    """A Spin image tagged `canary` (built from main) or `vX.Y.Z` at MIN_SPIN or later."""
    tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
    if tag == "canary":
        return True
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.\d+", tag)
    return bool(match) and (int(match[1]), int(match[2])) >= MIN_SPIN


def kind_name(doc: dict) -> str:
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"


def namespace_of(doc: dict) -> str | None:
    return (doc.get("metadata") or {}).get("namespace")


def load_stream(text: str) -> list[dict]:
    docs = []
    for doc in yaml.safe_load_all(text):
        if doc is None:
            continue
        if doc.get("kind", "").endswith("List") and "items" in doc:
            docs.extend(doc["items"])
        else:
            docs.append(doc)
    return docs


QUANTITY = re.compile(r"^([+-]?[0-9.]+)([a-zA-Z]*)$")
SUFFIXES = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "m": Decimal("0.001")}


def quantity(value) -> Decimal | None:
    match = QUANTITY.match(str(value))
    if not match or match.group(2) not in SUFFIXES:
        return None
    return Decimal(match.group(1)) * Decimal(SUFFIXES[match.group(2)])


@dataclass
class Backend:
    """A Service: one in the stream, or the one spin-operator makes for a SpinApp."""

    name: str
    namespace: str | None
    ports: list[dict]
    spinapp: dict | None = None
    service: dict | None = None


@dataclass
class Checker:
    docs: list[dict]
    spin: SpinManifest
    schema: dict
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    sidecar: SidecarConfig | None = None
    failures: list[str] = field(default_factory=list)

    def fail(self, check: str, doc: dict | str | None, message: str) -> None:
        where = kind_name(doc) if isinstance(doc, dict) else (doc or "stream")
        line = f"FAIL [{check}] {where}: {message}"
        if line not in self.failures:
            self.failures.append(line)

    def of_kind(self, kind: str) -> list[dict]:
        return [d for d in self.docs if d.get("kind") == kind]

    def find(self, kind: str, name: str, namespace: str | None) -> dict | None:
        for doc in self.of_kind(kind):
            if (doc.get("metadata") or {}).get("name") == name and namespace_of(doc) == namespace:
                return doc
        return None

    def position(self, doc: dict) -> int:
        return next(i for i, d in enumerate(self.docs) if d is doc)

    @property
    def spinapps(self) -> list[dict]:
        return [d for d in self.of_kind("SpinApp") if isinstance(d.get("spec"), dict)]

    @staticmethod
    def components_of(app: dict) -> list[str] | None:
        return app["spec"].get("components")

    def runs(self, app: dict) -> set[str]:
        """Components Spin keeps for this SpinApp: those named that have a trigger."""
        named = self.components_of(app)
        triggered = set(self.spin.triggers)
        return triggered if named is None else set(named) & triggered

    def executor_of(self, app: dict) -> dict | None:
        name = app["spec"].get("executor")
        return self.find("SpinAppExecutor", name, namespace_of(app)) if name else None

    def run(self) -> list[str]:
        for check in (
            self.check_kubernetes_schema,
            self.check_spinkube_schema,
            self.check_webhook,
            self.check_components,
            self.check_spintainer,
            self.check_variables,
            self.check_references,
            self.check_secret_values,
            self.check_runtime_config,
            self.check_routes,
            self.check_selectors,
            self.check_probes,
            self.check_hpa,
            self.check_sidecar_env,
        ):
            try:
                check()
            except Exception as e:  # a document too broken for a check must not hide the others
                self.fail(check.__name__.removeprefix("check_").replace("_", "-"), None, f"could not be completed: {type(e).__name__}: {e}")
        return self.failures

    # -- a: Kubernetes' own schemas

    def check_kubernetes_schema(self) -> None:
        import kubernetes_validate

        for doc in self.docs:
            if not isinstance(doc.get("apiVersion"), str) or not isinstance(doc.get("kind"), str):
                self.fail("kubernetes-schema", doc, "no apiVersion or kind")
                continue
            if doc["apiVersion"].split("/")[0] == SPINKUBE_GROUP:
                continue
            try:
                kubernetes_validate.validate(doc, self.kubernetes_version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path) or "(top)"
                self.fail("kubernetes-schema", doc, f"{path}: {e.message} (Kubernetes {e.version}, strict)")
            except kubernetes_validate.SchemaNotFoundError as e:
                self.fail("kubernetes-schema", doc, f"unknown kind: {e.message}")
            except Exception as e:
                self.fail("kubernetes-schema", doc, f"could not be validated: {type(e).__name__}: {e}")

    # -- b: SpinKube

    def check_spinkube_schema(self) -> None:
        defs = self.schema["$defs"]
        for doc in self.docs:
            kind = doc.get("kind")
            api = str(doc.get("apiVersion", ""))
            if api.split("/")[0] != SPINKUBE_GROUP:
                continue
            if kind not in defs:
                self.fail("spinkube-schema", doc, f"unknown SpinKube kind {kind!r}")
                continue
            subschema = {"$defs": defs, **defs[kind]}
            validator = jsonschema.Draft202012Validator(subschema)
            for error in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
                path = ".".join(str(p) for p in error.absolute_path) or "(top)"
                self.fail("spinkube-schema", doc, f"{path}: {error.message}")

    def check_webhook(self) -> None:
        for executor in self.of_kind("SpinAppExecutor"):
            config = (executor.get("spec") or {}).get("deploymentConfig")
            if isinstance(config, dict):
                has_class, has_image = "runtimeClassName" in config, "spinImage" in config
                if has_class == has_image:
                    self.fail("webhook", executor, "deploymentConfig needs exactly one of runtimeClassName and spinImage")
            elif (executor.get("spec") or {}).get("createDeployment"):
                self.fail("webhook", executor, "createDeployment needs a deploymentConfig (runtimeClassName or spinImage)")
        for app in self.spinapps:
            spec = app["spec"]
            name = spec.get("executor")
            if not name:
                self.fail("webhook", app, "spec.executor is not set: the webhook would pick the first executor alphabetically")
            elif self.executor_of(app) is None:
                self.fail("webhook", app, f"executor {name!r} is not a SpinAppExecutor in namespace {namespace_of(app)}")
            elif self.position(self.executor_of(app)) > self.position(app):
                self.fail("webhook", app, f"comes before its executor {name!r} in the stream: `kubectl apply` would create it first and the webhook refuse it (kustomize sortOptions)")
            replicas = spec.get("replicas", 0)
            if spec.get("enableAutoscaling"):
                if replicas:
                    self.fail("webhook", app, "replicas cannot be set when enableAutoscaling is true")
            elif not isinstance(replicas, int) or replicas < 1:
                self.fail("webhook", app, "replicas must be > 0 unless enableAutoscaling is true")
            memory = (spec.get("invocationLimits") or {}).get("memory")
            if memory is not None:
                limit = quantity(memory)
                resources = spec.get("resources") or {}
                bound = (resources.get("limits") or {}).get("memory") or (resources.get("requests") or {}).get("memory")
                if limit is None:
                    self.fail("webhook", app, f"invocationLimits.memory {memory!r} is not a quantity")
                elif bound is not None and quantity(bound) is not None and limit > quantity(bound):
                    self.fail("webhook", app, f"invocationLimits.memory {memory} exceeds the pod's memory {bound}")

    def check_components(self) -> None:
        declared = set(self.spin.components)
        for app in self.spinapps:
            named = self.components_of(app)
            if named is None:
                if WORKER in self.spin.triggers:
                    self.fail("components", app, f"no spec.components: it would run every component, {WORKER} included")
                continue
            if not isinstance(named, list):
                continue
            for component in named:
                if component not in declared:
                    self.fail("components", app, f"component {component!r} is not in {self.spin.path.name}")
                elif component not in self.spin.triggers:
                    self.fail("components", app, f"component {component!r} has no trigger: Spin drops it (a dependency comes with its user)")
            if len(set(named)) != len(named):
                self.fail("components", app, "a component is listed twice")
            if WORKER in named:
                others = sorted(set(named) - {WORKER} - WORKER_COMPANIONS)
                if others:
                    self.fail("components", app, f"runs {WORKER} beside {', '.join(others)}: the worker's SpinApp must run only {WORKER} (and health)")
                if app["spec"].get("enableAutoscaling"):
                    self.fail("components", app, f"{WORKER} must not autoscale: every replica receives every message")

    def check_spintainer(self) -> None:
        http = self.spin.http_components()
        for app in self.spinapps:
            executor = self.executor_of(app)
            config = ((executor or {}).get("spec") or {}).get("deploymentConfig") or {}
            if "spinImage" not in config:
                continue
            image = str(config["spinImage"])
            if not spin_image_is_recent(image):
                self.fail("spintainer", executor, f"spinImage {image}: needs Spin {MIN_SPIN[0]}.{MIN_SPIN[1]} or later (a vX.Y.Z tag) or canary")
            if not (self.runs(app) & http):
                self.fail("spintainer", app, "runs no HTTP component: the spintainer passes `--listen`, which Spin rejects without an HTTP trigger")
            runtime = app["spec"].get("runtimeConfig") or {}
            if not any(runtime.get(k) for k in ("loadFromSecret", "keyValueStores", "sqliteDatabases", "llmCompute")):
                self.fail("spintainer", app, "no runtimeConfig: the spintainer passes `--runtime-config-file /runtime-config.toml`, which would not exist")

    # -- c: variables

    def check_variables(self) -> None:
        declared = self.spin.variables
        required = self.spin.required_variables()
        for app in self.spinapps:
            entries = app["spec"].get("variables") or []
            names = [v.get("name") for v in entries if isinstance(v, dict)]
            for name in sorted({n for n in names if names.count(n) > 1}):
                self.fail("variables", app, f"variable {name!r} is set more than once")
            for name in names:
                if name not in declared:
                    self.fail("variables", app, f"variable {name!r} is not declared in {self.spin.path.name}")
            for name in required:
                if name not in names:
                    self.fail("variables", app, f"required variable {name!r} is not set (Spin will not start without it)")
            for component in sorted(self.runs(app)):
                for name in sorted(self.spin.variables_used_by(component)):
                    default = str(declared.get(name, {}).get("default", ""))
                    if name not in names and LOOPBACK.search(default):
                        self.fail("variables", app, f"variable {name!r}, used by {component}, is not set and defaults to loopback ({default})")

    # -- references to Secrets and ConfigMaps

    def references(self):
        """(doc, kind, name, key or None, optional) for every Secret/ConfigMap reference."""

        def from_env(doc, env_list):
            for env in env_list or []:
                source = (env or {}).get("valueFrom") or {}
                for ref_field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                    ref = source.get(ref_field)
                    if isinstance(ref, dict):
                        yield doc, kind, ref.get("name"), ref.get("key"), bool(ref.get("optional"))

        for app in self.spinapps:
            yield from from_env(app, app["spec"].get("variables"))
            secret = (app["spec"].get("runtimeConfig") or {}).get("loadFromSecret")
            if secret:
                # The operator mounts it optional, but Spin fails without the file.
                yield app, "Secret", secret, RUNTIME_CONFIG_KEY, False
        for doc in self.docs:
            template = pod_template(doc)
            if template is None:
                continue
            spec = template.get("spec") or {}
            for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                yield from from_env(doc, container.get("env"))
                for source in container.get("envFrom") or []:
                    for ref_field, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                        ref = source.get(ref_field)
                        if isinstance(ref, dict):
                            yield doc, kind, ref.get("name"), None, bool(ref.get("optional"))

    def check_references(self) -> None:
        for doc, kind, name, key, optional in self.references():
            present = self.of_kind(kind)
            if not present:
                continue  # left to the cluster
            target = self.find(kind, name, namespace_of(doc))
            if target is None:
                if optional:
                    continue
                hashed = [d["metadata"]["name"] for d in present if d["metadata"]["name"].startswith(f"{name}-")]
                hint = f" (the stream has {', '.join(hashed)}: a reference kustomize did not rewrite)" if hashed else ""
                self.fail("references", doc, f"{kind} {name!r} is not in the stream{hint}")
            elif key is not None and key not in object_keys(target) and not optional:
                self.fail("references", doc, f"{kind} {name!r} has no key {key!r}")

    def check_secret_values(self) -> None:
        for secret in self.of_kind("Secret"):
            data = object_data(secret)
            for url_key, host_key in (("db_url", "db_host"), ("redis_url", "redis_host")):
                if url_key in data and host_key in data:
                    found = host_port(data[url_key])
                    if found != data[host_key].strip():
                        self.fail("secret-values", secret, f"{host_key} {data[host_key]!r} is not the host:port of {url_key} ({found}): allowed_outbound_hosts would refuse it")
            if "database_url" in data and "db_host" in data:
                found = host_port(data["database_url"])
                if found != data["db_host"].strip():
                    self.fail("secret-values", secret, f"database_url reaches {found}, the components {data['db_host']!r}")

    def check_runtime_config(self) -> None:
        for app in self.spinapps:
            stores_used = set()
            for component in self.runs(app):
                stores_used |= self.spin.key_value_stores_of(component)
            runtime = app["spec"].get("runtimeConfig") or {}
            configured = {s.get("name") for s in runtime.get("keyValueStores") or []}
            secret_name = runtime.get("loadFromSecret")
            if secret_name:
                secret = self.find("Secret", secret_name, namespace_of(app))
                if secret is None:
                    continue
                text = object_data(secret).get(RUNTIME_CONFIG_KEY)
                if text is None:
                    continue  # reported by references
                try:
                    parsed = tomllib.loads(text)
                except tomllib.TOMLDecodeError as e:
                    self.fail("runtime-config", secret, f"{RUNTIME_CONFIG_KEY} is not TOML: {e}")
                    continue
                configured |= set(parsed.get("key_value_store", {}))
            elif not configured and not stores_used:
                continue
            for store in sorted(stores_used - configured):
                self.fail("runtime-config", app, f"key-value store {store!r} is not configured: each pod would keep its own")

    # -- d: routes through the Ingress

    def backends(self) -> dict[tuple[str | None, str], Backend]:
        out: dict[tuple[str | None, str], Backend] = {}
        for app in self.spinapps:
            name = app["metadata"]["name"]
            out[(namespace_of(app), name)] = Backend(name, namespace_of(app), [{"port": APP_PORT, "targetPort": APP_PORT_NAME}], spinapp=app)
        for service in self.of_kind("Service"):
            key = (namespace_of(service), service["metadata"]["name"])
            if key in out:
                self.fail("routes", service, f"clashes with the Service spin-operator makes for SpinApp {key[1]}")
                continue
            out[key] = Backend(key[1], key[0], (service.get("spec") or {}).get("ports") or [], service=service)
        return out

    def ingress_paths(self, host: str | None) -> list[tuple[dict, str, str, dict]]:
        """(ingress, pathType, path, backend) of the rules serving `host`, as ingress-nginx
        picks them: rules naming the host, else the rules without one."""
        named, hostless = [], []
        for ingress in self.of_kind("Ingress"):
            for rule in (ingress.get("spec") or {}).get("rules") or []:
                rule_host = rule.get("host")
                paths = [(ingress, p.get("pathType"), p.get("path", "/"), p.get("backend") or {}) for p in (rule.get("http") or {}).get("paths") or []]
                if rule_host is None:
                    hostless += paths
                elif host is not None and host_matches(rule_host, host):
                    named += paths
        return named if named else hostless

    def ingress_route(self, host: str | None, path: str) -> tuple[dict, dict] | None:
        candidates = self.ingress_paths(host)
        exact = [(i, b) for i, t, p, b in candidates if t == "Exact" and p == path]
        if exact:
            return exact[0]
        best = None
        for ingress, path_type, prefix, backend in candidates:
            if path_type in ("Prefix", "ImplementationSpecific") and prefix_matches(prefix, path):
                if best is None or len(prefix.rstrip("/")) > len(best[0].rstrip("/")):
                    best = (prefix, ingress, backend)
        if best:
            return best[1], best[2]
        for ingress in self.of_kind("Ingress"):
            default = (ingress.get("spec") or {}).get("defaultBackend")
            if default:
                return ingress, default
        return None

    def ingress_hosts(self) -> list[str | None]:
        hosts: list[str | None] = []
        for ingress in self.of_kind("Ingress"):
            for rule in (ingress.get("spec") or {}).get("rules") or []:
                if rule.get("host") not in hosts:
                    hosts.append(rule.get("host"))
        return hosts or [None]

    def resolve_backend(self, ingress: dict, backend: dict, backends) -> Backend | None:
        service = backend.get("service")
        if not service:
            self.fail("routes", ingress, "a backend that is not a Service")
            return None
        target = backends.get((namespace_of(ingress), service.get("name")))
        if target is None:
            self.fail("routes", ingress, f"backend Service {service.get('name')!r} does not exist (nor a SpinApp of that name)")
            return None
        port = service.get("port") or {}
        if not any(port.get("number") == p.get("port") or (port.get("name") and port.get("name") == p.get("name")) for p in target.ports):
            self.fail("routes", ingress, f"backend Service {target.name!r} has no port {port.get('number') or port.get('name')!r}")
        return target

    def sidecar_services(self, backends) -> set[str]:
        """Services selecting the pods of a workload that runs the sidecar (SIDECAR_LISTEN)."""
        names = set()
        for backend in backends.values():
            for doc in self.selected_workloads(backend.service):
                if any(e.get("name") == "SIDECAR_LISTEN" for c in containers(doc) for e in c.get("env") or []):
                    names.add(backend.name)
        return names

    def check_routes(self) -> None:
        ingresses = self.of_kind("Ingress")
        if not ingresses:
            self.fail("routes", None, "no Ingress in the stream")
            return
        for ingress in ingresses:
            for rule in (ingress.get("spec") or {}).get("rules") or []:
                for p in (rule.get("http") or {}).get("paths") or []:
                    if p.get("pathType") not in ("Prefix", "Exact"):
                        self.fail("routes", ingress, f"path {p.get('path')!r}: pathType {p.get('pathType')!r} depends on the controller; use Prefix or Exact")
        backends = self.backends()
        sidecars = self.sidecar_services(backends)
        resolved: dict[int, Backend | None] = {}

        def reach(host, path):
            found = self.ingress_route(host, path)
            if found is None:
                return None
            ingress, backend = found
            key = id(backend)
            if key not in resolved:
                resolved[key] = self.resolve_backend(ingress, backend, backends)
            return resolved[key]

        for host in self.ingress_hosts():
            at = f" on host {host}" if host else ""
            for route in self.spin.http_routes:
                for path in route.samples():
                    expected = spin_route(self.spin.http_routes, path)
                    target = reach(host, path)
                    if target is None:
                        self.fail("routes", None, f"route {route.route} ({route.component}): no Ingress rule takes {path}{at}")
                    elif target.spinapp is None:
                        self.fail("routes", None, f"route {route.route} ({route.component}): {path}{at} goes to Service {target.name}, not to a SpinApp")
                    else:
                        kept = [r for r in self.spin.http_routes if r.component in self.runs(target.spinapp)]
                        got = spin_route(kept, path)
                        if got is None or expected is None or got.component != expected.component:
                            answer = f"{got.component} would answer" if got else "nothing would answer"
                            self.fail("routes", target.spinapp, f"route {route.route}: {path}{at} reaches this SpinApp, which does not run {expected.component if expected else route.component} ({answer})")
            target = reach(host, "/ws")
            if target is None or target.name not in sidecars:
                where = f"Service {target.name}" if target else "nowhere"
                self.fail("routes", None, f"/ws{at} goes to {where}, not to the sidecar's Service")
        self.check_websocket_url(sidecars, reach)

    def check_websocket_url(self, sidecars, reach) -> None:
        for app in self.spinapps:
            if "web" not in self.runs(app):
                continue
            value = self.variable_value(app, "websocket_url")
            if value is None:
                continue  # not set, or set from outside the stream
            if value.strip() == "off":
                continue  # the pages poll
            if not value:
                self.fail("routes", app, "websocket_url is empty: browsers would try port 3001 of the page's host, which the Ingress does not serve")
                continue
            url = urlsplit(value)
            hosts = self.ingress_hosts()
            if url.scheme not in ("ws", "wss"):
                self.fail("routes", app, f"websocket_url {value!r} is not a ws:// or wss:// URL")
            elif url.hostname not in hosts and None not in hosts:
                self.fail("routes", app, f"websocket_url {value!r}: host {url.hostname} is not an Ingress host ({', '.join(h for h in hosts if h)})")
            else:
                target = reach(url.hostname, url.path or "/")
                if target is None or target.name not in sidecars:
                    self.fail("routes", app, f"websocket_url {value!r} does not reach the sidecar through the Ingress")

    def variable_value(self, app: dict, name: str) -> str | None:
        for entry in app["spec"].get("variables") or []:
            if entry.get("name") != name:
                continue
            if "value" in entry:
                return entry["value"]
            ref = (entry.get("valueFrom") or {}).get("configMapKeyRef") or {}
            source = self.find("ConfigMap", ref.get("name"), namespace_of(app)) if ref else None
            if source is not None:
                return object_data(source).get(ref.get("key"))
        return None

    # -- selectors, probes, HPA

    def workload_pods(self) -> list[tuple[dict, dict, list[dict]]]:
        """(workload, pod labels, container ports) of every workload in the stream."""
        out = []
        for doc in self.docs:
            if doc.get("kind") == "SpinApp" and isinstance(doc.get("spec"), dict):
                name = doc["metadata"]["name"]
                labels = dict(doc["spec"].get("podLabels") or {})
                labels[APP_NAME_LABEL] = name
                labels[f"core.spinkube.dev/app.{name}.status"] = "ready"
                out.append((doc, labels, [{"name": APP_PORT_NAME, "containerPort": APP_PORT}]))
                continue
            template = pod_template(doc)
            if template is not None:
                labels = (template.get("metadata") or {}).get("labels") or {}
                ports = [p for c in containers(doc) for p in c.get("ports") or []]
                out.append((doc, labels, ports))
        return out

    def selected_workloads(self, selector_doc: dict | None) -> list[dict]:
        if selector_doc is None:
            return []
        spec = selector_doc.get("spec") or {}
        selector = spec.get("selector") or {}
        if selector_doc.get("kind") != "Service":
            if selector.get("matchExpressions"):
                return [w for w, _, _ in self.workload_pods() if namespace_of(w) == namespace_of(selector_doc)]
            selector = selector.get("matchLabels") or {}
        if not selector:
            return []
        return [
            w
            for w, labels, _ in self.workload_pods()
            if namespace_of(w) == namespace_of(selector_doc) and all(labels.get(k) == v for k, v in selector.items())
        ]

    def check_selectors(self) -> None:
        pods = {id(w): ports for w, _, ports in self.workload_pods()}
        for doc in self.of_kind("Service") + self.of_kind("PodDisruptionBudget"):
            selected = self.selected_workloads(doc)
            if not selected:
                self.fail("selectors", doc, "its selector matches no workload's pods in the stream")
                continue
            if doc["kind"] != "Service":
                continue
            for port in (doc.get("spec") or {}).get("ports") or []:
                target = port.get("targetPort", port.get("port"))
                for workload in selected:
                    ports = pods[id(workload)]
                    if not any(target == p.get("containerPort") or target == p.get("name") for p in ports):
                        self.fail("selectors", doc, f"targetPort {target!r} is not a port of {kind_name(workload)}")

    def check_probes(self) -> None:
        for app in self.spinapps:
            kept = [r for r in self.spin.http_routes if r.component in self.runs(app)]
            for probe_name, probe in ((app["spec"].get("checks") or {}).items()):
                path = ((probe or {}).get("httpGet") or {}).get("path")
                if not isinstance(path, str):
                    continue
                got = spin_route(kept, path)
                if got is None:
                    self.fail("probes", app, f"{probe_name} probe {path}: no component this SpinApp runs serves it")

    def check_hpa(self) -> None:
        hpas = self.of_kind("HorizontalPodAutoscaler")
        targets = {}
        for hpa in hpas:
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            targets[(namespace_of(hpa), ref.get("kind"), ref.get("name"))] = (hpa, ref)
            spec = hpa.get("spec") or {}
            if spec.get("minReplicas", 1) > spec.get("maxReplicas", 0):
                self.fail("hpa", hpa, "minReplicas is above maxReplicas")
        for app in self.spinapps:
            key = (namespace_of(app), "Deployment", app["metadata"]["name"])
            if app["spec"].get("enableAutoscaling"):
                found = targets.get(key)
                if found is None:
                    self.fail("hpa", app, f"enableAutoscaling but no HorizontalPodAutoscaler targets Deployment {key[2]}: it would keep one replica")
                elif found[1].get("apiVersion") != "apps/v1":
                    self.fail("hpa", found[0], f"scaleTargetRef.apiVersion must be apps/v1, not {found[1].get('apiVersion')!r}")
            elif key in targets:
                self.fail("hpa", targets[key][0], f"scales SpinApp {key[2]}, whose replicas are fixed: the operator would reset them")
            if (namespace_of(app), "SpinApp", app["metadata"]["name"]) in targets:
                self.fail("hpa", targets[(namespace_of(app), "SpinApp", app["metadata"]["name"])][0], "targets the SpinApp, which has no scale subresource; target its Deployment")


    def check_sidecar_env(self) -> None:
        if self.sidecar is None:
            return
        found = False
        for doc in self.docs:
            for container in containers(doc):
                env = {e.get("name"): e for e in container.get("env") or []}
                if "SIDECAR_LISTEN" not in env and "sidecar" not in str(container.get("image", "")):
                    continue
                found = True
                where = f"container {container.get('name')}"
                for name in sorted(set(env) - self.sidecar.names):
                    self.fail("sidecar-env", doc, f"{where}: {name} is not read by {self.sidecar.path.name}")
                for name in sorted(self.sidecar.required - set(env)):
                    self.fail("sidecar-env", doc, f"{where}: {name} is required and not set")
                for name, default in sorted(self.sidecar.defaults.items()):
                    if name not in env and LOOPBACK.search(default):
                        self.fail("sidecar-env", doc, f"{where}: {name} is not set and defaults to loopback ({default})")
                listen = str((env.get("SIDECAR_LISTEN") or {}).get("value", ""))
                port = listen.rsplit(":", 1)[-1]
                if listen and not any(str(p.get("containerPort")) == port for p in container.get("ports") or []):
                    self.fail("sidecar-env", doc, f"{where}: SIDECAR_LISTEN {listen} is on no port the container declares")
        if not found:
            self.fail("sidecar-env", None, "no sidecar container (SIDECAR_LISTEN set, or an image named *sidecar*)")


# ----------------------------------------------------------------------------- helpers


def pod_template(doc: dict) -> dict | None:
    spec = doc.get("spec") or {}
    kind = doc.get("kind")
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return spec.get("template") or {}
    if kind == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    if kind == "Pod":
        return {"metadata": doc.get("metadata") or {}, "spec": spec}
    return None


def containers(doc: dict) -> list[dict]:
    template = pod_template(doc) or {}
    return (template.get("spec") or {}).get("containers") or []


def object_data(doc: dict) -> dict[str, str]:
    data: dict[str, str] = {}
    for key, value in (doc.get("data") or {}).items():
        if doc.get("kind") == "Secret":
            try:
                data[key] = base64.b64decode(value).decode()
            except (ValueError, UnicodeDecodeError):
                data[key] = ""
        else:
            data[key] = "" if value is None else str(value)
    for key, value in (doc.get("stringData") or {}).items():
        data[key] = str(value)
    return data


def object_keys(doc: dict) -> set[str]:
    return set(doc.get("data") or {}) | set(doc.get("stringData") or {}) | set(doc.get("binaryData") or {})


def host_port(url: str) -> str | None:
    url = url.strip()
    if "://" in url:
        parts = urlsplit(url)
        default = {"postgres": 5432, "postgresql": 5432, "redis": 6379, "rediss": 6379}.get(parts.scheme)
        try:
            port = parts.port or default
        except ValueError:
            return None
        return f"{parts.hostname}:{port}" if parts.hostname else None
    fields = dict(item.split("=", 1) for item in url.split() if "=" in item)
    if "host" in fields:
        return f"{fields['host']}:{fields.get('port', '5432')}"
    return None


def host_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host.count(".") == pattern.count(".")
    return pattern == host


def prefix_matches(prefix: str, path: str) -> bool:
    """Kubernetes' Prefix: element by element, so /ws takes /ws and /ws/x but not /wsx."""
    want = [s for s in prefix.split("/") if s]
    got = [s for s in path.split("/") if s]
    return got[: len(want)] == want


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifests", help="the built manifests (a YAML stream), or - for standard input")
    parser.add_argument("--spin-toml", required=True, type=Path, help="the app's spin.toml")
    parser.add_argument("--schema", type=Path, default=DEFAULT_SCHEMA, help="SpinKube's schema (default: %(default)s)")
    parser.add_argument("--kubernetes-version", default=DEFAULT_KUBERNETES_VERSION, help="schemas of this Kubernetes version (default: %(default)s)")
    parser.add_argument("--sidecar-config", type=Path, help="the sidecar's config.rs (default: sidecar/src/config.rs beside spin.toml, if there)")
    parser.add_argument("--name", help="what to call the stream in the summary")
    args = parser.parse_args(argv)

    text = sys.stdin.read() if args.manifests == "-" else Path(args.manifests).read_text()
    docs = load_stream(text)
    sidecar_config = args.sidecar_config or args.spin_toml.parent / "sidecar" / "src" / "config.rs"
    sidecar = SidecarConfig(sidecar_config) if sidecar_config.exists() or args.sidecar_config else None
    checker = Checker(docs, SpinManifest(args.spin_toml), json.loads(args.schema.read_text()), args.kubernetes_version, sidecar)
    failures = checker.run()
    for line in failures:
        print(line)
    label = args.name or args.manifests
    verdict = "ok" if not failures else f"{len(failures)} failure(s)"
    print(f"{label}: {len(docs)} resources checked against Kubernetes {args.kubernetes_version}, SpinKube and {args.spin_toml}: {verdict}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
