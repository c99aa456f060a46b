# The two commands the README leads with. Both build .venv themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

demo: $(STAMP)
	$(VENV)/bin/grassroots demo

test: $(STAMP)
	$(VENV)/bin/pytest

install: $(STAMP)

# pyproject.toml pins torch==2.14.1 / torchvision==0.29.1 (embed, train): they
# install from this machine's disk; other versions download gigabytes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) demo-out .pytest_cache
