# Multi-stage build of the trafficlight server. Not built in CI (no Docker engine there).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin trafficlight

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/trafficlight /usr/local/bin/trafficlight
COPY scenarios /srv/trafficlight/scenarios
WORKDIR /srv/trafficlight
EXPOSE 5000
ENTRYPOINT ["trafficlight"]
CMD ["serve", "--bind", "0.0.0.0:5000", "--scenarios", "scenarios", "--output", "output"]
