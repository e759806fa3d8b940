// DogStatsD datagram format v1.3, one line at a time, without allocating:
// every field of the result is a view into the caller's buffer.
//
//   metric:         <name>:<value>[:<value>...]|<type>[|@<rate>][|#<tags>][|c:<container>][|T<unix ts>]
//                   type: c g ms h d s; a gauge value with an explicit sign (+n/-n) is a delta
//   event:          _e{<title len>,<text len>}:<title>|<text>[|d:<ts>][|h:<host>][|k:<agg key>]
//                   [|p:normal|low][|s:<source>][|t:error|warning|info|success][|#<tags>][|c:<container>]
//   service check:  _sc|<name>|<status 0-3>[|d:<ts>][|h:<host>][|#<tags>][|c:<container>][|m:<message>]
//
// Fields the format may add later (unknown `|x...` fields) are skipped, as the
// Datadog agent does. Anything else malformed is one ParseError reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tracer::statsd {

enum class MetricKind : uint8_t { Counter, Gauge, Timer, Histogram, Distribution, Set };

// Why a line was refused; the label of tracer_statsd_parse_errors_total{reason}.
enum class ParseError : uint8_t {
    None,
    EmptyName,         // ":1|c"
    NoValue,           // "name|c", "name:|c"
    NoType,            // "name:1"
    UnknownType,       // "name:1|x"
    BadValue,          // not a finite number (or an empty set member)
    BadSampleRate,     // "@0", "@2", "@x"
    BadTimestamp,      // "|Tx"
    BadEvent,          // any malformed _e{...}
    BadServiceCheck,   // any malformed _sc|...
    LineTooLong,       // a TCP line over the 64 KiB limit
    Truncated,         // a datagram larger than the receive buffer
    ReservedName,      // "tracer.x", "tracer_x": tracer's own namespace on /metrics
    Count
};
const char* reason_name(ParseError e);
const char* kind_name(MetricKind k);  // "counter", "gauge", "timer", "histogram", "distribution", "set"

// Tags as written: a comma-separated list (may hold empty items); walk it with TagIterator.
struct ParsedMetric {
    std::string_view name;
    std::string_view values;  // one or more ':'-separated values, each checked by the parser
    std::string_view tail;    // everything after the values ("|c|@0.5|#a:b"): with the name, the raw context
    double first_value = 0;   // the first value, parsed (not for sets)
    bool single_value = true; // no packed values
    MetricKind kind = MetricKind::Counter;
    double sample_rate = 1;
    std::string_view tags;
    std::string_view container_id;  // the c: field; empty if absent
    int64_t timestamp = 0;          // the T field; 0 if absent
};

struct ParsedEvent {
    std::string_view title, text;  // text still has "\\n" escapes
    int64_t timestamp = 0;
    std::string_view hostname, aggregation_key, priority, source_type, alert_type, tags, container_id;
};

struct ParsedServiceCheck {
    std::string_view name;
    int status = 0;
    int64_t timestamp = 0;
    std::string_view hostname, message, tags, container_id;
};

enum class LineKind : uint8_t { Empty, Metric, Event, ServiceCheck, Error };

struct ParsedLine {
    LineKind kind = LineKind::Empty;
    ParseError error = ParseError::None;
    ParsedMetric metric;
    ParsedEvent event;
    ParsedServiceCheck check;
};

// Parses one line (no '\n'; a trailing '\r' is ignored).
void parse_line(std::string_view line, ParsedLine& out);

// Walks "a,b:c,,d" -> "a", "b:c", "d" (empty items skipped).
class TagIterator {
public:
    explicit TagIterator(std::string_view tags) : rest_(tags) {}
    bool next(std::string_view& tag);

private:
    std::string_view rest_;
};

// Walks the ':'-separated values of a metric; numbers for every kind but sets.
class ValueIterator {
public:
    explicit ValueIterator(std::string_view values) : rest_(values), done_(values.empty()) {}
    bool next(std::string_view& value);

private:
    std::string_view rest_;
    bool done_;
};

// A finite double from the whole of `s` (leading '+' allowed); false otherwise.
bool parse_number(std::string_view s, double& out);

// Calls `line` for every line of a datagram or stream chunk ('\n'-separated).
template <typename F>
void for_each_line(std::string_view buffer, F&& line) {
    while (!buffer.empty()) {
        size_t nl = buffer.find('\n');
        line(buffer.substr(0, nl));
        if (nl == std::string_view::npos) break;
        buffer.remove_prefix(nl + 1);
    }
}

}  // namespace tracer::statsd
