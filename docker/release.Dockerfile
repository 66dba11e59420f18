# The image of one platform of a release: the static binary `make release`
# wrote to dist/ for that platform, and the CA bundle. `make image` builds
# one per platform from a staged context (tests/containers/images.sh
# release) and joins them in the index localhost/prestart:VERSION:
#
#   context/prestart-linux-amd64, context/prestart-linux-arm64
#   context/ca-certificates.crt
#
#   podman build --platform linux/arm64 --build-arg TARGETARCH=arm64 ...
FROM scratch
ARG TARGETARCH
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY prestart-linux-${TARGETARCH} /usr/local/bin/prestart
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532
ENTRYPOINT ["/usr/local/bin/prestart"]
