# syntax=docker/dockerfile:1
#
# kaudit container image: a fully static binary with the rules under rules/
# compiled in, on a distroless base (no shell, no package manager), running as
# a non-root numeric user.
#
#   docker build -t kaudit .
#   docker build --build-arg KAUDIT_RULES=/src/my-rules/my_rules.yaml -t kaudit:custom .
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
# Optional: rule file(s) to compile in instead of rules/*.yaml, in the form
# build.rs reads from KAUDIT_RULES (paths inside the build context, /src/...).
ARG KAUDIT_RULES=""
COPY . .
# Build, refuse a binary that still needs a dynamic loader (`ldd` fails on a
# static executable), and stage the binary plus the bundled rules file (for
# run-time override files that layer over it:
# rules_files: [/etc/kaudit/rules/k8s_audit_rules.yaml, ...]).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    set -eu; \
    if [ -z "$KAUDIT_RULES" ]; then unset KAUDIT_RULES; fi; \
    cargo static; \
    install -D -m 0755 target/x86_64-unknown-linux-gnu/release/kaudit /out/kaudit; \
    if ldd /out/kaudit >/dev/null 2>&1; then echo "kaudit is not a static executable" >&2; exit 1; fi; \
    /out/kaudit --version; \
    install -D -m 0644 rules/k8s_audit_rules.yaml /out/rules/k8s_audit_rules.yaml

# ---------------------------------------------------------------------------
# Runtime stage: distroless "static" brings CA certificates (for https
# http_output receivers), /etc/passwd with the nonroot user, and tzdata.
# ---------------------------------------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/kaudit /usr/local/bin/kaudit
COPY --from=build /out/rules/ /etc/kaudit/rules/
# Numeric, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 65532:65532
# Audit webhook (POST /k8s-audit and /k8s_audit), GET /healthz, GET /metrics.
EXPOSE 8765
ENTRYPOINT ["/usr/local/bin/kaudit", "serve"]
