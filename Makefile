# Thin wrapper over CMake. `make demo` and `make test` set up a fresh Debian
# machine first (packages, models), so they are the only commands needed.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all build asan deps models test test-release test-asan demo bench golden clean help

all: build

help:
	@echo "make          build (Release) into $(BUILD)/"
	@echo "make demo     install deps, fetch models, build, run facerec on the sample photos"
	@echo "make test     install deps, fetch models, build, run every test (Release and ASan+UBSan)"
	@echo "make bench    per-net throughput at batch 1/8/32/64 with 1 and 2 threads"
	@echo "make golden   regenerate tests/golden/ with face-api under node (needs npm)"

deps:
	scripts/install-deps.sh

models:
	scripts/fetch-models.sh

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)
	cmake --build $(BUILD) -j$(JOBS)

asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFR_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)

test-release: build
	cd $(BUILD) && ctest --output-on-failure

# ASan+UBSan; LeakSanitizer stays on. oneDNN's JIT code is not instrumented,
# ours is.
test-asan: asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure

test: deps models
	$(MAKE) test-release
	$(MAKE) test-asan

demo: deps models build
	scripts/demo.sh $(BUILD)

bench: deps models build
	$(BUILD)/fr-bench
	$(BUILD)/fr-bench-image
	bench/e2e.sh $(BUILD)

golden: build
	FR_PPM=$(BUILD)/fr-ppm scripts/make-golden.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
