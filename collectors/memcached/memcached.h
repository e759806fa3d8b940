#pragma once
#include "collectors/plugin.h"
namespace tracer::collectors {
PluginInfo memcached_plugin();
}
