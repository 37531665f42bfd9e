# syntax=docker/dockerfile:1
# The Upshift agent's image (docs/install.md). Not built on the project's
# machines, which have no container engine: deploy/deploy_test.go runs this
# file's `go build` line outside a container and checks the rest of it.
#
#   docker build --build-arg VERSION=v0.1.0 --build-arg COMMIT=$(git rev-parse HEAD) -t upshift .

# The Go of go.mod's go directive (the test checks that they agree). It runs
# on the builder's platform and cross-compiles for the image's (buildx sets
# TARGETOS and TARGETARCH; empty, go builds for the platform it runs on).
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG TARGETOS
ARG TARGETARCH
# A static binary (no libc: it runs on any base), stamped for `upshift
# version`; -buildvcs=false because .git is not in the build context.
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/upshift ./cmd/upshift

# Debian 12 ships PostgreSQL 15's client: pg_dump 15 dumps servers from 9.2
# to 15 and refuses a newer server (16, 17), so backups of a Kong database on
# PostgreSQL 16 or later need an image with a newer client (docs/install.md).
FROM debian:bookworm-slim
ARG PG_MAJOR=15
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates "postgresql-client-${PG_MAJOR}" \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_dump" /usr/local/bin/pg_dump \
 && ln -s "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_restore" /usr/local/bin/pg_restore \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/upshift --create-home upshift
COPY --from=build /out/upshift /usr/local/bin/upshift
USER 10001:10001
WORKDIR /var/lib/upshift
VOLUME /var/lib/upshift
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/upshift"]
CMD ["version"]
