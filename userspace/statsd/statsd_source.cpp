#include "statsd/statsd_source.h"

namespace tracer::statsd {

StatsdSource::StatsdSource(StatsdServerOptions options) : options_(std::move(options)) {
    auto o = options_;
    // Called from the thread that runs flush(): moved into that interval.
    o.on_events = [this](std::vector<metrics::Event>&& e, std::vector<metrics::ServiceCheck>&& c) {
        for (auto& x : e) events_.push_back(std::move(x));
        for (auto& x : c) checks_.push_back(std::move(x));
    };
    server_ = std::make_unique<StatsdServer>(std::move(o));
    server_->start();
}

StatsdSource::~StatsdSource() {
    server_->stop();
}

void StatsdSource::flush(metrics::Interval& out) {
    StatsdFlush flushed = server_->flush();
    for (auto& f : flushed.families) out.families.push_back(std::move(f));
    for (auto& e : events_) out.events.push_back(std::move(e));
    for (auto& c : checks_) out.service_checks.push_back(std::move(c));
    events_.clear();
    checks_.clear();
}

std::string StatsdSource::describe() const {
    std::string where;
    auto add = [&](const std::string& s) { where += (where.empty() ? "" : ", ") + s; };
    const auto& udp = options_.udp_listen;
    if (server_->udp_port()) add("udp " + udp.substr(0, udp.rfind(':') + 1) + std::to_string(server_->udp_port()));
    if (server_->socket_listening()) add("unix " + options_.socket_path);
    if (server_->tcp_port()) add("tcp port " + std::to_string(server_->tcp_port()));
    return where;
}

std::vector<metrics::SourceStatus> StatsdSource::status() const {
    std::vector<metrics::SourceStatus> out;
    const auto& errors = server_->errors();
    auto error_about = [&](const std::string& what) {
        for (const auto& e : errors)
            if (e.find(what) != std::string::npos) return e;
        return std::string("not listening");
    };
    const auto& udp = options_.udp_listen;
    if (!udp.empty())
        out.push_back({"statsd", "udp", server_->udp_port() != 0,
                       server_->udp_port() ? "udp " + udp.substr(0, udp.rfind(':') + 1) + std::to_string(server_->udp_port())
                                           : error_about("UDP listener")});
    if (!options_.socket_path.empty())
        out.push_back({"statsd", "unix", server_->socket_listening(),
                       server_->socket_listening() ? "unix " + options_.socket_path : error_about("Unix socket")});
    if (!options_.tcp_listen.empty())
        out.push_back({"statsd", "tcp", server_->tcp_port() != 0,
                       server_->tcp_port() ? "tcp port " + std::to_string(server_->tcp_port())
                                           : error_about("TCP listener")});
    return out;
}

}  // namespace tracer::statsd
