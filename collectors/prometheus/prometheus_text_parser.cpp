#include "collectors/prometheus/prometheus_text_parser.h"

#include <cmath>
#include <cstdlib>
#include <unordered_map>

namespace tracer::collectors {
namespace {

bool name_char(char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

size_t skip_spaces(std::string_view s, size_t i) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    return i;
}

size_t read_name(std::string_view s, size_t i) {
    size_t start = i;
    while (i < s.size() && name_char(s[i], i == start)) ++i;
    return i;
}

bool parse_value(std::string_view text, double& out) {
    std::string t(text);
    if (t == "+Inf" || t == "Inf") return out = INFINITY, true;
    if (t == "-Inf") return out = -INFINITY, true;
    if (t == "NaN") return out = NAN, true;
    char* end = nullptr;
    out = std::strtod(t.c_str(), &end);
    return !t.empty() && end && *end == '\0';
}

// The family a sample belongs to: its own name, or the name without a
// histogram/summary/counter suffix when that family was declared.
std::string family_of(const std::string& sample, const std::unordered_map<std::string, size_t>& declared) {
    if (declared.count(sample)) return sample;
    for (const char* suffix : {"_bucket", "_sum", "_count", "_total", "_created", "_gcount", "_gsum"}) {
        std::string_view sv(suffix);
        if (sample.size() > sv.size() && sample.compare(sample.size() - sv.size(), sv.size(), sv) == 0) {
            std::string base = sample.substr(0, sample.size() - sv.size());
            if (declared.count(base)) return base;
        }
    }
    return sample;
}

}  // namespace

ParsedExposition parse_prometheus_text(std::string_view text) {
    ParsedExposition out;
    std::unordered_map<std::string, size_t> index;  // family name -> position
    auto family = [&](const std::string& name) -> ParsedFamily& {
        auto [it, fresh] = index.emplace(name, out.families.size());
        if (fresh) out.families.push_back(ParsedFamily{name, "untyped", "", {}});
        return out.families[it->second];
    };
    size_t line_no = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        size_t i = skip_spaces(line, 0);
        if (i == line.size()) continue;
        auto fail = [&](const std::string& why) {
            out.errors.push_back("line " + std::to_string(line_no) + ": " + why);
        };
        if (line[i] == '#') {
            i = skip_spaces(line, i + 1);
            bool is_type = line.substr(i, 5) == "TYPE ", is_help = line.substr(i, 5) == "HELP ";
            if (!is_type && !is_help) continue;  // a comment (or # EOF)
            i = skip_spaces(line, i + 5);
            size_t end = read_name(line, i);
            if (end == i) {
                fail("no metric name after # " + std::string(is_type ? "TYPE" : "HELP"));
                continue;
            }
            auto& f = family(std::string(line.substr(i, end - i)));
            std::string rest(line.substr(skip_spaces(line, end)));
            if (is_help) {
                f.help = rest;
            } else {
                if (rest == "counter" || rest == "gauge" || rest == "histogram" || rest == "summary" ||
                    rest == "untyped" || rest == "unknown")
                    f.type = rest == "unknown" ? "untyped" : rest;
                else
                    fail("unknown metric type '" + rest + "'");
            }
            continue;
        }
        size_t end = read_name(line, i);
        if (end == i) {
            fail("expected a metric name");
            continue;
        }
        ParsedSample sample;
        sample.name = std::string(line.substr(i, end - i));
        i = skip_spaces(line, end);
        bool ok = true;
        if (i < line.size() && line[i] == '{') {
            ++i;
            for (;;) {
                i = skip_spaces(line, i);
                if (i < line.size() && line[i] == '}') {
                    ++i;
                    break;
                }
                size_t name_end = read_name(line, i);
                if (name_end == i) {
                    fail("bad label name in " + sample.name);
                    ok = false;
                    break;
                }
                std::string label(line.substr(i, name_end - i));
                i = skip_spaces(line, name_end);
                size_t quote = i < line.size() && line[i] == '=' ? skip_spaces(line, i + 1) : line.size();
                if (quote >= line.size() || line[quote] != '"') {
                    fail("expected =\"value\" after label " + label + " of " + sample.name);
                    ok = false;
                    break;
                }
                i = quote + 1;
                std::string value;
                bool closed = false;
                for (; i < line.size(); ++i) {
                    char c = line[i];
                    if (c == '\\' && i + 1 < line.size()) {
                        char e = line[++i];
                        value += e == 'n' ? '\n' : e;
                    } else if (c == '"') {
                        closed = true;
                        ++i;
                        break;
                    } else {
                        value += c;
                    }
                }
                if (!closed) {
                    fail("unterminated label value of " + label + " in " + sample.name);
                    ok = false;
                    break;
                }
                sample.labels.push_back({label, value});
                i = skip_spaces(line, i);
                if (i < line.size() && line[i] == ',') ++i;
            }
            if (!ok) continue;
            i = skip_spaces(line, i);
        }
        size_t value_end = line.find_first_of(" \t", i);
        std::string_view value_text = line.substr(i, value_end == std::string_view::npos ? line.npos : value_end - i);
        if (value_text.empty() || !parse_value(value_text, sample.value)) {
            fail("bad value '" + std::string(value_text) + "' for " + sample.name);
            continue;
        }
        family(family_of(sample.name, index)).samples.push_back(std::move(sample));
    }
    return out;
}

}  // namespace tracer::collectors
