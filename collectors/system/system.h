#pragma once
#include "collectors/plugin.h"
namespace tracer::collectors {
PluginInfo system_plugin();
}
