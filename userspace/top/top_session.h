// One `tracer top` session: an agent reached through its local API (a
// running agent, or the one standalone mode runs in-process), the view model
// fed from it, its events, and the host's cgroup files. Shared by the
// interactive screen and --batch.
#pragma once

#include "api/local_api_client.h"
#include "top/api_feed.h"
#include "top/cgroup_files.h"
#include "top/view_model.h"

#include <memory>
#include <string>

namespace tracer::top {

class TopSession {
public:
    TopSession(api::LocalApiClient client, bool standalone);

    // Reads /v1/status (the header's facts, where the cgroups are mounted).
    // Throws like LocalApiClient::get.
    void connect();
    // Fetches the latest snapshot, new events and the drop counters; true if
    // the snapshot is a new one. Throws like LocalApiClient::get.
    bool refresh();

    ViewModel& model() { return model_; }
    const ViewModel& model() const { return model_; }
    const EventLog& events() const { return events_; }
    const AgentFacts& facts() const { return facts_; }
    CgroupFiles& files() { return *files_; }
    bool standalone() const { return standalone_; }
    const std::string& hostname() const { return hostname_; }
    const std::string& socket_path() const { return client_.socket_path(); }

private:
    api::LocalApiClient client_;
    bool standalone_;
    std::string hostname_;
    AgentFacts facts_;
    ViewModel model_;
    EventLog events_;
    std::unique_ptr<CgroupFiles> files_;
};

}  // namespace tracer::top
