// libFuzzer target: any bytes, as a datagram, through the parser, a reader's
// aggregator and the flush-side store, as the server runs them; then the
// output sanitizer and the Prometheus renderer, whose page must be valid
// UTF-8 with one TYPE line per name whatever came in. Built with clang
// -fsanitize=fuzzer,address (tests/fuzz/CMakeLists.txt); ctest runs it for a
// bounded time over the seed corpus in dogstatsd_parser_fuzz_corpus/.
#include "metrics/output_sanitizer.h"
#include "metrics/prometheus_text.h"
#include "statsd/dogstatsd_parser.h"
#include "statsd/statsd_aggregator.h"
#include "statsd/statsd_store.h"

#include <cstddef>
#include <cstdint>
#include <set>
#include <string_view>

using namespace tracer::statsd;

namespace {

// The page's invariants: valid UTF-8 (sanitize_text changes nothing) and no
// name with two TYPE lines.
void check_page(const std::string& page) {
    std::string copy = page;
    tracer::metrics::SanitizeReport r;
    if (tracer::metrics::sanitize_text(copy, page.size(), true, r, "")) __builtin_trap();
    std::set<std::string_view> types;
    std::string_view rest(page);
    while (!rest.empty()) {
        size_t nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        if (line.starts_with("# TYPE ")) {
            std::string_view name = line.substr(7, line.rfind(' ') - 7);
            if (!types.insert(name).second) __builtin_trap();
        }
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
    }
}

}  // namespace

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
    if (++inputs % 64 == 0) {  // a flush now and then: take, merge, sanitize, render
        std::vector<TakenContext> taken;
        aggregator.take(taken);
        store.merge(std::move(taken));
        StatsdFlush out;
        store.flush(out);
        tracer::metrics::Snapshot snapshot = std::move(out.families);
        tracer::metrics::sanitize_snapshot(snapshot);
        std::string page;
        tracer::metrics::render_prometheus_text(snapshot, page);
        check_page(page);
    }
    return 0;
}
