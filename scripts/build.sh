#!/bin/sh
# Builds the ticketd binary to the path given. The Dockerfile, .ci/run and
# scripts/cluster build with this script, so the image and CI compile the
# same way.
#
# It stamps `ticketd version` with -ldflags -X: VERSION and COMMIT from the
# environment when set (the Dockerfile passes them, its context has no .git),
# else from git (`git describe --tags --always --dirty`, `git rev-parse HEAD`).
#
# -tags nomsgpack leaves out gin's MessagePack binding (ugorji/go/codec, 6 MB
# of the binary; the API speaks JSON only). -tags grpcnotrace keeps gRPC, when
# a tag links it, from importing golang.org/x/net/trace, whose templates would
# stop the linker from dropping unused methods (9 MB; ticketd never serves its
# /debug/requests pages). Extra tags come from TAGS, e.g. TAGS=otlpgrpc for
# OTLP trace export over gRPC. No -trimpath: it would key
# every package differently in the build cache, so this script would share
# nothing with `go build`/`go run`/`go test` and compile everything again;
# -ldflags and tags only change the link and the packages they touch.
set -eu
out=${1:?usage: scripts/build.sh OUTPUT}
cd "$(dirname "$0")/.."
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo '(devel)')}
commit=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
CGO_ENABLED=1 exec go build -tags "nomsgpack,grpcnotrace${TAGS:+,$TAGS}" \
	-ldflags="-s -w -X main.version=$version -X main.commit=$commit" \
	-o "$out" ./cmd/ticketd
