# syntax=docker/dockerfile:1.7
# Easel's web image, which the CPU worker and beat share: gunicorn managing uvicorn workers,
# static files collected at build time, run as an unprivileged user. Build from the repository
# root: docker build -f platform/docker/web.Dockerfile -t easel-web .
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
WORKDIR /app
RUN python -m venv /opt/venv
COPY platform/docker/constraints.txt /tmp/constraints.txt
# torch first and pinned, as its CPU build (prompt and upload screening run on the CPU here).
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
COPY pyproject.toml README.md manage.py ./
COPY config ./config
COPY common ./common
COPY accounts ./accounts
COPY billing ./billing
COPY generation ./generation
COPY moderation ./moderation
COPY frontend ./frontend
COPY platform ./platform
# Dependencies from pyproject.toml at the tested versions; the code itself runs from /app.
# Static files and the prompt screen's int8 sentence model (var/models) are made here.
# mediapipe last and without its declared pins (numpy<2, jax), which its face detector does
# not need (as the Makefile installs it).
RUN pip install -c /tmp/constraints.txt ".[moderation]" \
    && pip install --no-deps "mediapipe==0.10.21" \
    && pip uninstall --yes easel \
    && export SECRET_KEY=build-only ALLOWED_HOSTS=localhost SITE_URL=http://localhost \
       DJANGO_SETTINGS_MODULE=config.settings.production \
    && python manage.py collectstatic --noinput --verbosity 0 \
    && python manage.py moderation prepare-models

FROM ${PYTHON_IMAGE} AS runtime
# tini is PID 1: it hands SIGTERM to the server alone (a Celery worker then drains) and reaps.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin easel
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=10001:10001 /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    WHITENOISE_USE_FINDERS=false \
    PROMETHEUS_MULTIPROC_DIR=/tmp/easel-metrics \
    HF_HUB_OFFLINE=1
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["tini", "--"]
CMD ["gunicorn", "--config", "platform/gunicorn.conf.py", "config.asgi:application"]
