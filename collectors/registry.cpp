// Every integration plugin, one line each. Adding a plugin is its folder
// under collectors/ plus its line here.
#include "collectors/plugin.h"

#include "collectors/apache/apache.h"
#include "collectors/container/container.h"
#include "collectors/haproxy/haproxy.h"
#include "collectors/http_check/http_check.h"
#include "collectors/memcached/memcached.h"
#include "collectors/mysql/mysql.h"
#include "collectors/nginx/nginx.h"
#include "collectors/php_fpm/php_fpm.h"
#include "collectors/postgres/postgres.h"
#include "collectors/process/process.h"
#include "collectors/prometheus/prometheus.h"
#include "collectors/redis/redis.h"
#include "collectors/system/system.h"

namespace tracer::collectors {

const std::vector<PluginInfo>& plugin_registry() {
    static const std::vector<PluginInfo> plugins = {
        apache_plugin(),
        container_plugin(),
        haproxy_plugin(),
        http_check_plugin(),
        memcached_plugin(),
        mysql_plugin(),
        nginx_plugin(),
        php_fpm_plugin(),
        postgres_plugin(),
        process_plugin(),
        prometheus_plugin(),
        redis_plugin(),
        system_plugin(),
    };
    return plugins;
}

const PluginInfo* find_plugin(const std::string& name) {
    for (const auto& p : plugin_registry())
        if (p.name == name) return &p;
    return nullptr;
}

}  // namespace tracer::collectors
