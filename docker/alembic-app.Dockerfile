# An Alembic application whose migrations run without Python (SPEC §7.5):
# Alembic renders the .py revisions to SQL at build time, and the image
# that migrates is the static prestart image plus the revisions.
#
#   docker build -f docker/alembic-app.Dockerfile --target migrate -t app-migrate:local .
#   docker build -f docker/alembic-app.Dockerfile --target app -t app:local .
#
# The build stage is where the application's Python, its dependencies and
# env.py work: `prestart compile` runs env.py in Alembic's offline mode, one
# revision at a time, and writes alembic/compiled/<rev>.postgresql.sql.
# Nothing connects to a database there; env.py only needs what it reads to
# build its URL (here the application's settings: dummy values will do).
# An application on the python image installs its requirements with pip
# instead, and sets PRESTART_PYTHON to that image's python3.
ARG PRESTART_IMAGE=prestart:local
FROM ${PRESTART_IMAGE} AS prestart

FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends alembic python3-sqlalchemy python3-psycopg2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=prestart /usr/local/bin/prestart /usr/local/bin/prestart
WORKDIR /app
COPY docker/alembic-demo /app
RUN POSTGRES_SERVER=build POSTGRES_USER=build POSTGRES_PASSWORD=build POSTGRES_DB=build \
    prestart compile --dialect postgresql

# The migration image: no Python, no application, a few MB.  Compiled SQL
# is required: a revision without a fresh compiled file fails the run
# (exit 3) before anything is applied, instead of looking for alembic.
FROM ${PRESTART_IMAGE} AS migrate
WORKDIR /app
COPY --from=build /app/alembic.ini /app/alembic.ini
COPY --from=build /app/alembic /app/alembic
ENV PRESTART_REQUIRE_COMPILED=true
CMD ["--wait-timeout", "5m", "upgrade", "head"]

# The application image: it no longer migrates, so it needs neither
# prestart nor the revisions.
FROM debian:12 AS app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/app /app/app
USER 65532
CMD ["python3", "-m", "http.server", "8000"]
