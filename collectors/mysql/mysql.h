// mysql: MySQL and MariaDB global status, variables and replication status,
// over the MariaDB client library (libmariadb).
#pragma once

#include "collectors/plugin.h"

namespace tracer::collectors {

PluginInfo mysql_plugin();

}  // namespace tracer::collectors
