# The project's image: the `twin` CLI (simulator, live mode) and `twin-projector`.
#   docker build -t orbital-twin .          (docker-compose.yml builds it as orbital-twin:local)
# The base image is pinned to a full version and Debian release (a floating `3.11-slim` would
# change under a rebuild); the Python packages to the exact versions in constraints.txt.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY twin ./twin
COPY services ./services
COPY benchmarks ./benchmarks
COPY scenarios ./scenarios

# The presets install as the data package `scenarios`; the build fails if they are missing.
RUN pip install -c constraints.txt . \
    && useradd --system --uid 10001 --create-home --home-dir /home/twin twin \
    && mkdir -p /data \
    && chown twin:twin /data \
    && twin scenarios | grep -q '^demo '

USER twin
WORKDIR /data
# 9107: live simulator metrics (twin run --metrics-port); 9108: projector (/metrics, /healthz)
EXPOSE 9107 9108
CMD ["twin", "--help"]
