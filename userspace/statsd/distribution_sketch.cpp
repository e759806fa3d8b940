#include "statsd/distribution_sketch.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tracer::statsd {

DistributionSketch::DistributionSketch(double relative_accuracy)
    : accuracy_(relative_accuracy),
      gamma_((1 + relative_accuracy) / (1 - relative_accuracy)),
      multiplier_(1 / std::log(gamma_)),
      // keys stay well inside int32 for every double above this
      min_indexable_(std::max(std::numeric_limits<double>::min() * gamma_, 1e-300)) {}

int32_t DistributionSketch::key_of(double magnitude) const {
    return static_cast<int32_t>(std::ceil(std::log(magnitude) * multiplier_));
}

double DistributionSketch::value_of(int32_t key) const {
    return 2 * std::pow(gamma_, key) / (gamma_ + 1);
}

void DistributionSketch::Store::add(int32_t key, double weight) {
    total += weight;
    if (counts.empty()) {
        counts.assign(1, 0);
        offset = key;
    }
    if (key < offset) {
        // grow downwards; past the cap, fold into the lowest bucket
        int32_t new_offset = key;
        int64_t span = int64_t(offset) + int64_t(counts.size()) - new_offset;
        if (span > int64_t(kMaxBuckets)) new_offset = static_cast<int32_t>(int64_t(offset) + counts.size() - kMaxBuckets);
        if (new_offset < offset) {
            counts.insert(counts.begin(), size_t(offset - new_offset), 0.0);
            offset = new_offset;
        }
        key = std::max(key, offset);
    } else if (int64_t(key) >= int64_t(offset) + int64_t(counts.size())) {
        int64_t size = int64_t(key) - offset + 1;
        if (size > int64_t(kMaxBuckets)) {
            // drop the lowest keys into what becomes the lowest bucket
            int64_t shift = size - int64_t(kMaxBuckets);
            double folded = 0;
            for (int64_t i = 0; i < shift && i < int64_t(counts.size()); ++i) folded += counts[size_t(i)];
            counts.erase(counts.begin(), counts.begin() + std::min<int64_t>(shift, int64_t(counts.size())));
            offset = static_cast<int32_t>(offset + shift);
            if (counts.empty()) counts.push_back(0);
            counts[0] += folded;
            size = kMaxBuckets;
        }
        counts.resize(size_t(size), 0.0);
    }
    counts[size_t(key - offset)] += weight;
}

void DistributionSketch::Store::merge(const Store& other) {
    for (size_t i = 0; i < other.counts.size(); ++i)
        if (other.counts[i] != 0) add(static_cast<int32_t>(other.offset + int64_t(i)), other.counts[i]);
}

void DistributionSketch::add(double value, double weight) {
    if (!std::isfinite(value) || !(weight > 0)) return;
    if (count_ == 0) {
        min_ = max_ = value;
    } else {
        min_ = std::min(min_, value);
        max_ = std::max(max_, value);
    }
    count_ += weight;
    sum_ += value * weight;
    if (value > min_indexable_) positive_.add(key_of(value), weight);
    else if (value < -min_indexable_) negative_.add(key_of(-value), weight);
    else zero_count_ += weight;
}

void DistributionSketch::merge(const DistributionSketch& other) {
    if (other.count_ == 0 || other.accuracy_ != accuracy_) return;
    if (count_ == 0) {
        min_ = other.min_;
        max_ = other.max_;
    } else {
        min_ = std::min(min_, other.min_);
        max_ = std::max(max_, other.max_);
    }
    count_ += other.count_;
    sum_ += other.sum_;
    zero_count_ += other.zero_count_;
    positive_.merge(other.positive_);
    negative_.merge(other.negative_);
}

void DistributionSketch::clear() {
    positive_ = Store{};
    negative_ = Store{};
    zero_count_ = count_ = sum_ = min_ = max_ = 0;
}

double DistributionSketch::quantile(double q) const {
    if (count_ == 0 || !(q >= 0) || q > 1) return std::numeric_limits<double>::quiet_NaN();
    if (q == 0) return min_;
    if (q == 1) return max_;
    double rank = q * (count_ - 1);
    double result = 0;
    if (rank < negative_.total) {
        double seen = 0;  // most negative first: highest key of the magnitudes
        for (size_t i = negative_.counts.size(); i-- > 0;) {
            seen += negative_.counts[i];
            if (seen > rank) {
                result = -value_of(static_cast<int32_t>(negative_.offset + int64_t(i)));
                break;
            }
        }
    } else if (rank < negative_.total + zero_count_) {
        result = 0;
    } else {
        double seen = negative_.total + zero_count_;
        result = max_;
        for (size_t i = 0; i < positive_.counts.size(); ++i) {
            seen += positive_.counts[i];
            if (seen > rank) {
                result = value_of(static_cast<int32_t>(positive_.offset + int64_t(i)));
                break;
            }
        }
    }
    return std::clamp(result, min_, max_);
}

std::vector<std::pair<double, double>> DistributionSketch::buckets() const {
    std::vector<std::pair<double, double>> out;
    // bucket key k holds (gamma^(k-1), gamma^k]
    for (size_t i = negative_.counts.size(); i-- > 0;)
        if (negative_.counts[i] != 0)
            out.emplace_back(-std::pow(gamma_, double(negative_.offset + int64_t(i)) - 1), negative_.counts[i]);
    if (zero_count_ != 0) out.emplace_back(0.0, zero_count_);
    for (size_t i = 0; i < positive_.counts.size(); ++i)
        if (positive_.counts[i] != 0)
            out.emplace_back(std::pow(gamma_, double(positive_.offset + int64_t(i))), positive_.counts[i]);
    return out;
}

}  // namespace tracer::statsd
