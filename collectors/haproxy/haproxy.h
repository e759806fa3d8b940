// haproxy: the statistics CSV, from the stats page (HTTP) or the stats socket
// (`show stat` on a Unix or TCP socket).
#pragma once

#include "collectors/plugin.h"

#include <string>
#include <vector>

namespace tracer::collectors {

PluginInfo haproxy_plugin();

// One row of the CSV by column name ("pxname", "svname", "scur", ...).
using HaproxyRow = std::vector<std::pair<std::string, std::string>>;
// Parses `show stat` / `;csv` output: the "# pxname,svname,..." header, then rows.
std::vector<HaproxyRow> parse_haproxy_csv(const std::string& text);

}  // namespace tracer::collectors
