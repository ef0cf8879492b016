# The two commands of the README: `make run` and `make test`. Everything else they need
# (the virtual environment, tshark, tcpdump, tcpreplay) is set up from here.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup tools samples run test bench fuzz soak clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,cluster]'
	# Hyperscan speeds up the personal-data matcher; where no wheel fits, the numpy matcher
	# gives the same results (numba, the decoders' compiled loop, is a dependency)
	$(PY) -m pip install -q -e '.[fast]' || echo "hyperscan not installed: numpy matcher in use"
	touch $@

tools:
	bash scripts/install-tools.sh

samples: setup
	$(PY) pcaps/make_samples.py

run: setup
	$(VENV)/bin/ybsensor replay pcaps/*.pcap pcaps/*.pcapng --config pcaps/example.toml -l out/run

# on every core (pytest-xdist), a test file to a worker: the module- and session-scoped
# fixtures (a replayed corpus, a Dask cluster, tshark's dissections) are built once
test: setup tools
	$(PY) -m pytest -q -n auto --dist loadfile

# Hostile input for longer than `make test` gives it: bulk numpy fuzzing of every decoder
# for FUZZ_SECONDS, hostile configurations through check-config, replay and reloads (a real
# SIGHUP to `ybsensor run` on lo when root) for FUZZ_CONFIG_SECONDS, then the hypothesis
# properties of tests/decoders/test_fuzz_decoders.py with the "long" profile (FUZZ_EXAMPLES examples
# each). A failure is kept under fuzz-out/.
FUZZ_SECONDS  ?= 600
FUZZ_CONFIG_SECONDS ?= 120
FUZZ_EXAMPLES ?= 20000
fuzz: setup
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) HYPOTHESIS_PROFILE=long $(PY) scripts/fuzz.py \
	  --seconds $(FUZZ_SECONDS) --config-seconds $(FUZZ_CONFIG_SECONDS)

# A flood of 10 million distinct flows through a table of a million: resident memory stays
# under the table's size plus a fixed base, evictions are counted, a planted violation is found.
SOAK_FLOWS ?= 10000000
soak: setup
	$(PY) tests/sensor/test_flood.py --flows $(SOAK_FLOWS) --max-flows 1000000 --check > /dev/null

# each suite in a process of its own, as a replay from the CLI is one: a suite's leftovers
# (a million indicators, live capture rings) weighed 7 % on the replays after them
bench: setup tools
	set -e; for suite in bench/test_*.py; do \
	  $(PY) -m pytest $$suite -q --benchmark-enable --benchmark-only; done
	$(PY) bench/peers.py
	$(PY) bench/test_live.py
	$(PY) bench/cluster.py

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks bench/out
