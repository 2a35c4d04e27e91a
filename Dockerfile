# A small non-root image with the five plugins, for the controllers in
# deploy/ (`docker build -t kubectl-pack:0.1.0 .`). Not built by CI: the
# project's machines have no container runtime.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
    -p kubectl-pack-render -p kubectl-pack-waves -p kubectl-pack-drift \
    -p kubectl-pack-crd -p kubectl-pack-secrets

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/kubectl-pack_render \
                  /src/target/release/kubectl-pack_waves \
                  /src/target/release/kubectl-pack_drift \
                  /src/target/release/kubectl-pack_crd \
                  /src/target/release/kubectl-pack_secrets /usr/local/bin/
USER 65532:65532
ENV HOME=/tmp KUBECTL_PACK_CACHE=/tmp/kubectl-pack
ENTRYPOINT ["/usr/local/bin/kubectl-pack_waves"]
CMD ["operator", "run", "-A", "--leader-elect"]
