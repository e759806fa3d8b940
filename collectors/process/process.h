#pragma once
#include "collectors/plugin.h"
namespace tracer::collectors {
PluginInfo process_plugin();
}
