# Thin wrapper over CMake. `make test` and `make demo` install what they need
# first (scripts/install-deps.sh is idempotent), so both work on a new machine.
BUILD      ?= build
ASAN_BUILD ?= build-asan
# fixed: tests/aarch64.cmake looks for the cross build here
AARCH64_BUILD := build-aarch64
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps test demo bench asan aarch64 install clean

all:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

deps:
	bash scripts/install-deps.sh

test: deps all aarch64
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: deps all
	bash scripts/demo.sh $(BUILD)

bench: deps all
	bash bench/run.sh $(BUILD)

# The sanitizers check the host build; the cross build's qemu run is make test's.
asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DRKSERVE_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS) -E '^aarch64/'

# Cross build for aarch64; ctest's aarch64/unit runs its unit tests under qemu.
aarch64: deps
	cmake -S . -B $(AARCH64_BUILD) -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(AARCH64_BUILD) -j $(JOBS)

# PREFIX=/usr/local by default; DESTDIR stages into a directory (packaging)
install: all
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(or $(PREFIX),/usr/local)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(AARCH64_BUILD)
