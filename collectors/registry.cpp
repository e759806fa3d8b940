// Every integration plugin, one line each. Adding a plugin is its folder
// under collectors/ plus its line here.
#include "collectors/plugin.h"

#include "collectors/http_check/http_check.h"
#include "collectors/memcached/memcached.h"
#include "collectors/nginx/nginx.h"
#include "collectors/prometheus/prometheus.h"
#include "collectors/redis/redis.h"

namespace tracer::collectors {

const std::vector<PluginInfo>& plugin_registry() {
    static const std::vector<PluginInfo> plugins = {
        http_check_plugin(),
        memcached_plugin(),
        nginx_plugin(),
        prometheus_plugin(),
        redis_plugin(),
    };
    return plugins;
}

const PluginInfo* find_plugin(const std::string& name) {
    for (const auto& p : plugin_registry())
        if (p.name == name) return &p;
    return nullptr;
}

}  // namespace tracer::collectors
