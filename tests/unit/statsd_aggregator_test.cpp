#include "statsd/statsd_aggregator.h"
#include "statsd/statsd_store.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tracer::statsd {
namespace {

// Parses and adds each line; returns the values taken.
size_t add(StatsdAggregator& a, std::vector<std::string> lines, std::string_view origin = {}, uint64_t now = 1) {
    size_t taken = 0;
    ParsedLine p;
    for (const auto& l : lines) {
        parse_line(l, p);
        EXPECT_EQ(p.kind, LineKind::Metric) << l;
        taken += a.add(p.metric, origin, now);
    }
    return taken;
}

StatsdFlush flush(StatsdAggregator& a, StatsdStore& store) {
    std::vector<TakenContext> taken;
    a.take(taken);
    store.merge(std::move(taken));
    StatsdFlush out;
    store.flush(out);
    return out;
}

TEST(StatsdAggregator, TagOrderDoesNotMakeANewContext) {
    StatsdAggregator a(100);
    EXPECT_EQ(add(a, {"x:1|c|#b:2,a:1", "x:2|c|#a:1,b:2", "x:3|c|#b:2,a:1"}), 3u);
    EXPECT_EQ(a.contexts(), 1u);
    StatsdStore store(100, {0.5});
    auto out = flush(a, store);
    ASSERT_EQ(out.families.size(), 1u);
    ASSERT_EQ(out.families[0].samples.size(), 1u);
    EXPECT_EQ(out.families[0].samples[0].value, 6);
    EXPECT_EQ(out.families[0].samples[0].labels, (metrics::Labels{{"a", "1"}, {"b", "2"}}));
}

TEST(StatsdAggregator, TypeAndOriginAreTheContextToo) {
    StatsdAggregator a(100);
    add(a, {"x:1|c", "x:1|g"});
    add(a, {"x:1|c"}, serialize_origin({{"cgroup", "/a"}}));
    EXPECT_EQ(a.contexts(), 3u);
}

TEST(StatsdAggregator, IdleContextsGoAndTheCacheForgetsThem) {
    StatsdAggregator a(100);
    StatsdStore store(100, {0.5});
    add(a, {"old:1|c", "kept:1|c"});
    flush(a, store);
    add(a, {"kept:1|c"});
    flush(a, store);
    add(a, {"kept:1|c"});
    flush(a, store);  // "old" idle for two intervals: erased from the reader
    EXPECT_EQ(a.contexts(), 1u);
    add(a, {"old:5|c"});  // must not reach the erased entry through the cache
    EXPECT_EQ(a.contexts(), 2u);
    auto out = flush(a, store);
    bool found = false;
    for (const auto& f : out.families) {
        if (f.name != "old") continue;
        found = true;
        EXPECT_EQ(f.samples[0].value, 6);  // the store kept the total
    }
    EXPECT_TRUE(found);
}

TEST(StatsdAggregator, MaxContextsRefusesNewOnes) {
    StatsdAggregator a(2);
    EXPECT_EQ(add(a, {"a:1|c", "b:1|c", "c:1|c", "a:1|c"}), 3u);
    EXPECT_EQ(a.refused(), 1u);
}

TEST(StatsdAggregator, GaugeDeltasAcrossReadersApplyAfterTheLatestWrite) {
    StatsdAggregator r1(10), r2(10);
    add(r1, {"g:10|g", "g:+1|g"}, {}, 100);
    add(r2, {"g:50|g", "g:-5|g"}, {}, 200);  // the later absolute write
    StatsdStore store(10, {});
    std::vector<TakenContext> t1, t2;
    r1.take(t1);
    r2.take(t2);
    store.merge(std::move(t1));
    store.merge(std::move(t2));
    StatsdFlush out;
    store.flush(out);
    ASSERT_EQ(out.families.size(), 1u);
    EXPECT_EQ(out.families[0].samples[0].value, 46);  // 50 - 5 + 1
}

TEST(StatsdAggregator, HashSpreadsSimilarKeys) {
    EXPECT_NE(context_hash("bench.requests.1"), context_hash("bench.requests.2"));
    EXPECT_NE(context_hash(""), context_hash(std::string(1, '\0')));
    EXPECT_EQ(context_hash("same"), context_hash("same"));
}

}  // namespace
}  // namespace tracer::statsd
