#include "statsd/distribution_sketch.h"
#include "statsd/statsd_aggregator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace tracer::statsd {
namespace {

// The exact value at quantile q with the sketch's rank rule (q * (n - 1)).
double exact_quantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(std::floor(q * double(v.size() - 1)))];
}

void expect_within_bound(const DistributionSketch& s, const std::vector<double>& values) {
    for (double q : {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999}) {
        double want = exact_quantile(values, q);
        double got = s.quantile(q);
        EXPECT_LE(std::abs(got - want), s.relative_accuracy() * std::abs(want) + 1e-12)
            << "q=" << q << " want " << want << " got " << got;
    }
}

TEST(DistributionSketch, QuantilesWithinTheRelativeBound) {
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> dist(0, 2);
    std::vector<double> values;
    DistributionSketch s;
    for (int i = 0; i < 100000; ++i) {
        values.push_back(dist(rng));
        s.add(values.back());
    }
    EXPECT_EQ(s.count(), 100000);
    EXPECT_EQ(s.min(), *std::min_element(values.begin(), values.end()));
    EXPECT_EQ(s.max(), *std::max_element(values.begin(), values.end()));
    expect_within_bound(s, values);
}

TEST(DistributionSketch, NegativeZeroAndPositive) {
    std::vector<double> values;
    DistributionSketch s;
    for (int i = -500; i <= 500; ++i) {
        values.push_back(i * 0.37);
        s.add(values.back());
    }
    expect_within_bound(s, values);
    EXPECT_EQ(s.quantile(0), -500 * 0.37);
    EXPECT_EQ(s.quantile(1), 500 * 0.37);
}

TEST(DistributionSketch, MergeEqualsOneSketchOfEverything) {
    DistributionSketch a, b, all;
    for (int i = 1; i <= 5000; ++i) {
        (i % 3 ? a : b).add(i);
        all.add(i);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    EXPECT_EQ(a.sum(), all.sum());
    for (double q : {0.1, 0.5, 0.9, 0.99}) EXPECT_EQ(a.quantile(q), all.quantile(q));
}

TEST(DistributionSketch, WeightsCountAsManySamples) {
    DistributionSketch s;
    s.add(10, 4);  // one sample sent with @0.25
    EXPECT_EQ(s.count(), 4);
    EXPECT_EQ(s.sum(), 40);
}

TEST(DistributionSketch, HugeRangesStayBounded) {
    DistributionSketch s;
    for (int e = -300; e <= 300; ++e) s.add(std::pow(10.0, e));
    EXPECT_EQ(s.count(), 601);
    EXPECT_LE(s.buckets().size(), DistributionSketch::kMaxBuckets);
    // the top quantiles keep their accuracy; the folded low end loses it
    EXPECT_NEAR(s.quantile(0.99) / 1e294, 1, 0.01);
    EXPECT_TRUE(std::isnan(DistributionSketch().quantile(0.5)));
}

TEST(StatsdContextKey, SplitsBackIntoNameKindAndLabels) {
    std::string key = std::string("api.hits") + kKeyField + "0" + kKeyField + "env:prod" + kKeyItem + "cgroup:/x" +
                      kKeyItem + "web" + kKeyField + "cgroup" + kKeyPair + "/real";
    ContextIdentity id = split_context_key(key);
    EXPECT_EQ(id.name, "api.hits");
    EXPECT_EQ(id.kind, MetricKind::Counter);
    using P = std::pair<std::string, std::string>;
    // the origin's cgroup wins over the sender's tag of the same name
    EXPECT_EQ(id.labels, (std::vector<P>{{"cgroup", "/real"}, {"env", "prod"}, {"web", ""}}));
}

}  // namespace
}  // namespace tracer::statsd
