#!/bin/sh
# Builds the ticketd binary to the path given. The Dockerfile and .ci/run both
# build with this script, so the image and CI compile the same way.
set -eu
out=${1:?usage: scripts/build.sh OUTPUT}
cd "$(dirname "$0")/.."
CGO_ENABLED=1 exec go build -trimpath -ldflags='-s -w' -o "$out" ./cmd/ticketd
