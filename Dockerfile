# The project's image: the `twin` CLI (simulator, live mode) and `twin-projector`.
#   docker build -t orbital-twin .          (docker-compose.yml builds it as orbital-twin:local)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY twin ./twin
COPY services ./services
COPY benchmarks ./benchmarks
COPY scenarios ./scenarios

# twin.scenario looks for presets in <site-packages>/scenarios (beside the twin package, as
# in the repository), so the preset TOML files are copied there after the install.
RUN pip install . \
    && site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && cp -r scenarios "$site/scenarios" \
    && useradd --system --uid 10001 --create-home --home-dir /home/twin twin \
    && mkdir -p /data \
    && chown twin:twin /data \
    && twin scenarios | grep -q '^demo '

USER twin
WORKDIR /data
# 9107: live simulator metrics (twin run --metrics-port); 9108: projector (/metrics, /healthz)
EXPOSE 9107 9108
CMD ["twin", "--help"]
