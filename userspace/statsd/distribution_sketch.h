// A DDSketch-style quantile sketch (Masson, Rim, Lee, VLDB 2019): values fall
// into logarithmic buckets whose bounds grow by gamma = (1+a)/(1-a), so every
// quantile it returns is within relative error `a` of the true value at that
// rank. Sketches with the same accuracy merge exactly (bucket counts add),
// which is how per-reader sketches become one per flush. Count, sum, min and
// max are kept exactly. Counts are weights (a sample sent with @0.1 weighs 10).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tracer::statsd {

class DistributionSketch {
public:
    static constexpr double kDefaultRelativeAccuracy = 0.005;
    // Buckets per sign; beyond it the lowest-magnitude buckets are folded
    // together (only quantiles down there lose accuracy). 4096 buckets at 0.5 %
    // cover about 17 decades.
    static constexpr size_t kMaxBuckets = 4096;

    explicit DistributionSketch(double relative_accuracy = kDefaultRelativeAccuracy);

    void add(double value, double weight = 1);
    // Adds every bucket of `other` (same relative accuracy required; a
    // mismatch is a programming error and is ignored).
    void merge(const DistributionSketch& other);
    void clear();

    // The value at quantile q in [0, 1]; NaN when empty.
    double quantile(double q) const;

    double count() const { return count_; }
    double sum() const { return sum_; }
    double min() const { return min_; }
    double max() const { return max_; }
    bool empty() const { return count_ == 0; }
    double relative_accuracy() const { return accuracy_; }

    // Buckets for sinks that render a histogram: (upper bound, weight), ascending.
    std::vector<std::pair<double, double>> buckets() const;

private:
    // Dense counts for keys [offset, offset + counts.size()).
    struct Store {
        std::vector<double> counts;
        int32_t offset = 0;
        double total = 0;
        void add(int32_t key, double weight);
        void merge(const Store& other);
    };
    int32_t key_of(double magnitude) const;
    double value_of(int32_t key) const;  // the bucket's representative: relative error <= a

    double accuracy_;
    double gamma_;
    double multiplier_;  // 1 / ln(gamma)
    double min_indexable_;
    Store positive_, negative_;
    double zero_count_ = 0;
    double count_ = 0, sum_ = 0, min_ = 0, max_ = 0;
};

}  // namespace tracer::statsd
