# Two commands: `make run` (the main job) and `make test` (the whole suite).
# Both create .venv on first use and install the project with its pinned torch/torchvision.
SHELL  := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sslkit-installed

.PHONY: run test install clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing sslkit and its pinned dependencies into $(VENV) (first time: a few minutes)..."
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[all,test]' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@$(BIN)/python -c "import torch, torchvision, sslkit; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m sslkit run-notebooks --profile quick

# One worker per core (TEST_JOBS=0: in-process, one after another); --dist loadfile keeps a notebook's
# cells in one worker and in order (nbval runs them in one kernel). Notebooks that share a cached
# run (04/05/09, 06/07) may run at once: the second waits for the first to train it (sslkit.io.when_unlocked).
TEST_JOBS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -q -rs -n $(TEST_JOBS) --dist loadfile --nbval-lax --nbval-current-env notebooks tests

clean-venv:
	rm -rf $(VENV)
