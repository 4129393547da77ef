# handgrad: `make grade` (the grading round) and `make test` (the whole suite).
# Both set up .venv/ from scratch on a machine with Python 3.11+ and make, and are quick once it exists.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: grade test setup system-packages samples release student clean test-browser lecture browser-packages

grade: setup
	$(BIN)/handgrad grade --course .

test: setup
	$(BIN)/ruff check lib tests tools benchmarks
	$(BIN)/mypy lib/handgrad
	$(BIN)/python -m pytest -q -p no:cacheprovider

setup: $(VENV)/.installed system-packages browser-packages

# The browser suite (tests/browser) drives Debian's Chromium; as root it is installed with apt,
# elsewhere that suite is skipped with the reason.
browser-packages:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
	      || echo "note: apt-get could not install chromium; the browser tests will be skipped"; \
	  else echo "note: not root or no apt-get: chromium missing, the browser tests will be skipped"; fi; \
	fi

# The browser suite alone (`make test` runs it too): every notebook run in JupyterLab 4 and Notebook 7
# (screenshots in reports/browser/).
test-browser: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/browser

# Lecture mode: JupyterLab on the release notebooks with the lecture demos listed in its launcher page.
lecture: setup
	$(BIN)/handgrad-lecture --course .

# Debian's Fashion-MNIST (offline data) and bubblewrap (the grading sandbox), where apt is usable as root.
# Elsewhere nothing is installed: data is downloaded by torchvision and the sandbox falls back to limits only.
system-packages:
	@if [ ! -d /usr/share/datasets/fashion-mnist ] || ! command -v bwrap >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist bubblewrap) >/dev/null \
	      || echo "note: apt-get could not install dataset-fashion-mnist/bubblewrap; continuing without them"; \
	  else echo "note: not root or no apt-get: Fashion-MNIST will be downloaded, grading uses resource limits only"; fi; \
	fi

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

release: setup
	for id in $$(ls source); do $(BIN)/nbgrader generate_assignment $$id --force --log-level=WARN; done

samples: release
	$(BIN)/python tools/make_samples.py

# The student hand-out: release notebooks, the student part of the lib as a wheel, pins, README.
student: setup
	$(BIN)/python -m handgrad.handout --course . --out dist/student

clean:
	rm -rf $(VENV) gradebook.db autograded/*/ feedback reports .handgrad dist
