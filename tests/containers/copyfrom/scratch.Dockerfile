# The binary alone in an empty image: no CA bundle, no files at all.
ARG PRESTART_IMAGE=localhost/prestart:latest
FROM ${PRESTART_IMAGE} AS prestart
FROM scratch
COPY --from=prestart /usr/local/bin/prestart /prestart
USER 65532
ENTRYPOINT ["/prestart"]
