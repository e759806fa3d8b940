// prometheus: scrapes any /metrics endpoint (text format) and reports its
// series under a name prefix, the way Datadog's openmetrics check names them:
// gauge `foo` -> <namespace>.foo; counter `foo_total` -> <namespace>.foo.count;
// histogram -> .bucket (upper_bound label), .sum, .count; summary -> .quantile
// (quantile label), .sum, .count.
#include "collectors/prometheus/prometheus.h"

#include "collectors/http_fetch.h"
#include "collectors/instance_keys.h"
#include "collectors/prometheus/prometheus_text_parser.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace tracer::collectors {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class PrometheusCheck : public Check {
public:
    explicit PrometheusCheck(const InstanceConfig& cfg)
        : url_(required_string_key(cfg, "prometheus_url")),
          namespace_(string_key(cfg, "namespace")),
          include_(pattern_list_key(cfg, "metrics")),
          exclude_(pattern_list_key(cfg, "exclude_metrics")),
          exclude_labels_(string_list_key(cfg, "exclude_labels")),
          headers_(string_list_key(cfg, "headers")),
          username_(string_key(cfg, "username")),
          password_(secret_key(cfg, "password")),
          tls_verify_(bool_key(cfg, "tls_verify", true)),
          max_series_(static_cast<size_t>(number_key(cfg, "max_series", 10000, 1, 1e7))) {
        auto renames = instance_value(cfg, "rename_labels");
        if (renames.IsDefined()) {
            if (!renames.IsMap()) throw instance_error(cfg, "'rename_labels' must be a map of old: new label names", renames);
            for (const auto& kv : renames) {
                if (!kv.first.IsScalar() || !kv.second.IsScalar())
                    throw instance_error(cfg, "'rename_labels' must be a map of old: new label names", kv.first);
                renames_[kv.first.Scalar()] = kv.second.Scalar();
            }
        }
    }

    void run(CheckRun& out) override {
        HttpRequest req;
        req.url = url_;
        req.headers = headers_;
        req.headers.push_back("Accept: text/plain;version=0.0.4");
        req.username = username_;
        req.password = password_;
        req.deadline = out.deadline();
        req.tls_verify = tls_verify_;
        auto res = http_.fetch(req);
        if (res.status != 200) throw std::runtime_error(url_ + ": HTTP " + std::to_string(res.status));
        auto parsed = parse_prometheus_text(res.body);
        size_t series = 0, dropped = 0;
        for (const auto& f : parsed.families) {
            if (!selected(f.name)) continue;
            for (const auto& s : f.samples) {
                if (series >= max_series_) {
                    ++dropped;
                    continue;
                }
                ++series;
                report(f, s, out);
            }
        }
        metrics::Labels endpoint{{"endpoint", url_}};
        out.gauge("prometheus.scrape.series", double(series), endpoint);
        out.gauge("prometheus.scrape.dropped", double(dropped), endpoint);
        out.gauge("prometheus.scrape.parse_errors", double(parsed.errors.size()), endpoint);
        if (!parsed.errors.empty())
            out.service_check(status_check(), CheckStatus::Warning,
                              std::to_string(parsed.errors.size()) + " unparsable lines, first: " + parsed.errors[0]);
        else if (dropped)
            out.service_check(status_check(), CheckStatus::Warning,
                              std::to_string(dropped) + " series over max_series " + std::to_string(max_series_) +
                                  " dropped");
        else
            out.service_check(status_check(), CheckStatus::Ok);
    }

    // Datadog's openmetrics check: <namespace>.openmetrics.health
    std::string status_check() const override { return named("openmetrics.health"); }

private:
    bool selected(const std::string& name) const {
        bool in = include_.empty();
        for (const auto& re : include_) in = in || re.full_match(name);
        if (!in) return false;
        for (const auto& re : exclude_)
            if (re.full_match(name)) return false;
        return true;
    }

    std::string named(const std::string& base) const { return namespace_.empty() ? base : namespace_ + "." + base; }

    void report(const ParsedFamily& f, const ParsedSample& s, CheckRun& out) const {
        metrics::Labels labels;
        for (const auto& l : s.labels) {
            if (std::find(exclude_labels_.begin(), exclude_labels_.end(), l.name) != exclude_labels_.end()) continue;
            auto r = renames_.find(l.name);
            labels.push_back({r == renames_.end() ? l.name : r->second, l.value});
        }
        if (std::isnan(s.value)) return;
        const std::string& name = f.name;
        if (f.type == "counter") {
            std::string base = ends_with(name, "_total") ? name.substr(0, name.size() - 6) : name;
            if (s.name == name || s.name == name + "_total" || s.name == base + "_total")
                out.monotonic_count(named(base + ".count"), s.value, labels);
            return;  // _created and other suffixes: not series of their own here
        }
        if (f.type == "histogram" || f.type == "summary") {
            if (s.name == name + "_sum") return out.monotonic_count(named(name + ".sum"), s.value, labels);
            if (s.name == name + "_count") return out.monotonic_count(named(name + ".count"), s.value, labels);
            if (f.type == "histogram" && s.name == name + "_bucket") {
                for (auto& l : labels)
                    if (l.name == "le") l.name = "upper_bound";
                return out.monotonic_count(named(name + ".bucket"), s.value, labels);
            }
            if (f.type == "summary" && s.name == name) return out.gauge(named(name + ".quantile"), s.value, labels);
            return;
        }
        out.gauge(named(s.name), s.value, labels);
    }

    std::string url_, namespace_;
    std::vector<Pattern> include_, exclude_;
    std::vector<std::string> exclude_labels_, headers_;
    std::string username_, password_;
    bool tls_verify_;
    size_t max_series_;
    HttpClient http_;  // the endpoint's connection, kept between scrapes (as Prometheus keeps it)
    std::map<std::string, std::string> renames_;
};

}  // namespace

PluginInfo prometheus_plugin() {
    return {"prometheus", "Any Prometheus /metrics endpoint (text format), with a name prefix and filters",
            [](const InstanceConfig& cfg) -> std::unique_ptr<Check> { return std::make_unique<PrometheusCheck>(cfg); },
            {"prometheus_url", "namespace", "metrics", "exclude_metrics", "rename_labels", "exclude_labels",
             "headers", "username", "password", "tls_verify", "max_series"}};
}

}  // namespace tracer::collectors
