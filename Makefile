# SegViz: the two commands a new user needs are `make demo` and `make test`.
# Each first runs an idempotent install step (Debian packages via apt, Python interop packages via pip).
SHELL := /bin/bash
SWIFT ?= swift
RELEASE_BIN := .build/release/segviz
FUZZ_SECONDS ?= 60

.PHONY: deps build release test demo bench bench-compare fuzz clean help api-fuzz interop consumer-check tsan

help:
	@echo "make demo   - install what is missing, build (release), run the federated demo"
	@echo "make test   - install what is missing, build, run the test suite"
	@echo "make bench  - release-build benchmarks (key=value figures on each last line)"
	@echo "make bench-compare - segviz vs PyTorch + MONAI (../shared/anchors), alternating, median of ROUNDS (5), THREADS (2)"
	@echo "make fuzz   - libFuzzer+ASan on every decoder, FUZZ_SECONDS (60) each; not part of make test"
	@echo "make api-fuzz - schemathesis against openapi.yaml with signed, unsigned and mis-signed requests"
	@echo "make interop - MONAI's own pipeline vs segviz infer on demo models and the real CT (throwaway venv, ~6 GB)"
	@echo "make tsan   - ThreadSanitizer run of the concurrency-heavy suites (own build in .build-tsan); not part of make test"
	@echo "make consumer-check - a throwaway package depending on SegVizKit by version (1.0.0 tag in a clone) builds and runs"
	@echo "make experiment-ablation - the recipe's ablation, one change at a time on one seed pair (about 34 min: 31 measured quiet with one step fewer)"
	@echo "make experiment-main - centralised, recipe and recipe-secure over 3 training x 2 phantom seeds (about 55 min quiet)"
	@echo "make experiment-dp - Dice per organ against DP epsilon 1, 4, 16, 64 and none, 2 sites x 200 phantoms (about 10 min: 9:44 measured, 2 cores)"
	@echo "make bench-compare - segviz vs the PyTorch+MONAI anchors, alternating runs (builds a ~6 GB venv in ~/.cache)"

deps:
	@bash scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product segviz

# SEGVIZ_OPTIMIZE=1 builds the numeric modules with -O in debug (Package.swift adds the flag only then, so the
# library product stays free of unsafe flags for packages that depend on it by version).
# The network-namespace fault tests cut links at chosen moments of a round; they run on their own after the rest, so
# that the parallel CPU-heavy suites cannot starve the test's timing (they skip where namespaces are not allowed).
SERIAL_SUITES := NetnsFaultTests
test: deps
	SEGVIZ_OPTIMIZE=1 $(SWIFT) build --build-tests
	SEGVIZ_OPTIMIZE=1 $(SWIFT) test --skip-build --skip '$(SERIAL_SUITES)'
	SEGVIZ_OPTIMIZE=1 $(SWIFT) test --skip-build --filter '$(SERIAL_SUITES)'

demo: release
	$(RELEASE_BIN) demo

bench: release
	$(RELEASE_BIN) bench --help

# segviz's benchmarks alternating with the unmodified PyTorch + MONAI anchors of ../shared/anchors (same threads),
# median of ROUNDS rounds and the ratios; the anchors' venv (PyPI torch, monai, nibabel) is kept between runs.
bench-compare: release
	bash scripts/bench-compare.sh

api-fuzz: deps
	SEGVIZ_OPTIMIZE=1 $(SWIFT) build --product segviz
	bash scripts/api-fuzz.sh .build/debug/segviz

# MONAI (PyPI, throwaway venv) and segviz infer give the same masks; not part of make test.
interop: deps
	SWIFT=$(SWIFT) bash scripts/interop.sh

# ThreadSanitizer over the suites where threads and tasks meet: the coordinator actor with its compute pool and
# long-polls, in-process secure rounds over HTTP(S), the intake limiter, signed requests, the compute pool itself.
# Its own scratch folder (a sanitized build shares nothing with .build); halts on the first report.
TSAN_SUITES ?= SecureRoundTests|IntakeTests|RequestAuthTests|TLSTests|ComputePoolTests|ConcurrencyTests|ClippingWarningTests
tsan: deps
	SEGVIZ_OPTIMIZE=1 $(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/scripts/tsan.supp" SEGVIZ_OPTIMIZE=1 \
	    $(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan --filter '$(TSAN_SUITES)'

# A throwaway package depends on the committed HEAD's SegVizKit by version and builds (a full build of the
# dependencies in a fresh folder: about as long as a clean `swift build`, so not part of make test).
consumer-check: deps
	SWIFT=$(SWIFT) bash scripts/consumer-check.sh

fuzz: deps
	SWIFT=$(SWIFT) FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh

# The SegViz experiment (baselines, centralised, SegViz plain/secure/FedBN, global model) into $(EXPERIMENT_OUT);
# EXPERIMENT_ARGS=--quick for the 10-minute preset, or --config FILE / --seeds N.
.PHONY: experiment
EXPERIMENT_OUT ?= runs/experiment
experiment: release
	$(RELEASE_BIN) experiment --out $(EXPERIMENT_OUT) $(EXPERIMENT_ARGS)

# The recipe's ablation (issue 18): the old setup, one change at a time, the whole recipe, on one seed pair, into
# $(ABLATION_OUT)/ablation.{md,json}. ABLATION_ARGS=--quick for the small setting.
.PHONY: experiment-ablation experiment-main
ABLATION_OUT ?= runs/experiment-ablation
experiment-ablation: release
	$(RELEASE_BIN) experiment --ablation --out $(ABLATION_OUT) $(ABLATION_ARGS)

# The main comparison of issue 18's gates: centralised, the recipe and the recipe with secure aggregation, three
# training seeds each, on two sets of phantom site seeds (the external set's generator and seed stay), into
# $(MAIN_OUT)/phantoms-{a,b}; `scripts/main-table.py $(MAIN_OUT)` prints the table over both. About 55 minutes on
# the quiet 2-core machine (README). MAIN_SETUPS lists other setups (every one: about 2.5 hours).
MAIN_OUT ?= runs/experiment-main
MAIN_SETUPS ?= "centralised", "recipe", "recipe-secure"
experiment-main: release
	mkdir -p $(MAIN_OUT)
	printf '{"setups": [%s]}\n' '$(MAIN_SETUPS)' > $(MAIN_OUT)/phantoms-a.json
	printf '{"setups": [%s], "sites": [{"id": "liver-a", "organ": "liver", "cases": 6, "seed": 111}, {"id": "spleen-b", "organ": "spleen", "cases": 6, "seed": 122}, {"id": "liver-c", "organ": "liver", "cases": 6, "seed": 133}]}\n' '$(MAIN_SETUPS)' > $(MAIN_OUT)/phantoms-b.json
	$(RELEASE_BIN) experiment --out $(MAIN_OUT)/phantoms-a --seeds 3 --config $(MAIN_OUT)/phantoms-a.json $(MAIN_ARGS)
	$(RELEASE_BIN) experiment --out $(MAIN_OUT)/phantoms-b --seeds 3 --config $(MAIN_OUT)/phantoms-b.json $(MAIN_ARGS)
	python3 scripts/main-table.py $(MAIN_OUT)

# The privacy sweep (issue 20): the shipped recipe trained federated with patient-level DP-SGD at every site for each
# target epsilon (noise multiplier from the accountant for the planned steps, as the nodes derive it) and without
# privacy, at the same rounds, on two sites of 200 small phantoms (9 min 44 s measured on the 2-core machine with the
# release build already built; README); Dice per organ against epsilon in
# $(DP_OUT)/report.html, results.json and dice-vs-epsilon.png. DP_ARGS=--config FILE changes the preset's fields.
.PHONY: experiment-dp
DP_OUT ?= runs/experiment-dp
experiment-dp: release
	$(RELEASE_BIN) experiment --privacy-sweep --out $(DP_OUT) $(DP_ARGS)

clean:
	rm -rf .build
