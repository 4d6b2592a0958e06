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

.PHONY: run test lint slash activity bench browser clean package deploy admin

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	PORT=$(PORT) SWITCHBACK_POLICIES=$(POLICIES_DIR) $(PY) -m tools.local_stack

# Chromium for the browser test (tests/test_browser.py): Debian's packages, installed when
# missing. Needs root (`sudo make browser`); `make test` never does. Without Chromium the
# browser test is skipped with the reason on a developer's machine, and fails in CI.
browser:
	@if [ -x /usr/bin/chromium ]; then echo "/usr/bin/chromium is installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium and chromium-driver for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "/usr/bin/chromium is missing: run \`sudo make browser\` (Debian), or install your system's chromium and chromium-driver packages" >&2; exit 1; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(STAMP) lint
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

# A call recorded in the local stack's CloudTrail stand-in, as AS's session on their grant:
# make activity AS=U0ALICE ARGS='ec2 RunInstances' (flags too: ARGS='--error AccessDenied iam CreateUser').
activity: export SWITCHBACK_ACTIVITY_ARGS = $(value ARGS)
activity: export SWITCHBACK_ACTIVITY_AS = $(value AS)
activity: $(STAMP)
	$(PY) -m tools.activity

# Every bench script (docs/benchmarks.md and the docs cite their figures; tests/test_make.py
# checks that each one cited runs here). bench/engine_setup.py is their shared setup.
bench: $(STAMP)
	$(PY) bench/ack_latency.py
	$(PY) bench/cold_import.py
	$(PY) bench/approval_race.py
	$(PY) bench/approval_burst.py
	$(PY) bench/grant_calls.py
	$(PY) bench/event_calls.py
	$(PY) bench/event_ack.py
	$(PY) bench/holder_send.py
	$(PY) bench/sweep_scale.py
	$(PY) bench/list_scale.py
	$(PY) bench/slow_aws_ack.py
	$(PY) bench/capacity.py
	$(PY) bench/sweep_idle.py
	$(PY) bench/reason_pattern.py
	$(PY) bench/activity_calls.py

# dist/$(STAGE)/: the CloudFormation (SAM) template and the Lambda zip, for any way of deploying.
package: $(STAMP)
	$(PY) -m tools.package --stage $(STAGE) --policies $(POLICIES_DIR)

# package, then `aws cloudformation package` + `deploy` (needs the AWS CLI and credentials).
deploy: $(STAMP)
	$(PY) -m tools.deploy --stage $(STAGE) --bucket "$(BUCKET)" $(if $(STACK),--stack $(STACK)) \
	  $(if $(PARAMS),--parameters $(PARAMS)) --policies $(POLICIES_DIR)

clean:
	rm -rf $(VENV) .local .pytest_cache .hypothesis test-artifacts dist vendor chalicelib/policies
