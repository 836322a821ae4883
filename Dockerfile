# syntax=docker/dockerfile:1
#
# The OpenPERouter image: Debian 13 with its FRR 10.3 plus the `openperouter` binary. Every pod
# of the Kubernetes deployment (config/) runs this one image: the controller, the router pod (FRR
# and the reloader sidecar) and the nodemarker pod (node-index allocator and admission webhooks).
#
#   docker build -t localhost/openperouter:dev .
#   podman build -t localhost/openperouter:dev .
#
# Stage 1 builds the binary on Debian 13 (glibc 2.41); stage 2 is a Debian 13 slim image with
# Debian's FRR packages, the FRR line the lab VM tests with `--frr 10` (same packages, same
# paths: /usr/lib/frr, /etc/frr, frr-reload.py).

ARG RUST_IMAGE=docker.io/library/rust:1-slim-trixie
ARG BASE_IMAGE=docker.io/library/debian:trixie-slim

FROM ${RUST_IMAGE} AS build
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

FROM ${BASE_IMAGE}
# frr: the daemons (zebra, bgpd, staticd, bfdd, and mgmtd, which FRR 10 needs) and vtysh;
# util-linux: nsenter, so the router pod's FRR container can enter /run/netns/perouter, and
# flock, with which FRR's control script spaces the ends of watchfrr's jobs;
# iproute2: `ip` for debugging a node; tini: the init that reaps the daemons' children;
# containernetworking-plugins: the CNI plugins of CNIDevice underlays (in /usr/lib/cni);
# openvswitch-switch: ovs-vsctl, the controller's client of the node's Open vSwitch database
# (L2VNIs with an OVSBridge host master; the OVS daemons in the package are never started here).
# No frr-pythontools: the reloader applies changes with its own applier (one vtysh per pass);
# the only Python in the image is what Open vSwitch's package depends on.
# Versions follow the Debian 13 point release the base image carries (pinning them breaks the
# build at every security update).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends frr util-linux iproute2 tini containernetworking-plugins \
        openvswitch-switch \
    && rm -rf /var/lib/apt/lists/* \
    && command -v nsenter \
    && command -v flock \
    && command -v ovs-vsctl \
    && test -x /usr/lib/frr/mgmtd \
    && test -x /usr/lib/cni/macvlan
COPY --from=build /out/openperouter /usr/bin/openperouter
# The manifests set every container's command; without one the image prints the usage.
ENTRYPOINT []
CMD ["/usr/bin/openperouter", "--help"]
