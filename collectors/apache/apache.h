// apache: mod_status's machine-readable page (server-status?auto) over HTTP.
#pragma once

#include "collectors/plugin.h"

namespace tracer::collectors {

PluginInfo apache_plugin();

}  // namespace tracer::collectors
