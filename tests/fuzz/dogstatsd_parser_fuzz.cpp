// libFuzzer target: any bytes, as a datagram, through the parser, a reader's
// aggregator and the flush-side store, as the server runs them. Built with
// clang -fsanitize=fuzzer,address (tests/fuzz/CMakeLists.txt); ctest runs it
// for a bounded time over the seed corpus in dogstatsd_corpus/.
#include "statsd/dogstatsd_parser.h"
#include "statsd/statsd_aggregator.h"
#include "statsd/statsd_store.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace tracer::statsd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static StatsdAggregator aggregator(1000);
    static StatsdStore store(500, {0.5, 0.99});
    static uint64_t inputs = 0;
    std::string_view datagram(reinterpret_cast<const char*>(data), size);
    ParsedLine parsed;
    // the origin as a Unix-socket sender's would be: taken from the first bytes
    std::string origin = serialize_origin({{"cgroup", std::string(datagram.substr(0, 8))}});
    for_each_line(datagram, [&](std::string_view line) {
        parse_line(line, parsed);
        if (parsed.kind == LineKind::Metric) aggregator.add(parsed.metric, size % 2 ? origin : "", inputs);
    });
    if (++inputs % 64 == 0) {  // a flush now and then: take, merge, render
        std::vector<TakenContext> taken;
        aggregator.take(taken);
        store.merge(std::move(taken));
        StatsdFlush out;
        store.flush(out);
    }
    return 0;
}
