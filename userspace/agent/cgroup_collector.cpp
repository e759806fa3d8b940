#include "agent/cgroup_collector.h"

namespace tracer::agent {

void collect_interval(CgroupDirectory& directory, const std::vector<CgroupCollector*>& collectors,
                      std::chrono::duration<double> elapsed) {
    std::vector<uint64_t> keys;
    for (auto* c : collectors) c->read(keys);
    directory.begin_interval(keys);
    for (auto* c : collectors) c->accumulate(directory, elapsed);
    if (!directory.gone().empty())
        for (auto* c : collectors) c->forget(directory.gone());
    directory.end_interval();
}

}  // namespace tracer::agent
