#pragma once
#include "collectors/plugin.h"
namespace tracer::collectors {
PluginInfo http_check_plugin();
}
