#include "metrics/output_sanitizer.h"

#include "log.h"
#include "metrics/prometheus_text.h"

#include <algorithm>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace tracer::metrics {
namespace {

constexpr std::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

// The length of the valid UTF-8 sequence at s[i], 0 if there is none
// (overlong forms, surrogates and code points past U+10FFFF are invalid).
size_t utf8_sequence(std::string_view s, size_t i) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    const size_t left = s.size() - i;
    auto cont = [&](size_t k) { return k < left && (b(k) & 0xc0) == 0x80; };
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (!cont(1) || !cont(2)) return 0;
        if (c == 0xe0 && b(1) < 0xa0) return 0;   // overlong
        if (c == 0xed && b(1) >= 0xa0) return 0;  // surrogates
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (!cont(1) || !cont(2) || !cont(3)) return 0;
        if (c == 0xf0 && b(1) < 0x90) return 0;   // overlong
        if (c == 0xf4 && b(1) >= 0x90) return 0;  // past U+10FFFF
        return 4;
    }
    return 0;
}

bool plain_ascii(std::string_view s) {
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c >= 0x7f) return false;
    }
    return true;
}

// [a-zA-Z0-9_], not starting with a digit: a label name Prometheus takes as it is.
bool canonical_label_name(std::string_view s) {
    if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}

uint64_t hash_text(std::string_view s) { return std::hash<std::string_view>{}(s); }

// Prometheus' names of a label set: the sample's labels with non-empty values,
// each name mapped as /metrics writes it, sorted. Only built on the rare path.
std::vector<std::pair<std::string, std::string_view>> series_identity(const Labels& labels) {
    std::vector<std::pair<std::string, std::string_view>> id;
    for (const Label& l : labels)
        if (!l.value.empty()) id.emplace_back(prometheus_label_name(l.name), l.value);
    std::sort(id.begin(), id.end());
    return id;
}

class SnapshotSanitizer {
public:
    SnapshotSanitizer(const SanitizeLimits& limits, SanitizeReport& report) : limits_(limits), report_(report) {}

    void run(Snapshot& snapshot) {
        size_t kept = 0;
        for (size_t i = 0; i < snapshot.size(); ++i) {
            Family& f = snapshot[i];
            if (!family(f)) continue;
            if (kept != i) snapshot[kept] = std::move(f);
            ++kept;
        }
        snapshot.resize(kept);
    }

private:
    // False when the family is to be left out.
    bool family(Family& f) {
        sanitize_text(f.name, limits_.max_name_bytes, false, report_, f.name);
        sanitize_text(f.unit, limits_.max_name_bytes, false, report_, f.name);
        sanitize_text(f.help, limits_.max_help_bytes, false, report_, f.name);
        if (f.name.empty()) {
            report_.add(Rewrite::FamilyDropped, "(a family without a name)");
            return false;
        }
        if (f.samples.empty()) return true;  // rendered by no one: claims no name
        for (Sample& s : f.samples) labels(f, s.labels);
        dedupe_series(f);
        return claim_names(f);
    }

    void labels(const Family& f, Labels& labels) {
        size_t kept = 0;
        mapped_count_ = 0;
        for (size_t i = 0; i < labels.size(); ++i) {
            Label& l = labels[i];
            if (!drop_label(f, l)) {
                if (kept != i) labels[kept] = std::move(l);
                ++kept;
            }
        }
        labels.resize(kept);
    }

    bool drop_label(const Family& f, Label& l) {
        sanitize_text(l.name, limits_.max_label_name_bytes, false, report_, f.name);
        sanitize_text(l.value, limits_.max_label_value_bytes, false, report_, f.name);
        if (l.name.empty() || mapped_count_ >= limits_.max_labels) {
            report_.add(Rewrite::LabelDropped, f.name);
            return true;
        }
        if (mapped_count_ == mapped_.size()) mapped_.emplace_back();
        std::string& mapped = mapped_[mapped_count_];  // its capacity is reused sample after sample
        if (canonical_label_name(l.name))
            mapped.assign(l.name);
        else
            mapped = prometheus_label_name(l.name);
        if (mapped.starts_with("__")) {
            mapped.erase(0, mapped.find_first_not_of('_'));
            mapped.insert(0, "_");
            l.name = mapped;
            report_.add(Rewrite::LabelRenamed, f.name);
        }
        if ((f.type == MetricType::Histogram && mapped == "le") ||
            (f.type == MetricType::Summary && mapped == "quantile") ||
            std::find(mapped_.begin(), mapped_.begin() + mapped_count_, mapped) != mapped_.begin() + mapped_count_) {
            report_.add(Rewrite::LabelDropped, f.name);
            return true;
        }
        ++mapped_count_;
        return false;
    }

    // Label names are unique per sample by now, so a sum of per-label hashes
    // identifies a series whatever the order of its labels.
    void dedupe_series(Family& f) {
        if (f.samples.size() < 2) return;
        order_.clear();
        for (size_t i = 0; i < f.samples.size(); ++i) {
            uint64_t h = 0;
            for (const Label& l : f.samples[i].labels) {
                if (l.value.empty()) continue;
                const uint64_t name = canonical_label_name(l.name) ? hash_text(l.name)
                                                                   : hash_text(prometheus_label_name(l.name));
                h += (name * 0x9E3779B97F4A7C15ull) ^ hash_text(l.value);
            }
            order_.emplace_back(h, i);
        }
        std::sort(order_.begin(), order_.end());
        std::vector<bool> drop;
        for (size_t a = 0; a < order_.size();) {
            size_t b = a + 1;
            while (b < order_.size() && order_[b].first == order_[a].first) ++b;
            // a run of equal hashes (almost always one sample): compare in full, keep the first
            for (size_t x = a; x < b; ++x) {
                if (!drop.empty() && drop[order_[x].second]) continue;
                for (size_t y = x + 1; y < b; ++y) {
                    const size_t i = order_[x].second, j = order_[y].second;
                    if (series_identity(f.samples[i].labels) != series_identity(f.samples[j].labels)) continue;
                    if (drop.empty()) drop.assign(f.samples.size(), false);
                    drop[std::max(i, j)] = true;
                }
            }
            a = b;
        }
        if (drop.empty()) return;
        size_t kept = 0;
        for (size_t i = 0; i < f.samples.size(); ++i) {
            if (drop[i]) {
                report_.add(Rewrite::SeriesDropped, f.name);
                continue;
            }
            if (kept != i) f.samples[kept] = std::move(f.samples[i]);
            ++kept;
        }
        f.samples.resize(kept);
    }

    // The Prometheus names the family renders; false if an earlier one has any.
    bool claim_names(const Family& f) {
        const std::string base = prometheus_name(f);
        std::vector<std::string> names{base};
        if (f.type == MetricType::Histogram) names.push_back(base + "_bucket");
        if (f.type == MetricType::Histogram || f.type == MetricType::Summary) {
            names.push_back(base + "_sum");
            names.push_back(base + "_count");
        }
        for (const auto& n : names)
            if (claimed_.contains(n)) {
                report_.add(Rewrite::FamilyDropped, f.name);
                return false;
            }
        for (auto& n : names) claimed_.emplace(std::move(n), true);
        return true;
    }

    const SanitizeLimits& limits_;
    SanitizeReport& report_;
    std::vector<std::string> mapped_;                 // Prometheus names of the sample's labels so far
    size_t mapped_count_ = 0;
    std::vector<std::pair<uint64_t, size_t>> order_;  // (series hash, sample index)
    std::unordered_map<std::string, bool> claimed_;
};

}  // namespace

const char* rewrite_name(Rewrite r) {
    switch (r) {
        case Rewrite::InvalidUtf8: return "invalid_utf8";
        case Rewrite::ControlCharacter: return "control_character";
        case Rewrite::Truncated: return "truncated";
        case Rewrite::LabelRenamed: return "label_renamed";
        case Rewrite::LabelDropped: return "label_dropped";
        case Rewrite::SeriesDropped: return "series_dropped";
        case Rewrite::FamilyDropped: return "family_dropped";
        case Rewrite::Count: break;
    }
    return "unknown";
}

void SanitizeReport::add(Rewrite r, std::string_view where) {
    auto i = static_cast<size_t>(r);
    if (counts[i]++ != 0) return;
    // for a log line: printable ASCII only
    example[i].clear();
    for (char c : where.substr(0, 200)) example[i] += c >= 0x20 && c < 0x7f ? c : '?';
}

bool sanitize_text(std::string& s, size_t max_bytes, bool keep_controls, SanitizeReport& report,
                   std::string_view where) {
    if (s.size() <= max_bytes && plain_ascii(s)) return false;  // the common case
    std::string out;
    out.reserve(std::min(s.size(), max_bytes) + 8);
    bool invalid = false, control = false, cut = false;
    for (size_t i = 0; i < s.size();) {
        size_t n = utf8_sequence(s, i);
        std::string_view piece;
        if (n == 0) {
            invalid = true;
            piece = kReplacement;
            n = 1;
        } else if (n == 1 && is_control(static_cast<unsigned char>(s[i])) &&
                   !(keep_controls && (s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))) {
            control = true;
            piece = kReplacement;
        } else {
            piece = std::string_view(s).substr(i, n);
        }
        if (out.size() + piece.size() > max_bytes) {
            cut = true;
            break;
        }
        out += piece;
        i += n;
    }
    // the original string names where it was seen: copy the example before replacing it
    if (invalid) report.add(Rewrite::InvalidUtf8, where);
    if (control) report.add(Rewrite::ControlCharacter, where);
    if (cut) report.add(Rewrite::Truncated, where);
    if (!invalid && !control && !cut) return false;
    s = std::move(out);
    return true;
}

SanitizeReport sanitize_snapshot(Snapshot& snapshot, const SanitizeLimits& limits) {
    SanitizeReport report;
    SnapshotSanitizer(limits, report).run(snapshot);
    return report;
}

void sanitize_event(Event& e, SanitizeReport& report) {
    constexpr size_t kMax = 64 * 1024;
    const std::string where = "event";
    for (std::string* s : {&e.title, &e.hostname, &e.aggregation_key, &e.priority, &e.source_type, &e.alert_type})
        sanitize_text(*s, kMax, false, report, where);
    sanitize_text(e.text, kMax, true, report, where);
    for (auto& t : e.tags) sanitize_text(t, kMax, false, report, where);
}

void sanitize_service_check(ServiceCheck& c, SanitizeReport& report) {
    constexpr size_t kMax = 64 * 1024;
    const std::string where = "service check";
    for (std::string* s : {&c.name, &c.hostname})
        sanitize_text(*s, kMax, false, report, where);
    sanitize_text(c.message, kMax, true, report, where);
    for (auto& t : c.tags) sanitize_text(t, kMax, false, report, where);
}

void OutputSanitizer::apply(Snapshot& snapshot) {
    SanitizeReport report = sanitize_snapshot(snapshot, limits_);
    Family f{"tracer.output.rewrites", "",
             "What the last snapshot held that some output could not take, by what was done to it "
             "(see docs/metrics.md, \"Valid output whatever comes in\").",
             MetricType::Gauge, {}};
    for (size_t i = 0; i < report.counts.size(); ++i) {
        const auto r = static_cast<Rewrite>(i);
        f.samples.push_back({{{"rewrite", rewrite_name(r)}}, static_cast<double>(report.counts[i]), {}});
        if (report.counts[i] > 0 && last_[i] == 0)
            LOG_WARN("output: %llu %s rewrite(s) needed for /metrics and the sinks, first in '%s' "
                     "(tracer_output_rewrites{rewrite=\"%s\"}; see docs/metrics.md)",
                     static_cast<unsigned long long>(report.counts[i]), rewrite_name(r),
                     report.example[i].c_str(), rewrite_name(r));
        last_[i] = report.counts[i];
    }
    snapshot.push_back(std::move(f));
}

}  // namespace tracer::metrics
