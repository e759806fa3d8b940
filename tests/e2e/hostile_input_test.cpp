// Hostile input through every source of `tracer run` must never make /metrics
// unreadable: DogStatsD over UDP and the Unix socket (invalid UTF-8, control
// characters, quotes, backslashes, newlines, a 64 KiB name, 10,000 tags, names
// that collide with tracer's own families and with each other) and a cgroup
// with a weird name (its path is a label of the kernel metrics and the origin
// tag of what a process in it sends). The page is checked by `promtool check
// metrics` and scraped by a real Prometheus, whose `up` must stay 1 and which
// must return the series.
#include "fixtures.h"
#include "metrics/output_sanitizer.h"
#include "prometheus_server.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <thread>

using namespace std::chrono_literals;
using tracer::fixtures::HeldChild;
using tracer::fixtures::send_udp;
using tracer::fixtures::send_unix;
using tracer::fixtures::PrometheusServer;
using tracer::fixtures::Subprocess;
using tracer::fixtures::TestCgroup;

namespace {

// A label value as /metrics writes it once the output sanitizer took it.
std::string rendered_label_value(std::string v) {
    tracer::metrics::SanitizeReport r;
    tracer::metrics::sanitize_text(v, tracer::metrics::SanitizeLimits{}.max_label_value_bytes, false, r, "");
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        out += c;
    }
    return out;
}

// The DogStatsD datagrams: each one a separate attack.
std::vector<std::string> hostile_datagrams() {
    std::vector<std::string> d = {
        "h.utf8:1|c|#k:v\xff",                          // the one packet that blinded a node
        "h.ctl\x01name:2|g|#k:a\tb\x7f" "c",               // control characters in a name and a value
        "h.quote:1|c|#k:say \"hi\",back:sl\\ash\\",      // quotes, backslashes (one at the very end)
        "h.nl:1|c|#k:a\nb:c",                           // a newline splits the line: b:c is malformed
        "h.keys:1|c|#a.b:1,a_b:2,9x:3,:empty,__name__:evil,k",  // names that map together or are reserved
        "h.rep:1|c|#a:1,a:2",                           // one tag twice
        "tracer.syscalls:5|c",                          // tracer's own family (tracer_syscalls_total)
        "tracer_build_info:1|g",
        "h.coll:1|c",                                   // h_coll_total
        "h.coll_total:1|c",                             // ... again
        "h.coll:3|g",                                   // h_coll: another type, another name: fine
        "h.tim:5|ms|#quantile:x,le:y",                  // a summary's reserved label
        "h.tim.count:1|g",                              // h_tim_count: the summary's
        "h.bad.utf8.\xc3\x28:1|c|#\xe2\x82:\xf0\x9f",   // invalid UTF-8 in a name and a tag name
    };
    d.push_back("h." + std::string(64 * 1024 - 100, 'n') + ":1|c");  // a 64 KiB name
    std::string tags = "h.tags:1|c|#";
    for (int i = 0; i < 10000; ++i) tags += (i ? "," : "") + std::to_string(i);  // 10,000 tags (~49 KB)
    d.push_back(tags);
    return d;
}

double value_of(const std::string& body, const std::string& series) {
    size_t at = body.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(body.substr(at + series.size() + 2));
}

}  // namespace

TEST(HostileInput, MetricsStayValidForPromtoolAndARealPrometheus) {
    if (auto why = tracer::fixtures::root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    if (auto why = PrometheusServer::skip_reason(); !why.empty()) GTEST_SKIP() << why;

    const std::string base = "/tmp/tracer-e2e-hostile-" + std::to_string(getpid());
    const std::string socket_path = base + ".sock", config = base + ".yaml";
    const uint16_t metrics_port = tracer::fixtures::free_tcp_port(), statsd_port = tracer::fixtures::free_tcp_port();
    std::ofstream(config) << "interval: 1\nmetrics_addr: \"127.0.0.1:" << metrics_port << "\"\ntop_cgroups: 0\n"
                          << "spool_dir: \"\"\nstatsd:\n  listen: \"127.0.0.1:" << statsd_port << "\"\n  socket: \""
                          << socket_path << "\"\n";
    Subprocess tracer({TRACER_BINARY, "run", "--config", config});
    ASSERT_TRUE(tracer::fixtures::wait_output(tracer, "DogStatsD server listening", 30s)) << tracer.output();

    // A cgroup with quotes, a backslash, a tab and a byte that is not UTF-8 in
    // its name (cgroupfs refuses only '/' and '\n'); a process in it makes
    // syscalls and sends DogStatsD over the Unix socket (origin: its cgroup).
    TestCgroup cg("hostile \"q\" \\ \t\xff");
    HeldChild child([socket_path] {
        send_unix(socket_path, "h.origin:1|c|#k:v\xfe");
        for (int i = 0; i < 50; ++i) {
            (void)getppid();
            std::this_thread::sleep_for(40ms);  // alive for 2 s: the server looks the sender's origin up
        }
    });
    cg.add(child.pid());
    child.release();
    for (const auto& d : hostile_datagrams()) ASSERT_TRUE(send_udp(statsd_port, d)) << d.size();
    EXPECT_EQ(child.wait(), 0);

    const auto keying = tracer::containers::choose_cgroup_keying(tracer::fixtures::host_layout(), "auto", "/proc/cgroups");
    const auto* mount = keying.mode == 0 ? tracer::fixtures::host_layout().unified()
                                         : tracer::fixtures::host_layout().v1_controller(keying.hierarchy);
    ASSERT_NE(mount, nullptr);
    const std::string cgroup_label = "cgroup=\"" + rendered_label_value(cg.path(*mount)) + "\"";
    const std::vector<std::string> needles = {
        "\nh_utf8_total{k=\"v\xef\xbf\xbd\"} 1\n",
        "\nh_tags_total 1\n",  // every tag without a value: Prometheus' empty labels
        "\nh_" + std::string(254, 'n') + "_total 1\n",  // cut at 256 bytes, then _total
        "\nh_origin_total{" + cgroup_label + ",k=\"v\xef\xbf\xbd\"} 1\n",
        "\ntracer_syscalls_total{" + cgroup_label,
        "\ntracer_statsd_parse_errors_total{reason=\"reserved_name\"} 2\n",
    };
    std::string body;
    for (auto end = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < end && tracer.running();
         std::this_thread::sleep_for(200ms)) {
        body = tracer::fixtures::scrape_metrics(metrics_port);
        bool all = true;
        for (const auto& n : needles) all = all && body.find(n) != std::string::npos;
        if (all) break;
    }
    for (const auto& n : needles)
        EXPECT_NE(body.find(n), std::string::npos) << "no '" << n.substr(0, 300) << "' on /metrics; tracer said:\n"
                                                   << tracer.output();

    // one HELP and one TYPE per name, and tracer's own families untouched
    std::map<std::string, int> types;
    std::istringstream lines(body);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("# TYPE ", 0) == 0) ++types[line.substr(7, line.rfind(' ') - 7)];
    for (const auto& [name, n] : types) EXPECT_EQ(n, 1) << name;
    size_t build_info = 0;
    for (size_t at = body.find("\ntracer_build_info"); at != std::string::npos; at = body.find("\ntracer_build_info", at + 1))
        ++build_info;
    EXPECT_EQ(build_info, 1u) << "a DogStatsD tracer_build_info made it to /metrics";
    EXPECT_GE(value_of(body, "tracer_output_rewrites{rewrite=\"invalid_utf8\"}"), 3);
    EXPECT_GE(value_of(body, "tracer_output_rewrites{rewrite=\"control_character\"}"), 1);
    EXPECT_GE(value_of(body, "tracer_output_rewrites{rewrite=\"truncated\"}"), 1);
    EXPECT_GE(value_of(body, "tracer_output_rewrites{rewrite=\"family_dropped\"}"), 2);  // h.coll_total, h.tim.count
    EXPECT_GE(value_of(body, "tracer_output_rewrites{rewrite=\"label_dropped\"}"), 10000 - 64);
    EXPECT_GE(value_of(body, "tracer_output_rewrites{rewrite=\"label_renamed\"}"), 1);  // __name__
    EXPECT_EQ(body.find("\nh_coll_total 2"), std::string::npos) << "two families merged";
    EXPECT_NE(body.find("\nh_coll 3\n"), std::string::npos);

    auto checked = tracer::fixtures::promtool_check_metrics(body);
    EXPECT_TRUE(checked.exit_code == 0 || checked.exit_code == 3)
        << "promtool check metrics: exit " << checked.exit_code << "\n" << checked.output.substr(0, 4000);
    // lint findings (exit 3) are about the senders' own names, never tracer's
    std::istringstream findings(checked.output);
    for (std::string line; std::getline(findings, line);)
        EXPECT_NE(line.rfind("tracer_", 0), 0u) << line;

    PrometheusServer prometheus(metrics_port);
    ASSERT_TRUE(prometheus.start()) << prometheus.output();
    bool seen = false;
    for (int i = 0; i < 100 && !seen; ++i) {
        auto r = prometheus.query("count(up{job=\"tracer\"} == 1) and count(h_utf8_total) and count(h_tags_total)");
        seen = r.is_object() && !r["result"].empty();
        if (!seen) std::this_thread::sleep_for(200ms);
    }
    ASSERT_TRUE(seen) << "Prometheus never scraped the page: " << prometheus.target_errors() << "\n"
                      << prometheus.output();
    std::this_thread::sleep_for(4s);  // a few more scrapes
    auto up = prometheus.query("min_over_time(up{job=\"tracer\"}[1m])");
    ASSERT_TRUE(up.is_object() && up["result"].size() == 1) << up.dump();
    EXPECT_EQ(up["result"][0]["value"][1], "1") << up.dump();
    auto scrapes = prometheus.query("count_over_time(up{job=\"tracer\"}[1m])");
    ASSERT_TRUE(scrapes.is_object() && scrapes["result"].size() == 1);
    EXPECT_GE(std::stod(scrapes["result"][0]["value"][1].get<std::string>()), 4) << scrapes.dump();
    EXPECT_EQ(prometheus.target_errors(), "");

    auto utf8 = prometheus.query("h_utf8_total");
    ASSERT_TRUE(utf8.is_object() && utf8["result"].size() == 1) << utf8.dump();
    EXPECT_EQ(utf8["result"][0]["metric"]["k"], "v\xef\xbf\xbd");
    auto cgroups = prometheus.query("count by (cgroup) (tracer_syscalls_total)");
    ASSERT_TRUE(cgroups.is_object());
    bool weird = false;
    std::string sanitized_path = cg.path(*mount);
    tracer::metrics::SanitizeReport r;
    tracer::metrics::sanitize_text(sanitized_path, 1024, false, r, "");
    for (const auto& s : cgroups["result"]) weird |= s["metric"].value("cgroup", "") == sanitized_path;
    EXPECT_TRUE(weird) << "the weird cgroup is not queryable: " << cgroups.dump().substr(0, 2000);
    auto own = prometheus.query("count(tracer_build_info)");
    ASSERT_TRUE(own.is_object() && own["result"].size() == 1);
    EXPECT_EQ(own["result"][0]["value"][1], "1");

    tracer.signal(SIGTERM);
    EXPECT_EQ(tracer.wait_for(20s), 0) << tracer.output();
    std::remove(config.c_str());
}
