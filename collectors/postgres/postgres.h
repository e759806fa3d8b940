// postgres: PostgreSQL per-database activity and size, connections, locks,
// the background writer and replication, over libpq.
#pragma once

#include "collectors/plugin.h"

namespace tracer::collectors {

PluginInfo postgres_plugin();

}  // namespace tracer::collectors
