#!/usr/bin/env bash
# Command-line tools the deployment tests need, installed once and reused:
#
#   helm      built from the Go module proxy (go install) into .local/bin; a minute or two the
#             first time on a machine, nothing afterwards: the binary is also kept in the
#             user's cache (~/.cache/gim-faust), so a fresh clone copies it instead of
#             building it again (remove both to rebuild)
#   promtool  Debian's `prometheus` package (apt-get); its service is not started
#
# Usage: scripts/tools.sh        (make tools; make test runs it)
# Overrides: GIM_HELM_VERSION, GO (the go binary).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.local/bin"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/gim-faust"
HELM_VERSION="${GIM_HELM_VERSION:-v3.22.0}"
# Helm's own Makefile stamps the version and the Kubernetes version it assumes (that of its
# client-go, 0.37 -> 1.37) with -ldflags; `go install` alone would leave 1.20, which makes
# `helm template` refuse charts requiring a newer Kubernetes.
K8S_MAJOR=1
K8S_MINOR=37

find_go() {
    if [[ -n "${GO:-}" ]]; then echo "$GO"; return; fi
    if command -v go >/dev/null; then command -v go; return; fi
    if [[ -x /usr/local/go/bin/go ]]; then echo /usr/local/go/bin/go; return; fi
    echo "tools.sh: ERROR: no Go toolchain found (install Debian's golang-go, or set GO)" >&2
    exit 1
}

helm_up() {
    local helm="$BIN/helm" stamp="$BIN/.helm-version" build="$HELM_VERSION k8s $K8S_MAJOR.$K8S_MINOR"
    local cached="$CACHE/helm-$HELM_VERSION-k8s$K8S_MAJOR.$K8S_MINOR" t0 go pkg
    if [[ -x "$helm" && "$(cat "$stamp" 2>/dev/null)" == "$build" ]]; then
        echo "helm:     $HELM_VERSION already in $helm"
        return
    fi
    mkdir -p "$BIN"
    if [[ -x "$cached" ]] && "$cached" version --short >/dev/null 2>&1; then
        cp "$cached" "$helm"
        echo "$build" >"$stamp"
        echo "helm:     $HELM_VERSION copied from $cached"
        return
    fi
    go="$(find_go)"
    t0=$SECONDS
    pkg=helm.sh/helm/v3
    GOBIN="$BIN" GOFLAGS=-mod=mod "$go" install -ldflags "\
-X $pkg/internal/version.version=$HELM_VERSION \
-X $pkg/internal/version.gitTreeState=clean \
-X $pkg/pkg/chartutil.k8sVersionMajor=$K8S_MAJOR -X $pkg/pkg/chartutil.k8sVersionMinor=$K8S_MINOR \
-X $pkg/pkg/lint/rules.k8sVersionMajor=$K8S_MAJOR -X $pkg/pkg/lint/rules.k8sVersionMinor=$K8S_MINOR" \
        "$pkg/cmd/helm@$HELM_VERSION"
    echo "$build" >"$stamp"
    mkdir -p "$CACHE" && cp "$helm" "$cached.tmp" && mv "$cached.tmp" "$cached"
    echo "helm:     built $("$helm" version --short) into $helm in $((SECONDS - t0)) s"
}

promtool_up() {
    if command -v promtool >/dev/null; then
        echo "promtool: $(promtool --version 2>&1 | head -1)"
        return
    fi
    [[ "$(id -u)" == 0 ]] || { echo "tools.sh: ERROR: promtool missing; run as root or: sudo apt-get install prometheus" >&2; exit 1; }
    # The package's postinst starts the prometheus service where systemd runs; the policy
    # keeps it (and any other service) from starting during the install.
    local policy=/usr/sbin/policy-rc.d added=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    ((added)) && rm -f "$policy"
    echo "promtool: installed $(promtool --version 2>&1 | head -1)"
}

helm_up
promtool_up
