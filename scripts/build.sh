#!/bin/sh
# Builds the ticketd binary to the path given. The Dockerfile and .ci/run both
# build with this script, so the image and CI compile the same way.
#
# It stamps `ticketd version` with -ldflags -X: VERSION and COMMIT from the
# environment when set (the Dockerfile passes them, its context has no .git),
# else from git (`git describe --tags --always --dirty`, `git rev-parse HEAD`).
set -eu
out=${1:?usage: scripts/build.sh OUTPUT}
cd "$(dirname "$0")/.."
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo '(devel)')}
commit=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
CGO_ENABLED=1 exec go build -trimpath \
	-ldflags="-s -w -X main.version=$version -X main.commit=$commit" \
	-o "$out" ./cmd/ticketd
