# jcache — the two commands:
#   make demo   install what is missing, build, run the demos: the library
#               in two processes, then a jcvm benchmark cold and warm
#   make test   install what is missing, build, run every test (twice: a
#               normal -Werror build, then under ASan+UBSan)
# Builds live in build/ and build-asan/.

JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: demo test deps build build-asan clean

deps:
	@scripts/install-deps.sh

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJC_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j$(JOBS)

build-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DJC_WERROR=ON -DJC_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build build-asan -j$(JOBS)

demo: build
	build/examples/jcache-demo
	@echo
	bench/warmup/demo.sh build/vm/jcvm nbody 20

test: build build-asan
	@echo "== tests (RelWithDebInfo, -Werror) =="
	cd build && ctest --output-on-failure -j$(JOBS)
	@echo "== tests under ASan+UBSan =="
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS)

clean:
	rm -rf build build-asan
