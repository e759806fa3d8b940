#include "metrics/prometheus_text.h"

#include <charconv>
#include <cmath>
#include <string_view>

namespace tracer::metrics {
namespace {

constexpr double kTwoPow53 = 9007199254740992.0;  // beyond it not every integer is a double

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_name_char(char c, bool allow_colon) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
           (allow_colon && c == ':');
}

// Metric names may contain ':', label names may not; neither may start with a digit.
void append_name(std::string& out, std::string_view s, bool allow_colon) {
    if (s.empty() || is_digit(s.front())) out += '_';
    for (char c : s) out += is_name_char(c, allow_colon) ? c : '_';
}

// Backslash-escapes the characters in `specials` ('\n' becomes "\n").
void append_escaped(std::string& out, std::string_view s, std::string_view specials) {
    size_t pos = 0;
    for (;;) {
        size_t hit = s.find_first_of(specials, pos);
        out.append(s.data() + pos, (hit == std::string_view::npos ? s.size() : hit) - pos);
        if (hit == std::string_view::npos) return;
        out += '\\';
        out += s[hit] == '\n' ? 'n' : s[hit];
        pos = hit + 1;
    }
}

void append_uint(std::string& out, uint64_t v) {
    char buf[24];
    out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

void append_double(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
    } else if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
    } else {
        char buf[32];
        char* end = std::abs(v) < kTwoPow53 && v == std::trunc(v)
                        ? std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v)).ptr
                        : std::to_chars(buf, buf + sizeof buf, v).ptr;  // shortest round-trip
        out.append(buf, end);
    }
}

// `a="x",b="y"` (no braces) into `out`, which is cleared first.
void format_labels(std::string& out, const Labels& labels) {
    out.clear();
    for (const Label& l : labels) {
        if (!out.empty()) out += ',';
        append_name(out, l.name, false);
        out += "=\"";
        append_escaped(out, l.value, "\\\"\n");
        out += '"';
    }
}

// `name<suffix>{labels} ` (braces only when there are labels).
void append_series(std::string& out, std::string_view name, std::string_view suffix,
                   std::string_view labels) {
    out += name;
    out += suffix;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
}

void append_bucket(std::string& out, std::string_view name, std::string_view labels, std::string_view le,
                   uint64_t cumulative) {
    out += name;
    out += "_bucket{";
    out += labels;
    if (!labels.empty()) out += ',';
    out += "le=\"";
    out += le;
    out += "\"} ";
    append_uint(out, cumulative);
    out += '\n';
}

void append_histogram(std::string& out, std::string_view name, std::string_view labels,
                      const Histogram& h) {
    uint64_t cumulative = 0;
    std::string le;  // small: stays in the SSO buffer
    for (size_t i = 0; i < h.bounds.size(); ++i) {
        if (std::isinf(h.bounds[i]) && h.bounds[i] > 0) break;  // always rendered below
        cumulative += i < h.counts.size() ? h.counts[i] : 0;
        le.clear();
        append_double(le, h.bounds[i]);
        append_bucket(out, name, labels, le, cumulative);
    }
    append_bucket(out, name, labels, "+Inf", h.count);
    append_series(out, name, "_sum", labels);
    append_double(out, h.sum);
    out += '\n';
    append_series(out, name, "_count", labels);
    append_uint(out, h.count);
    out += '\n';
}

void append_summary(std::string& out, std::string_view name, std::string_view labels, const Summary& s) {
    std::string q;
    for (const auto& [quantile, value] : s.quantiles) {
        out += name;
        out += '{';
        out += labels;
        if (!labels.empty()) out += ',';
        out += "quantile=\"";
        q.clear();
        append_double(q, quantile);
        out += q;
        out += "\"} ";
        append_double(out, value);
        out += '\n';
    }
    append_series(out, name, "_sum", labels);
    append_double(out, s.sum);
    out += '\n';
    append_series(out, name, "_count", labels);
    append_uint(out, s.count);
    out += '\n';
}

const char* type_name(MetricType t) {
    switch (t) {
    case MetricType::Counter: return "counter";
    case MetricType::Gauge: return "gauge";
    case MetricType::Histogram: return "histogram";
    case MetricType::Summary: return "summary";
    }
    return "untyped";
}

// A generous guess of the rendered size, so `out` grows once per scrape.
size_t estimate_size(const Snapshot& snapshot) {
    size_t n = 0;
    for (const Family& f : snapshot) {
        if (f.samples.empty()) continue;
        size_t name = f.name.size() + f.unit.size() + 8;
        n += 2 * name + f.help.size() + 32;
        for (const Sample& s : f.samples) {
            size_t line = name + 32;
            for (const Label& l : s.labels) line += l.name.size() + l.value.size() + 4;
            if (f.type == MetricType::Histogram)
                n += (s.histogram.bounds.size() + 3) * (line + 32);
            else if (f.type == MetricType::Summary)
                n += (s.summary.quantiles.size() + 2) * (line + 32);
            else
                n += line;
        }
    }
    return n;
}

}  // namespace

std::string prometheus_name(const Family& family) {
    std::string name;
    name.reserve(family.name.size() + family.unit.size() + 8);
    append_name(name, family.name, true);
    if (!family.unit.empty()) {
        std::string suffix = "_";
        for (char c : family.unit) suffix += is_name_char(c, true) ? c : '_';
        if (!name.ends_with(suffix)) name += suffix;
    }
    if (family.type == MetricType::Counter && !name.ends_with("_total")) name += "_total";
    return name;
}

std::string prometheus_label_name(std::string_view name) {
    std::string out;
    append_name(out, name, false);
    return out;
}

void append_prometheus_number(std::string& out, double v) { append_double(out, v); }

void render_prometheus_text(const Snapshot& snapshot, std::string& out) {
    out.reserve(out.size() + estimate_size(snapshot));
    std::string labels;  // reused across samples
    for (const Family& f : snapshot) {
        if (f.samples.empty()) continue;
        const std::string name = prometheus_name(f);
        if (!f.help.empty()) {
            out += "# HELP ";
            out += name;
            out += ' ';
            append_escaped(out, f.help, "\\\n");
            out += '\n';
        }
        out += "# TYPE ";
        out += name;
        out += ' ';
        out += type_name(f.type);
        out += '\n';
        for (const Sample& s : f.samples) {
            format_labels(labels, s.labels);
            if (f.type == MetricType::Histogram) {
                append_histogram(out, name, labels, s.histogram);
            } else if (f.type == MetricType::Summary) {
                append_summary(out, name, labels, s.summary);
            } else {
                append_series(out, name, "", labels);
                append_double(out, s.value);
                out += '\n';
            }
        }
    }
}

}  // namespace tracer::metrics
