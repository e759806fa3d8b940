// memcached: `stats` over libmemcached. Metric names follow the Datadog mcache
// integration (prefix memcache.).
#include "collectors/memcached/memcached.h"

#include "collectors/instance_keys.h"
#include "collectors/kept_connection.h"

#include <libmemcached/memcached.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>

namespace tracer::collectors {
namespace {

struct MemcFree {
    void operator()(memcached_st* m) const { memcached_free(m); }
};

// stats field -> gauge (unit)
const std::map<std::string, std::pair<const char*, const char*>> kGauges = {
    {"bytes", {"memcache.bytes", "bytes"}},
    {"connection_structures", {"memcache.connection_structures", ""}},
    {"curr_connections", {"memcache.curr_connections", ""}},
    {"max_connections", {"memcache.max_connections", ""}},
    {"curr_items", {"memcache.curr_items", ""}},
    {"limit_maxbytes", {"memcache.limit_maxbytes", "bytes"}},
    {"pointer_size", {"memcache.pointer_size", ""}},
    {"threads", {"memcache.threads", ""}},
    {"total_items", {"memcache.total_items", ""}},
    {"uptime", {"memcache.uptime", "seconds"}},
};

// cumulative stats field -> memcache.<field>_rate (per second) and memcache.<field>_count (raw)
const char* const kCounters[] = {"bytes_read",   "bytes_written",     "cas_badval",         "cas_hits",
                                 "cas_misses",   "cmd_flush",         "cmd_get",            "cmd_set",
                                 "cmd_touch",    "delete_hits",       "delete_misses",      "evictions",
                                 "get_hits",     "get_misses",        "listen_disabled_num", "total_connections",
                                 "incr_hits",    "incr_misses",       "decr_hits",          "decr_misses"};

memcached_return_t collect(const memcached_instance_st*, const char* key, size_t key_len, const char* value,
                           size_t value_len, void* context) {
    auto* fields = static_cast<std::map<std::string, std::string>*>(context);
    (*fields)[std::string(key, key_len)] = std::string(value, value_len);
    return MEMCACHED_SUCCESS;
}

class MemcachedCheck : public Check {
public:
    explicit MemcachedCheck(const InstanceConfig& cfg)
        : host_(string_key(cfg, "url", "localhost")),
          port_(static_cast<int>(number_key(cfg, "port", 11211, 1, 65535))),
          socket_(string_key(cfg, "socket")),
          username_(string_key(cfg, "username")),
          password_(secret_key(cfg, "password")) {
        if (socket_.empty())
            tags_ = {{"url", host_ + ":" + std::to_string(port_)}};
        else
            tags_ = {{"url", socket_}};
        if (!username_.empty() && !LIBMEMCACHED_WITH_SASL_SUPPORT)
            throw instance_error(cfg, "'username': this build of libmemcached has no SASL support");
    }

    // One client (and its connection) is kept between runs (collectors/kept_connection.h).
    // as Datadog's memcached check names it
    std::string status_check() const override { return "memcache.can_connect"; }

    void run(CheckRun& out) override {
        auto fields = first_round_trip(memc_, [&] { return open_client(); }, [&] { return read_stats(out.deadline()); });
        auto number = [&](const std::string& name, double& v) {
            auto it = fields.find(name);
            if (it == fields.end()) return false;
            char* end = nullptr;
            v = std::strtod(it->second.c_str(), &end);
            return end && *end == '\0' && !it->second.empty();
        };
        double v = 0;
        for (const auto& [field, metric] : kGauges)
            if (number(field, v)) out.gauge(metric.first, v, tags_, metric.second);
        for (const char* field : kCounters)
            if (number(field, v)) {
                out.rate(std::string("memcache.") + field + "_rate", v, tags_);
                out.monotonic_count(std::string("memcache.") + field + "_count", v, tags_);
            }
        double user = 0, sys = 0;
        if (number("rusage_user", user)) out.rate("memcache.rusage_user_rate", user, tags_);
        if (number("rusage_system", sys)) out.rate("memcache.rusage_system_rate", sys, tags_);
        double bytes = 0, items = 0, limit = 0, hits = 0, gets = 0;
        if (number("bytes", bytes) && number("curr_items", items) && items > 0)
            out.gauge("memcache.avg_item_size", bytes / items, tags_, "bytes");
        if (number("bytes", bytes) && number("limit_maxbytes", limit) && limit > 0)
            out.gauge("memcache.fill_percent", 100 * bytes / limit, tags_);
        if (number("get_hits", hits) && number("cmd_get", gets) && gets > 0)
            out.gauge("memcache.get_hit_percent", 100 * hits / gets, tags_);
        out.service_check(status_check(), CheckStatus::Ok);
    }

private:
    std::string where() const { return socket_.empty() ? host_ + ":" + std::to_string(port_) : socket_; }

    std::unique_ptr<memcached_st, MemcFree> open_client() const {
        std::unique_ptr<memcached_st, MemcFree> memc(memcached_create(nullptr));
        if (!memc) throw std::runtime_error("memcached: cannot allocate a client");
        memcached_return_t rc = socket_.empty() ? memcached_server_add(memc.get(), host_.c_str(), port_)
                                                : memcached_server_add_unix_socket(memc.get(), socket_.c_str());
        if (rc != MEMCACHED_SUCCESS) throw std::runtime_error(where() + ": " + memcached_strerror(memc.get(), rc));
#if LIBMEMCACHED_WITH_SASL_SUPPORT
        if (!username_.empty()) {
            memcached_behavior_set(memc.get(), MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
            memcached_set_sasl_auth_data(memc.get(), username_.c_str(), password_.c_str());
        }
#endif
        return memc;
    }

    // `stats` on the kept client: name -> value.
    std::map<std::string, std::string> read_stats(std::chrono::steady_clock::time_point deadline) {
        memcached_st* memc = memc_.get();
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        uint64_t timeout_ms = ms > 1 ? static_cast<uint64_t>(ms) : 1;
        memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, timeout_ms);
        memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, timeout_ms);
        memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, timeout_ms * 1000);
        memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_SND_TIMEOUT, timeout_ms * 1000);
        std::map<std::string, std::string> fields;
        memcached_return_t rc = memcached_stat_execute(memc, nullptr, collect, &fields);
        if (rc != MEMCACHED_SUCCESS || fields.empty()) {
            std::string why = memcached_last_error_message(memc) ? memcached_last_error_message(memc)
                                                                 : memcached_strerror(memc, rc);
            throw std::runtime_error("cannot read stats from memcached at " + where() + ": " + why);
        }
        return fields;
    }

    std::string host_;
    int port_;
    std::string socket_, username_, password_;
    metrics::Labels tags_;
    std::unique_ptr<memcached_st, MemcFree> memc_;
};

}  // namespace

PluginInfo memcached_plugin() {
    return {"memcached", "memcached: items, memory, connections and command rates from `stats`",
            [](const InstanceConfig& cfg) -> std::unique_ptr<Check> { return std::make_unique<MemcachedCheck>(cfg); },
            {"url", "port", "socket", "username", "password"}};
}

}  // namespace tracer::collectors
