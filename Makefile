# Thin front end over CMake. The two commands a user needs:
#   make run    set up (dependencies, build) and run two demo nodes in ./chum-data (docs/run.md)
#   make test   set up and run every test: sanitizer build, 32-bit build, fuzz smoke runs
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
DIR  ?= ./chum-data
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-asan test-m32 test-fuzz fuzz bench format clean help

all: build

help:
	@echo "make run       build, run two nodes on loopback syncing a sample file (DIR=$(DIR))"
	@echo "make test      build and run all tests (ASan+UBSan, -m32, fuzz smoke)"
	@echo "make deps      install missing Debian packages (deps/debian-packages.txt)"
	@echo "make build     release build in build/ (binary: build/chum)"
	@echo "make bench     build and run the benchmarks in bench/"
	@echo "make clean     remove build directories"

deps:
	@scripts/deps.sh --check >/dev/null 2>&1 || scripts/deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j$(JOBS)

run: build
	@scripts/run.sh build/chum "$(DIR)"

test: deps test-asan test-m32 test-fuzz
	@echo "make test: all suites passed"

test-asan:
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCHUM_SANITIZE=ON -DCHUM_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@cd build-asan && ctest --output-on-failure -j$(JOBS)

test-m32:
	@cmake -S . -B build-m32 -DCMAKE_BUILD_TYPE=Debug -DCHUM_M32=ON -DCHUM_BUILD_APP=OFF -DCHUM_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-m32 -j$(JOBS)
	@cd build-m32 && ctest --output-on-failure -j$(JOBS)

test-fuzz:
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCHUM_FUZZ=ON -DCHUM_BUILD_APP=OFF -DCHUM_BUILD_TESTS=OFF -DCHUM_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-fuzz -j$(JOBS)
	@cd build-fuzz && ctest --output-on-failure -j$(JOBS) --no-tests=ignore

fuzz: test-fuzz

bench: build
	@for b in build/bench_*; do [ -x "$$b" ] && { echo "== $$b"; "$$b" || exit 1; }; done; true

clean:
	rm -rf build build-asan build-m32 build-fuzz
