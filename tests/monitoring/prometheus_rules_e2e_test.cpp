// The shipped monitoring (deploy/monitoring/) against a real Prometheus (the
// Debian package) scraping a running `tracer run`, while workloads run in
// Docker containers of a real dockerd the suite starts: every recording rule
// and every dashboard panel's query returns data for the workload container
// through the HTTP API, and an OOM kill in a 32 MiB container fires the
// ContainerOOMKilled alert.
#include "docker_engine.h"
#include "fixtures.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

using namespace std::chrono_literals;
using json = nlohmann::json;
using tracer::fixtures::DockerEngine;
using tracer::fixtures::Subprocess;

namespace {

const char* kPrometheus = "/usr/bin/prometheus";
const std::string kMonitoring = std::string(TRACER_SOURCE_DIR) + "/deploy/monitoring";
const std::string kWeb = "tracer-prom-web";
const std::string kOom = "tracer-prom-oom";

struct Query {
    std::string what;  // "rule X" / "dashboard D panel P"
    std::string expr;
    bool per_container;  // must return a series of the workload container
};

// Every recording rule, queried for the workload container.
std::vector<Query> recording_rule_queries() {
    std::vector<Query> out;
    YAML::Node file = YAML::LoadFile(kMonitoring + "/tracer-recording.rules.yml");
    for (const auto& group : file["groups"])
        for (const auto& rule : group["rules"])
            if (rule["record"]) {
                auto name = rule["record"].as<std::string>();
                out.push_back({"recording rule " + name, name + "{container_name=\"" + kWeb + "\"}", true});
            }
    return out;
}

// Every target of every dashboard panel, with Grafana's variables filled in
// as Grafana would for this host and the workload container.
std::vector<Query> dashboard_queries(const std::string& instance) {
    std::vector<Query> out;
    auto replace_all = [](std::string s, const std::string& from, const std::string& to) {
        for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
        return s;
    };
    for (const auto& f : std::filesystem::directory_iterator(kMonitoring + "/dashboards")) {
        std::ifstream in(f.path());
        json d = json::parse(in);
        for (const auto& p : d["panels"])
            for (const auto& t : p["targets"]) {
                std::string e = t["expr"];
                bool per_container = e.find("container_name") != std::string::npos;
                e = replace_all(e, "$__rate_interval", "30s");
                e = replace_all(e, "$__range", "10m");
                e = replace_all(e, "$host", instance);
                e = replace_all(e, "$container", kWeb);
                out.push_back({f.path().filename().string() + " panel \"" + p["title"].get<std::string>() + "\" " +
                                   t["refId"].get<std::string>(),
                               e, per_container});
            }
    }
    return out;
}

class PrometheusRules : public ::testing::Test {
protected:
    static void SetUpTestSuite() { engine_ = DockerEngine::start_for_suite(skip_, setup_error_); }
    static void TearDownTestSuite() { engine_.reset(); }

    void SetUp() override {
        if (!skip_.empty()) GTEST_SKIP() << skip_;
        if (access(kPrometheus, X_OK) != 0) GTEST_SKIP() << "prometheus is not installed: scripts/install-deps.sh --test";
        ASSERT_TRUE(engine_) << "the test dockerd did not start: " << setup_error_;
        dir_ = "/tmp/tracer-prom-test-" + std::to_string(getpid());
        std::filesystem::create_directories(dir_ + "/data");
    }
    void TearDown() override {
        for (auto* p : {prometheus_.get(), tracer_.get()})
            if (p) {
                p->signal(SIGTERM);
                p->wait_for(20s);
            }
        if (engine_)
            for (const auto& name : {kWeb, kOom}) engine_->try_docker({"rm", "-f", name});
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    // GET /api/v1/query; the result vector (empty on any error).
    json query(const std::string& expr) {
        httplib::Client c("127.0.0.1", prometheus_port_);
        c.set_connection_timeout(2, 0);
        c.set_read_timeout(10, 0);
        auto res = c.Get("/api/v1/query", httplib::Params{{"query", expr}}, httplib::Headers{});
        if (!res || res->status != 200) {
            last_error_ = res ? res->body : "no answer";
            return json::array();
        }
        json body = json::parse(res->body, nullptr, false);
        if (body.is_discarded() || body["status"] != "success") return json::array();
        return body["data"]["result"];
    }
    static bool has_container(const json& result, const std::string& name) {
        for (const auto& s : result)
            if (s["metric"].value("container_name", "") == name) return true;
        return false;
    }

    static inline std::string skip_, setup_error_;
    static inline std::unique_ptr<DockerEngine> engine_;
    std::string dir_, last_error_;
    std::unique_ptr<Subprocess> tracer_, prometheus_;
    uint16_t prometheus_port_ = 0;
};

TEST_F(PrometheusRules, EveryRuleAndPanelHasDataForAContainerAndAnOomKillFiresTheAlert) {
    // The workload: syscalls (some failing), CPU, TCP connections over its own
    // loopback (no network of its own: --network none), processes.
    engine_->docker({"run", "-d", "--name", kWeb, "--network", "none", engine_->image(), "sh", "-c",
                     "(while true; do nc -l -p 7000 -e /bin/echo hi; done) & "
                     "while true; do nc 127.0.0.1 7000 < /dev/null > /dev/null; ls /nonexistent 2> /dev/null; "
                     "i=0; while [ $i -lt 200 ]; do i=$((i+1)); done; sleep 0.1; done"});

    uint16_t tracer_port = tracer::fixtures::free_tcp_port();
    std::ofstream(dir_ + "/tracer.yaml") << "docker_socket: \"" << engine_->socket() << "\"\n"
                                         << "statsd:\n  listen: \"127.0.0.1:" << tracer::fixtures::free_tcp_port()
                                         << "\"\n  socket: \"" << dir_ << "/dsd.socket\"\n";
    tracer_ = std::make_unique<Subprocess>(std::vector<std::string>{
        TRACER_BINARY, "run", "--config", dir_ + "/tracer.yaml", "--interval", "1", "--metrics-addr",
        "127.0.0.1:" + std::to_string(tracer_port)});
    ASSERT_TRUE(tracer::fixtures::wait_output(*tracer_, "serving metrics", 60s)) << tracer_->output();

    // Prometheus with the shipped rules, scraping the agent as job "tracer" every second.
    prometheus_port_ = tracer::fixtures::free_tcp_port();
    std::string instance = "127.0.0.1:" + std::to_string(tracer_port);
    std::ofstream(dir_ + "/prometheus.yml") << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                            << "rule_files:\n  - " << kMonitoring << "/tracer-recording.rules.yml\n"
                                            << "  - " << kMonitoring << "/tracer-alerts.rules.yml\n"
                                            << "scrape_configs:\n  - job_name: tracer\n    static_configs:\n"
                                            << "      - targets: [\"" << instance << "\"]\n";
    prometheus_ = std::make_unique<Subprocess>(std::vector<std::string>{
        kPrometheus, "--config.file=" + dir_ + "/prometheus.yml", "--storage.tsdb.path=" + dir_ + "/data",
        "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port_), "--storage.tsdb.retention.time=1h"});

    // The OOM victim's container: 32 MiB, idle until the test makes it allocate.
    engine_->docker({"run", "-d", "--name", kOom, "--network", "none", "--memory", "32m", "--memory-swap", "32m",
                     engine_->image(), "sh", "-c", "exec sleep 1000"});

    // Every query until it has data, within one shared deadline.
    std::vector<Query> queries = recording_rule_queries();
    ASSERT_GE(queries.size(), 10u);
    for (auto& q : dashboard_queries(instance)) queries.push_back(q);
    ASSERT_GE(queries.size(), 40u);
    auto deadline = std::chrono::steady_clock::now() + 150s;
    std::vector<std::string> missing;
    for (const auto& q : queries) {
        json result;
        bool ok = false;
        do {
            result = query(q.expr);
            ok = q.per_container ? has_container(result, kWeb) : !result.empty();
            if (!ok) std::this_thread::sleep_for(500ms);
        } while (!ok && std::chrono::steady_clock::now() < deadline && prometheus_->running());
        if (!ok) missing.push_back(q.what + ": " + q.expr + " -> " + result.dump().substr(0, 300));
    }
    std::string all;
    for (const auto& m : missing) all += "\n  " + m;
    EXPECT_TRUE(missing.empty()) << missing.size() << " of " << queries.size() << " queries without data for "
                                 << kWeb << ":" << all << "\nlast error: " << last_error_
                                 << "\nprometheus said:\n" << prometheus_->output().substr(0, 3000);

    // The OOM kill: once Prometheus has the container's named counter at 0, a
    // `tail` in it buffers /dev/zero until the kernel kills it (the container lives on).
    std::string zero = "tracer_oom_kills_total{container_name=\"" + kOom + "\"} == 0";
    auto until = std::chrono::steady_clock::now() + 60s;
    while (query(zero).empty() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(500ms);
    ASSERT_FALSE(query(zero).empty()) << "no tracer_oom_kills_total of " << kOom << " at 0";
    auto [oom_rc, oom_out] = engine_->try_docker({"exec", kOom, "tail", "/dev/zero"});
    EXPECT_EQ(oom_rc, 137) << "tail was not killed: " << oom_out;

    // Counted by the agent, firing the alert.
    std::string alert = "ALERTS{alertname=\"ContainerOOMKilled\",alertstate=\"firing\",container_name=\"" + kOom + "\"}";
    json fired;
    auto end = std::chrono::steady_clock::now() + 60s;
    while ((fired = query(alert)).empty() && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(500ms);
    ASSERT_FALSE(fired.empty()) << "no firing ContainerOOMKilled for " << kOom << "; oom counters: "
                                << query("tracer_oom_kills_total").dump() << "\ntracer said:\n"
                                << tracer_->output().substr(0, 4000);
    EXPECT_EQ(fired[0]["metric"].value("severity", ""), "warning");
    EXPECT_NE(tracer_->output().find("OOM"), std::string::npos) << "the agent logs OOM kills";
    // And only there: the workload container had none.
    EXPECT_TRUE(query("ALERTS{alertname=\"ContainerOOMKilled\",container_name=\"" + kWeb + "\"}").empty());
}

}  // namespace
