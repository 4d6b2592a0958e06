# Switchback: `make run` starts the local stack, `make test` runs every test. Both set
# themselves up (a virtualenv in .venv from requirements-dev.txt) on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000
# Make defines AS itself (the assembler, "as"), so `?=` would never apply: who `make slash`
# speaks as, unless AS=… is given.
ifeq ($(origin AS),default)
AS = U0ALICE
endif
STAGE ?= prod
BUCKET ?=
STACK ?=
PARAMS ?=
# The policy folder (people.toml, roles/): keep it in your own repository and point here.
POLICIES ?= $(or $(SWITCHBACK_POLICIES),policies)
POLICIES_DIR = $(abspath $(POLICIES))

.PHONY: run test lint slash bench browser clean package deploy admin

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	PORT=$(PORT) SWITCHBACK_POLICIES=$(POLICIES_DIR) $(PY) -m tools.local_stack

# Chromium for the browser test: Debian's packages when missing (needs root); otherwise the
# browser test is skipped with a loud reason, never silently.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	    || echo "WARNING: could not install chromium; the browser test will be skipped"; \
	else echo "WARNING: /usr/bin/chromium missing and cannot install it; the browser test will be skipped"; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(STAMP) browser lint
	$(PY) -m pytest -q -n 2 --dist loadgroup

# The operator CLI: make admin ARGS='list' (see docs/operations.md).
admin: $(STAMP)
	$(PY) -m tools.admin $(ARGS)

# ARGS and AS reach tools.slash through the environment, never through a shell command line,
# so quotes, &, *, $ and <@U…> arrive exactly as typed. Make itself would export ARGS from the
# command line expanded (running any $(shell …) in it): unexport keeps it out.
unexport ARGS AS
slash: export SWITCHBACK_SLASH_TEXT = $(value ARGS)
slash: export SWITCHBACK_SLASH_AS = $(value AS)
slash: $(STAMP)
	$(PY) -m tools.slash

bench: $(STAMP)
	$(PY) bench/ack_latency.py
	$(PY) bench/cold_import.py
	$(PY) bench/approval_race.py
	$(PY) bench/grant_calls.py
	$(PY) bench/event_calls.py
	$(PY) bench/event_ack.py
	$(PY) bench/holder_send.py
	$(PY) bench/sweep_scale.py
	$(PY) bench/reason_pattern.py

# dist/$(STAGE)/: the CloudFormation (SAM) template and the Lambda zip, for any way of deploying.
package: $(STAMP)
	$(PY) -m tools.package --stage $(STAGE) --policies $(POLICIES_DIR)

# package, then `aws cloudformation package` + `deploy` (needs the AWS CLI and credentials).
deploy: $(STAMP)
	$(PY) -m tools.deploy --stage $(STAGE) --bucket "$(BUCKET)" $(if $(STACK),--stack $(STACK)) \
	  $(if $(PARAMS),--parameters $(PARAMS)) --policies $(POLICIES_DIR)

clean:
	rm -rf $(VENV) .local .pytest_cache .hypothesis test-artifacts dist vendor chalicelib/policies
