# syntax=docker/dockerfile:1
# teampulse's image: `docker compose up` runs it beside PostgreSQL (docs/deploy.md).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Builder: wheels for exactly the locked dependencies (requirements.txt, hash-checked) and for
# teampulse itself.  Every locked package ships binary wheels, so no compiler is needed even here.
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements.txt ./
RUN pip wheel --require-hashes --only-binary=:all: --wheel-dir /wheels -r requirements.txt
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY surveys ./surveys
COPY storage ./storage
RUN pip wheel --no-deps --wheel-dir /wheels .

# Runtime: the slim base, a virtualenv of those wheels, and an unprivileged user; no build tools,
# no source tree, no pip cache.
FROM ${PYTHON_IMAGE}
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HOME=/home/teampulse \
    PATH=/opt/teampulse/bin:$PATH
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv /opt/teampulse \
    && /opt/teampulse/bin/pip install --no-index --no-deps /wheels/*.whl
# a fixed numeric id, so orchestrators that insist on a non-root user can check it
RUN groupadd --system --gid 10001 teampulse \
    && useradd --system --uid 10001 --gid teampulse --create-home --home-dir /home/teampulse teampulse
USER 10001:10001
WORKDIR /home/teampulse
EXPOSE 3978
# /healthz answers while the process is alive (readiness, /readyz, is the load balancer's to ask)
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3978'), timeout=4)"]
# the same `teampulse serve` as `make run`: it upgrades the database, then serves.  Other
# commands: `docker compose run --rm bot org import org.yaml` and so on.
ENTRYPOINT ["teampulse"]
CMD ["serve"]
