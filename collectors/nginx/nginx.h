#pragma once
#include "collectors/plugin.h"
namespace tracer::collectors {
PluginInfo nginx_plugin();
}
