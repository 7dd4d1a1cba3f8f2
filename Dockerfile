# syntax=docker/dockerfile:1
#
# snippetd as a static binary on a distroless base: no shell, no package
# manager, running as an unprivileged user. Build and run:
#
#   docker build -t snippetd --build-arg VERSION=$(git describe --tags --always --dirty) .
#   docker run -p 8080:8080 -v snippetd-data:/data snippetd
#
# `docker build --target fakeklaviyo` builds the strict fake Klaviyo image
# that docker-compose.yml uses for a local trial.
#
# deploy/deploy_test.go builds the binary with the snippetd `go build` line
# below (read from this file) and runs it the way this image does.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X github.com/snippetd/snippetd/internal/version.version=${VERSION}" -o /out/snippetd ./cmd/snippetd
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/fakeklaviyo ./cmd/fakeklaviyo
# The data directory exists in the image, owned by the runtime user, so
# that a fresh named volume mounted on it is writable.
RUN mkdir -p /out/data

# The fake Klaviyo, for docker-compose.yml only: never for production.
FROM gcr.io/distroless/static-debian12:nonroot AS fakeklaviyo
COPY --from=build /out/fakeklaviyo /fakeklaviyo
COPY NOTICE LICENSE /licenses/
EXPOSE 9090
ENTRYPOINT ["/fakeklaviyo", "-addr", ":9090"]

# distroless/static has CA certificates (for https://a.klaviyo.com), tzdata
# and the nonroot user (65532), and nothing else.
FROM gcr.io/distroless/static-debian12:nonroot AS snippetd
COPY --from=build /out/snippetd /snippetd
COPY --from=build --chown=65532:65532 /out/data /data
COPY NOTICE LICENSE /licenses/
USER 65532:65532
ENV SNIPPETD_ADDR=:8080 \
    SNIPPETD_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
# The image has no curl: the binary checks its own /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/snippetd", "healthcheck"]
ENTRYPOINT ["/snippetd"]
CMD ["serve"]
