# The application of the two-phase rollout example (docker/phases-compose.yml):
# prestart copied out of the prestart image, the revisions of APP_VERSION
# in /app/migrations, and a small Python server that reads them
# (docker/phases-demo/app.py). v1 has one revision; v2 adds an expand
# revision (a new column) and a contract one (dropping the column v1 reads).
#
#   docker build -f docker/phases-app.Dockerfile --build-arg APP_VERSION=v1 -t phases-app:v1 .
#   docker build -f docker/phases-app.Dockerfile --build-arg APP_VERSION=v2 -t phases-app:v2 .
ARG PRESTART_IMAGE=prestart:local
FROM ${PRESTART_IMAGE} AS prestart

FROM debian:12
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    python3 python3-psycopg2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=prestart /usr/local/bin/prestart /usr/local/bin/prestart
WORKDIR /app
COPY docker/phases-demo/app.py /app/app.py
ARG APP_VERSION=v2
COPY docker/phases-demo/${APP_VERSION}/ /app/migrations/
ENV APP_VERSION=${APP_VERSION}
USER 65532
ENTRYPOINT ["/usr/local/bin/prestart", "--"]
CMD ["python3", "/app/app.py"]
