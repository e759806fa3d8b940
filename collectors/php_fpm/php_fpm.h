// php_fpm: a PHP-FPM pool's status page (pm.status_path, JSON) and ping page
// (ping.path), through the web server that proxies them to the pool.
#pragma once

#include "collectors/plugin.h"

namespace tracer::collectors {

PluginInfo php_fpm_plugin();

}  // namespace tracer::collectors
