# The two commands the README leads with. Both build .venv themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
STAMP := $(VENV)/.installed
# The page's tests drive Debian's chromium with Playwright (its browser download is not used).
CHROMIUM ?= /usr/bin/chromium
CHROMIUM_STAMP := $(VENV)/.chromium

.PHONY: demo test install clean

demo: $(STAMP)
	@$(VENV)/bin/python -m compileall -q src
	$(VENV)/bin/grassroots demo

test: $(STAMP) $(CHROMIUM_STAMP)
	$(VENV)/bin/pytest

install: $(STAMP)

# pyproject.toml pins torch==2.14.1 / torchvision==0.29.1 (embed, train): they
# install from this machine's disk; other versions download gigabytes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	@# An editable install leaves src/ uncompiled; without bytecode every command compiles
	@# it again (~0.1 s a run; every run where PYTHONDONTWRITEBYTECODE is set). `make demo`
	@# refreshes it after edits.
	$(VENV)/bin/python -m compileall -q src
	touch $(STAMP)

$(CHROMIUM_STAMP): $(STAMP)
	@if [ ! -x $(CHROMIUM) ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian's chromium for the browser tests"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; \
	fi
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --version
	touch $@

clean:
	rm -rf $(VENV) demo-out .pytest_cache
