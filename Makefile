# duplex: the two commands of the README, and the steps they are made of.
#   make run      install what is missing, build duplex-server (only), start it on http://127.0.0.1:8080
#   make test     install what is missing, build, and run every test (what CI runs)
#   make install  build the library and the three programs, install them stripped under PREFIX (/usr/local)
JOBS    ?= 2
BUILD   ?= build
ASAN    ?= build-asan
FUZZ    ?= build-fuzz
FUZZ_SECONDS ?= 10
ARGS    ?=
PREFIX  ?= /usr/local

.PHONY: run test deps deps-build configure build programs install asan-test fuzz-test install-check docs clean

run: deps-build configure
	cmake --build $(BUILD) -j$(JOBS) --target duplex-server
	./$(BUILD)/apps/duplex-server $(ARGS)

test: deps build
	$(MAKE) asan-test fuzz-test install-check
	ctest --test-dir $(BUILD) --output-on-failure --timeout 300 -j$(JOBS)

deps:
	scripts/deps.sh test

deps-build:
	scripts/deps.sh build

configure:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUPLEX_WERROR=ON

build: configure
	cmake --build $(BUILD) -j$(JOBS)

# The library and the programs, without the tests.
programs: configure
	cmake --build $(BUILD) -j$(JOBS) --target duplex duplex-server duplex-peer duplex-bench

install: deps-build programs
	cmake --install $(BUILD) --prefix $(PREFIX) --strip

# Debug + AddressSanitizer/UndefinedBehaviorSanitizer over the unit, runtime and
# conformance tests (the interop tests run against the optimised build).
asan-test:
	cmake -S . -B $(ASAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDUPLEX_SANITIZE=ON -DDUPLEX_WERROR=ON
	cmake --build $(ASAN) -j$(JOBS) --target duplex_unit_tests duplex_rtc_unit_tests duplex_runtime_tests duplex_alloc_tests
	ctest --test-dir $(ASAN) --output-on-failure --timeout 300 -j$(JOBS) -L 'unit|runtime'

# Each libFuzzer target for a few seconds, seeded from fuzz/corpus.
fuzz-test:
	CXX=clang++ cmake -S . -B $(FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUPLEX_FUZZ=ON \
	  -DDUPLEX_TESTS=OFF -DDUPLEX_APPS=OFF
	cmake --build $(FUZZ) -j$(JOBS)
	for t in http_head_fuzz ws_frame_fuzz stun_message_fuzz sdp_parse_fuzz dcep_message_fuzz dtls_endpoint_fuzz ice_agent_fuzz rtc_peer_fuzz mdns_message_fuzz signal_message_fuzz rtp_packet_fuzz rtcp_packet_fuzz rtp_depacketizer_fuzz jitter_buffer_fuzz transport_feedback_fuzz annex_b_fuzz server_url_fuzz turn_client_fuzz redis_resp_fuzz; do \
	  mkdir -p $(FUZZ)/corpus/$$t && \
	  if ./$(FUZZ)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ)/corpus/$$t fuzz/corpus/$$t \
	       > $(FUZZ)/$$t.log 2>&1; then tail -n 4 $(FUZZ)/$$t.log; \
	  else tail -n 40 $(FUZZ)/$$t.log; echo "fuzz: $$t failed"; exit 1; fi; \
	done

# Installs into a scratch prefix and builds examples/consumer against it with
# find_package(duplex) and with pkg-config.
install-check: build
	rm -rf $(BUILD)/stage $(BUILD)/consumer
	cmake --install $(BUILD) --prefix $(CURDIR)/$(BUILD)/stage >/dev/null
	cmake -S examples/consumer -B $(BUILD)/consumer -G Ninja -DCMAKE_PREFIX_PATH=$(CURDIR)/$(BUILD)/stage
	cmake --build $(BUILD)/consumer
	./$(BUILD)/consumer/consumer_check
	PKG_CONFIG_PATH=$(CURDIR)/$(BUILD)/stage/lib/pkgconfig sh -c \
	  'g++ -o $(BUILD)/consumer/pkgconfig_check examples/consumer/consumer_check.cpp $$(pkg-config --cflags --libs duplex)'
	./$(BUILD)/consumer/pkgconfig_check

docs:
	doxygen docs/Doxyfile

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
