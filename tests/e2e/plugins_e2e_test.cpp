// `tracer run --confd DIR` with integration plugins: a real redis-server and
// an HTTP server that never answers. Plugin metrics reach /metrics with the
// instance tags; the slow check holds up neither the flush loop nor the other
// instance; a bad conf.d file is one error and the agent runs on; a stopped
// server turns can_connect critical while /metrics keeps serving.
#include "fixtures.h"
#include "nginx_server.h"
#include "plugin_servers.h"
#include "server_process.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

using namespace std::chrono_literals;
using tracer::fixtures::Subprocess;

namespace {

// Scrapes until `done(body)` (or 30 s); returns the last body.
template <typename Pred>
std::string scrape_until(Subprocess& tracer, uint16_t port, Pred done) {
    std::string body;
    auto end = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < end && tracer.running()) {
        body = tracer::fixtures::scrape_metrics(port);
        if (!body.empty() && done(body)) return body;
        std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "condition not met; last /metrics:\n" << body.substr(0, 4000) << "\ntracer said:\n"
                  << tracer.output();
    return body;
}

}  // namespace

TEST(TracerPlugins, SlowCheckDelaysNothingAndStoppedServerIsCritical) {
    if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    tracer::fixtures::ServerProcess redis(tracer::fixtures::redis_server());
    if (auto why = redis.skip_reason("redis-server"); !why.empty()) GTEST_SKIP() << why;
    ASSERT_TRUE(redis.start()) << redis.output();
    {
        Subprocess cli({"/usr/bin/redis-cli", "-p", std::to_string(redis.port()), "MSET", "k1", "1", "k2", "2", "k3", "3"});
        ASSERT_EQ(cli.wait_for(10s), 0) << cli.output();
    }
    tracer::fixtures::SilentServer silent;  // accepts, never answers

    auto confd = std::filesystem::path(redis.dir()) / "conf.d";
    std::filesystem::create_directories(confd);
    std::ofstream(confd / "redis.yaml") << "instances:\n  - host: 127.0.0.1\n    port: " << redis.port()
                                        << "\n    tags: [env:e2e]\n";
    std::ofstream(confd / "http_check.yaml") << "instances:\n  - url: http://127.0.0.1:" << silent.port()
                                             << "/\n    timeout: 8\n";
    std::ofstream(confd / "bogus.yaml") << "instances: [{}]\n";

    uint16_t port = tracer::fixtures::free_tcp_port();
    Subprocess tracer({TRACER_BINARY, "run", "--interval", "1", "--confd", confd.string(), "--metrics-addr",
                       "127.0.0.1:" + std::to_string(port)});
    const std::string redis_runs = "tracer_plugin_runs_total{instance=\"redis[0]\",plugin=\"redis\"}";
    const std::string http_runs = "tracer_plugin_runs_total{instance=\"http_check[0]\",plugin=\"http_check\"}";
    // Redis runs every second while the first http_check run is still waiting
    // for its 8 s timeout: the slow check holds up neither the flush loop nor redis.
    std::string body = scrape_until(tracer, port, [&](const std::string& b) {
        return tracer::fixtures::metric_value(b, redis_runs) >= 3;
    });
    EXPECT_EQ(tracer::fixtures::metric_value(body, http_runs), 0) << body;
    const std::string keys = "redis_keys{env=\"e2e\",redis_db=\"db0\",redis_host=\"127.0.0.1\",redis_port=\"" +
                             std::to_string(redis.port()) + "\",redis_role=\"master\"}";
    EXPECT_EQ(tracer::fixtures::metric_value(body, keys), 3) << body.substr(0, 3000);
    EXPECT_EQ(tracer::fixtures::metric_value(body, "tracer_plugin_config_errors"), 1);
    EXPECT_NE(tracer.output().find("bogus.yaml: unknown plugin 'bogus'"), std::string::npos) << tracer.output();

    // The http_check run ends at its deadline (libcurl gives up then): critical with the reason.
    const std::string http_status =
        "tracer_plugin_check_status{check=\"http.can_connect\",instance=\"http_check[0]\",plugin=\"http_check\"}";
    body = scrape_until(tracer, port, [&](const std::string& b) {
        return tracer::fixtures::metric_value(b, http_status) == 2;
    });
    EXPECT_GE(tracer::fixtures::metric_value(body, http_runs), 1);
    EXPECT_GE(tracer::fixtures::metric_value(
                  body, "tracer_plugin_run_duration_seconds{instance=\"http_check[0]\",plugin=\"http_check\"}"),
              7.9);
    EXPECT_GE(tracer::fixtures::metric_value(
                  body, "tracer_plugin_skipped_total{instance=\"http_check[0]\",plugin=\"http_check\"}"),
              1);  // due every second, still running
    EXPECT_EQ(tracer::fixtures::metric_value(
                  body, "network_http_can_connect{url=\"http://127.0.0.1:" + std::to_string(silent.port()) + "/\"}"),
              0);

    // The redis server goes away: critical, and /metrics keeps serving.
    redis.stop();
    const std::string redis_status =
        "tracer_plugin_check_status{check=\"redis.can_connect\",instance=\"redis[0]\",plugin=\"redis\"}";
    body = scrape_until(tracer, port, [&](const std::string& b) {
        return tracer::fixtures::metric_value(b, redis_status) == 2;
    });
    EXPECT_EQ(body.find("redis_keys{"), std::string::npos);  // no stale values
    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(20s), 0) << tracer.output();
}
