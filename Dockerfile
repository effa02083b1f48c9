# syntax=docker/dockerfile:1
# ticketd: built with cgo (go-sqlite3) on Debian bookworm, run on its slim
# image, which has the same glibc. Build: docker build -t ticketd .

# Keep equal to the go directive of go.mod (a test checks).
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The context has no .git: pass the version stamp in, e.g.
# --build-arg VERSION=$(git describe --tags --always --dirty) --build-arg COMMIT=$(git rev-parse HEAD)
ARG VERSION="(devel)"
ARG COMMIT=unknown
RUN VERSION="$VERSION" COMMIT="$COMMIT" scripts/build.sh /out/ticketd

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin ticketd \
	&& mkdir -p /app/data \
	&& chown ticketd:ticketd /app/data
COPY --from=build /out/ticketd /usr/local/bin/ticketd
WORKDIR /app
USER ticketd
# The default --db, data/app.db, is in this volume.
VOLUME /app/data
ENV TICKETD_ADDR=:9000 TICKETD_LOG_FORMAT=json
EXPOSE 9000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["ticketd", "healthcheck"]
ENTRYPOINT ["ticketd"]
CMD ["serve"]
