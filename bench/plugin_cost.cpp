// What each integration plugin costs, on both sides of one check run, against
// real servers from Debian started on loopback ports (the plugin tests' own
// set-ups, tests/support/plugin_servers.h):
//  - the agent: CPU time of this process (every thread) and wall time per run
//    of the plugin's check, driven as the plugin runner drives it;
//  - the server: the CPU time its cgroup (every process of the server, moved
//    into a cgroup of its own) spent answering the run, less what it spends at
//    rest (measured idle in the same round, subtracted at that rate);
//  - the baseline, in the same rounds: the same server answering one trivial
//    request on a fresh connection (redis PING, memcached `version`, a static
//    page, `SELECT 1` after logging in as the plugin does), so the server's
//    figure reads as "a check costs the server N trivial requests".
// Interleaved rounds: for each plugin in turn, an idle stretch, a batch of
// check runs and a batch of trivial requests; medians [min-max] over rounds.
// The plugins that read the host only have no server: system, process, and
// container over --containers empty cgroups named like Docker's.
//
//   cmake --build build --target bench_plugin_cost && build/bench/bench_plugin_cost
#include "bench_cli.h"
#include "bench_support.h"

#include "apache_server.h"
#include "fixtures.h"
#include "nginx_server.h"
#include "plugin_servers.h"

#include "collectors/check_results.h"
#include "collectors/host_services.h"
#include "collectors/plugin.h"

#include <libpq-fe.h>
#include <mysql.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using tracer::fixtures::TestCgroup;

double cpu_now_us(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

// The CPU time, in µs, every task of a cgroup has used: v1 cpuacct.usage
// (ns) where the cpuacct controller is mounted, else cgroup2's cpu.stat.
class CgroupCpu {
public:
    explicit CgroupCpu(const TestCgroup& cg) {
        const auto& layout = tracer::fixtures::host_layout();
        if (const auto* m = layout.v1_controller("cpuacct")) {
            path_ = cg.dir(*m) + "/cpuacct.usage";
        } else if (const auto* u = layout.unified()) {
            path_ = cg.dir(*u);
            v2_ = true;
        } else {
            throw bench::FatalError("no cpuacct controller and no cgroup2: cannot read a server's CPU time");
        }
    }
    double used_us() const {
        return v2_ ? bench::cgroup2_cpu_usage_us(path_) : std::stod(bench::read_file(path_)) / 1e3;
    }

private:
    std::string path_;  // cpuacct.usage (v1), or the cgroup2 directory
    bool v2_ = false;
};

// `root` and every process descended from it (now), from /proc/*/stat.
std::vector<pid_t> process_tree(pid_t root) {
    std::map<pid_t, pid_t> parent;
    DIR* d = opendir("/proc");
    if (!d) throw bench::FatalError("/proc: " + bench::errno_text(errno));
    while (dirent* e = readdir(d)) {
        pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
        if (pid <= 0) continue;
        std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
        std::string line;
        if (!std::getline(f, line)) continue;
        auto close = line.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(line.substr(close + 2));
        char state;
        pid_t ppid = 0;
        rest >> state >> ppid;
        parent[pid] = ppid;
    }
    closedir(d);
    std::vector<pid_t> tree{root};
    for (size_t i = 0; i < tree.size(); ++i)
        for (const auto& [pid, ppid] : parent)
            if (ppid == tree[i]) tree.push_back(pid);
    return tree;
}

// Moves `root` and every process descended from it into `cg` (in every
// hierarchy); a process that exits meanwhile (a server's short-lived worker)
// is passed over. Processes they start later are born in it.
void move_tree(const TestCgroup& cg, pid_t root) {
    for (pid_t pid : process_tree(root)) {
        try {
            cg.add(pid);
        } catch (const std::exception&) {
            if (access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0) throw;
        }
    }
}

// `n` empty cgroups at the same path in every hierarchy, as Docker's cgroupfs
// driver makes them (/tracer-bench-<pid>/docker/<64 hex digits>): what the
// container plugin finds and reads, files and all. Empty, so they sit at the
// hierarchies' roots (there is no path the bench's own cgroups share across
// hierarchies). Removed on destruction.
class FakeContainers {
public:
    explicit FakeContainers(int n) {
        std::string top = "/tracer-bench-" + std::to_string(getpid());
        for (const auto& m : tracer::fixtures::host_layout().mounts) {
            if (m.root != "/") continue;  // a mount of part of a hierarchy: not the host's view
            make(m.mount_point + top);
            make(m.mount_point + top + "/docker");
            for (int i = 0; i < n; ++i) {
                char id[65];
                std::snprintf(id, sizeof id, "%064x", i + 1);
                make(m.mount_point + top + "/docker/" + id);
            }
        }
    }
    ~FakeContainers() {
        for (auto it = made_.rbegin(); it != made_.rend(); ++it) rmdir(it->c_str());
    }
    FakeContainers(const FakeContainers&) = delete;
    FakeContainers& operator=(const FakeContainers&) = delete;

private:
    void make(const std::string& dir) {
        if (mkdir(dir.c_str(), 0755) != 0) throw bench::FatalError("mkdir " + dir + ": " + bench::errno_text(errno));
        made_.push_back(dir);
    }
    std::vector<std::string> made_;
};

// --- the trivial requests (each on a fresh connection) ---

bench::Fd tcp_connect(uint16_t port) {
    bench::Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) throw bench::FatalError("socket: " + bench::errno_text(errno));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        throw bench::FatalError("connect 127.0.0.1:" + std::to_string(port) + ": " + bench::errno_text(errno));
    return fd;
}

// Sends `request`, reads until the answer ends with `end`.
void line_request(uint16_t port, const std::string& request, const std::string& end) {
    bench::Fd fd = tcp_connect(port);
    std::string answer;
    bool ok = send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size());
    char buf[512];
    while (ok && (answer.size() < end.size() || answer.compare(answer.size() - end.size(), end.size(), end) != 0)) {
        ssize_t n = recv(fd.get(), buf, sizeof buf, 0);
        if (n <= 0) ok = false;
        else answer.append(buf, static_cast<size_t>(n));
    }
    if (!ok) throw bench::FatalError("127.0.0.1:" + std::to_string(port) + ": no answer to " + request);
}

// GET http://127.0.0.1:`port``path`, which must answer 200.
void http_request(uint16_t port, const std::string& path) {
    if (int status = tracer::fixtures::http_get(port, path); status != 200)
        throw bench::FatalError("GET " + path + " on 127.0.0.1:" + std::to_string(port) + ": " +
                                (status ? std::to_string(status) : std::string("no answer")));
}

void postgres_select_1(uint16_t port) {
    std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port) + " user=tracer password=s3cret dbname=postgres";
    PGconn* c = PQconnectdb(conninfo.c_str());
    bool ok = PQstatus(c) == CONNECTION_OK;
    std::string why = PQerrorMessage(c);
    if (ok) {
        PGresult* r = PQexec(c, "SELECT 1");
        ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        why = PQresultErrorMessage(r);
        PQclear(r);
    }
    PQfinish(c);
    if (!ok) throw bench::FatalError("postgres SELECT 1: " + why);
}

void mariadb_select_1(uint16_t port) {
    MYSQL* m = mysql_init(nullptr);
    bool ok = mysql_real_connect(m, "127.0.0.1", "tracer", "s3cret", nullptr, port, nullptr, 0) &&
              mysql_query(m, "SELECT 1") == 0;
    if (ok)
        if (MYSQL_RES* r = mysql_store_result(m)) mysql_free_result(r);
    std::string why = mysql_error(m);
    mysql_close(m);
    if (!ok) throw bench::FatalError("mariadb SELECT 1: " + why);
}

// A Prometheus text page of `n` counter series, for the prometheus plugin.
std::string exposition(int n) {
    std::string page = "# HELP bench_requests_total Requests.\n# TYPE bench_requests_total counter\n";
    for (int i = 0; i < n; ++i)
        page += "bench_requests_total{code=\"200\",path=\"/page/" + std::to_string(i) + "\"} " + std::to_string(i * 7) + "\n";
    return page;
}

// --- one plugin under measurement ---

struct Target {
    std::string plugin;
    std::string label;     // the row's name ("" = plugin)
    std::string note;      // what the baseline request is
    std::string instance;  // the conf.d instance, YAML
    std::function<void()> trivial;   // one trivial request (empty: no server)
    std::unique_ptr<TestCgroup> cgroup;
    std::unique_ptr<tracer::collectors::Check> check;
    std::shared_ptr<void> servers;   // keeps the servers up
    std::vector<pid_t> roots;        // the servers' main processes
    std::string skipped;             // why not measured
    size_t series = 0;               // points one run reported
    std::vector<double> agent_us, wall_ms, server_us, trivial_server_us;
};

struct Batch {
    double wall_s = 0, agent_us = 0, server_us = 0;
};

Batch timed(const std::optional<CgroupCpu>& cpu, int n, const std::function<void()>& one) {
    Batch b;
    double server0 = cpu ? cpu->used_us() : 0;
    double agent0 = cpu_now_us(CLOCK_PROCESS_CPUTIME_ID);
    double wall0 = cpu_now_us(CLOCK_MONOTONIC);
    for (int i = 0; i < n; ++i) one();
    b.wall_s = (cpu_now_us(CLOCK_MONOTONIC) - wall0) / 1e6;
    b.agent_us = cpu_now_us(CLOCK_PROCESS_CPUTIME_ID) - agent0;
    b.server_us = cpu ? cpu->used_us() - server0 : 0;
    return b;
}

void run_check(Target& t) {
    tracer::collectors::CollectedRun run(std::chrono::steady_clock::now() + std::chrono::seconds(10));
    t.check->run(run);
    for (const auto& s : run.service_checks)
        if (s.status == tracer::collectors::CheckStatus::Critical)
            throw bench::FatalError(t.plugin + ": " + s.name + " critical: " + s.message);
    t.series = run.metrics.size();
}

std::unique_ptr<tracer::collectors::Check> make_check(const std::string& plugin, const std::string& instance) {
    const auto* info = tracer::collectors::find_plugin(plugin);
    if (!info) throw bench::FatalError("no plugin '" + plugin + "' in the registry");
    tracer::collectors::InstanceConfig config;
    config.plugin = plugin;
    config.file = "bench_plugin_cost";
    config.instance = YAML::Load(instance);
    // the host's cgroups and containers told apart by path, as `tracer check` does without an agent
    config.host = tracer::collectors::host_services_from_paths("");
    return info->factory(config);
}

std::string port_yaml(uint16_t port) { return "host: 127.0.0.1\nport: " + std::to_string(port) + "\n"; }

// Starts every server and builds each target; a server that cannot start
// here leaves its target skipped with the reason.
std::vector<Target> targets(const std::set<std::string>& only, int prometheus_series, int containers) {
    using namespace tracer::fixtures;
    std::vector<Target> out;
    auto want = [&](const std::string& p) { return only.empty() || only.count(p); };
    auto add = [&](Target t) {
        if (t.skipped.empty()) {
            if (t.label.empty()) t.label = t.plugin;
            std::string name = t.label;
            std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '-');
            t.cgroup = std::make_unique<TestCgroup>("plugin-cost-" + name);
            for (pid_t root : t.roots) move_tree(*t.cgroup, root);
            t.check = make_check(t.plugin, t.instance);
        }
        if (t.label.empty()) t.label = t.plugin;
        out.push_back(std::move(t));
    };
    if (want("redis")) {
        auto s = std::shared_ptr<ServerProcess>(new ServerProcess(redis_server()));
        Target t{.plugin = "redis", .note = "PING"};
        if (t.skipped = s->skip_reason("redis-server"); t.skipped.empty() && !s->start()) t.skipped = s->output();
        uint16_t port = s->port();
        t.instance = port_yaml(port), t.trivial = [port] { line_request(port, "PING\r\n", "+PONG\r\n"); };
        t.servers = s, t.roots = {s->pid()};
        add(std::move(t));
    }
    if (want("memcached")) {
        auto s = std::shared_ptr<ServerProcess>(new ServerProcess(memcached_server()));
        Target t{.plugin = "memcached", .note = "version"};
        if (t.skipped = s->skip_reason("memcached"); t.skipped.empty() && !s->start()) t.skipped = s->output();
        uint16_t port = s->port();
        t.instance = "url: 127.0.0.1\nport: " + std::to_string(port) + "\n";
        t.trivial = [port] { line_request(port, "version\r\n", "\r\n"); };
        t.servers = s, t.roots = {s->pid()};
        add(std::move(t));
    }
    std::shared_ptr<NginxServer> nginx;
    if (want("nginx") || want("http_check") || want("prometheus")) {
        nginx = std::make_shared<NginxServer>();
        std::string why = nginx->skip_reason("nginx-light");
        if (why.empty() && !nginx->start()) why = nginx->output();
        if (why.empty()) {
            nginx->put("tiny", "x\n");
            nginx->put("metrics", exposition(prometheus_series));
        }
        uint16_t port = nginx->port();
        auto get = [port](std::string path) { return [port, path] { http_request(port, path); }; };
        auto nginx_target = [&](std::string plugin, std::string note, std::string instance, std::function<void()> trivial) {
            if (!want(plugin)) return;
            Target t{.plugin = plugin, .note = note, .instance = instance, .trivial = trivial, .skipped = why};
            t.servers = nginx, t.roots = {nginx->pid()};
            // one cgroup per target: the nginx server moves into each in turn
            add(std::move(t));
        };
        nginx_target("nginx", "GET a 2-byte page", "nginx_status_url: " + nginx->url("/nginx_status") + "\n", get("/tiny"));
        nginx_target("http_check", "GET a 2-byte page", "name: tiny\nurl: " + nginx->url("/tiny") + "\n", get("/tiny"));
        nginx_target("prometheus", "GET the same page (" + std::to_string(prometheus_series) + " series)",
                     "prometheus_url: " + nginx->url("/metrics") + "\nnamespace: app\n", get("/metrics"));
    }
    if (want("apache")) {
        auto s = std::make_shared<ApacheServer>();
        Target t{.plugin = "apache", .note = "GET a 6-byte page"};
        t.skipped = s->skip_reason().empty() ? s->start_error() : s->skip_reason();
        uint16_t port = s->port();
        t.instance = "apache_status_url: " + s->url("/server-status") + "\n";
        t.trivial = [port] { http_request(port, "/index.html"); };
        t.servers = s, t.roots = {s->pid()};
        add(std::move(t));
    }
    if (want("haproxy")) {
        auto s = std::make_shared<HaproxyServer>();
        Target t{.plugin = "haproxy", .note = "one request through a frontend"};
        t.skipped = s->skip_reason.empty() ? s->start_error : s->skip_reason;
        t.instance = "url: unix://" + s->socket() + "\n";
        t.trivial = [s] {
            if (s->request() != 200) throw bench::FatalError("haproxy: a request through fe failed");
        };
        t.servers = s, t.roots = {s->server.pid()};
        add(std::move(t));
    }
    if (want("php_fpm")) {
        auto s = std::make_shared<PhpFpmPool>();
        Target t{.plugin = "php_fpm", .note = "GET /ping (apache + php-fpm)"};
        t.skipped = s->skip_reason.empty() ? s->start_error : s->skip_reason;
        if (t.skipped.empty()) {
            uint16_t port = s->apache->port();
            t.instance = "status_url: " + s->apache->url("/status") + "\nping_url: " + s->apache->url("/ping") + "\n";
            t.trivial = [port] { http_request(port, "/ping"); };
            t.roots = {s->server.pid(), s->apache->pid()};
        }
        t.servers = s;
        add(std::move(t));
    }
    if (want("postgres")) {
        auto s = std::make_shared<PostgresPrimary>();
        Target t{.plugin = "postgres", .note = "log in (scram-sha-256), SELECT 1"};
        t.skipped = s->skip_reason.empty() ? s->start_error : s->skip_reason;
        uint16_t port = s->server.port();
        t.instance = port_yaml(port) + "username: tracer\npassword: s3cret\n";
        t.trivial = [port] { postgres_select_1(port); };
        t.servers = s, t.roots = {s->server.pid()};
        Target without_size{.plugin = "postgres", .label = "postgres, no size", .note = t.note,
                            .instance = t.instance + "collect_database_size_metrics: false\n", .trivial = t.trivial,
                            .servers = s, .roots = t.roots, .skipped = t.skipped};
        add(std::move(t));
        add(std::move(without_size));
    }
    if (want("mysql")) {
        auto s = std::make_shared<MariaDbPrimary>();
        Target t{.plugin = "mysql", .note = "log in, SELECT 1"};
        t.skipped = s->skip_reason.empty() ? s->start_error : s->skip_reason;
        uint16_t port = s->server.port();
        t.instance = port_yaml(port) + "username: tracer\npassword: s3cret\n";
        t.trivial = [port] { mariadb_select_1(port); };
        t.servers = s, t.roots = {s->server.pid()};
        add(std::move(t));
    }
    if (want("system")) add(Target{.plugin = "system", .note = "-", .instance = "{}"});
    if (want("container")) {
        Target t{.plugin = "container", .label = "container (" + std::to_string(containers) + ")", .note = "-",
                 .instance = "docker_state_counts: false\n"};
        t.servers = std::make_shared<FakeContainers>(containers);
        add(std::move(t));
    }
    if (want("process"))
        add(Target{.plugin = "process", .note = "-", .instance = "name: bench\nsearch_string: ['bench_plugin_cost']\n"});
    return out;
}

std::string fmt(const std::vector<double>& v, const char* f) {
    if (v.empty()) return "-";
    char b[64];
    std::snprintf(b, sizeof b, f, bench::median_of(v));
    return b;
}

std::string spread(const std::vector<double>& v, const char* f) {
    if (v.empty()) return "-";
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    char m[32], l[32], h[32], b[112];
    std::snprintf(m, sizeof m, f, bench::median_of(v));
    std::snprintf(l, sizeof l, f, *lo);
    std::snprintf(h, sizeof h, f, *hi);
    std::snprintf(b, sizeof b, "%s [%s-%s]", m, l, h);
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"bench_plugin_cost: what one check run of each integration plugin costs the agent and its server"};
    int rounds = 5, runs = 40, interval = 10, series = 1000, containers = 50;
    double idle_s = 0.5;
    std::vector<std::string> only;
    app.add_option("--rounds", rounds, "interleaved rounds")->check(CLI::Range(1, 1000));
    app.add_option("--runs", runs, "check runs (and trivial requests) per plugin per round")->check(CLI::Range(1, 100000));
    app.add_option("--idle", idle_s, "seconds of each server at rest per round (its background CPU, subtracted)")
        ->check(CLI::Range(0.05, 60.0));
    app.add_option("--interval", interval, "the collection interval a CPU share is given for, seconds (the agent's default: 10)")
        ->check(CLI::Range(1, 3600));
    app.add_option("--prometheus-series", series, "series on the page the prometheus plugin scrapes")
        ->check(CLI::Range(1, 100000));
    app.add_option("--containers", containers, "empty Docker-like cgroups the container plugin reads")
        ->check(CLI::Range(1, 10000));
    app.add_option("--plugins", only, "measure only these plugins");
    return bench::bench_main(app, argc, argv, [&] {
        if (geteuid() != 0)
            throw bench::FatalError("needs root: the servers' cgroups, and php-fpm, apache2 and mariadbd run as root");
        std::printf("bench_plugin_cost: %s, clocksource %s\n", bench::cpu_model().c_str(), bench::clocksource().c_str());
        const std::set<std::string> known{"redis",  "memcached", "nginx",    "http_check", "prometheus", "apache",
                                          "haproxy", "php_fpm",  "postgres", "mysql",      "system",     "container",
                                          "process"};
        for (const auto& p : only)
            if (!known.count(p)) throw bench::FatalError("--plugins: no plugin '" + p + "' in this bench");
        std::printf("starting the servers...\n");
        std::vector<Target> ts = targets(std::set<std::string>(only.begin(), only.end()), series, containers);
        std::map<std::string, std::optional<CgroupCpu>> cpu;
        for (auto& t : ts) {
            if (!t.skipped.empty()) continue;
            if (t.trivial) cpu[t.label].emplace(*t.cgroup);
            else cpu[t.label] = std::nullopt;
            try {
                run_check(t);  // the first run: connections, caches, rates' first values
                if (t.trivial) t.trivial();
            } catch (const std::exception& e) {
                t.skipped = std::string("failed: ") + e.what();
            }
        }
        for (int r = 0; r < rounds; ++r) {
            bench::check_interrupted();
            std::printf("round %d/%d\n", r + 1, rounds);
            for (auto& t : ts) {
                if (!t.skipped.empty()) continue;
                const auto& c = cpu[t.label];
                // the nginx targets share one server: it lives in the target's cgroup while measured
                if (t.trivial)
                    for (pid_t root : t.roots) move_tree(*t.cgroup, root);
                double rest_rate = 0;  // server µs per second at rest
                if (c) {
                    double s0 = c->used_us(), w0 = cpu_now_us(CLOCK_MONOTONIC);
                    bench::nap(std::chrono::milliseconds(static_cast<int>(idle_s * 1000)));
                    rest_rate = (c->used_us() - s0) / ((cpu_now_us(CLOCK_MONOTONIC) - w0) / 1e6);
                }
                Batch checks = timed(c, runs, [&] { run_check(t); });
                t.agent_us.push_back(checks.agent_us / runs);
                t.wall_ms.push_back(checks.wall_s * 1e3 / runs);
                if (!t.trivial) continue;
                t.server_us.push_back((checks.server_us - rest_rate * checks.wall_s) / runs);
                Batch trivial = timed(c, runs, t.trivial);
                t.trivial_server_us.push_back((trivial.server_us - rest_rate * trivial.wall_s) / runs);
            }
        }
        std::printf("\nPer check run, median [min-max] over %d rounds of %d runs; the server's CPU less its CPU at rest.\n"
                    "trivial request: the baseline, the same server answering one request on a fresh connection.\n"
                    "CPU share: the agent's and the server's CPU per run, once per %d s interval, as a share of one CPU.\n\n",
                    rounds, runs, interval);
        std::printf("%-17s %7s %-22s %-10s %-22s %-14s %-12s %-10s %s\n", "plugin", "series", "agent CPU, us/run",
                    "wall, ms", "server CPU, us/run", "trivial req, us", "check/trivial", "CPU share", "trivial request");
        for (const auto& t : ts) {
            if (!t.skipped.empty()) {
                std::printf("%-17s skipped: %s\n", t.label.c_str(), t.skipped.c_str());
                continue;
            }
            std::vector<double> ratio;
            for (size_t i = 0; i < t.server_us.size(); ++i)
                if (t.trivial_server_us[i] > 0) ratio.push_back(t.server_us[i] / t.trivial_server_us[i]);
            double share = (bench::median_of(t.agent_us) + (t.server_us.empty() ? 0 : bench::median_of(t.server_us))) /
                           (interval * 1e6) * 100;
            char share_text[32];
            std::snprintf(share_text, sizeof share_text, "%.4f%%", share);
            std::printf("%-17s %7zu %-22s %-10s %-22s %-14s %-12s %-10s %s\n", t.label.c_str(), t.series,
                        spread(t.agent_us, "%.0f").c_str(), fmt(t.wall_ms, "%.2f").c_str(),
                        spread(t.server_us, "%.0f").c_str(), fmt(t.trivial_server_us, "%.0f").c_str(),
                        spread(ratio, "%.1fx").c_str(), share_text, t.note.c_str());
        }
        return 0;
    });
}
