#pragma once
#include "collectors/plugin.h"
namespace tracer::collectors {
PluginInfo redis_plugin();
}
