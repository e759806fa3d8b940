// The local API server over a real Unix socket: versioned read-only paths,
// mode 0600, one server per socket, and clients that stall never hold up
// the others or the flush loop.
#include "api/local_api_client.h"
#include "api/local_api_server.h"
#include "api/snapshot_json.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

using namespace tracer;
using nlohmann::json;

namespace {

class TempDir {
public:
    TempDir() {
        std::string t = (std::filesystem::temp_directory_path() / "tracer-api-test-XXXXXX").string();
        if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
        path = t;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string path;
};

std::shared_ptr<const metrics::Snapshot> snapshot(size_t series) {
    metrics::Family f{"tracer.syscalls", "", "Syscalls.", metrics::MetricType::Counter, {}};
    for (size_t i = 0; i < series; ++i)
        f.samples.push_back({{{"cgroup", "/c" + std::to_string(i)}, {"syscall", "read"}}, double(i), {}});
    metrics::Family drops{"tracer.events.dropped", "", "", metrics::MetricType::Counter,
                          {{{{"ring", "proc_events"}}, 7, {}}}};
    return std::make_shared<const metrics::Snapshot>(metrics::Snapshot{f, drops});
}

// A raw client: connects, optionally sends bytes, and then does whatever the test says.
int raw_connect(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

std::string raw_request(const std::string& path, const std::string& request) {
    int fd = raw_connect(path);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), ssize_t(request.size()));
    std::string answer;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, size_t(n));
    ::close(fd);
    return answer;
}

struct Fixture {
    TempDir dir;
    metrics::LatestSnapshot latest;
    api::RecentEvents events{8};
    std::unique_ptr<api::LocalApiServer> server;
    std::string socket = dir.path + "/run/api.sock";  // its directory does not exist yet

    explicit Fixture(std::chrono::milliseconds timeout = std::chrono::seconds(30), size_t max_connections = 16) {
        api::LocalApiOptions o;
        o.socket_path = socket;
        o.snapshot = &latest;
        o.events = &events;
        o.sources = [] {
            return std::vector<metrics::SourceStatus>{{"kernel", "syscalls", true, "raw_tp/sys_enter"},
                                                      {"kernel", "net", false, "the kernel refused it"}};
        };
        o.agent_info = [] { return json{{"kernel", {{"release", "6.18.0"}}}}; };
        o.interval_seconds = 10;
        o.client_timeout = timeout;
        o.max_connections = max_connections;
        server = std::make_unique<api::LocalApiServer>(std::move(o));
        server->start();
    }
};

}  // namespace

TEST(LocalApiServer, ServesVersionedPathsReadOnly) {
    Fixture f;
    f.latest.publish(snapshot(3));
    f.server->published();
    api::LocalApiClient client(f.socket);

    json snap = client.get("/v1/snapshot");
    EXPECT_EQ(snap["api_version"], 1);
    EXPECT_EQ(snap["sequence"], 1);
    EXPECT_GT(snap["published_monotonic_ms"].get<int64_t>(), 0);
    auto families = api::snapshot_from_json(snap["families"]);
    ASSERT_EQ(families.size(), 2u);
    EXPECT_EQ(families[0].name, "tracer.syscalls");
    ASSERT_EQ(families[0].samples.size(), 3u);
    EXPECT_EQ(families[0].samples[2].value, 2);

    json status = client.get("/v1/status");
    EXPECT_FALSE(status["version"].get<std::string>().empty());
    EXPECT_EQ(status["kernel"]["release"], "6.18.0");
    EXPECT_EQ(status["sources"].size(), 2u);
    EXPECT_EQ(status["sources"][1]["up"], false);
    EXPECT_EQ(status["healthy"], false);
    EXPECT_EQ(status["counters"]["events_dropped"]["proc_events"], 7);
    EXPECT_EQ(status["snapshots_published"], 1);

    for (int i = 0; i < 10; ++i) f.events.add({{"kind", "exec"}, {"pid", i}});
    json page = client.get("/v1/events?since=0&limit=5");
    ASSERT_EQ(page["events"].size(), 5u);  // the newest five of the eight kept
    EXPECT_EQ(page["events"][4]["pid"], 9);
    EXPECT_EQ(page["next"], 11);
    EXPECT_EQ(page["evicted"], 2);
    EXPECT_EQ(client.get("/v1/events?since=11")["events"].size(), 0u);
    EXPECT_EQ(client.get("/v1/events?since=10")["events"].size(), 1u);
    // events a producer let go before adding them count as evicted too
    f.events.count_evicted(3);
    EXPECT_EQ(client.get("/v1/events?since=11")["evicted"], 5);

    // Unversioned or unknown paths, and anything but GET.
    EXPECT_THROW(client.get("/snapshot"), std::runtime_error);
    EXPECT_THROW(client.get("/v2/snapshot"), std::runtime_error);
    EXPECT_NE(raw_request(f.socket, "POST /v1/snapshot HTTP/1.0\r\n\r\n").find("405"), std::string::npos);
    EXPECT_NE(raw_request(f.socket, "GET /v2/status HTTP/1.0\r\n\r\n").find("404"), std::string::npos);
}

TEST(LocalApiServer, SocketIsMode0600AndRemovedOnStop) {
    Fixture f;
    struct stat st{};
    ASSERT_EQ(::stat(f.socket.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    f.server->stop();
    EXPECT_NE(::stat(f.socket.c_str(), &st), 0);
    EXPECT_THROW(api::LocalApiClient(f.socket).get("/v1/status"), api::NoAgentError);
}

TEST(LocalApiServer, RefusesASecondServerButReplacesAStaleSocket) {
    Fixture f;
    api::LocalApiOptions o;
    o.socket_path = f.socket;
    o.snapshot = &f.latest;
    api::LocalApiServer second(o);
    try {
        second.start();
        FAIL() << "a second server started on a live socket";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("another tracer agent"), std::string::npos) << e.what();
    }
    EXPECT_NO_THROW(api::LocalApiClient(f.socket).get("/v1/status"));  // the first one still serves

    // A socket file nobody listens on (an agent that was killed) is replaced.
    TempDir d;
    std::string stale = d.path + "/api.sock";
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", stale.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
    o.socket_path = stale;
    api::LocalApiServer third(o);
    EXPECT_NO_THROW(third.start());
    EXPECT_NO_THROW(api::LocalApiClient(stale).get("/v1/status"));
}

TEST(LocalApiServer, StuckClientsDoNotBlockOthersOrPublication) {
    Fixture f;
    // Big enough that the answer cannot fit in the socket buffers.
    f.latest.publish(snapshot(100000));
    f.server->published();
    // One client never finishes its request; another asks for the snapshot and never reads.
    int silent = raw_connect(f.socket);
    ASSERT_GE(silent, 0);
    ASSERT_EQ(::send(silent, "GET /v1/snap", 12, MSG_NOSIGNAL), 12);
    int not_reading = raw_connect(f.socket);
    ASSERT_GE(not_reading, 0);
    const char req[] = "GET /v1/snapshot HTTP/1.0\r\n\r\n";
    ASSERT_EQ(::send(not_reading, req, sizeof req - 1, MSG_NOSIGNAL), ssize_t(sizeof req - 1));

    // The flush loop keeps publishing; other clients are answered (the
    // client's own timeout, 5 s, is far below the stuck clients' 30 s).
    for (int i = 0; i < 3; ++i) {
        f.latest.publish(snapshot(2));
        f.server->published();
        api::LocalApiClient client(f.socket, std::chrono::seconds(5));
        json snap = client.get("/v1/snapshot");
        EXPECT_EQ(snap["sequence"], 2 + i);
        EXPECT_EQ(snap["families"][0]["samples"].size(), 2u);
        EXPECT_EQ(client.get("/v1/status")["snapshots_published"], 2 + i);
    }
    ::close(silent);
    ::close(not_reading);
}

TEST(LocalApiServer, SlowClientsAreDroppedAtTheirTimeout) {
    Fixture f(std::chrono::milliseconds(300));
    int silent = raw_connect(f.socket);
    ASSERT_GE(silent, 0);
    // The server closes it: recv sees the end of the stream, not our own timeout.
    timeval tv{20, 0};
    ::setsockopt(silent, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    EXPECT_EQ(::recv(silent, &c, 1, 0), 0);
    ::close(silent);
}

TEST(LocalApiServer, BoundsConnections) {
    Fixture f(std::chrono::seconds(30), 2);
    int a = raw_connect(f.socket), b = raw_connect(f.socket);
    ASSERT_GE(a, 0);
    ASSERT_GE(b, 0);
    // Let the server accept both before the third arrives.
    for (int i = 0; i < 50; ++i) {
        std::string third = raw_request(f.socket, "GET /v1/status HTTP/1.0\r\n\r\n");
        if (third.find("503") != std::string::npos) break;
        ASSERT_LT(i, 49) << "a third connection was served beyond max_connections";
        ::usleep(20000);
    }
    ::close(a);
    ::close(b);
    // Once they are gone, clients are served again.
    for (int i = 0;; ++i) {
        try {
            api::LocalApiClient(f.socket).get("/v1/status");
            break;
        } catch (const std::runtime_error&) {
            ASSERT_LT(i, 100);
            ::usleep(20000);
        }
    }
}
