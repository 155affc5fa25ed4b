# knlp - kernel-style ML experiments.  `make help` lists the targets.
#
#   make defconfig-lenet5 && make     train LeNet-5 on Fashion-MNIST
#   make test                         build and run the test suite
#
# Command-line overrides (as the kernel allows): EPOCHS=, SEED=, DEVICE=,
# MAX_ITERS=, TIME= (GPT-2), V=1,
# JOBS=N (parallel compile jobs; each torch file needs about 1.5 GiB),
# PARALLEL=N (matrix runs at a time), DIR= (the matrix of continue/report).

SHELL := /bin/bash
.DEFAULT_GOAL := all

KNLP_VENV ?= $(HOME)/.cache/knlp/venv
PY        := $(KNLP_VENV)/bin/python
BUILD     ?= build
KNLP      := $(BUILD)/knlp
export KCONFIG_CONFIG ?= .config
DEFCONFIGS := $(notdir $(wildcard defconfigs/*))

# ccache: hit across clones and worktrees, and through the precompiled torch header.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_SLOPPINESS := pch_defines,time_macros,include_file_mtime,include_file_ctime

ifeq ($(V),1)
  Q :=
  BUILD_VERBOSE := --verbose
else
  Q := @
  BUILD_VERBOSE :=
endif

# make EPOCHS=3 SEED=1 DEVICE=cpu: each becomes a --set on the knlp command line.
# GPT-2: MAX_ITERS=N (optimizer steps), TIME=S (training-time budget in seconds).
OVERRIDE_VARS := EPOCHS:NUM_EPOCHS SEED:SEED DEVICE:DEVICE MAX_ITERS:GPT2_MAX_ITERS TIME:GPT2_MAX_TIME
OVERRIDES := $(foreach o,$(OVERRIDE_VARS),$(if $($(word 1,$(subst :, ,$(o)))),--set $(word 2,$(subst :, ,$(o)))=$($(word 1,$(subst :, ,$(o))))))
PARALLEL_ARG := $(if $(PARALLEL),--parallel $(PARALLEL))
# A .config that lists several runs (CONFIG_MATRIX=y) runs as a test matrix.
IF_MATRIX := grep -qx 'CONFIG_MATRIX=y' $(KCONFIG_CONFIG)

# ---------------------------------------------------------------------------
# Dependencies: Debian packages and the venv, installed once per machine.

DEPS_STAMP := $(BUILD)/.deps-ok

$(DEPS_STAMP): scripts/install-deps.sh
	$(Q)bash scripts/install-deps.sh
	$(Q)mkdir -p $(BUILD) && touch $@

.PHONY: deps
deps: $(DEPS_STAMP)

# ---------------------------------------------------------------------------
# Build

.PHONY: build
build: $(DEPS_STAMP) $(BUILD)/include/generated/autoconf.h $(BUILD)/include/generated/kernels.h
	$(Q)if [ ! -f $(BUILD)/build.ninja ]; then \
		echo "  CMAKE   $(BUILD)"; \
		cmake -S . -B $(BUILD) -G Ninja -DKNLP_PYTHON=$(PY) >$(BUILD)/cmake.log 2>&1 || \
			{ cat $(BUILD)/cmake.log; exit 1; }; \
	fi
	$(Q)cmake --build $(BUILD) $(BUILD_VERBOSE) $(if $(JOBS),-j $(JOBS)) -- $(if $(V),,--quiet)

$(BUILD)/include/generated/autoconf.h: $(wildcard $(KCONFIG_CONFIG)) $(wildcard Kconfig*) | $(DEPS_STAMP)
	$(Q)echo "  GEN     $@"
	$(Q)$(PY) scripts/kconfig.py genconfig $@

# autoconf.h's kernel switches alone (CONFIG_KV_CUDA, CONFIG_KV_HIP), rewritten
# only when they change: CMake re-runs on this file, not on every .config edit.
$(BUILD)/include/generated/kernels.h: $(BUILD)/include/generated/autoconf.h
	$(Q)grep -E '^#define CONFIG_KV_(CUDA|HIP) ' $< >$@.tmp || true
	$(Q)if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

# ---------------------------------------------------------------------------
# Run what .config says

.PHONY: all check continue dry-run report
all: build check-config data-for-config
	$(Q)if $(IF_MATRIX); then \
		$(KNLP) matrix run --config $(KCONFIG_CONFIG) $(OVERRIDES) $(PARALLEL_ARG); \
	else \
		$(KNLP) run --config $(KCONFIG_CONFIG) $(OVERRIDES); \
	fi

check: build check-config
	$(Q)$(PY) scripts/kconfig.py check $(KCONFIG_CONFIG) || \
		echo "  (these lines of $(KCONFIG_CONFIG) are not what Kconfig keeps; 'make olddefconfig' applies Kconfig's choice)"
	$(Q)if $(IF_MATRIX); then \
		$(KNLP) matrix check --config $(KCONFIG_CONFIG) $(OVERRIDES); \
	else \
		$(KNLP) check --config $(KCONFIG_CONFIG) $(OVERRIDES); \
	fi

# The test matrix: finish the newest (or DIR=) one, print a plan, (re)write a report.
continue: build
	$(Q)$(KNLP) matrix continue $(DIR) --config $(KCONFIG_CONFIG) $(PARALLEL_ARG)

dry-run: build check-config
	$(Q)$(KNLP) matrix plan --config $(KCONFIG_CONFIG) $(OVERRIDES)

report: build
	$(Q)$(KNLP) matrix report $(DIR) --config $(KCONFIG_CONFIG)

.PHONY: check-config
check-config:
	$(Q)if [ ! -f $(KCONFIG_CONFIG) ]; then \
		echo "knlp: error: $(KCONFIG_CONFIG): no such file" >&2; \
		echo "hint: make defconfig-lenet5 (make list-defconfigs shows them all), or make menuconfig" >&2; \
		exit 2; \
	fi

# ---------------------------------------------------------------------------
# Kconfig front ends (kconfiglib)

.PHONY: menuconfig oldconfig olddefconfig savedefconfig defconfig allnoconfig list-defconfigs
menuconfig: $(DEPS_STAMP)
	$(Q)$(KNLP_VENV)/bin/menuconfig Kconfig

oldconfig olddefconfig: $(DEPS_STAMP)
	$(Q)$(PY) scripts/kconfig.py olddefconfig

allnoconfig: $(DEPS_STAMP)
	$(Q)$(KNLP_VENV)/bin/allnoconfig Kconfig

savedefconfig: $(DEPS_STAMP)
	$(Q)$(PY) scripts/kconfig.py savedefconfig $(or $(DEFCONFIG:%=defconfigs/%),defconfig)

defconfig: $(DEPS_STAMP)
	$(Q)if [ -z "$(DEFCONFIG)" ]; then \
		echo "knlp: error: DEFCONFIG: not set; accepted: one of $(DEFCONFIGS)" >&2; exit 2; fi
	$(Q)if [ ! -f defconfigs/$(DEFCONFIG) ]; then \
		echo "knlp: error: defconfigs/$(DEFCONFIG): no such defconfig; make list-defconfigs shows them" >&2; exit 2; fi
	$(Q)$(PY) scripts/kconfig.py defconfig defconfigs/$(DEFCONFIG)

defconfig-%: $(DEPS_STAMP)
	$(Q)$(MAKE) --no-print-directory defconfig DEFCONFIG=$*

list-defconfigs:
	$(Q)for f in defconfigs/*; do printf '  %-36s %s\n' "defconfig-$$(basename $$f)" "$$(head -1 $$f | sed 's/^# *//')"; done

# ---------------------------------------------------------------------------
# Text data (docs/data.md)

# The Linux kernel's documentation (Debian linux-doc-6.1): ~24 MB of English
# reStructuredText, gzipped, one document per file.
KERNEL_DOCS ?= /usr/share/doc/linux-doc-6.1/Documentation
# The GPT-2 vocabulary: $$KNLP_VOCAB_DIR, else ../shared/data/gpt2 (beside a
# development checkout), else data/gpt2.
VOCAB_DIR ?= $(or $(KNLP_VOCAB_DIR),$(patsubst %/encoder.json,%,$(firstword \
	$(wildcard ../shared/data/gpt2/encoder.json data/gpt2/encoder.json))))

# A .config that trains on the kernel docs prepares them on first use (seconds).
.PHONY: data-for-config
data-for-config: build
	$(Q)if grep -qx 'CONFIG_GPT2_DATASET_KERNEL_DOCS=y' $(KCONFIG_CONFIG) 2>/dev/null && \
		grep -qx 'CONFIG_DATA_DIR="data"' $(KCONFIG_CONFIG) && [ ! -f data/kernel-docs/train.bin ]; then \
		$(MAKE) --no-print-directory data-kernel-docs; fi

# Without data/gpt2, it becomes a link to the vocabulary found, the default
# GPT2_VOCAB_DIR that `knlp generate` reads.
.PHONY: data-kernel-docs
data-kernel-docs: build
	$(Q)if [ ! -d $(KERNEL_DOCS) ]; then \
		echo "knlp: error: $(KERNEL_DOCS): no such folder" >&2; \
		echo "hint: apt-get install linux-doc-6.1, or make data-kernel-docs KERNEL_DOCS=<folder>" >&2; \
		exit 2; fi
	$(Q)if [ -z "$(VOCAB_DIR)" ]; then \
		echo "knlp: error: data/gpt2/encoder.json: no GPT-2 vocabulary (nor in ../shared/data/gpt2 or \$$KNLP_VOCAB_DIR)" >&2; \
		echo "hint: mkdir -p data/gpt2 && cd data/gpt2 && for f in encoder.json vocab.bpe; do curl -fLO https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/\$$f; done" >&2; \
		exit 2; fi
	$(Q)$(KNLP) data prepare $(KERNEL_DOCS) --ext rst --out data/kernel-docs \
		--tokenizer gpt2 --vocab-dir $(VOCAB_DIR)
	$(Q)if [ ! -e data/gpt2 ]; then echo "  LN      data/gpt2 -> $(abspath $(VOCAB_DIR))"; \
		ln -s $(abspath $(VOCAB_DIR)) data/gpt2; fi

# ---------------------------------------------------------------------------
# Tests, lint, benchmarks

.PHONY: test lint bench
test: build
	$(Q)cd $(BUILD) && ctest --output-on-failure -j2 $(if $(V),-V,)

lint: $(DEPS_STAMP)
	$(Q)$(PY) scripts/kconfig.py dead-symbols src/config
	$(Q)bash scripts/check-includes.sh

bench: build
	$(Q)mkdir -p bench/out
	$(Q)$(PY) bench/lenet5_train.py --knlp $(KNLP) --out bench/out/lenet5_train.json
	$(Q)$(KNLP) bench decode --json bench/out/kv_decode.json
	$(Q)$(PY) bench/prune_memory.py --knlp $(KNLP) --python $(PY) --out bench/out/prune_memory.json
	$(Q)$(PY) bench/gpt2_train.py --knlp $(KNLP) --out bench/out/gpt2_train.json

# ---------------------------------------------------------------------------
# Cleaning

.PHONY: clean mrproper
clean:
	$(Q)rm -rf $(BUILD)/CMakeFiles $(BUILD)/knlp $(BUILD)/tests $(BUILD)/*.a $(BUILD)/build.ninja $(BUILD)/include

mrproper:
	$(Q)rm -rf $(BUILD) $(KCONFIG_CONFIG) $(KCONFIG_CONFIG).old bench/out

# ---------------------------------------------------------------------------

.PHONY: help
help:
	@echo "Configuration (kconfiglib):"
	@echo "  menuconfig        - edit .config in a text UI"
	@echo "  oldconfig olddefconfig - update .config to the current Kconfig, new symbols get defaults"
	@echo "  savedefconfig     - write the minimal defconfig of .config (DEFCONFIG=x: to defconfigs/x)"
	@echo "  allnoconfig       - .config with every bool answered n"
	@echo "  defconfig-<name>  - load defconfigs/<name>, reporting the lines Kconfig drops"
	@echo "  defconfig DEFCONFIG=<name> - the same"
	@echo "  list-defconfigs   - every preset, with what it is for"
	@echo ""
	@echo "Running:"
	@echo "* all               - install missing deps, build ./$(KNLP), run what .config says"
	@echo "                      (a test matrix when it lists several runs; PARALLEL=N at a time)"
	@echo "  check             - dry run: validate .config, build the model, one step on a tiny batch"
	@echo "                      (every run of a matrix)"
	@echo "  dry-run           - print the runs .config expands into; run nothing"
	@echo "  continue          - finish the newest interrupted matrix (DIR=results/matrix-<time>)"
	@echo "  report            - rewrite summary.md, summary.csv and plots/ of a matrix (DIR=)"
	@echo "  build             - only build"
	@echo "  deps              - install Debian packages and the venv ($(KNLP_VENV))"
	@echo ""
	@echo "Data:"
	@echo "  data-kernel-docs  - data/kernel-docs/{train,val}.bin: the kernel's documentation, GPT-2 BPE"
	@echo ""
	@echo "Testing:"
	@echo "  test              - unit, reference and CLI tests (ctest)"
	@echo "  lint              - dead Kconfig symbols, include directions"
	@echo "  bench             - benchmarks, JSON into bench/out/; never run by test"
	@echo ""
	@echo "Cleaning:"
	@echo "  clean             - remove build outputs (keeps .config and results/)"
	@echo "  mrproper          - also .config and every generated file"
	@echo ""
	@echo "Overrides: make EPOCHS=N SEED=N DEVICE=cpu|cuda PARALLEL=N DIR=...;"
	@echo "           GPT-2: MAX_ITERS=N TIME=seconds; V=1 shows full commands."
