"""Build the lab's pinned tool chain from the official Go modules.

Every binary is compiled with the machine's Go toolchain (GOTOOLCHAIN=local,
CGO_ENABLED=0) into a cache directory outside the repo, keyed by component
and version, and is rebuilt only when that directory is absent or
incomplete. Nothing is downloaded as a prebuilt binary.

Components and how they are built:
- kubernetes: k8s.io/kubernetes replaces its staging modules with local
  paths, so it cannot be `go install`ed. A generated wrapper module requires
  it and points each staging module at its published v0.<minor>.<patch>
  release; all five kube binaries build in one `go build`, so they share the
  compiled packages. The version is stamped with -ldflags -X, or Helm and
  kubeadm reject the binaries' `v0.0.0-master` version.
- etcd: go.etcd.io/etcd/server/v3 is the etcd main package but carries local
  replaces too; a second wrapper module (kept apart so the kube and etcd
  dependency graphs are not forced to one version) builds it as `etcd`.
- kwok, helm: plain `go install MODULE/cmd/X@VERSION`.
- metallb: the real MetalLB controller (address allocation), plain
  `go install go.universe.tf/metallb/controller@VERSION`, kept as
  `metallb-controller`; the lab runs it out of cluster (lab/cluster.py).
- argo-workflows: the real Argo Workflows workflow-controller, plain
  `go install github.com/argoproj/argo-workflows/v4/cmd/workflow-controller@VERSION`;
  the lab runs it out of cluster for the chart's controller pod (lab/controllers.py).
- kserve: the real KServe controller manager. Its go.mod pins a dozen
  modules with `replace` directives, which `go install MODULE@VERSION`
  refuses, so it is built with `go build ./cmd/manager` inside the
  downloaded module (the main module there, replaces honoured), kept as
  `kserve-manager`.
- minio (the data services): plain `go install github.com/minio/minio@<pseudo-version>`,
  into `minio/<version>/bin/`.

Every Go build holds one lock, `<cache>/.build.lock` (fcntl.flock), so two
builds (two make targets, a pytest session and a Molecule dependency step)
never run at once; the second waits, then finds its component built.
The Python environments of the data and serving services are created here too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lab.settings import cache_root as base_cache

KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubeadm", "kubectl")
KWOK_BINARIES = ("kwok",)
# A real node's runtime (lab/node_runtime.py): built only for the real-node tests.
CONTAINERD_BINARIES = ("containerd", "ctr", "containerd-shim-runc-v2")
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")
HELM_MODULE = "helm.sh/helm/v{major}"


def cache_root() -> Path:
    return base_cache() / "lab-tools"


@contextlib.contextmanager
def build_lock():
    """Hold the cache's build lock: one Go build at a time on this machine."""
    root = base_cache()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"lab: another build holds {lock.name}; waiting for it", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    binaries: tuple[str, ...]

    def directory(self, root: Path) -> Path:
        return root / f"{self.name}-{self.version}"

    def bin_dir(self, root: Path) -> Path:
        return self.directory(root) / "bin"

    def is_built(self, root: Path) -> bool:
        return all((self.bin_dir(root) / b).is_file() for b in self.binaries)


def components(pins: dict) -> list[Component]:
    return [
        Component("kubernetes", pins["kubernetes"], KUBE_BINARIES),
        Component("etcd", pins["etcd"], ("etcd",)),
        Component("kwok", pins["kwok"], KWOK_BINARIES),
        Component("helm", pins["helm"], ("helm",)),
        Component("metallb", pins["metallb"], ("metallb-controller",)),
        Component("argo-workflows", pins["argo_workflows"], ("workflow-controller",)),
        Component("kserve", pins["kserve"], ("kserve-manager",)),
    ]


def binary_paths(pins: dict, root: Path | None = None) -> dict[str, Path]:
    root = root or cache_root()
    return {b: c.bin_dir(root) / b for c in components(pins) for b in c.binaries}


def go_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update({"GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": env.get("LAB_GOFLAGS", "-p=2")})
    env.update(extra or {})
    return env


def run(cmd: list[str], cwd: Path | None = None, env: dict | None = None, log=None) -> str:
    print("+ " + " ".join(cmd), file=log or sys.stdout, flush=True)
    result = subprocess.run(cmd, cwd=cwd, env=env or go_env(), capture_output=True, text=True, check=False)
    if log:
        log.write(result.stdout + result.stderr)
        log.flush()
    if result.returncode != 0:
        raise RuntimeError(f"command failed ({result.returncode}): {' '.join(cmd)}\n{result.stderr[-4000:]}")
    return result.stdout


def module_info(module: str, version: str, log=None) -> dict:
    """Download MODULE@VERSION and return `go mod download -json` (Dir, GoMod, Origin...)."""
    return json.loads(run(["go", "mod", "download", "-json", f"{module}@{version}"], log=log))


def local_replaces(gomod: str, log=None) -> tuple[str, list[dict]]:
    """The go directive and the `replace` entries that point at local paths in a go.mod file."""
    parsed = json.loads(run(["go", "mod", "edit", "-json", gomod], log=log))
    return parsed["Go"], [r for r in parsed.get("Replace") or [] if not r["New"].get("Version")]


def write_wrapper(workdir: Path, module: str, version: str, go_version: str, replaces: dict[str, str]) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    lines = [f"module lab.local/{workdir.name}", "", f"go {go_version}", "", f"require {module} {version}", ""]
    lines += [f"replace {old} => {old} {new}" for old, new in sorted(replaces.items())]
    (workdir / "go.mod").write_text("\n".join(lines) + "\n")
    (workdir / "go.sum").touch()


def ldflags(stamps: dict[str, str]) -> str:
    return " ".join(["-s", "-w"] + [f"-X '{k}={v}'" for k, v in stamps.items()])


def build_kubernetes(comp: Component, out: Path, work: Path, log) -> None:
    info = module_info("k8s.io/kubernetes", comp.version, log)
    go_version, reps = local_replaces(info["GoMod"], log)
    major, minor, patch = comp.version.lstrip("v").split(".")[:3]
    staging = f"v0.{minor}.{patch}"
    write_wrapper(work, "k8s.io/kubernetes", comp.version, go_version, {r["Old"]["Path"]: staging for r in reps})
    commit = (info.get("Origin") or {}).get("Hash", "")
    stamp = {
        "gitVersion": comp.version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitCommit": commit,
        "gitTreeState": "clean",
        "buildDate": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    flags = {
        f"{pkg}.{k}": v
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for k, v in stamp.items()
    }
    pkgs = [f"k8s.io/kubernetes/cmd/{b}" for b in comp.binaries]
    run(
        ["go", "build", "-mod=mod", "-trimpath", "-ldflags", ldflags(flags), "-o", str(out) + "/", *pkgs],
        cwd=work,
        log=log,
    )


def build_etcd(comp: Component, out: Path, work: Path, log) -> None:
    module = "go.etcd.io/etcd/server/v3"
    info = module_info(module, comp.version, log)
    go_version, reps = local_replaces(info["GoMod"], log)
    # Only the v3 sibling modules are real dependencies; the other local
    # replaces guard against importing the repository root or its tests.
    siblings = {r["Old"]["Path"]: comp.version for r in reps if r["Old"]["Path"].endswith("/v3")}
    write_wrapper(work, module, comp.version, go_version, siblings)
    commit = (info.get("Origin") or {}).get("Hash", "")[:12]
    flags = {"go.etcd.io/etcd/api/v3/version.GitSHA": commit or "lab"}
    run(
        ["go", "build", "-mod=mod", "-trimpath", "-ldflags", ldflags(flags), "-o", str(out / "etcd"), module],
        cwd=work,
        log=log,
    )


def build_kwok(comp: Component, out: Path, work: Path, log) -> None:
    flags = {"sigs.k8s.io/kwok/pkg/consts.Version": comp.version}
    pkgs = [f"sigs.k8s.io/kwok/cmd/{b}@{comp.version}" for b in comp.binaries]
    run(["go", "install", "-trimpath", "-ldflags", ldflags(flags), *pkgs], env=go_env({"GOBIN": str(out)}), log=log)


def build_helm(comp: Component, out: Path, work: Path, log) -> None:
    module = HELM_MODULE.format(major=comp.version.lstrip("v").split(".")[0])
    flags = {f"{module}/internal/version.version": comp.version, f"{module}/internal/version.gitTreeState": "clean"}
    run(
        ["go", "install", "-trimpath", "-ldflags", ldflags(flags), f"{module}/cmd/helm@{comp.version}"],
        env=go_env({"GOBIN": str(out)}),
        log=log,
    )


def build_metallb(comp: Component, out: Path, work: Path, log) -> None:
    # the module stamps its own version (internal/version)
    run(
        ["go", "install", "-trimpath", "-ldflags", ldflags({}), f"go.universe.tf/metallb/controller@{comp.version}"],
        env=go_env({"GOBIN": str(out)}),
        log=log,
    )
    (out / "controller").rename(out / "metallb-controller")


def build_argo_workflows(comp: Component, out: Path, work: Path, log) -> None:
    module = "github.com/argoproj/argo-workflows/v4"
    stamps = {f"{module}.version": comp.version}  # `workflow-controller version` and its start-up log
    run(
        ["go", "install", "-trimpath", "-ldflags", ldflags(stamps), f"{module}/cmd/workflow-controller@{comp.version}"],
        env=go_env({"GOBIN": str(out)}),
        log=log,
    )


def build_kserve(comp: Component, out: Path, work: Path, log) -> None:
    info = module_info("github.com/kserve/kserve", comp.version, log=log)
    # -mod=mod: the module's go.sum lacks some sums of its replaced versions; they come from the proxy
    run(
        ["go", "build", "-trimpath", "-ldflags", ldflags({}), "-o", str(out / "kserve-manager"), "./cmd/manager"],
        cwd=Path(info["Dir"]),
        env=go_env({"GOFLAGS": "-mod=mod -p=2"}),
        log=log,
    )


def build_containerd(comp: Component, out: Path, work: Path, log) -> None:
    module = "github.com/containerd/containerd/v2"
    # the storage drivers that need cgo or kernel headers stay out, as in upstream's static builds
    tags = "no_btrfs no_devmapper no_zfs"
    flags = {f"{module}/version.Version": comp.version, f"{module}/version.Package": module}
    pkgs = [f"{module}/cmd/{b}@{comp.version}" for b in comp.binaries]
    run(
        ["go", "install", "-trimpath", "-tags", tags, "-ldflags", ldflags(flags), *pkgs],
        env=go_env({"GOBIN": str(out)}),
        log=log,
    )


def build_cni_plugins(comp: Component, out: Path, work: Path, log) -> None:
    module = "github.com/containernetworking/plugins"
    where = {"bridge": "main", "loopback": "main", "host-local": "ipam", "portmap": "meta"}
    flags = {"github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion": comp.version}
    pkgs = [f"{module}/plugins/{where[b]}/{b}@{comp.version}" for b in comp.binaries]
    run(["go", "install", "-trimpath", "-ldflags", ldflags(flags), *pkgs], env=go_env({"GOBIN": str(out)}), log=log)


def build_coredns(comp: Component, out: Path, work: Path, log) -> None:
    flags = {"github.com/coredns/coredns/coremain.GitCommit": comp.version}
    run(
        ["go", "install", "-trimpath", "-ldflags", ldflags(flags), f"github.com/coredns/coredns@{comp.version}"],
        env=go_env({"GOBIN": str(out)}),
        log=log,
    )


BUILDERS = {
    "kubernetes": build_kubernetes,
    "etcd": build_etcd,
    "kwok": build_kwok,
    "helm": build_helm,
    "metallb": build_metallb,
    "argo-workflows": build_argo_workflows,
    "kserve": build_kserve,
    "containerd": build_containerd,
    "cni-plugins": build_cni_plugins,
    "coredns": build_coredns,
}


def build(pins: dict, root: Path | None = None, only: list[str] | None = None) -> dict[str, float]:
    """Build every absent component; returns seconds spent per component built.

    A component is built into a temporary directory and renamed into place,
    so an interrupted build never leaves a half-filled cache entry.
    """
    wanted = [c for c in components(pins) if not (only and c.name not in only)]
    return build_components(wanted, root)


def build_components(wanted: list[Component], root: Path | None = None) -> dict[str, float]:
    """Build the given components (the lab's, or lab/node_runtime.py's) unless present, under the build lock."""
    root = root or cache_root()
    if all(c.is_built(root) for c in wanted):
        return {}
    if shutil.which("go") is None:
        raise RuntimeError("the lab builds its tools with Go: install Go (>= the go directive of each module)")
    root.mkdir(parents=True, exist_ok=True)
    with build_lock():
        return _build(wanted, root)


def _build(wanted: list[Component], root: Path) -> dict[str, float]:
    spent: dict[str, float] = {}
    for comp in wanted:
        if comp.is_built(root):  # built by whoever held the lock before us
            continue
        final = comp.directory(root)
        tmp = root / f".{final.name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "bin").mkdir(parents=True)
        started = time.monotonic()
        with open(root / f"build-{final.name}.log", "w") as log:
            print(f"lab: building {comp.name} {comp.version} (log: {log.name})", flush=True)
            BUILDERS[comp.name](comp, tmp / "bin", tmp / "wrapper", log)
            spent[comp.name] = round(time.monotonic() - started, 1)
            log.write(f"\nbuild-seconds {spent[comp.name]}\n")
        shutil.rmtree(tmp / "wrapper", ignore_errors=True)
        (tmp / "build.json").write_text(json.dumps({"version": comp.version, "seconds": spent[comp.name]}) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        print(f"lab: built {comp.name} {comp.version} in {spent[comp.name]} s", flush=True)
    if spent:
        record = {"finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "seconds": spent}
        (root / "last-build.json").write_text(json.dumps(record, indent=2) + "\n")
    return spent


# --- MinIO and the services' Python environments ------------------------------------------------


def minio_binary(pin: dict) -> Path:
    """Where `go install github.com/minio/minio@<version>` puts the pinned MinIO."""
    return base_cache() / "minio" / pin["version"] / "bin" / "minio"


def build_minio(pin: dict) -> Path:
    """Build the pinned MinIO from its Go module unless cached; returns the binary."""
    binary = minio_binary(pin)
    if binary.is_file():
        return binary
    if shutil.which("go") is None:
        raise RuntimeError("Go is needed to build MinIO from its module (go install); none is on PATH")
    with build_lock():
        if binary.is_file():
            return binary
        gobin = binary.parent.with_name("bin.partial")
        shutil.rmtree(gobin, ignore_errors=True)
        gobin.mkdir(parents=True)
        print(f"lab: building MinIO {pin['version']} from {pin['module']} (first time only)", flush=True)
        started = time.monotonic()
        # At the caller's niceness: in `make test` this build sits on the cluster lane's
        # critical path, beside background lanes already niced (scripts/run-tests.sh).
        cmd = ["go", "install", "-trimpath", "-ldflags", ldflags({}), f"{pin['module']}@{pin['version']}"]
        result = subprocess.run(
            cmd, env=go_env({"GOBIN": str(gobin)}), cwd="/", capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"go install {pin['module']}@{pin['version']} failed:\n{result.stderr[-3000:]}")
        gobin.rename(binary.parent)
        print(f"lab: built MinIO in {time.monotonic() - started:.0f} s", flush=True)
    return binary


# --- Downloads: manifests the playbooks apply, read from Go modules ---------------------------------

GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"


def gateway_api_crds(version: str, root: Path | None = None) -> Path:
    """The Gateway API's standard-channel CRDs at `version`, one YAML file in the cache.

    Kept as `<cache>/gateway-api/<version>/standard-install.yaml`, the layout the cilium role reads
    under platform_gateway_api_url (the lab inventory points it at `<cache>/gateway-api`). The files
    come from the module's config/crd/standard folder: `go mod download` fetches the module (or finds
    it in Go's module cache, offline); nothing is built.
    """
    target = (root or base_cache()) / "gateway-api" / version / "standard-install.yaml"
    if target.is_file():
        return target
    info = module_info(GATEWAY_API_MODULE, version)
    folder = Path(info["Dir"]) / "config" / "crd" / "standard"
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise RuntimeError(f"{GATEWAY_API_MODULE}@{version} has no config/crd/standard/*.yaml")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_text("".join(f"---\n# {f.name}\n{f.read_text()}" for f in files))
    partial.rename(target)
    return target


@dataclass(frozen=True)
class PythonEnv:
    """A cached virtual environment with pinned packages (the MLflow server, MLServer)."""

    name: str
    python: str
    packages: tuple[str, ...]

    @property
    def key(self) -> str:
        text = f"py{self.python}\n" + "\n".join(sorted(self.packages))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def venv(self) -> Path:
        return base_cache() / self.name / self.key / "venv"

    def bin(self, program: str) -> str:
        return str(self.venv / "bin" / program)

    @property
    def stamp(self) -> Path:
        return self.venv.parent / "complete"

    def ensure(self) -> Path:
        if self.stamp.is_file():
            return self.venv
        interpreter = shutil.which(f"python{self.python}")
        if interpreter is None:
            raise RuntimeError(f"python{self.python} is needed for the {self.name} environment")
        shutil.rmtree(self.venv.parent, ignore_errors=True)
        self.venv.parent.mkdir(parents=True)
        print(f"lab: creating the {self.name} environment ({', '.join(self.packages)})", flush=True)
        started = time.monotonic()
        subprocess.run([interpreter, "-m", "venv", str(self.venv)], check=True)
        pip = [self.bin("python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        result = subprocess.run([*pip, *self.packages], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"pip install into {self.venv} failed:\n{result.stderr[-3000:]}")
        (self.venv.parent / "packages.txt").write_text("\n".join(self.packages) + "\n")
        self.stamp.touch()
        print(f"lab: created the {self.name} environment in {time.monotonic() - started:.0f} s", flush=True)
        return self.venv


def python_env(name: str, spec: dict) -> PythonEnv:
    return PythonEnv(name, str(spec["python"]), tuple(spec["packages"]))
