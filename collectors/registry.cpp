// Every integration plugin, one line each. Adding a plugin is its folder
// under collectors/ plus its line here.
#include "collectors/plugin.h"

#include "collectors/apache/apache.h"
#include "collectors/haproxy/haproxy.h"
#include "collectors/mysql/mysql.h"
#include "collectors/php_fpm/php_fpm.h"
#include "collectors/postgres/postgres.h"

namespace tracer::collectors {

const std::vector<PluginInfo>& plugin_registry() {
    static const std::vector<PluginInfo> plugins = {
        apache_plugin(),
        haproxy_plugin(),
        mysql_plugin(),
        php_fpm_plugin(),
        postgres_plugin(),
    };
    return plugins;
}

const PluginInfo* find_plugin(const std::string& name) {
    for (const auto& p : plugin_registry())
        if (p.name == name) return &p;
    return nullptr;
}

}  // namespace tracer::collectors
