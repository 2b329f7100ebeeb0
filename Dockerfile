# syntax=docker/dockerfile:1
# Production image: the API by default, the worker with `forexcrm worker` (same image).
# Dependencies come from requirements.lock (pinned, hashed; compiled without the `embedded` extra,
# so no embedded PostgreSQL or Redis binaries). Refresh it after changing pyproject's dependencies:
#   uv pip compile pyproject.toml --python-version 3.11 --python-platform linux --generate-hashes -o requirements.lock

# Dependencies: one virtual environment from the lock file alone, so a source change reuses this layer.
FROM python:3.11-slim AS deps
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --require-hashes --no-deps -r /tmp/requirements.lock

# The project itself, as a wheel (its dependencies are the lock's, above).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY api ./api
COPY infra ./infra
COPY sandbox ./sandbox
COPY schema ./schema
COPY domain ./domain
COPY jobs ./jobs
COPY bench ./bench
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheel .

# Runtime: no compiler, no sources beyond the installed package, a non-root user. The environment is
# copied once (no wheels copied and then installed again); the project wheel is mounted, not copied.
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    FOREXCRM_MODE=production FOREXCRM_HOST=0.0.0.0 FOREXCRM_PORT=8000
RUN useradd --create-home --uid 10001 forexcrm
COPY --from=deps /opt/venv /opt/venv
RUN --mount=type=bind,from=build,source=/wheel,target=/wheel \
    pip install --no-cache-dir --no-deps /wheel/*.whl
USER forexcrm
WORKDIR /home/forexcrm
EXPOSE 8000
# Follows FOREXCRM_PORT; in a container running `forexcrm worker` it checks that worker's Redis
# heartbeat instead (`forexcrm healthcheck --help`).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s CMD ["forexcrm", "healthcheck"]
CMD ["forexcrm", "api"]
