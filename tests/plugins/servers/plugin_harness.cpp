#include "plugin_harness.h"

#include "collectors/plugin.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace tracer::plugin_tests {

using collectors::CheckStatus;

namespace {

metrics::Labels sorted(metrics::Labels labels) {
    std::sort(labels.begin(), labels.end());
    return labels;
}

bool port_accepts(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    return ok;
}

}  // namespace

void RecordingCheckRun::gauge(const std::string& name, double value, metrics::Labels labels, const std::string& unit) {
    recorded.push_back({name, std::move(labels), value, Kind::Gauge, unit});
}

void RecordingCheckRun::monotonic_count(const std::string& name, double value, metrics::Labels labels,
                                        const std::string& unit) {
    recorded.push_back({name, std::move(labels), value, Kind::MonotonicCount, unit});
}

void RecordingCheckRun::rate(const std::string& name, double cumulative, metrics::Labels labels,
                             const std::string& unit) {
    recorded.push_back({name, std::move(labels), cumulative, Kind::Rate, unit});
}

void RecordingCheckRun::service_check(const std::string& name, CheckStatus status, const std::string& message) {
    service_checks.push_back({name, status, message});
}

const RecordingCheckRun::Point* RecordingCheckRun::point(const std::string& name, metrics::Labels labels) const {
    labels = sorted(std::move(labels));
    const Point* found = nullptr;
    for (const auto& p : recorded) {
        if (p.name != name || sorted(p.labels) != labels) continue;
        EXPECT_EQ(found, nullptr) << name << " reported twice with the same labels";
        found = &p;
    }
    return found;
}

std::optional<double> RecordingCheckRun::value(const std::string& name, metrics::Labels labels) const {
    const Point* p = point(name, std::move(labels));
    if (!p) return std::nullopt;
    return p->value;
}

std::vector<RecordingCheckRun::Point> RecordingCheckRun::points(const std::string& name) const {
    std::vector<Point> out;
    for (const auto& p : recorded)
        if (p.name == name) out.push_back(p);
    return out;
}

const RecordingCheckRun::ServiceCheck* RecordingCheckRun::check(const std::string& name) const {
    const ServiceCheck* found = nullptr;
    for (const auto& s : service_checks)
        if (s.name == name) found = &s;
    return found;
}

std::string RecordingCheckRun::dump() const {
    std::ostringstream out;
    for (const auto& p : recorded) {
        out << p.name << "{";
        for (size_t i = 0; i < p.labels.size(); ++i) out << (i ? "," : "") << p.labels[i].name << "=" << p.labels[i].value;
        out << "}=" << p.value << "\n";
    }
    for (const auto& s : service_checks)
        out << "service check " << s.name << " " << static_cast<int>(s.status) << " " << s.message << "\n";
    if (!error.empty()) out << "error: " << error << "\n";
    return out.str();
}

std::unique_ptr<collectors::Check> make_check(const std::string& plugin, const std::string& instance_yaml,
                                              const std::string& file) {
    const auto* info = collectors::find_plugin(plugin);
    if (!info) throw std::runtime_error("no plugin '" + plugin + "' in the registry");
    collectors::InstanceConfig config;
    config.plugin = plugin;
    config.file = file;
    config.instance = YAML::Load(instance_yaml);
    return info->factory(config);
}

RecordingCheckRun run_once(collectors::Check& check, std::chrono::seconds timeout) {
    RecordingCheckRun run(std::chrono::steady_clock::now() + timeout);
    try {
        check.run(run);
    } catch (const std::exception& e) {
        run.error = e.what();
    }
    return run;
}

TempDir::TempDir(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl);
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

void TempDir::write(const std::string& name, const std::string& text) const {
    std::ofstream out(file(name));
    out << text;
    if (!out) throw std::runtime_error("write " + file(name));
}

RunningServer::RunningServer(std::vector<std::string> argv, int stop_signal, uid_t run_as)
    : process_(std::move(argv), run_as), stop_signal_(stop_signal) {}

RunningServer::~RunningServer() { stop(); }

void RunningServer::stop() {
    if (stopped_) return;
    stopped_ = true;
    process_.signal(stop_signal_);
    if (process_.wait_for(std::chrono::seconds(20)) == -1) {
        process_.signal(SIGKILL);
        process_.wait_for(std::chrono::seconds(5));
    }
}

bool RunningServer::wait_port(uint16_t port, std::string& why) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < end) {
        if (port_accepts(port)) return true;
        if (!process_.running()) {
            why = "the server exited: " + process_.output();
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    why = "nothing listens on 127.0.0.1:" + std::to_string(port) + " after 30 s: " + process_.output();
    return false;
}

bool RunningServer::wait_path(const std::string& path, std::string& why) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < end) {
        if (access(path.c_str(), F_OK) == 0) return true;
        if (!process_.running()) {
            why = "the server exited: " + process_.output();
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    why = path + " missing after 30 s: " + process_.output();
    return false;
}

std::string missing_binary(const std::vector<std::pair<std::string, std::string>>& binary_and_package) {
    for (const auto& [binary, package] : binary_and_package)
        if (access(binary.c_str(), X_OK) != 0)
            return binary + " is missing (Debian package " + package + "; scripts/install-deps.sh --test)";
    return "";
}

int http_get(uint16_t port, const std::string& path) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(5);
    client.set_read_timeout(10);
    auto res = client.Get(path);
    return res ? res->status : 0;
}

}  // namespace tracer::plugin_tests
