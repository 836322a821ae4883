# syntax=docker/dockerfile:1
#
# The OpenPERouter image: FRR plus the `openperouter` binary. Every pod of the Kubernetes
# deployment (config/) runs this one image: the controller, the router pod (FRR and the
# reloader sidecar) and the nodemarker pod (node-index allocator and admission webhooks).
#
#   docker build -t localhost/openperouter:dev .
#   podman build -t localhost/openperouter:dev .
#
# Stage 1 builds a static binary on Alpine (musl), so it runs on the Alpine-based FRR image.
# Stage 2 is the FRR image with the binary added.

ARG RUST_IMAGE=docker.io/library/rust:1-alpine
ARG FRR_IMAGE=quay.io/frrouting/frr:10.6.0

FROM ${RUST_IMAGE} AS build
# A C compiler and the musl headers: ring (TLS) builds C and assembly. Versions come with the
# base image's Alpine release (pinning apk versions breaks at every Alpine update).
# hadolint ignore=DL3018
RUN apk add --no-cache build-base musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY crates ./crates
# The cache mounts keep the registry and the build directory between builds; the binary is
# copied out of the cached target directory before the layer is committed.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p openperouter \
    && install -D -m 0755 target/release/openperouter /out/openperouter \
    && /out/openperouter --version

FROM ${FRR_IMAGE}
# nsenter (util-linux) lets the router pod's FRR container enter /run/netns/perouter; tini
# (the FRR image's init) and python3 (frr-reload.py, used by the reloader) come with the base.
# hadolint ignore=DL3018
RUN apk add --no-cache util-linux-misc \
    && command -v nsenter \
    && test -x /sbin/tini \
    && test -f /usr/lib/frr/frr-reload.py
COPY --from=build /out/openperouter /usr/bin/openperouter
# The manifests set every container's command; without one the image prints the usage.
ENTRYPOINT []
CMD ["/usr/bin/openperouter", "--help"]
