# Scoring API image: the serving core only (Litestar, uvicorn, LightGBM, numpy/pandas/pyarrow,
# Polars/Narwhals for the feature code, msgspec, SQLAlchemy, prometheus-client) — no MLflow,
# scikit-learn or DVC. Runs as a non-root user; one uvicorn worker per available core.
#
# The model bundle is NOT baked in: mount it (docker-compose mounts ./models/bundle read-only)
# or fetch it with `dvc pull models/bundle` before building a derived image. Without a valid
# bundle the container exits at once with "cannot start the API: ..." (status 2).
#
#   docker build -f docker/api.Dockerfile -t pret-a-depenser-api .
#   docker run -p 8000:8000 -v "$PWD/models/bundle:/app/models/bundle:ro" pret-a-depenser-api
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /usr/local/bin/uv
WORKDIR /app
ENV UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 UV_PYTHON_DOWNLOADS=never
COPY pyproject.toml uv.lock ./
# project dependencies only (the serving core): no pipeline, dashboard or dev groups
RUN uv sync --frozen --no-default-groups --no-install-project

FROM python:3.11-slim
# libgomp1: LightGBM's OpenMP runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 app \
 && mkdir -p /data /app/models/bundle \
 && chown app:app /data
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY scoring/ scoring/
COPY api/ api/
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    BUNDLE_DIR=/app/models/bundle \
    EVENTS_URL=sqlite:////data/events.db \
    OMP_NUM_THREADS=1 \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    HOST=0.0.0.0 \
    PORT=8000
USER app
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=90s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2)"
CMD ["python", "-m", "api"]
