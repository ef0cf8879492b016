# The two commands of the README: `make run` and `make test`. Everything else they need
# (the virtual environment, tshark, tcpdump, tcpreplay) is set up from here.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup tools samples run test bench fuzz clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

tools:
	bash scripts/install-tools.sh

samples: setup
	$(PY) pcaps/make_samples.py

run: setup
	$(VENV)/bin/ybsensor replay pcaps/*.pcap pcaps/*.pcapng --config pcaps/example.toml

test: setup tools
	$(PY) -m pytest -q

bench: setup tools
	$(PY) -m pytest bench -q --benchmark-enable --benchmark-only
	$(PY) bench/peers.py

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks bench/out
