#pragma once
#include "collectors/plugin.h"
namespace tracer::collectors {
PluginInfo prometheus_plugin();
}
