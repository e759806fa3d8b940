#include "top/top_session.h"

#include <unistd.h>

namespace tracer::top {

TopSession::TopSession(api::LocalApiClient client, bool standalone)
    : client_(std::move(client)), standalone_(standalone), files_(std::make_unique<CgroupFiles>("")) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) hostname_ = host;
}

void TopSession::connect() {
    facts_ = agent_facts(client_.get("/v1/status"));
    containers::CgroupLayout layout;
    if (!facts_.cgroup_mount.empty()) layout = cgroup_layout_under("/proc/self/mountinfo", facts_.host_prefix);
    std::optional<containers::CgroupMount> unified;
    if (const auto* v2 = layout.unified()) unified = *v2;
    files_ = std::make_unique<CgroupFiles>(facts_.cgroup_mount, facts_.proc_root, cpu_controller_mount(layout), unified);
    model_.set_cgroup_reader([files = files_.get()](const std::vector<std::string>& cgroups) { return files->facts(cgroups); });
}

bool TopSession::refresh() {
    TimedSnapshot snap = fetch_snapshot(client_);
    // Sequence 0: the agent has published nothing yet (it is still in its
    // first interval); an empty page is not a snapshot to take rates from.
    bool fresh = snap.sequence != 0 && model_.update(std::move(snap));
    events_.poll(client_);
    if (fresh) facts_.drops = drops_of(client_.get("/v1/status"));
    return fresh;
}

}  // namespace tracer::top
