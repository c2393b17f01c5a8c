# Two commands: `make run` serves the hub with demo data; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
export HUB_PORT ?= 8000

.PHONY: run test bench install install-test services fonts clean
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# The PDF e-license embeds a CJK font subset (Debian fonts-wqy-microhei); install it when missing.
fonts:
	@test -f $(CJK_FONT) || test -n "$$HUB_CJK_FONT" || { \
	  echo "Installing fonts-wqy-microhei (CJK font for the PDF e-license)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q fonts-wqy-microhei >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q fonts-wqy-microhei >/dev/null; }; }

install: $(STAMP)
install-test: $(TEST_STAMP)

run: $(STAMP) fonts
	mkdir -p var
	$(BIN)/hub demo
	@echo "API docs:  http://127.0.0.1:$(HUB_PORT)/docs"
	@echo "Verify:    POST http://127.0.0.1:$(HUB_PORT)/verify"
	HUB_DEMO_IDENTITY=true $(BIN)/hub serve --port $(HUB_PORT) --demo-systems

# PostgreSQL must answer on 127.0.0.1:5432 (HUB_TEST_DATABASE_URL overrides); SeaweedFS is started by the tests.
services:
	@pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null || { \
	  command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start 2>/dev/null; \
	  sleep 2; }; true

test: $(TEST_STAMP) services fonts
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

bench: $(TEST_STAMP) services fonts
	$(BIN)/python -m bench --markdown

clean:
	rm -rf $(VENV) var .pytest_cache
