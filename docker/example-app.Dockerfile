# An application image that carries prestart: the binary is copied out of
# the prestart image, the revisions sit beside the application, and
# prestart is the entrypoint (it execs CMD once the schema is at head).
ARG PRESTART_IMAGE=prestart:local
FROM ${PRESTART_IMAGE} AS prestart

FROM python:3.12-slim
COPY --from=prestart /usr/local/bin/prestart /usr/local/bin/prestart
COPY docker/demo/migrations /app/migrations
WORKDIR /app
USER 65532
ENTRYPOINT ["/usr/local/bin/prestart", "--"]
CMD ["python3", "-m", "http.server", "8000"]
