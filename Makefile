# Easel: `make run` starts everything on embedded defaults (platform/Procfile's web, worker and
# beat, restarted when one dies: common/supervisor.py); `make test` runs the whole suite.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint migrate bench clean

# torch is installed first and pinned, so nothing later pulls a CUDA build of it. mediapipe
# goes last, without its declared dependencies (pyproject.toml says why): installed before the
# rest, it made pip's resolver print a red "ERROR: ... dependency conflicts" about it.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[gpu,moderation,dev]"
	$(PY) -m pip install -q --no-deps "mediapipe==0.10.21"
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py moderation prepare-models

run: migrate
	$(PY) manage.py ensure_local_admin
	$(PY) manage.py collectstatic --noinput -v 0
	EASEL_WEB_PORT=$${PORT:-8000} $(PY) -m common.supervisor -f platform/Procfile web worker beat

# pytest exits 5 when it collected no test: that must fail, not pass quietly.
test: install
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/hadolint platform/docker/*.Dockerfile

clean:
	rm -rf $(VENV) var
