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
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubeadm", "kubectl")
KWOK_BINARIES = ("kwok",)
HELM_MODULE = "helm.sh/helm/v{major}"


def cache_root() -> Path:
    base = os.environ.get("BAREMETAL_CACHE") or os.path.join(Path.home(), ".cache", "baremetal-mlops")
    return Path(base) / "lab-tools"


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


BUILDERS = {"kubernetes": build_kubernetes, "etcd": build_etcd, "kwok": build_kwok, "helm": build_helm}


def build(pins: dict, root: Path | None = None, only: list[str] | None = None) -> dict[str, float]:
    """Build every absent component; returns seconds spent per component built.

    A component is built into a temporary directory and renamed into place,
    so an interrupted build never leaves a half-filled cache entry.
    """
    if shutil.which("go") is None:
        raise RuntimeError("the lab builds its tools with Go: install Go (>= the go directive of each module)")
    root = root or cache_root()
    root.mkdir(parents=True, exist_ok=True)
    spent: dict[str, float] = {}
    for comp in components(pins):
        if (only and comp.name not in only) or comp.is_built(root):
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
