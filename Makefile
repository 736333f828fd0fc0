# Thin wrapper over CMake. `make demo` and `make test` set up a fresh Debian
# machine first (packages, models), so they are the only commands needed.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all build asan deps models contract-deps web test test-release test-asan demo bench golden clean help
.PHONY: deb gpu-bundle test-packages test-bundle

all: build

help:
	@echo "make          build (Release) into $(BUILD)/"
	@echo "make demo     install deps, fetch models, build, run facerec on the sample photos"
	@echo "make test     install deps, fetch models, build, run every test (Release and ASan+UBSan)"
	@echo "make bench    per-net throughput at batch 1/8/32/64 with 1 and 2 threads, decoding, end to end,"
	@echo "              and the server's concurrency sweep against static batching (facerec bench);"
	@echo "              bench/lowprec.sh: each net and end to end in fp32, bf16, int8 and auto;"
	@echo "              multi-scale detection's recall and cost (bench/tiles.sh)"
	@echo "make golden   regenerate tests/golden/ with face-api under node (needs npm)"
	@echo "make web      install the web app's npm library (uPlot) and the browser tests' driver (npm ci)"
	@echo "make deb      Debian packages facerec, facerec-cuda, facerec-models in $(BUILD)/deb/ (docs/PACKAGING.md)"
	@echo "make gpu-bundle  self-contained tarball for a GPU machine in $(BUILD)/bundle/ (docs/GPU.md)"

deps:
	scripts/install-deps.sh

models:
	scripts/fetch-models.sh

# The API contract's npm packages (tests/contract/): the build converts
# docs/openapi.yaml with one of them. A no-op when they match the lock file.
contract-deps:
	scripts/contract-deps.sh

# The web app's npm libraries (uPlot, compiled in) and the browser tests'
# driver (puppeteer-core), from their lock files.
web:
	scripts/fetch-web.sh

build: contract-deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)
	cmake --build $(BUILD) -j$(JOBS)

asan: contract-deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFR_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j$(JOBS)

test-release: build
	cd $(BUILD) && ctest --output-on-failure

# ASan+UBSan; LeakSanitizer stays on. oneDNN's JIT code is not instrumented,
# ours is.
test-asan: asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure

test: deps models contract-deps web
	$(MAKE) test-release
	$(MAKE) test-asan
	$(MAKE) fuzz-smoke
	$(MAKE) test-packages
	$(MAKE) test-bundle

demo: deps models build
	scripts/demo.sh $(BUILD)

bench: deps models build
	$(BUILD)/fr-bench
	bench/lowprec.sh $(BUILD)
	$(BUILD)/fr-bench-image
	$(BUILD)/fr-bench-search
	bench/e2e.sh $(BUILD)
	bench/serve.sh $(BUILD)
	bench/conn.sh $(BUILD) $(OLD_BUILD)
	bench/tiles.sh $(BUILD)
	$(BUILD)/facerec bench --serve --concurrency 1,2,4,8,16,32 --duration 10 --compare static \
	  --plot $(BUILD)/bench-sweep.png

golden: build
	FR_PPM=$(BUILD)/fr-ppm scripts/make-golden.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# libFuzzer over the image decoders (clang, ASan+UBSan) in $(FUZZ_BUILD)/:
# `make fuzz` runs FUZZ_SECONDS (default 600) on one core, growing
# $(FUZZ_BUILD)/corpus-run from the generated seeds in $(FUZZ_BUILD)/corpus;
# `make fuzz-smoke` is the 60 s run CI uses, with a fixed seed and a fresh
# corpus so that it is repeatable. Crashing inputs land in
# $(FUZZ_BUILD)/crashes/; turn each into a regression test in
# tests/test-image.c.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_FLAGS   ?= -max_len=262144 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
FUZZ_EXAMPLES = ../shared/testdata/face_recognition/examples

.PHONY: fuzz fuzz-build fuzz-smoke

fuzz-build:
	cmake -S tests/fuzz -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	rm -rf $(FUZZ_BUILD)/corpus
	$(FUZZ_BUILD)/gen-corpus $(FUZZ_BUILD)/corpus $(FUZZ_EXAMPLES) $(FUZZ_EXAMPLES)/knn_examples/test \
	  $(FUZZ_EXAMPLES)/knn_examples/train/kit_harington $(FUZZ_EXAMPLES)/knn_examples/train/rose_leslie

fuzz: fuzz-build
	mkdir -p $(FUZZ_BUILD)/corpus-run $(FUZZ_BUILD)/crashes
	$(FUZZ_BUILD)/fuzz-decode $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) \
	  -artifact_prefix=$(FUZZ_BUILD)/crashes/ $(FUZZ_BUILD)/corpus-run $(FUZZ_BUILD)/corpus

fuzz-smoke: fuzz-build
	rm -rf $(FUZZ_BUILD)/corpus-smoke
	mkdir -p $(FUZZ_BUILD)/corpus-smoke $(FUZZ_BUILD)/crashes
	$(FUZZ_BUILD)/fuzz-decode $(FUZZ_FLAGS) -seed=1 -max_total_time=60 \
	  -artifact_prefix=$(FUZZ_BUILD)/crashes/ $(FUZZ_BUILD)/corpus-smoke $(FUZZ_BUILD)/corpus

# Shipping (issue 16, docs/PACKAGING.md and docs/GPU.md). `make deb` packages
# the Release build in $(BUILD); test-packages installs the packages on this
# machine, runs them and purges them (as root only, on a machine without
# facerec installed: CI); `make gpu-bundle` and test-bundle need the CUDA
# backend in the build and are skipped without it.
deb: build
	packaging/build-deb.sh $(BUILD) $(BUILD)/deb

# Exit 77 = skipped (not root, or facerec already installed here).
test-packages: deb
	@FACEREC_TEST_INSTALL=1 tests/test-deb-install.sh $(BUILD)/deb .; rc=$$?; [ $$rc = 0 ] || [ $$rc = 77 ]

gpu-bundle: build
	@if [ -f $(BUILD)/libfacerec-cuda.so ]; then packaging/gpu-bundle.sh $(BUILD) $(BUILD)/bundle; \
	else echo "gpu-bundle: $(BUILD) has no CUDA backend (configure with the CUDA toolkit, cuDNN, cuBLAS)"; fi

test-bundle: gpu-bundle
	@set -- $(BUILD)/bundle/facerec-gpu-*.tar.gz; \
	if [ -f "$$1" ]; then tests/test-bundle.sh "$$1"; else echo "test-bundle: skipped (no CUDA backend)"; fi
