# syntax=docker/dockerfile:1
#
# kaudit container image: a fully static binary with the rules under rules/
# compiled in, on a distroless base (no shell, no package manager), running as
# a non-root numeric user.
#
#   docker build -t kaudit .
#   docker build --build-arg KAUDIT_RULES=rules/k8s_audit_rules.yaml:site/overrides.yaml -t kaudit:site .
#   docker run --rm -p 8765:8765 kaudit            # webhook on :8765, /healthz, /metrics
#   docker run --rm -p 8765:8765 -v $PWD/falco.yaml:/etc/kaudit/falco.yaml:ro \
#       kaudit -c /etc/kaudit/falco.yaml
#
# The build needs crates.io (cargo fetches the locked dependencies) and
# BuildKit (the cache mounts below). The image is linux/amd64: `cargo static`
# names the x86_64-unknown-linux-gnu triple (build elsewhere with
# `docker build --platform linux/amd64`).

ARG RUST_VERSION=1.95

# ---------------------------------------------------------------------------
# Build stage: `cargo static` (alias in .cargo/config.toml) links glibc
# statically and names the target triple, so the proc-macro that compiles the
# rules is still built as a normal host library.
# ---------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# Optional: rule files to compile in instead of rules/*.yaml, as build.rs reads
# KAUDIT_RULES (a `:`-separated list of paths relative to the build context).
ARG KAUDIT_RULES=""
COPY . .
# Build, refuse a binary that still needs a dynamic loader (a PT_INTERP
# header) or that is not position-independent (a static-PIE is ELF type DYN;
# a fixed-address executable, EXEC, would run without ASLR), and stage it. The rule files are compiled in (and their
# text embedded for `serve --with-builtin-rules`), so the image needs no
# rules directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    set -eu; \
    if [ -z "$KAUDIT_RULES" ]; then unset KAUDIT_RULES; fi; \
    cargo static; \
    install -D -m 0755 target/x86_64-unknown-linux-gnu/release/kaudit /out/kaudit; \
    if readelf -l /out/kaudit | grep -q INTERP; then echo "kaudit needs a dynamic loader" >&2; exit 1; fi; \
    readelf -h /out/kaudit | grep -q 'Type: *DYN' || { echo "kaudit is not a static-PIE (no ASLR)" >&2; exit 1; }; \
    /out/kaudit --version

# ---------------------------------------------------------------------------
# Runtime stage: distroless "static" brings CA certificates (for https
# http_output receivers), /etc/passwd with the nonroot user, and tzdata.
# ---------------------------------------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/kaudit /usr/local/bin/kaudit
# Numeric, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 65532:65532
# Audit webhook (POST /k8s-audit and /k8s_audit), GET /healthz, GET /metrics.
EXPOSE 8765
ENTRYPOINT ["/usr/local/bin/kaudit", "serve"]
