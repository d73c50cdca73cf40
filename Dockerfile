# Multi-stage build of the trafficlight server. Not built in CI (no Docker engine there).
# The Rust version is pinned to the workspace's `rust-version` (Cargo.toml).
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
# Dependencies first, in a layer of their own: it is rebuilt only when Cargo.toml or
# Cargo.lock change, not on every change of the sources.
COPY Cargo.toml Cargo.lock ./
# The patched actix-http (vendor/actix-http/VENDORED.md) is a dependency like any other.
COPY vendor vendor
COPY actors/Cargo.toml actors/Cargo.toml
# The headless Matrix client is a workspace member: cargo needs its manifest to load the
# workspace, but the image does not build it (only the trafficlight binary).
COPY examples/matrix-client/Cargo.toml examples/matrix-client/Cargo.toml
RUN mkdir -p src actors/src examples/matrix-client/src \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs actors/src/lib.rs \
    && echo 'fn main() {}' > examples/matrix-client/src/main.rs \
    && cargo build --release --locked --bin trafficlight \
    && rm -rf src actors/src examples/matrix-client/src
COPY . .
# Make sure cargo sees the real sources as newer than the placeholder build.
RUN touch src/main.rs src/lib.rs actors/src/lib.rs \
    && cargo build --release --locked --bin trafficlight

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /srv/trafficlight --uid 10001 trafficlight
COPY --from=build /src/target/release/trafficlight /usr/local/bin/trafficlight
COPY scenarios /srv/trafficlight/scenarios
WORKDIR /srv/trafficlight
RUN mkdir output && chown trafficlight:trafficlight output
USER trafficlight
# Uploads and reports (junit.xml, report.json): mount a volume here to keep them.
VOLUME /srv/trafficlight/output
EXPOSE 5000
ENTRYPOINT ["trafficlight"]
CMD ["serve", "--bind", "0.0.0.0:5000", "--scenarios", "scenarios", "--output", "output"]
