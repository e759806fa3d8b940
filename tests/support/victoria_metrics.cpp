#include "victoria_metrics.h"

#include "server_process.h"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <thread>

namespace tracer::fixtures {
namespace {

// A JSON string starting at text[pos] == '"' (the exporter escapes only \" and \\ in our data).
std::string json_string(const std::string& text, size_t& pos) {
    std::string out;
    for (++pos; pos < text.size() && text[pos] != '"'; ++pos) {
        if (text[pos] == '\\' && pos + 1 < text.size()) ++pos;
        out += text[pos];
    }
    ++pos;
    return out;
}

template <typename T>
std::vector<T> json_numbers(const std::string& line, const std::string& key) {
    std::vector<T> out;
    size_t pos = line.find("\"" + key + "\":[");
    if (pos == std::string::npos) return out;
    pos += key.size() + 4;
    while (pos < line.size() && line[pos] != ']') {
        size_t end = line.find_first_of(",]", pos);
        T v{};
        std::from_chars(line.data() + pos, line.data() + end, v);
        out.push_back(v);
        pos = line[end] == ',' ? end + 1 : end;
    }
    return out;
}

ExportedSeries parse_export_line(const std::string& line) {
    ExportedSeries s;
    size_t pos = line.find("\"metric\":{");
    if (pos == std::string::npos) return s;
    pos += 10;
    while (pos < line.size() && line[pos] == '"') {
        std::string k = json_string(line, pos);
        ++pos;  // ':'
        std::string v = json_string(line, pos);
        s.labels[k] = v;
        if (line[pos] == ',') ++pos;
    }
    s.values = json_numbers<double>(line, "values");
    s.timestamps = json_numbers<int64_t>(line, "timestamps");
    return s;
}

}  // namespace

std::string VictoriaMetrics::skip_reason() {
    if (access(kBinary, X_OK) != 0)
        return std::string(kBinary) + " is missing: apt-get install victoria-metrics (scripts/install-deps.sh --test)";
    return "";
}

VictoriaMetrics::VictoriaMetrics() : port_(free_tcp_port()) {
    char tmpl[] = "/tmp/tracer-vm-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    storage_ = tmpl;
}

VictoriaMetrics::~VictoriaMetrics() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(storage_, ec);
}

void VictoriaMetrics::use_tls(const std::string& cert_file, const std::string& key_file) {
    tls_args_ = {"-tls", "-tlsCertFile=" + cert_file, "-tlsKeyFile=" + key_file};
}

bool VictoriaMetrics::start() {
    if (process_) return true;
    std::vector<std::string> argv{kBinary,
                                  "-httpListenAddr=127.0.0.1:" + std::to_string(port_),
                                  "-storageDataPath=" + storage_,
                                  "-retentionPeriod=100y",
                                  "-loggerLevel=ERROR",
                                  "-search.latencyOffset=0s"};
    argv.insert(argv.end(), tls_args_.begin(), tls_args_.end());
    process_ = std::make_unique<Subprocess>(argv);
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(std::chrono::milliseconds(200));
    for (int i = 0; i < 150; ++i) {
        if (!tls_args_.empty() && accepts_tcp(port_)) return true;
        if (tls_args_.empty())
            if (auto r = client.Get("/health"); r && r->status == 200) return true;
        if (!process_->running()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    stop();
    return false;
}

void VictoriaMetrics::stop() {
    if (!process_) return;
    process_->signal(SIGINT);  // graceful: flushes what it ingested
    if (process_->wait_for(std::chrono::seconds(20)) < 0) process_->signal(SIGKILL);
    last_output_ = process_->output();
    process_.reset();
}

std::string VictoriaMetrics::url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::string VictoriaMetrics::output() const { return process_ ? process_->output() : last_output_; }

std::vector<ExportedSeries> VictoriaMetrics::export_series(const std::string& selector, size_t min_points) {
    // Ingested points become searchable a moment later, even after a
    // force_flush: read until at least `min_points` are there (at most ~10 s),
    // then once more to catch any extra (duplicate) ones.
    auto points = [](const std::vector<ExportedSeries>& all) {
        size_t n = 0;
        for (const auto& s : all) n += s.values.size();
        return n;
    };
    std::vector<ExportedSeries> last = export_once(selector);
    for (int i = 0; i < 50 && points(last) < min_points; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        last = export_once(selector);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return export_once(selector);
}

std::vector<ExportedSeries> VictoriaMetrics::export_once(const std::string& selector) {
    httplib::Client client("127.0.0.1", port_);
    client.Get("/internal/force_flush");
    auto r = client.Post("/api/v1/export", httplib::Params{{"match[]", selector}});
    std::vector<ExportedSeries> out;
    if (!r || r->status != 200) return out;
    // One series may come in several lines (one per storage block): merge them.
    std::map<std::map<std::string, std::string>, std::vector<std::pair<int64_t, double>>> points;
    size_t start = 0;
    while (start < r->body.size()) {
        size_t end = r->body.find('\n', start);
        if (end == std::string::npos) end = r->body.size();
        if (end > start) {
            ExportedSeries s = parse_export_line(r->body.substr(start, end - start));
            auto& p = points[s.labels];
            for (size_t i = 0; i < s.values.size() && i < s.timestamps.size(); ++i)
                p.emplace_back(s.timestamps[i], s.values[i]);
        }
        start = end + 1;
    }
    for (auto& [labels, p] : points) {
        std::sort(p.begin(), p.end());
        ExportedSeries s{labels, {}, {}};
        for (const auto& [t, v] : p) s.timestamps.push_back(t), s.values.push_back(v);
        out.push_back(std::move(s));
    }
    return out;
}

const ExportedSeries* find_series(const std::vector<ExportedSeries>& all,
                                  const std::map<std::string, std::string>& labels) {
    for (const auto& s : all)
        if (s.labels == labels) return &s;
    return nullptr;
}

}  // namespace tracer::fixtures
