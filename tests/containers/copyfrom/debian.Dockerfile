# An application image on Debian that takes prestart from its image and
# runs it as the ENTRYPOINT (docs/install.md): prestart migrates, then execs
# the CMD.
ARG PRESTART_IMAGE=localhost/prestart:latest
FROM ${PRESTART_IMAGE} AS prestart
FROM docker.io/library/debian:12
COPY --from=prestart /usr/local/bin/prestart /usr/local/bin/prestart
USER 65532
ENTRYPOINT ["/usr/local/bin/prestart", "run", "--"]
CMD ["sh", "-c", "echo app: running as $(id -u)"]
