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
    files_ = std::make_unique<CgroupFiles>(facts_.cgroup_mount, facts_.proc_root);
    model_.set_cgroup_reader([files = files_.get()](const std::vector<std::string>& cgroups) { return files->facts(cgroups); });
}

bool TopSession::refresh() {
    bool fresh = model_.update(fetch_snapshot(client_));
    events_.poll(client_);
    if (fresh) facts_.drops = drops_of(client_.get("/v1/status"));
    return fresh;
}

}  // namespace tracer::top
