#include "statsd/dogstatsd_parser.h"

#include <charconv>
#include <cmath>

namespace tracer::statsd {
namespace {

// Splits off the text up to the next '|' (or the rest).
std::string_view next_field(std::string_view& rest) {
    size_t bar = rest.find('|');
    std::string_view field = rest.substr(0, bar);
    rest = bar == std::string_view::npos ? std::string_view{} : rest.substr(bar + 1);
    return field;
}

template <typename T>
bool parse_integer(std::string_view s, T& out) {
    if (s.empty()) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size();
}

bool parse_kind(std::string_view t, MetricKind& k) {
    if (t == "c") k = MetricKind::Counter;
    else if (t == "g") k = MetricKind::Gauge;
    else if (t == "ms") k = MetricKind::Timer;
    else if (t == "h") k = MetricKind::Histogram;
    else if (t == "d") k = MetricKind::Distribution;
    else if (t == "s") k = MetricKind::Set;
    else return false;
    return true;
}

// "tracer.x", "tracer_x", "tracer-x": a name in tracer's own namespace on
// /metrics (tracer_*), where a DogStatsD family could duplicate or mix with
// one of tracer's (tracer_syscalls_total). Such names are refused.
bool reserved_name(std::string_view name) {
    if (name.size() < 7 || name.substr(0, 6) != "tracer") return false;
    const char c = name[6];
    return !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':');
}

ParseError parse_metric(std::string_view line, ParsedMetric& m) {
    std::string_view rest = line;
    std::string_view head = next_field(rest);  // name:value[:value...]
    size_t colon = head.find(':');
    if (colon == 0) return ParseError::EmptyName;
    if (colon == std::string_view::npos || colon + 1 == head.size()) return ParseError::NoValue;
    m = ParsedMetric{};
    m.name = head.substr(0, colon);
    if (reserved_name(m.name)) return ParseError::ReservedName;
    m.values = head.substr(colon + 1);
    m.tail = line.substr(head.size());
    m.single_value = m.values.find(':') == std::string_view::npos;
    if (line.size() == head.size()) return ParseError::NoType;
    std::string_view type = next_field(rest);
    if (type.empty()) return ParseError::NoType;
    if (!parse_kind(type, m.kind)) return ParseError::UnknownType;

    ValueIterator values(m.values);
    std::string_view v;
    bool first = true;
    while (values.next(v)) {
        double d;
        if (m.kind == MetricKind::Set) {
            if (v.empty()) return ParseError::BadValue;
        } else if (!parse_number(v, d)) {
            return ParseError::BadValue;
        } else if (first) {
            m.first_value = d;
        }
        first = false;
    }
    while (!rest.empty()) {
        std::string_view f = next_field(rest);
        if (f.empty()) continue;  // "||" or a trailing '|'
        if (f[0] == '@') {
            if (!parse_number(f.substr(1), m.sample_rate) || !(m.sample_rate > 0) || m.sample_rate > 1)
                return ParseError::BadSampleRate;
        } else if (f[0] == '#') {
            m.tags = f.substr(1);
        } else if (f.size() >= 2 && f[0] == 'c' && f[1] == ':') {
            m.container_id = f.substr(2);
        } else if (f[0] == 'T') {
            if (!parse_integer(f.substr(1), m.timestamp) || m.timestamp < 0) return ParseError::BadTimestamp;
        }  // else: a field of a later version, skipped
    }
    return ParseError::None;
}

// Shared optional fields of events and service checks.
bool parse_common_field(std::string_view f, int64_t& ts, std::string_view& host, std::string_view& tags,
                        std::string_view& container, bool& known) {
    known = true;
    if (f.size() >= 2 && f[1] == ':') {
        std::string_view v = f.substr(2);
        switch (f[0]) {
            case 'd': return parse_integer(v, ts) && ts >= 0;
            case 'h': host = v; return true;
            case 'c': container = v; return true;
        }
    }
    if (!f.empty() && f[0] == '#') {
        tags = f.substr(1);
        return true;
    }
    known = false;
    return true;
}

ParseError parse_event(std::string_view line, ParsedEvent& e) {
    // _e{12,4}:title|text|...
    e = ParsedEvent{};
    size_t close = line.find('}');
    if (line.size() < 4 || line.substr(0, 3) != "_e{" || close == std::string_view::npos) return ParseError::BadEvent;
    std::string_view lens = line.substr(3, close - 3);
    size_t comma = lens.find(',');
    size_t title_len = 0, text_len = 0;
    if (comma == std::string_view::npos || !parse_integer(lens.substr(0, comma), title_len) ||
        !parse_integer(lens.substr(comma + 1), text_len) || title_len == 0)
        return ParseError::BadEvent;
    std::string_view body = line.substr(close + 1);
    if (body.empty() || body[0] != ':') return ParseError::BadEvent;
    body.remove_prefix(1);
    if (title_len > body.size() || body.size() - title_len < 1 + text_len || body[title_len] != '|')
        return ParseError::BadEvent;
    e.title = body.substr(0, title_len);
    e.text = body.substr(title_len + 1, text_len);
    std::string_view rest = body.substr(title_len + 1 + text_len);
    if (!rest.empty()) {
        if (rest[0] != '|') return ParseError::BadEvent;
        rest.remove_prefix(1);
    }
    while (!rest.empty()) {
        std::string_view f = next_field(rest);
        bool known = false;
        if (!parse_common_field(f, e.timestamp, e.hostname, e.tags, e.container_id, known)) return ParseError::BadEvent;
        if (known || f.size() < 2 || f[1] != ':') continue;
        std::string_view v = f.substr(2);
        switch (f[0]) {
            case 'k': e.aggregation_key = v; break;
            case 's': e.source_type = v; break;
            case 'p':
                if (v != "normal" && v != "low") return ParseError::BadEvent;
                e.priority = v;
                break;
            case 't':
                if (v != "error" && v != "warning" && v != "info" && v != "success") return ParseError::BadEvent;
                e.alert_type = v;
                break;
        }
    }
    return ParseError::None;
}

ParseError parse_service_check(std::string_view line, ParsedServiceCheck& c) {
    // _sc|name|status|...
    c = ParsedServiceCheck{};
    std::string_view rest = line.substr(4);
    c.name = next_field(rest);
    std::string_view status = next_field(rest);
    if (c.name.empty() || !parse_integer(status, c.status) || c.status < 0 || c.status > 3)
        return ParseError::BadServiceCheck;
    while (!rest.empty()) {
        if (rest.size() >= 2 && rest[0] == 'm' && rest[1] == ':') {  // the message is last and may hold '|'
            c.message = rest.substr(2);
            break;
        }
        std::string_view f = next_field(rest);
        bool known = false;
        if (!parse_common_field(f, c.timestamp, c.hostname, c.tags, c.container_id, known))
            return ParseError::BadServiceCheck;
    }
    return ParseError::None;
}

}  // namespace

bool parse_number(std::string_view s, double& out) {
    if (!s.empty() && s[0] == '+') s.remove_prefix(1);
    if (!s.empty() && s.size() <= 15) {  // the common case, a small whole number: exact without from_chars
        uint64_t n = 0;
        size_t i = 0;
        for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) n = n * 10 + uint64_t(s[i] - '0');
        if (i == s.size()) {
            out = double(n);
            return true;
        }
    }
    if (s.empty() || s[0] == '+') return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && end == s.data() + s.size() && std::isfinite(out);
}

bool TagIterator::next(std::string_view& tag) {
    while (!rest_.empty()) {
        size_t comma = rest_.find(',');
        tag = rest_.substr(0, comma);
        rest_ = comma == std::string_view::npos ? std::string_view{} : rest_.substr(comma + 1);
        if (!tag.empty()) return true;
    }
    return false;
}

bool ValueIterator::next(std::string_view& value) {
    if (done_) return false;
    size_t colon = rest_.find(':');
    value = rest_.substr(0, colon);
    if (colon == std::string_view::npos) done_ = true;
    else rest_.remove_prefix(colon + 1);
    return true;
}

void parse_line(std::string_view line, ParsedLine& out) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.error = ParseError::None;
    if (line.empty()) {
        out.kind = LineKind::Empty;
        return;
    }
    if (line.substr(0, 3) == "_e{") {
        out.kind = LineKind::Event;
        out.error = parse_event(line, out.event);
    } else if (line.substr(0, 4) == "_sc|") {
        out.kind = LineKind::ServiceCheck;
        out.error = parse_service_check(line, out.check);
    } else {
        out.kind = LineKind::Metric;
        out.error = parse_metric(line, out.metric);
    }
    if (out.error != ParseError::None) out.kind = LineKind::Error;
}

const char* reason_name(ParseError e) {
    switch (e) {
        case ParseError::None: return "none";
        case ParseError::EmptyName: return "empty_name";
        case ParseError::NoValue: return "no_value";
        case ParseError::NoType: return "no_type";
        case ParseError::UnknownType: return "unknown_type";
        case ParseError::BadValue: return "bad_value";
        case ParseError::BadSampleRate: return "bad_sample_rate";
        case ParseError::BadTimestamp: return "bad_timestamp";
        case ParseError::BadEvent: return "bad_event";
        case ParseError::BadServiceCheck: return "bad_service_check";
        case ParseError::LineTooLong: return "line_too_long";
        case ParseError::ReservedName: return "reserved_name";
        case ParseError::Truncated: return "truncated";
        case ParseError::Count: break;
    }
    return "unknown";
}

const char* kind_name(MetricKind k) {
    switch (k) {
        case MetricKind::Counter: return "counter";
        case MetricKind::Gauge: return "gauge";
        case MetricKind::Timer: return "timer";
        case MetricKind::Histogram: return "histogram";
        case MetricKind::Distribution: return "distribution";
        case MetricKind::Set: return "set";
    }
    return "unknown";
}

}  // namespace tracer::statsd
