// redis: INFO over hiredis. Metric names follow the Datadog redisdb integration.
#include "collectors/redis/redis.h"

#include "collectors/instance_keys.h"
#include "collectors/kept_connection.h"

#include <hiredis/hiredis.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace tracer::collectors {
namespace {

using Clock = std::chrono::steady_clock;

struct ContextFree {
    void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;
using Reply = std::unique_ptr<redisReply, ReplyFree>;

timeval time_left(Clock::time_point deadline) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now()).count();
    if (us < 1000) us = 1000;
    return timeval{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
}

// INFO field -> (metric, unit). Gauges unless listed in kRates.
const std::map<std::string, std::pair<const char*, const char*>> kGauges = {
    {"connected_clients", {"redis.net.clients", ""}},
    {"blocked_clients", {"redis.clients.blocked", ""}},
    {"client_recent_max_input_buffer", {"redis.clients.biggest_input_buf", "bytes"}},
    {"client_recent_max_output_buffer", {"redis.clients.longest_output_list", ""}},
    {"connected_slaves", {"redis.net.slaves", ""}},
    {"maxclients", {"redis.net.maxclients", ""}},
    {"rejected_connections", {"redis.net.rejected", ""}},
    {"instantaneous_ops_per_sec", {"redis.net.commands.instantaneous_ops_per_sec", ""}},
    {"used_memory", {"redis.mem.used", "bytes"}},
    {"used_memory_rss", {"redis.mem.rss", "bytes"}},
    {"used_memory_peak", {"redis.mem.peak", "bytes"}},
    {"used_memory_lua", {"redis.mem.lua", "bytes"}},
    {"used_memory_startup", {"redis.mem.startup", "bytes"}},
    {"used_memory_overhead", {"redis.mem.overhead", "bytes"}},
    {"maxmemory", {"redis.mem.maxmemory", "bytes"}},
    {"mem_fragmentation_ratio", {"redis.mem.fragmentation_ratio", ""}},
    {"used_cpu_sys", {"redis.cpu.sys", "seconds"}},
    {"used_cpu_user", {"redis.cpu.user", "seconds"}},
    {"used_cpu_sys_children", {"redis.cpu.sys_children", "seconds"}},
    {"used_cpu_user_children", {"redis.cpu.user_children", "seconds"}},
    {"rdb_bgsave_in_progress", {"redis.rdb.bgsave", ""}},
    {"rdb_changes_since_last_save", {"redis.rdb.changes_since_last", ""}},
    {"rdb_last_bgsave_time_sec", {"redis.rdb.last_bgsave_time", "seconds"}},
    {"aof_rewrite_in_progress", {"redis.aof.rewrite", ""}},
    {"aof_last_rewrite_time_sec", {"redis.aof.last_rewrite_time", "seconds"}},
    {"aof_current_size", {"redis.aof.size", "bytes"}},
    {"aof_buffer_length", {"redis.aof.buffer_length", "bytes"}},
    {"pubsub_channels", {"redis.pubsub.channels", ""}},
    {"pubsub_patterns", {"redis.pubsub.patterns", ""}},
    {"latest_fork_usec", {"redis.perf.latest_fork_usec", ""}},
    {"master_repl_offset", {"redis.replication.master_repl_offset", ""}},
    {"slave_repl_offset", {"redis.replication.slave_repl_offset", ""}},
    {"repl_backlog_histlen", {"redis.replication.backlog_histlen", "bytes"}},
    {"master_last_io_seconds_ago", {"redis.replication.last_io_seconds_ago", "seconds"}},
    {"master_link_down_since_seconds", {"redis.replication.master_link_down_since_seconds", "seconds"}},
    {"master_sync_in_progress", {"redis.replication.sync", ""}},
    {"master_sync_left_bytes", {"redis.replication.sync_left_bytes", "bytes"}},
    {"active_defrag_running", {"redis.active_defrag.running", ""}},
    {"active_defrag_hits", {"redis.active_defrag.hits", ""}},
    {"active_defrag_misses", {"redis.active_defrag.misses", ""}},
    {"active_defrag_key_hits", {"redis.active_defrag.key_hits", ""}},
    {"active_defrag_key_misses", {"redis.active_defrag.key_misses", ""}},
};

// Cumulative INFO counters reported as per-second rates (and as raw counts, "<name>_count").
const std::map<std::string, const char*> kRates = {
    {"total_commands_processed", "redis.net.commands"},
    {"total_connections_received", "redis.net.connections_received"},
    {"keyspace_hits", "redis.stats.keyspace_hits"},
    {"keyspace_misses", "redis.stats.keyspace_misses"},
    {"evicted_keys", "redis.keys.evicted"},
    {"expired_keys", "redis.keys.expired"},
};

bool to_number(const std::string& text, double& out) {
    char* end = nullptr;
    out = std::strtod(text.c_str(), &end);
    return !text.empty() && end && *end == '\0';
}

class RedisCheck : public Check {
public:
    explicit RedisCheck(const InstanceConfig& cfg)
        : host_(string_key(cfg, "host", "localhost")),
          port_(static_cast<int>(number_key(cfg, "port", 6379, 1, 65535))),
          socket_(string_key(cfg, "unix_socket_path")),
          username_(string_key(cfg, "username")),
          password_(secret_key(cfg, "password")),
          db_(static_cast<int>(number_key(cfg, "db", 0, 0, 1 << 20))) {
        if (socket_.empty())
            tags_ = {{"redis_host", host_}, {"redis_port", std::to_string(port_)}};
        else
            tags_ = {{"redis_host", socket_}};
    }

    // One connection is kept between runs (collectors/kept_connection.h).
    void run(CheckRun& out) override {
        double latency_ms = 0;
        Reply info = first_round_trip(conn_, [&] { return connect(out.deadline()); },
                                      [&] { return info_all(out.deadline(), latency_ms); });
        report(std::string(info->str, info->len), latency_ms, out);
        out.service_check("redis.can_connect", CheckStatus::Ok);
    }

private:
    std::string where() const { return socket_.empty() ? host_ + ":" + std::to_string(port_) : socket_; }

    Context connect(Clock::time_point deadline) const {
        Context c(socket_.empty() ? redisConnectWithTimeout(host_.c_str(), port_, time_left(deadline))
                                  : redisConnectUnixWithTimeout(socket_.c_str(), time_left(deadline)));
        if (!c) throw std::runtime_error("redis: cannot allocate a connection");
        if (c->err) throw std::runtime_error("cannot connect to redis at " + where() + ": " + c->errstr);
        redisSetTimeout(c.get(), time_left(deadline));
        if (!password_.empty()) {
            Reply r(static_cast<redisReply*>(
                username_.empty() ? redisCommand(c.get(), "AUTH %s", password_.c_str())
                                  : redisCommand(c.get(), "AUTH %s %s", username_.c_str(), password_.c_str())));
            check_reply(c.get(), r.get(), "AUTH");
        }
        if (db_ != 0) {
            Reply r(static_cast<redisReply*>(redisCommand(c.get(), "SELECT %d", db_)));
            check_reply(c.get(), r.get(), "SELECT");
        }
        return c;
    }

    // INFO ALL on the kept connection, and how long the server took to answer.
    Reply info_all(Clock::time_point deadline, double& latency_ms) {
        redisSetTimeout(conn_.get(), time_left(deadline));
        auto started = Clock::now();
        Reply info(static_cast<redisReply*>(redisCommand(conn_.get(), "INFO ALL")));
        check_reply(conn_.get(), info.get(), "INFO");
        latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
        if (info->type != REDIS_REPLY_STRING)
            throw std::runtime_error("redis at " + where() + ": INFO did not return text");
        return info;
    }

    void check_reply(redisContext* c, redisReply* r, const char* what) const {
        if (!r) throw std::runtime_error("redis at " + where() + ": " + what + " failed: " + c->errstr);
        if (r->type == REDIS_REPLY_ERROR)
            throw std::runtime_error("redis at " + where() + ": " + what + " refused: " + std::string(r->str, r->len));
    }

    void report(const std::string& text, double latency_ms, CheckRun& out) const {
        std::map<std::string, std::string> fields;
        std::istringstream lines(text);
        std::string line;
        while (std::getline(lines, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.empty() || line[0] == '#') continue;
            auto colon = line.find(':');
            if (colon != std::string::npos) fields[line.substr(0, colon)] = line.substr(colon + 1);
        }
        metrics::Labels tags = tags_;
        if (auto role = fields.find("role"); role != fields.end()) tags.push_back({"redis_role", role->second});
        out.gauge("redis.info.latency_ms", latency_ms, tags);
        double v = 0;
        for (const auto& [field, metric] : kGauges)
            if (auto it = fields.find(field); it != fields.end() && to_number(it->second, v))
                out.gauge(metric.first, v, tags, metric.second);
        for (const auto& [field, metric] : kRates)
            if (auto it = fields.find(field); it != fields.end() && to_number(it->second, v)) {
                out.rate(metric, v, tags);
                out.monotonic_count(std::string(metric) + "_count", v, tags);
            }
        // db0:keys=3,expires=1,avg_ttl=0
        for (const auto& [field, value] : fields) {
            if (field.rfind("db", 0) != 0 || field.size() < 3 || !std::isdigit(static_cast<unsigned char>(field[2])))
                continue;
            std::map<std::string, double> kv;
            std::istringstream items(value);
            std::string item;
            while (std::getline(items, item, ',')) {
                auto eq = item.find('=');
                double n = 0;
                if (eq != std::string::npos && to_number(item.substr(eq + 1), n)) kv[item.substr(0, eq)] = n;
            }
            metrics::Labels db = tags;
            db.push_back({"redis_db", field});
            double keys = kv["keys"], expires = kv["expires"];
            out.gauge("redis.keys", keys, db);
            out.gauge("redis.expires", expires, db);
            out.gauge("redis.persist", keys - expires, db);
            if (keys > 0) {
                out.gauge("redis.expires.percent", 100 * expires / keys, db);
                out.gauge("redis.persist.percent", 100 * (keys - expires) / keys, db);
            }
        }
    }

    std::string host_;
    int port_;
    std::string socket_, username_, password_;
    int db_;
    metrics::Labels tags_;
    Context conn_;
};

}  // namespace

PluginInfo redis_plugin() {
    return {"redis", "Redis: INFO (memory, clients, commands, keyspace, persistence, replication)",
            [](const InstanceConfig& cfg) -> std::unique_ptr<Check> { return std::make_unique<RedisCheck>(cfg); },
            {"host", "port", "unix_socket_path", "username", "password", "db"}};
}

}  // namespace tracer::collectors
