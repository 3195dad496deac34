# syntax=docker/dockerfile:1.7
# Easel's GPU worker: an NVIDIA CUDA runtime base, torch's CUDA build, the diffusers and image
# screening stack. No weights inside: an init step (`manage.py models fetch`) puts them into
# the model cache volume at deploy time (docs/deploy.md). Build from the repository root:
# docker build -f platform/docker/gpu-worker.Dockerfile -t easel-gpu-worker .
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128

FROM ${CUDA_IMAGE} AS build
ARG TORCH_INDEX
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DEBIAN_FRONTEND=noninteractive \
    PATH=/opt/venv/bin:$PATH
# Ubuntu's packages are pinned by the CUDA image's release (24.04); security updates replace
# exact versions, so they are not pinned one by one.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv
WORKDIR /app
COPY platform/docker/constraints.txt /tmp/constraints.txt
RUN pip install --index-url "${TORCH_INDEX}" "torch==2.13.0"
COPY pyproject.toml README.md manage.py ./
COPY config ./config
COPY common ./common
COPY accounts ./accounts
COPY billing ./billing
COPY generation ./generation
COPY moderation ./moderation
COPY frontend ./frontend
COPY platform ./platform
# mediapipe last and without its declared pins (numpy<2, jax), which its face detector does
# not need (as the Makefile installs it).
RUN pip install -c /tmp/constraints.txt ".[gpu,moderation]" \
    && pip install --no-deps "mediapipe==0.10.21" \
    && pip uninstall --yes easel \
    && SECRET_KEY=build-only ALLOWED_HOSTS=localhost SITE_URL=http://localhost \
       DJANGO_SETTINGS_MODULE=config.settings.production \
       python manage.py moderation prepare-models

FROM ${CUDA_IMAGE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends python3 tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin easel \
    && mkdir -p /models \
    && chown 10001:10001 /models
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=10001:10001 /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    PROMETHEUS_MULTIPROC_DIR=/tmp/easel-metrics \
    EASEL_MODEL_CACHE=/models \
    HF_HOME=/models/.huggingface \
    HF_HUB_OFFLINE=1 \
    EASEL_WORKER_PROBE_PORT=9808
USER 10001:10001
EXPOSE 9808
VOLUME ["/models"]
ENTRYPOINT ["tini", "--"]
# One child per GPU (EASEL_GPU_COUNT), prefetch 1: the gpu-worker line of platform/Procfile.
CMD ["sh", "-c", "exec celery -A config worker --loglevel INFO --queues ${EASEL_WORKER_QUEUES:-gpu} --pool prefork --concurrency ${EASEL_GPU_COUNT:-1} --prefetch-multiplier 1 --hostname gpu@%h"]
