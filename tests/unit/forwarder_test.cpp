// The forwarder's parts that need no backend: the aggregator's deltas, the
// three encoders' exact bodies, the disk spool's order and bound, and the
// `sinks:` config errors.
#include "config/agent_config.h"
#include "forwarder/aggregator.h"
#include "forwarder/disk_spool.h"
#include "forwarder/sink_encoders.h"

#include <gtest/gtest.h>
#include <snappy.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>

namespace {

using namespace tracer;
using forwarder::Aggregator;
using forwarder::DiskSpool;
using forwarder::Payload;
namespace fs = std::filesystem;

std::string gunzip(const std::string& in) {
    z_stream zs{};
    EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
    std::string out(1 << 20, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    inflateEnd(&zs);
    return out;
}

std::shared_ptr<const metrics::Snapshot> snapshot(double counter, std::vector<uint64_t> buckets) {
    auto snap = std::make_shared<metrics::Snapshot>();
    metrics::Family c{"t.calls", "", "", metrics::MetricType::Counter, {}};
    c.samples.push_back({{{"cgroup", "/a b"}}, counter});
    snap->push_back(c);
    metrics::Family h{"t.lat", "seconds", "", metrics::MetricType::Histogram, {}};
    metrics::Sample s{{{"cgroup", "/a"}}};
    s.histogram.bounds = {1, 2};
    s.histogram.counts = buckets;
    for (auto b : buckets) s.histogram.count += b;
    s.histogram.sum = static_cast<double>(s.histogram.count);
    h.samples.push_back(s);
    snap->push_back(h);
    return snap;
}

forwarder::AggregatorOptions options() { return {"h1", {"env:ci", "solo"}, 10, true}; }

TEST(Aggregator, DeltasAgainstThePreviousIntervalAndRestartsAfterAReset) {
    Aggregator agg(options());
    auto b1 = agg.aggregate(1000, {snapshot(5, {1, 1, 0})});
    auto b2 = agg.aggregate(2000, {snapshot(8, {1, 3, 1})});
    auto b3 = agg.aggregate(3000, {snapshot(2, {0, 1, 0})});  // the source restarted
    EXPECT_EQ(b1->families[0].deltas[0].value, 5);
    EXPECT_EQ(b2->families[0].deltas[0].value, 3);
    EXPECT_EQ(b3->families[0].deltas[0].value, 2);
    EXPECT_EQ(b2->families[1].deltas[0].buckets, (std::vector<uint64_t>{0, 2, 1}));
    EXPECT_EQ(b2->families[1].deltas[0].count, 3u);
    EXPECT_EQ(b3->families[1].deltas[0].count, 1u);
    EXPECT_EQ(b1->host, "h1");
    EXPECT_EQ(b1->tags, (metrics::Labels{{"env", "ci"}, {"solo", ""}}));
    EXPECT_EQ(agg.tracked_series(), 2u);
}

TEST(Aggregator, EstimatesQuantilesLikeHistogramQuantile) {
    std::vector<double> bounds{1, 2, 4};
    EXPECT_DOUBLE_EQ(forwarder::estimate_quantile(bounds, {0, 4, 0, 0}, 0.5), 1.5);
    EXPECT_DOUBLE_EQ(forwarder::estimate_quantile(bounds, {2, 0, 0, 0}, 0.5), 0.5);
    EXPECT_DOUBLE_EQ(forwarder::estimate_quantile(bounds, {0, 0, 0, 3}, 0.99), 4);  // overflow: highest bound
    EXPECT_TRUE(std::isnan(forwarder::estimate_quantile(bounds, {0, 0, 0, 0}, 0.5)));
}

std::vector<Payload> encode(std::unique_ptr<forwarder::SinkEncoder> e, const forwarder::Batch& b,
                            forwarder::PayloadLimits limits = {}) {
    std::vector<Payload> out;
    e->encode(b, limits, out);
    return out;
}

TEST(SinkEncoders, InfluxLinesEscapeAndCarryHostAndTags) {
    Aggregator agg(options());
    auto b = agg.aggregate(1000, {snapshot(5, {1, 1, 0})});
    auto out = encode(forwarder::make_influx_encoder(), *b);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].content_encoding, "gzip");
    EXPECT_EQ(gunzip(out[0].body),
              "t.calls,cgroup=/a\\ b,host=h1,env=ci value=5 1000000000\n"
              "t.lat,cgroup=/a,host=h1,env=ci count=2,sum=2,p50=1,p95=1.9,p99=1.98 1000000000\n");
}

TEST(SinkEncoders, DatadogSeriesJson) {
    Aggregator agg(options());
    agg.aggregate(1000, {snapshot(5, {1, 1, 0})});
    auto b = agg.aggregate(11000, {snapshot(8, {1, 1, 0})});
    auto out = encode(forwarder::make_datadog_encoder(), *b);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].path, "/api/v1/series");
    const std::string json = gunzip(out[0].body);
    EXPECT_TRUE(json.starts_with(
              "{\"series\":[{\"metric\":\"t.calls\",\"points\":[[11,3]],\"type\":\"count\",\"interval\":10,"
              "\"host\":\"h1\",\"tags\":[\"env:ci\",\"solo\",\"cgroup:/a b\"]}"))
        << json;
    EXPECT_NE(json.find("{\"metric\":\"t.lat.count\",\"points\":[[11,0]],\"type\":\"count\""), std::string::npos);
    EXPECT_EQ(json.find("t.lat.median"), std::string::npos) << "no quantiles without observations";

    metrics::Event e;
    e.title = "deploy \"v2\"";
    e.tags = {"team:x"};
    metrics::ServiceCheck c;
    c.name = "redis.can_connect";
    c.status = 2;
    auto with_events = agg.aggregate(21000, {snapshot(8, {1, 1, 0})}, {e}, {c});
    out = encode(forwarder::make_datadog_encoder(), *with_events);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[1].path, "/api/v1/events");
    EXPECT_EQ(gunzip(out[1].body),
              "{\"title\":\"deploy \\\"v2\\\"\",\"text\":\"\",\"date_happened\":21,\"host\":\"h1\",\"priority\":\"normal\","
              "\"alert_type\":\"info\",\"tags\":[\"env:ci\",\"solo\",\"team:x\"]}");
    EXPECT_EQ(out[2].path, "/api/v1/check_run");
    EXPECT_EQ(gunzip(out[2].body),
              "[{\"check\":\"redis.can_connect\",\"status\":2,\"timestamp\":21,\"host_name\":\"h1\",\"message\":\"\","
              "\"tags\":[\"env:ci\",\"solo\"]}]");
}

TEST(SinkEncoders, RemoteWriteIsSnappyProtobufSplitAtTheSeriesLimit) {
    Aggregator agg(options());
    auto b = agg.aggregate(1000, {snapshot(5, {1, 1, 0})});
    auto out = encode(forwarder::make_remote_write_encoder(), *b, {4, 1 << 20});
    ASSERT_EQ(out.size(), 2u);  // 1 counter + 3 buckets + sum + count = 6 series
    EXPECT_EQ(out[0].samples, 4u);
    EXPECT_EQ(out[1].samples, 2u);
    std::string raw;
    ASSERT_TRUE(snappy::Uncompress(out[0].body.data(), out[0].body.size(), &raw));
    // WriteRequest.timeseries (field 1), then its first label (field 1): __name__ sorts first.
    EXPECT_EQ(raw.substr(0, 1), "\x0a");
    EXPECT_EQ(raw.substr(raw.find("__name__") - 4, 1), "\x0a");
    EXPECT_NE(raw.find("__name__"), std::string::npos);
    EXPECT_LT(raw.find("cgroup"), raw.find("env"));
    EXPECT_LT(raw.find("env"), raw.find("host"));
    EXPECT_LT(raw.find("host"), raw.find("solo"));
    EXPECT_NE(raw.find("t_lat_seconds_bucket"), std::string::npos);
}

TEST(DiskSpool, KeepsOrderAcrossReopenAndDropsTheOldestBeyondTheLimit) {
    const fs::path dir = fs::temp_directory_path() / ("tracer-spool-unit-" + std::to_string(getpid()));
    fs::remove_all(dir);
    auto payload = [](int i) {
        Payload p;
        p.body = std::string(1000, static_cast<char>('a' + i));
        p.content_type = "text/plain";
        p.content_encoding = "gzip";
        p.samples = static_cast<uint64_t>(i);
        return p;
    };
    {
        DiskSpool spool(dir.string(), 4000);
        for (int i = 0; i < 3; ++i) EXPECT_EQ(spool.push(payload(i)), 0u);
        EXPECT_EQ(spool.push(payload(3)), 1u);  // ~1100 bytes each: the oldest goes
        EXPECT_EQ(spool.size(), 3u);
    }
    DiskSpool again(dir.string(), 4000);  // what a restart finds
    ASSERT_EQ(again.size(), 3u);
    for (int i = 1; i <= 3; ++i) {
        auto p = again.front();
        ASSERT_TRUE(p);
        EXPECT_EQ(p->body, payload(i).body);
        EXPECT_EQ(p->samples, static_cast<uint64_t>(i));
        again.pop_front();
    }
    EXPECT_TRUE(again.empty());
    EXPECT_EQ(again.bytes(), 0u);
    fs::remove_all(dir);
}

std::string config_error(const std::string& yaml) {
    try {
        config::parse_agent_config(yaml, "t.yaml");
    } catch (const config::ConfigError& e) {
        return e.what();
    }
    return "";
}

TEST(SinksConfig, ParsesEveryOptionAndNamesTheLineOfABadOne) {
    auto cfg = config::parse_agent_config(
        "sinks:\n"
        "  - type: remote_write\n"
        "    url: http://a:8428/api/v1/write\n"
        "  - type: datadog\n"
        "    name: dd\n"
        "    url: https://api.datadoghq.com\n"
        "    api_key_env: DD_API_KEY\n"
        "    timeout: 3\n"
        "    tls_verify: false\n"
        "    spool_max_bytes: 65536\n"
        "tags: [\"env:prod\"]\n",
        "t.yaml");
    ASSERT_EQ(cfg.sinks.size(), 2u);
    EXPECT_EQ(cfg.sinks[0].name, "remote_write");
    EXPECT_EQ(cfg.sinks[1].name, "dd");
    EXPECT_EQ(cfg.sinks[1].timeout, 3);
    EXPECT_FALSE(cfg.sinks[1].tls_verify);
    EXPECT_EQ(cfg.sinks[1].spool_max_bytes, 65536u);
    EXPECT_EQ(cfg.tags, std::vector<std::string>{"env:prod"});

    EXPECT_EQ(config_error("sinks:\n  - type: remote_write\n    url: http://a\n  - type: prom\n    url: http://b\n"),
              "t.yaml:4: 'sinks[1].type' must be one of remote_write, datadog, influx, got 'prom'");
    EXPECT_EQ(config_error("sinks:\n  - type: influx\n    urll: http://a\n"),
              "t.yaml:3: unknown key 'sinks[0].urll' (known keys: type, url, name, api_key_env, api_key_file, "
              "timeout, backoff_initial, backoff_max, tls_verify, ca_file, cert_file, key_file, proxy, "
              "queue_batches, max_series_per_request, max_request_bytes, spool_max_bytes)");
    EXPECT_EQ(config_error("sinks:\n  - type: influx\n"), "t.yaml:2: 'sinks[0]' needs a 'url'");
    EXPECT_EQ(config_error("sinks:\n  - type: influx\n    url: ftp://x\n"),
              "t.yaml:3: 'sinks[0].url' must be an http:// or https:// URL, got 'ftp://x'");
    EXPECT_EQ(config_error("sinks:\n  - {type: influx, url: http://a}\n  - {type: influx, url: http://b}\n"),
              "t.yaml:3: 'sinks[1]': a second sink named 'influx': give each sink of the same type its own 'name'");
    EXPECT_EQ(config_error("sinks: remote_write\n"),
              "t.yaml:1: 'sinks' must be a list of maps ([{type: remote_write, url: ...}]), got 'remote_write'");
    EXPECT_EQ(config_error("tags: [\":x\"]\n"), "t.yaml:1: 'tags' must be a list of \"key:value\" tags, got ':x' in the list");
}

TEST(SinksConfig, EnvironmentTakesTheListAsYamlFlowText) {
    config::AgentConfig cfg;
    const char* env[] = {"TRACER_SINKS=[{type: influx, url: \"http://127.0.0.1:8428/write\"}]", "TRACER_TAGS=a:1,b:2",
                         nullptr};
    config::apply_env_overrides(cfg, env);
    ASSERT_EQ(cfg.sinks.size(), 1u);
    EXPECT_EQ(cfg.sinks[0].url, "http://127.0.0.1:8428/write");
    EXPECT_EQ(cfg.tags, (std::vector<std::string>{"a:1", "b:2"}));
}

}  // namespace
