#!/usr/bin/env bash
# Installs the pinned tools the Kubernetes delivery uses, with `go install`, into
# $(go env GOPATH)/bin. Idempotent: a tool already at its pinned version is skipped.
#
#   .ci/install-tools.sh               every tool below
#   .ci/install-tools.sh kube-score    only the named ones (CI needs only kube-score)
#
# The chart tests (deploy/chartstest) render and lint with the Helm SDK and need no
# helm binary; they run kube-score, and fail under CI=true without it.
set -euo pipefail

# tool  version  package
TOOLS=(
  "kube-score v1.20.0 github.com/zegl/kube-score/cmd/kube-score"
  "helm       v3.22.0 helm.sh/helm/v3/cmd/helm"
  "kind       v0.33.0 sigs.k8s.io/kind"
)

bin="$(go env GOPATH)/bin"
stamp_dir="$bin/.instant-tools"
mkdir -p "$stamp_dir"

want=("$@")
for name in "${want[@]}"; do
  found=false
  for line in "${TOOLS[@]}"; do
    read -r n _ <<<"$line"
    [ "$n" = "$name" ] && found=true
  done
  $found || { echo "tools: unknown tool $name" >&2; exit 2; }
done

for line in "${TOOLS[@]}"; do
  read -r name version pkg <<<"$line"
  if [ ${#want[@]} -gt 0 ] && [[ ! " ${want[*]} " =~ " ${name} " ]]; then
    continue
  fi
  stamp="$stamp_dir/$name"
  if [ -x "$bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pkg@$version" ]; then
    echo "tools: $name $version already installed"
    continue
  fi
  echo "tools: installing $name $version"
  ldflags=""
  if [ "$name" = helm ]; then
    # What helm's release build stamps: its version, and the Kubernetes version that
    # `helm template` and `helm lint` assume offline (else 1.20, which the charts'
    # kubeVersion refuses).
    ldflags="-X helm.sh/helm/v3/internal/version.version=$version"
    for p in chartutil lint/rules; do
      ldflags="$ldflags -X helm.sh/helm/v3/pkg/$p.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/$p.k8sVersionMinor=37"
    done
  fi
  # GOFLAGS from the caller (e.g. -mod=…) must not leak into a tool's own module.
  GOFLAGS= GOWORK=off go install -ldflags "$ldflags" "$pkg@$version"
  echo "$pkg@$version" >"$stamp"
done

