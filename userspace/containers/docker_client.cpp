#include "containers/docker_client.h"

#include "log.h"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <condition_variable>
#include <ctime>
#include <memory>
#include <mutex>
#include <stop_token>

namespace tracer::containers {
namespace {

void global_init_once() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t append_body(char* data, size_t size, size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

struct LineSink {
    std::string pending;
    const std::function<void(const std::string&)>* on_line;
};

size_t split_lines(char* data, size_t size, size_t n, void* user) {
    auto* sink = static_cast<LineSink*>(user);
    sink->pending.append(data, size * n);
    size_t start = 0, nl;
    while ((nl = sink->pending.find('\n', start)) != std::string::npos) {
        if (nl > start) (*sink->on_line)(sink->pending.substr(start, nl - start));
        start = nl + 1;
    }
    sink->pending.erase(0, start);
    return size * n;
}

std::string string_or_empty(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

struct DockerClient::Curl {
    CURL* h = nullptr;
    Curl() : h(curl_easy_init()) {}
    ~Curl() {
        if (h) curl_easy_cleanup(h);
    }
};

DockerClient::DockerClient(std::string socket_path) : socket_path_(std::move(socket_path)) {
    global_init_once();
    curl_ = std::make_unique<Curl>();
    if (!curl_->h) throw DockerError("curl_easy_init failed");
}

DockerClient::~DockerClient() = default;

std::optional<std::string> DockerClient::get(const std::string& path, std::chrono::milliseconds timeout) {
    CURL* h = curl_->h;
    curl_easy_reset(h);
    std::string body;
    std::string url = "http://localhost" + path;
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK)
        throw DockerError("Docker API at unix://" + socket_path_ + " GET " + path + ": " + curl_easy_strerror(rc));
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status == 404) return std::nullopt;
    if (status != 200)
        throw DockerError("Docker API at unix://" + socket_path_ + " GET " + path + ": HTTP " +
                          std::to_string(status) + ": " + body.substr(0, 200));
    return body;
}

void DockerClient::stream_lines(const std::string& path, const std::function<void(const std::string&)>& on_line,
                                std::stop_token stop) {
    CURL* h = curl_->h;
    curl_easy_reset(h);
    LineSink sink{{}, &on_line};
    std::string url = "http://localhost" + path;
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, split_lines);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    // A multi handle, so that the thread sleeps in poll() until the daemon
    // sends something or stop wakes it (curl_multi_wakeup), instead of
    // waking every second to look for a stop request.
    std::unique_ptr<CURLM, CURLMcode (*)(CURLM*)> multi(curl_multi_init(), curl_multi_cleanup);
    if (!multi || curl_multi_add_handle(multi.get(), h) != CURLM_OK)
        throw DockerError("Docker API at unix://" + socket_path_ + " GET " + path + ": cannot set up libcurl");
    CURLcode rc = CURLE_OK;
    {
        std::stop_callback wake(stop, [m = multi.get()] { curl_multi_wakeup(m); });
        for (int running = 1; running && !stop.stop_requested();) {
            if (CURLMcode mc = curl_multi_perform(multi.get(), &running); mc != CURLM_OK) {
                curl_multi_remove_handle(multi.get(), h);
                throw DockerError("Docker API at unix://" + socket_path_ + " GET " + path + ": " +
                                  curl_multi_strerror(mc));
            }
            // libcurl shortens the wait to its own timers (the connect timeout)
            if (running) curl_multi_poll(multi.get(), nullptr, 0, 3600 * 1000, nullptr);
        }
        int queued = 0;
        while (CURLMsg* msg = curl_multi_info_read(multi.get(), &queued))
            if (msg->msg == CURLMSG_DONE) rc = msg->data.result;
    }  // (the stop callback goes before the multi handle)
    curl_multi_remove_handle(multi.get(), h);
    if (stop.stop_requested()) return;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK)
        throw DockerError("Docker API at unix://" + socket_path_ + " GET " + path + ": " + curl_easy_strerror(rc));
    throw DockerError("Docker API at unix://" + socket_path_ + " closed " + path + " (HTTP " +
                      std::to_string(status) + ")");
}

std::string container_id_of_event(const std::string& line) {
    auto ev = nlohmann::json::parse(line, nullptr, false);
    if (ev.is_discarded() || !ev.is_object()) return "";
    auto actor = ev.find("Actor");
    std::string id = actor != ev.end() && actor->is_object() ? string_or_empty(*actor, "ID") : "";
    return id.empty() ? string_or_empty(ev, "id") : id;
}

std::vector<std::string> container_ids_of_list(const std::string& body) {
    std::vector<std::string> ids;
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_array())
        for (const auto& c : j)
            if (c.is_object())
                if (auto id = string_or_empty(c, "Id"); !id.empty()) ids.push_back(std::move(id));
    return ids;
}

ContainerInfo parse_docker_inspect(const std::string& body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw DockerError("container inspect: not a JSON object");
    ContainerInfo info;
    info.id = string_or_empty(j, "Id");
    if (info.id.empty()) throw DockerError("container inspect: no Id");
    info.name = string_or_empty(j, "Name");
    if (!info.name.empty() && info.name[0] == '/') info.name.erase(0, 1);
    if (auto cfg = j.find("Config"); cfg != j.end() && cfg->is_object()) {
        info.image = string_or_empty(*cfg, "Image");
        if (auto labels = cfg->find("Labels"); labels != cfg->end() && labels->is_object())
            for (auto& [k, v] : labels->items())
                if (v.is_string()) info.labels[k] = v.get<std::string>();
    }
    if (info.image.empty()) info.image = string_or_empty(j, "Image");
    apply_kubernetes_labels(info);
    return info;
}

DockerMetadataProvider::DockerMetadataProvider(std::string socket_path, MetadataCache& cache)
    : socket_path_(std::move(socket_path)), cache_(cache), inspect_client_(socket_path_) {
    watcher_ = std::jthread([this](std::stop_token stop) { watch(stop); });
}

DockerMetadataProvider::~DockerMetadataProvider() = default;

void DockerMetadataProvider::inspect_into_cache(DockerClient& client, const std::string& id) {
    auto body = client.get("/containers/" + id + "/json");
    if (!body) return;  // not one of Docker's
    try {
        cache_.put(parse_docker_inspect(*body));
    } catch (const DockerError& e) {
        LOG_WARN("%s (container %s)", e.what(), id.c_str());
    }
}

void DockerMetadataProvider::watch(std::stop_token stop) {
    DockerClient client(socket_path_);
    auto backoff = std::chrono::milliseconds(250);
    bool reported = false;
    while (!stop.stop_requested()) {
        try {
            // Events since just before the list: nothing falls between the two.
            long since = static_cast<long>(std::time(nullptr)) - 1;
            auto list = client.get("/containers/json");
            size_t n = 0;
            for (const auto& id : container_ids_of_list(list.value_or("[]"))) {
                inspect_into_cache(client, id);
                ++n;
            }
            ++connections_;
            LOG_INFO("Docker API at unix://%s: %zu running containers named; following its events",
                     socket_path_.c_str(), n);
            reported = false;
            backoff = std::chrono::milliseconds(250);
            std::string path = "/events?since=" + std::to_string(since) +
                               "&filters=%7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A%5B%22start%22%2C"
                               "%22rename%22%5D%7D";  // {"type":["container"],"event":["start","rename"]}
            DockerClient events(socket_path_);
            events.stream_lines(
                path,
                [&](const std::string& line) {
                    std::string id = container_id_of_event(line);
                    if (id.empty()) return;
                    try {
                        inspect_into_cache(client, id);  // start and rename alike: the current name
                    } catch (const DockerError& e) {
                        LOG_WARN("%s", e.what());
                    }
                },
                stop);
        } catch (const DockerError& e) {
            // Once per outage; a host without Docker says so once, at info level.
            if (!reported && connections_ == 0)
                LOG_INFO("%s: Docker containers are named once it answers (retrying with backoff)", e.what());
            else if (!reported)
                LOG_WARN("%s; retrying with backoff", e.what());
            reported = true;
        }
        // Back off before reconnecting, woken early only by a stop request
        // (not on a polling timer: an agent on a host without Docker sleeps).
        {
            std::mutex mu;
            std::condition_variable_any cv;
            std::unique_lock lock(mu);
            cv.wait_for(lock, stop, backoff, [] { return false; });
        }
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
}

std::optional<ContainerInfo> DockerMetadataProvider::inspect(const std::string& id) {
    std::lock_guard lock(inspect_mu_);
    try {
        auto body = inspect_client_.get("/containers/" + id + "/json");
        if (body) return parse_docker_inspect(*body);
    } catch (const DockerError&) {
        // dockerd is away: the watcher reports it and re-lists on reconnect
    }
    return std::nullopt;
}

}  // namespace tracer::containers
