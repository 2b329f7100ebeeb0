# syntax=docker/dockerfile:1
# Build stage: wheels for the project and its dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY api ./api
COPY infra ./infra
COPY sandbox ./sandbox
COPY schema ./schema
COPY domain ./domain
COPY jobs ./jobs
COPY bench ./bench
COPY migrations ./migrations
RUN pip wheel --wheel-dir /wheels .

# Runtime stage: no compiler, no sources beyond the installed package, a non-root user.
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FOREXCRM_MODE=production FOREXCRM_HOST=0.0.0.0
RUN useradd --create-home --uid 10001 forexcrm
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER forexcrm
WORKDIR /home/forexcrm
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/health'); sys.exit(0)"
# The API by default; the worker is the same image: `docker run IMAGE forexcrm worker`.
CMD ["forexcrm", "api"]
