#include "prometheus_server.h"

#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace tracer::fixtures {

std::string PrometheusServer::skip_reason() {
    for (const char* b : {kBinary, kPromtool})
        if (access(b, X_OK) != 0)
            return std::string(b) + " is missing: apt-get install prometheus (scripts/install-deps.sh --test)";
    return "";
}

PrometheusServer::PrometheusServer(uint16_t target_port) : port_(free_tcp_port()), target_port_(target_port) {
    char tmpl[] = "/tmp/tracer-prometheus-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
}

PrometheusServer::~PrometheusServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

bool PrometheusServer::start() {
    if (process_) return true;
    const std::string config = dir_ + "/prometheus.yml";
    std::ofstream(config) << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                          << "scrape_configs:\n  - job_name: tracer\n    static_configs:\n"
                          << "      - targets: ['127.0.0.1:" << target_port_ << "']\n";
    process_ = std::make_unique<Subprocess>(std::vector<std::string>{
        kBinary, "--config.file=" + config, "--storage.tsdb.path=" + dir_ + "/data",
        "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"});
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(std::chrono::milliseconds(200));
    for (int i = 0; i < 300; ++i) {
        if (auto r = client.Get("/-/ready"); r && r->status == 200) return true;
        if (!process_->running()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    stop();
    return false;
}

void PrometheusServer::stop() {
    if (!process_) return;
    process_->signal(SIGTERM);
    if (process_->wait_for(std::chrono::seconds(20)) < 0) process_->signal(SIGKILL);
    last_output_ = process_->output();
    process_.reset();
}

std::string PrometheusServer::output() const { return process_ ? process_->output() : last_output_; }

nlohmann::json PrometheusServer::query(const std::string& promql) {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(5, 0);
    auto r = client.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
    if (!r || r->status != 200) return nullptr;
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_discarded() || j.value("status", "") != "success") return nullptr;
    return j["data"];
}

std::string PrometheusServer::target_errors() {
    httplib::Client client("127.0.0.1", port_);
    auto r = client.Get("/api/v1/targets");
    if (!r || r->status != 200) return "no answer from /api/v1/targets";
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_discarded()) return "unparseable /api/v1/targets";
    std::string errors;
    for (const auto& t : j["data"]["activeTargets"]) errors += t.value("lastError", "");
    return errors;
}

PromtoolResult promtool_check_metrics(const std::string& body) {
    char tmpl[] = "/tmp/tracer-promtool-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0) return {};
    close(fd);
    std::ofstream(tmpl, std::ios::binary) << body;
    Subprocess p({"/bin/sh", "-c", std::string(PrometheusServer::kPromtool) + " check metrics < " + tmpl});
    PromtoolResult r;
    r.exit_code = p.wait_for(std::chrono::seconds(60));
    r.output = p.output();
    unlink(tmpl);
    return r;
}

}  // namespace tracer::fixtures
