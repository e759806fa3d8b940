#include "config/agent_config.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>

namespace tracer::config {
// Readable failures for EXPECT_EQ on whole configs.
void PrintTo(const AgentConfig& c, std::ostream* os) {
    *os << "{config_path=" << c.config_path << " interval=" << c.interval << " metrics_addr=" << c.metrics_addr
        << " cgroup_hierarchy=" << c.cgroup_hierarchy << " host_root=" << c.host_root
        << " max_cgroups=" << c.max_cgroups << " top_cgroups=" << c.top_cgroups << " log_level=" << c.log_level
        << " syscalls.latency=" << c.syscalls.latency << " syscalls.histogram_syscalls=[";
    for (const auto& s : c.syscalls.histogram_syscalls) *os << s << ",";
    *os << "] syscalls.map_entries=" << c.syscalls.map_entries << " syscalls.max_threads=" << c.syscalls.max_threads
        << " syscalls.latency_window_ms=" << c.syscalls.latency_window_ms
        << " syscalls.latency_period_ms=" << c.syscalls.latency_period_ms << "}";
}
}  // namespace tracer::config

using namespace tracer::config;
namespace fs = std::filesystem;

namespace {

// The ConfigError message of `fn`, or "" (and a test failure) if it did not throw one.
std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const ConfigError& e) {
        return e.what();
    }
    ADD_FAILURE() << "no ConfigError";
    return "";
}

std::string parse_error(const std::string& yaml) {
    return error_of([&] { parse_agent_config(yaml, "cfg.yaml"); });
}

// A temporary directory, removed with everything in it.
struct TempDir {
    fs::path path;
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "agent_config_test.XXXXXX").string();
        path = mkdtemp(tmpl.data());
    }
    ~TempDir() {
        fs::permissions(path, fs::perms::owner_all, fs::perm_options::add);
        fs::remove_all(path);
    }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name) << text;
        return (path / name).string();
    }
};

// Sets (or with nullptr unsets) an environment variable; restores it on destruction.
class ScopedEnv {
public:
    ScopedEnv(std::string name, const char* value) : name_(std::move(name)) {
        if (const char* old = std::getenv(name_.c_str())) old_ = old;
        value ? setenv(name_.c_str(), value, 1) : unsetenv(name_.c_str());
    }
    ~ScopedEnv() { old_ ? setenv(name_.c_str(), old_->c_str(), 1) : unsetenv(name_.c_str()); }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    std::string name_;
    std::optional<std::string> old_;
};

std::string env_var(std::string key) {
    for (char& c : key) c = c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return "TRACER_" + key;
}

// Unsets every TRACER_<KEY> for the scope, so the caller's environment cannot leak in.
struct CleanEnv {
    std::vector<std::unique_ptr<ScopedEnv>> vars;
    CleanEnv() {
        for (const auto& key : known_keys()) vars.push_back(std::make_unique<ScopedEnv>(env_var(key), nullptr));
    }
};

std::string read_source(const std::string& relative) {
    std::ifstream in(std::string(TRACER_SOURCE_DIR) + "/" + relative);
    EXPECT_TRUE(in) << relative;
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Whether `node` has the dotted `path` ("syscalls.latency": node["syscalls"]["latency"]).
bool has_key(const YAML::Node& node, const std::string& path) {
    size_t dot = path.find('.');
    if (!node.IsMap()) return false;
    const YAML::Node child = node[path.substr(0, dot)];
    return dot == std::string::npos ? child.IsDefined() : has_key(child, path.substr(dot + 1));
}

}  // namespace

TEST(AgentConfig, Defaults) {
    AgentConfig d;
    EXPECT_EQ(d.config_path, "");
    EXPECT_EQ(d.interval, 10.0);
    EXPECT_EQ(d.metrics_addr, "127.0.0.1:9464");
    EXPECT_EQ(d.cgroup_hierarchy, "auto");
    EXPECT_EQ(d.host_root, "");
    EXPECT_EQ(d.max_cgroups, 1000u);
    EXPECT_EQ(d.top_cgroups, 5u);
    EXPECT_EQ(d.log_level, "info");
    EXPECT_TRUE(d.syscalls.latency);
    EXPECT_EQ(d.syscalls.histogram_syscalls.size(), 28u);
    EXPECT_EQ(d.syscalls.map_entries, 16384u);
    EXPECT_EQ(d.syscalls.max_threads, 32768u);
    EXPECT_EQ(d.syscalls.latency_window_ms, 200u);
    EXPECT_EQ(d.syscalls.latency_period_ms, 2000u);
    EXPECT_EQ(d.syscalls.latency_quiet_rate, 5000u);
    EXPECT_NO_THROW(validate(d));

    EXPECT_EQ(parse_agent_config("", "t"), d);
    EXPECT_EQ(parse_agent_config("# nothing\n\n   # but comments\n", "t"), d);
    EXPECT_EQ(parse_agent_config("---\n", "t"), d);
    EXPECT_EQ(parse_agent_config("syscalls:\n  # latency: false\n", "t"), d);  // a section with all keys commented out
}

TEST(AgentConfig, ParsesEveryKey) {
    auto c = parse_agent_config(R"(
interval: 30
metrics_addr: "[::1]:9100"
cgroup_hierarchy: memory
host_root: /host
max_cgroups: 50
top_cgroups: 0
log_level: debug
syscalls:
  latency: false
  histogram_syscalls:
    - read
    - futex
  map_entries: 4096
  max_threads: 64
  latency_window_ms: 50
  latency_period_ms: 5000
  latency_quiet_rate: 0
sched:
  enabled: false
  map_entries: 128
  max_threads: 256
proc:
  enabled: no
  map_entries: 512
  ring_bytes: 8192
net:
  enabled: off
  map_entries: 1024
  tcp_settle_segments: 64
)",
                                "t");
    EXPECT_EQ(c.config_path, "");
    EXPECT_EQ(c.interval, 30.0);
    EXPECT_EQ(c.metrics_addr, "[::1]:9100");
    EXPECT_EQ(c.cgroup_hierarchy, "memory");
    EXPECT_EQ(c.host_root, "/host");
    EXPECT_EQ(c.max_cgroups, 50u);
    EXPECT_EQ(c.top_cgroups, 0u);
    EXPECT_EQ(c.log_level, "debug");
    EXPECT_FALSE(c.syscalls.latency);
    EXPECT_EQ(c.syscalls.histogram_syscalls, (std::vector<std::string>{"read", "futex"}));
    EXPECT_EQ(c.syscalls.map_entries, 4096u);
    EXPECT_EQ(c.syscalls.max_threads, 64u);
    EXPECT_EQ(c.syscalls.latency_window_ms, 50u);
    EXPECT_EQ(c.syscalls.latency_period_ms, 5000u);
    EXPECT_EQ(c.syscalls.latency_quiet_rate, 0u);
    EXPECT_TRUE(c.syscalls.enabled);
    EXPECT_FALSE(c.sched.enabled);
    EXPECT_EQ(c.sched.map_entries, 128u);
    EXPECT_EQ(c.sched.max_threads, 256u);
    EXPECT_FALSE(c.proc.enabled);
    EXPECT_EQ(c.proc.map_entries, 512u);
    EXPECT_EQ(c.proc.ring_bytes, 8192u);
    EXPECT_FALSE(c.net.enabled);
    EXPECT_EQ(c.net.map_entries, 1024u);
    EXPECT_EQ(c.net.tcp_settle_segments, 64u);
    EXPECT_NO_THROW(validate(c));

    // keys not in the file keep their defaults
    auto partial = parse_agent_config("syscalls: {histogram_syscalls: [\"*\"]}\nmetrics_addr: \"\"\n", "t");
    AgentConfig expected;
    expected.syscalls.histogram_syscalls = {"*"};
    expected.metrics_addr = "";
    EXPECT_EQ(partial, expected);
    EXPECT_TRUE(parse_agent_config("syscalls: {histogram_syscalls: []}", "t").syscalls.histogram_syscalls.empty());
    EXPECT_TRUE(parse_agent_config("syscalls: {latency: yes}", "t").syscalls.latency);
}

TEST(AgentConfig, FractionalInterval) {
    EXPECT_EQ(parse_agent_config("interval: 0.5", "t").interval, 0.5);
    EXPECT_EQ(parse_agent_config("interval: 2.25", "t").interval, 2.25);
    EXPECT_EQ(parse_agent_config("interval: 1e-1", "t").interval, 0.1);
    EXPECT_EQ(parse_agent_config("interval: 3600", "t").interval, 3600.0);
}

TEST(AgentConfig, ProbeBuildIsAutoModernOrBaseline) {
    EXPECT_EQ(parse_agent_config("", "t").probe_build, "auto");
    EXPECT_EQ(parse_agent_config("probe_build: baseline", "t").probe_build, "baseline");
    EXPECT_EQ(parse_agent_config("probe_build: modern", "t").probe_build, "modern");
    EXPECT_NE(parse_error("probe_build: newest\n").find("cfg.yaml:1"), std::string::npos);
    EXPECT_NE(parse_error("probe_build: newest\n").find("one of auto, modern, baseline"), std::string::npos);
}

TEST(AgentConfig, UnknownKeySuggestsTheClosestKnownKey) {
    EXPECT_EQ(parse_error("interval: 5\nintervall: 10\n"),
              "cfg.yaml:2: unknown key 'intervall' in tracer config (did you mean 'interval'?)");
    EXPECT_EQ(parse_error("# top\nlog_level: info\nmetric_addr: ':1'\n"),
              "cfg.yaml:3: unknown key 'metric_addr' in tracer config (did you mean 'metrics_addr'?)");
    EXPECT_EQ(parse_error("syscall:\n  latency: true\n"),
              "cfg.yaml:1: unknown key 'syscall' in tracer config (did you mean 'syscalls'?)");
    EXPECT_EQ(parse_error("interval: 5\nsyscalls:\n  latency: true\n  latncy: false\n"),
              "cfg.yaml:4: unknown key 'syscalls.latncy' in tracer config (did you mean 'syscalls.latency'?)");
    EXPECT_EQ(parse_error("syscalls:\n  map_entries: 100\n\n  max_thread: 100\n"),
              "cfg.yaml:4: unknown key 'syscalls.max_thread' in tracer config (did you mean 'syscalls.max_threads'?)");
}

TEST(AgentConfig, UnknownKeyFarFromAnyListsTheKnownKeys) {
    EXPECT_EQ(parse_error("probes: [tcp]\n"),
              "cfg.yaml:1: unknown key 'probes' in tracer config (known keys: interval, metrics_addr, "
              "cgroup_hierarchy, probe_build, host_root, max_cgroups, top_cgroups, log_level, syscalls, sched, proc, net, "
              "hostname, tags, sinks, spool_dir, spool_max_bytes, "
              "docker_socket, container_labels_as_tags, container_include, container_exclude, statsd, "
              "confd, api_socket, api_events)");
    EXPECT_EQ(parse_error("syscalls:\n  buckets: 3\n"),
              "cfg.yaml:2: unknown key 'syscalls.buckets' in tracer config (known keys under 'syscalls': "
              "enabled, latency, histogram_syscalls, map_entries, max_threads, latency_window_ms, latency_period_ms, latency_quiet_rate)");
    // a key only known at another level is unknown here
    EXPECT_EQ(parse_error("latency: false\n"),
              "cfg.yaml:1: unknown key 'latency' in tracer config (known keys: interval, metrics_addr, "
              "cgroup_hierarchy, probe_build, host_root, max_cgroups, top_cgroups, log_level, syscalls, sched, proc, net, "
              "hostname, tags, sinks, spool_dir, spool_max_bytes, "
              "docker_socket, container_labels_as_tags, container_include, container_exclude, statsd, "
              "confd, api_socket, api_events)");
}

TEST(AgentConfig, BadValuesNameTheKeyAndLine) {
    EXPECT_EQ(parse_error("# c\ninterval: abc\n"),
              "cfg.yaml:2: 'interval' must be a positive number of seconds, got 'abc'");
    EXPECT_EQ(parse_error("interval: 0"), "cfg.yaml:1: 'interval' must be a positive number of seconds, got '0'");
    EXPECT_EQ(parse_error("interval: -1"), "cfg.yaml:1: 'interval' must be a positive number of seconds, got '-1'");
    EXPECT_EQ(parse_error("interval: .nan"), "cfg.yaml:1: 'interval' must be a positive number of seconds, got '.nan'");
    EXPECT_EQ(parse_error("interval: 10s"), "cfg.yaml:1: 'interval' must be a positive number of seconds, got '10s'");
    EXPECT_EQ(parse_error("interval: 7200"), "cfg.yaml:1: 'interval' must be at most 3600 seconds, got '7200'");
    EXPECT_EQ(parse_error("interval: [1]"), "cfg.yaml:1: 'interval' must be a positive number of seconds, got a list");
    EXPECT_EQ(parse_error("interval:\nlog_level: info\n"),
              "cfg.yaml:1: 'interval' must be a positive number of seconds, got no value");
    EXPECT_EQ(parse_error("metrics_addr: 9464"), "cfg.yaml:1: 'metrics_addr' must be HOST:PORT, got '9464'");
    EXPECT_EQ(parse_error("metrics_addr: {a: 1}"),
              "cfg.yaml:1: 'metrics_addr' must be HOST:PORT (\"\" = off), got a map");
    EXPECT_EQ(parse_error("cgroup_hierarchy: Memory"),
              "cfg.yaml:1: 'cgroup_hierarchy' must be auto, unified or a cgroup v1 controller name such as memory, "
              "got 'Memory'");
    EXPECT_EQ(parse_error("cgroup_hierarchy: ''"),
              "cfg.yaml:1: 'cgroup_hierarchy' must be auto, unified or a cgroup v1 controller name such as memory, "
              "got ''");
    EXPECT_EQ(parse_error("host_root: host"),
              "cfg.yaml:1: 'host_root' must be an absolute path (\"\" = /), got 'host'");
    EXPECT_EQ(parse_error("max_cgroups: 0"), "cfg.yaml:1: 'max_cgroups' must be an integer >= 1, got '0'");
    EXPECT_EQ(parse_error("max_cgroups: 4294967296"),
              "cfg.yaml:1: 'max_cgroups' must be an integer >= 1, got '4294967296'");
    EXPECT_EQ(parse_error("net:\n  tcp_settle_segments: 12"),
              "cfg.yaml:2: 'net.tcp_settle_segments' must be 0 or a power of two from 1 to 1024, got '12'");
    EXPECT_EQ(parse_error("net:\n  tcp_settle_segments: 2048"),
              "cfg.yaml:2: 'net.tcp_settle_segments' must be 0 or a power of two from 1 to 1024, got '2048'");
    EXPECT_EQ(parse_error("top_cgroups: -1"), "cfg.yaml:1: 'top_cgroups' must be an integer >= 0, got '-1'");
    EXPECT_EQ(parse_error("top_cgroups: 1.5"), "cfg.yaml:1: 'top_cgroups' must be an integer >= 0, got '1.5'");
    EXPECT_EQ(parse_error("log_level: verbose"),
              "cfg.yaml:1: 'log_level' must be one of error, warn, info, debug, got 'verbose'");
    EXPECT_EQ(parse_error("syscalls:\n  latency: maybe\n"),
              "cfg.yaml:2: 'syscalls.latency' must be true or false, got 'maybe'");
    EXPECT_EQ(parse_error("syscalls:\n  map_entries: 10\n"),
              "cfg.yaml:2: 'syscalls.map_entries' must be an integer >= 64, got '10'");
    EXPECT_EQ(parse_error("syscalls:\n  max_threads: lots\n"),
              "cfg.yaml:2: 'syscalls.max_threads' must be an integer >= 64, got 'lots'");
    EXPECT_EQ(parse_error("syscalls:\n  latency_period_ms: 0\n"),
              "cfg.yaml:2: 'syscalls.latency_period_ms' must be an integer >= 1, got '0'");
    EXPECT_EQ(parse_error("syscalls:\n  latency_window_ms: -5\n"),
              "cfg.yaml:2: 'syscalls.latency_window_ms' must be an integer >= 1, got '-5'");
    EXPECT_EQ(parse_error("syscalls:\n  latency_quiet_rate: quiet\n"),
              "cfg.yaml:2: 'syscalls.latency_quiet_rate' must be an integer >= 0, got 'quiet'");
    EXPECT_EQ(parse_error("syscalls:\n  histogram_syscalls: read\n"),
              "cfg.yaml:2: 'syscalls.histogram_syscalls' must be a list of syscall names such as [read, write], "
              "or [\"*\"] for all, got 'read'");
    EXPECT_EQ(parse_error("syscalls:\n  histogram_syscalls:\n    - read\n    - Bad Name\n"),
              "cfg.yaml:3: 'syscalls.histogram_syscalls' must be a list of syscall names such as [read, write], "
              "or [\"*\"] for all, got 'Bad Name' in the list");
    EXPECT_EQ(parse_error("syscalls:\n  histogram_syscalls: [read, [write]]\n"),
              "cfg.yaml:2: 'syscalls.histogram_syscalls' must be a list of syscall names such as [read, write], "
              "or [\"*\"] for all, got a list with an item that is not a string");
    EXPECT_EQ(parse_error("log_level: info\nsyscalls: true\n"),
              "cfg.yaml:2: 'syscalls' must be a map of keys, got 'true'");
}

TEST(AgentConfig, BadShapes) {
    EXPECT_EQ(parse_error("- interval\n- 10\n"),
              "cfg.yaml:1: tracer config must be a map of keys (interval: 10, ...), got a list");
    EXPECT_EQ(parse_error("interval"),
              "cfg.yaml:1: tracer config must be a map of keys (interval: 10, ...), got 'interval'");
    EXPECT_EQ(parse_error("interval: 5\nlog_level: info\ninterval: 6\n"),
              "cfg.yaml:3: duplicate key 'interval' (first on line 1)");
    EXPECT_EQ(parse_error("interval: 5\n---\ninterval: 6\n"),
              "cfg.yaml: more than one YAML document ('---'); tracer reads one");
}

TEST(AgentConfig, InvalidYamlGivesLineAndColumn) {
    EXPECT_EQ(parse_error("interval: 10\nsyscalls: [read, write\n"),
              "cfg.yaml:3:1: invalid YAML: end of sequence flow not found");
    EXPECT_EQ(parse_error("interval: 10\n  log_level: info\n"), "cfg.yaml:2:12: invalid YAML: illegal map value");
    EXPECT_EQ(parse_error("interval: 10\nsyscalls: *nope\n"),
              "cfg.yaml:2:11: invalid YAML: the referenced anchor is not defined");
    EXPECT_EQ(parse_error("interval: 5\nsyscalls:\n\tlatency: true\n"),
              "cfg.yaml:3:9: invalid YAML: illegal map value (indent with spaces, not tabs)");
}

// Found by the config fuzz test: yaml-cpp 0.7's LoadAll loops forever, allocating,
// on a ',' where a key should be. The agent must refuse such a file at once.
TEST(AgentConfig, InputThatMakesYamlCppLoopIsRefused) {
    for (const char* text : {",interval: J[1, 2]@sinks: {a: b}\n", ",\n", "a: 1\n,\n"}) {
        const std::string error = parse_error(text);
        EXPECT_EQ(error.rfind("cfg.yaml", 0), 0u) << text << " -> " << error;
        EXPECT_NE(error.find(": invalid YAML: "), std::string::npos) << text << " -> " << error;
    }
}

TEST(AgentConfig, MissingFile) {
    TempDir dir;
    const std::string missing = (dir.path / "tracer.yaml").string();
    EXPECT_EQ(error_of([&] { load_agent_config(missing, true); }), missing + ": no such config file");
    CleanEnv clean;
    auto c = load_agent_config(missing, false);
    EXPECT_EQ(c, AgentConfig{});
    EXPECT_EQ(c.config_path, "");
}

TEST(AgentConfig, LoadsAFileAndNamesItInErrors) {
    TempDir dir;
    CleanEnv clean;
    auto path = dir.write("tracer.yaml", "interval: 2\n");
    auto c = load_agent_config(path, true);
    EXPECT_EQ(c.config_path, path);
    EXPECT_EQ(c.interval, 2.0);

    auto bad = dir.write("bad.yaml", "\n\nintervall: 2\n");
    EXPECT_EQ(error_of([&] { load_agent_config(bad, false); }),
              bad + ":3: unknown key 'intervall' in tracer config (did you mean 'interval'?)");
}

TEST(AgentConfig, UnreadablePathIsAnErrorEvenWhenNotRequired) {
    TempDir dir;
    const std::string d = dir.path.string();
    EXPECT_EQ(error_of([&] { load_agent_config(d, false); }), d + ": cannot read config file: is a directory");
    const std::string file = dir.write("file", "interval: 1\n");
    EXPECT_EQ(error_of([&] { load_agent_config(file + "/tracer.yaml", false); }),
              file + "/tracer.yaml: cannot read config file: Not a directory");
}

TEST(AgentConfig, PermissionDenied) {
    if (geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
    TempDir dir;
    const std::string path = dir.write("tracer.yaml", "interval: 1\n");
    fs::permissions(path, fs::perms::none);
    EXPECT_EQ(error_of([&] { load_agent_config(path, false); }), path + ": cannot read config file: Permission denied");
}

TEST(AgentConfig, EnvironmentOverridesTheFile) {
    TempDir dir;
    auto path = dir.write("tracer.yaml", "interval: 2\nlog_level: warn\nsyscalls:\n  latency: true\n");
    CleanEnv clean;
    ScopedEnv interval("TRACER_INTERVAL", "0.25");
    ScopedEnv addr("TRACER_METRICS_ADDR", "");
    ScopedEnv hierarchy("TRACER_CGROUP_HIERARCHY", "unified");
    ScopedEnv host_root("TRACER_HOST_ROOT", "/host");
    ScopedEnv max_cgroups("TRACER_MAX_CGROUPS", "7");
    ScopedEnv top("TRACER_TOP_CGROUPS", "0");
    ScopedEnv latency("TRACER_SYSCALLS_LATENCY", "false");
    ScopedEnv hist("TRACER_SYSCALLS_HISTOGRAM_SYSCALLS", "read, write,futex");
    ScopedEnv entries("TRACER_SYSCALLS_MAP_ENTRIES", "128");
    ScopedEnv threads("TRACER_SYSCALLS_MAX_THREADS", "256");
    ScopedEnv unrelated("TRACER_NOT_A_KEY", "whatever");

    auto c = load_agent_config(path, true);
    EXPECT_EQ(c.config_path, path);
    EXPECT_EQ(c.interval, 0.25);
    EXPECT_EQ(c.metrics_addr, "");  // set to "" = off
    EXPECT_EQ(c.cgroup_hierarchy, "unified");
    EXPECT_EQ(c.host_root, "/host");
    EXPECT_EQ(c.max_cgroups, 7u);
    EXPECT_EQ(c.top_cgroups, 0u);
    EXPECT_EQ(c.log_level, "warn");  // from the file: no variable
    EXPECT_FALSE(c.syscalls.latency);
    EXPECT_EQ(c.syscalls.histogram_syscalls, (std::vector<std::string>{"read", "write", "futex"}));
    EXPECT_EQ(c.syscalls.map_entries, 128u);
    EXPECT_EQ(c.syscalls.max_threads, 256u);

    // also without a file
    EXPECT_EQ(load_agent_config((dir.path / "missing.yaml").string(), false).interval, 0.25);
}

TEST(AgentConfig, BadEnvironmentValueNamesTheVariable) {
    CleanEnv clean;
    {
        ScopedEnv v("TRACER_INTERVAL", "x");
        EXPECT_EQ(error_of([] { load_agent_config("/nonexistent/tracer.yaml", false); }),
                  "environment TRACER_INTERVAL: 'interval' must be a positive number of seconds, got 'x'");
    }
    ScopedEnv v("TRACER_SYSCALLS_LATENCY", "sometimes");
    EXPECT_EQ(error_of([] { load_agent_config("/nonexistent/tracer.yaml", false); }),
              "environment TRACER_SYSCALLS_LATENCY: 'syscalls.latency' must be true or false, got 'sometimes'");
}

TEST(AgentConfig, ExplicitEnvironmentArray) {
    const char* envp[] = {"PATH=/bin",
                          "TRACER_INTERVAL=3",
                          "TRACER_INTERVAL_X=9",
                          "TRACER_LOG_LEVEL=error",
                          "TRACER_SYSCALLS_HISTOGRAM_SYSCALLS=*",
                          "TRACER_SYSCALLS_LATENCY=0",
                          nullptr};
    AgentConfig c;
    apply_env_overrides(c, envp);
    EXPECT_EQ(c.interval, 3.0);
    EXPECT_EQ(c.log_level, "error");
    EXPECT_EQ(c.syscalls.histogram_syscalls, (std::vector<std::string>{"*"}));
    EXPECT_FALSE(c.syscalls.latency);

    const char* empty_list[] = {"TRACER_SYSCALLS_HISTOGRAM_SYSCALLS=", nullptr};
    apply_env_overrides(c, empty_list);
    EXPECT_TRUE(c.syscalls.histogram_syscalls.empty());

    const char* bad[] = {"TRACER_MAX_CGROUPS=0", nullptr};
    EXPECT_EQ(error_of([&] { apply_env_overrides(c, bad); }),
              "environment TRACER_MAX_CGROUPS: 'max_cgroups' must be an integer >= 1, got '0'");
    const char* bad_addr[] = {"TRACER_METRICS_ADDR=localhost", nullptr};
    EXPECT_EQ(error_of([&] { apply_env_overrides(c, bad_addr); }),
              "environment TRACER_METRICS_ADDR: 'metrics_addr' must be HOST:PORT, got 'localhost'");
}

TEST(AgentConfig, ParseHostPort) {
    using HP = std::pair<std::string, uint16_t>;
    EXPECT_EQ(parse_host_port("127.0.0.1:9464", "k"), HP("127.0.0.1", 9464));
    EXPECT_EQ(parse_host_port("localhost:9464", "k"), HP("localhost", 9464));
    EXPECT_EQ(parse_host_port("my-host.example.com:80", "k"), HP("my-host.example.com", 80));
    EXPECT_EQ(parse_host_port("0.0.0.0:1", "k"), HP("0.0.0.0", 1));
    EXPECT_EQ(parse_host_port("[::1]:9464", "k"), HP("::1", 9464));
    EXPECT_EQ(parse_host_port("[::]:65535", "k"), HP("::", 65535));
    EXPECT_EQ(parse_host_port("[fe80::1%eth0]:9", "k"), HP("fe80::1%eth0", 9));
    EXPECT_EQ(parse_host_port(":9464", "k"), HP("0.0.0.0", 9464));
    EXPECT_EQ(parse_host_port("127.0.0.1:0", "k"), HP("127.0.0.1", 0));  // ephemeral

    for (const char* bad :
         {"", "9464", "localhost", "localhost:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:80x",
          "::1:9464", "[::1]", "[::1]9464", "[]:80", "[127.0.0.1]:80", "a b:80", "http://x:80", "[::1:80"}) {
        EXPECT_EQ(error_of([&] { parse_host_port(bad, "metrics_addr"); }),
                  std::string("'metrics_addr' must be HOST:PORT, got '") + bad + "'")
            << bad;
    }
}

TEST(AgentConfig, ValidateChecksTheMergedConfig) {
    auto error = [](const std::function<void(AgentConfig&)>& edit) {
        AgentConfig c;
        edit(c);
        return error_of([&] { validate(c); });
    };
    EXPECT_EQ(error([](AgentConfig& c) { c.interval = 0; }),
              "'interval' must be a positive number of seconds, got '0'");
    EXPECT_EQ(error([](AgentConfig& c) { c.interval = -2.5; }),
              "'interval' must be a positive number of seconds, got '-2.5'");
    EXPECT_EQ(error([](AgentConfig& c) { c.interval = 3601; }), "'interval' must be at most 3600 seconds, got '3601'");
    EXPECT_EQ(error([](AgentConfig& c) { c.metrics_addr = "nope"; }), "'metrics_addr' must be HOST:PORT, got 'nope'");
    EXPECT_EQ(error([](AgentConfig& c) { c.log_level = "trace"; }),
              "'log_level' must be one of error, warn, info, debug, got 'trace'");
    EXPECT_EQ(error([](AgentConfig& c) { c.cgroup_hierarchy = ""; }),
              "'cgroup_hierarchy' must be auto, unified or a cgroup v1 controller name such as memory, got ''");
    EXPECT_EQ(error([](AgentConfig& c) { c.cgroup_hierarchy = "../x"; }),
              "'cgroup_hierarchy' must be auto, unified or a cgroup v1 controller name such as memory, got '../x'");
    EXPECT_EQ(error([](AgentConfig& c) { c.syscalls.latency_window_ms = 3000; }),
              "'syscalls.latency_window_ms' must be at most syscalls.latency_period_ms (2000), got '3000'");
    EXPECT_EQ(error([](AgentConfig& c) { c.syscalls.latency_period_ms = 0; }),
              "'syscalls.latency_period_ms' must be an integer >= 1, got '0'");

    AgentConfig ok;
    ok.interval = 0.001;
    ok.metrics_addr = "";
    ok.cgroup_hierarchy = "cpuacct";
    ok.log_level = "error";
    ok.syscalls.latency_window_ms = ok.syscalls.latency_period_ms = 100;  // always attached
    EXPECT_NO_THROW(validate(ok));
}

// conf.d/tracer.yaml documents every key with its default value: it must parse
// to exactly the built-in defaults and name every key and its variable.
TEST(AgentConfig, ShippedConfigIsTheDefaults) {
    const std::string path = TRACER_SOURCE_DIR "/conf.d/tracer.yaml";
    const std::string text = read_source("conf.d/tracer.yaml");
    EXPECT_EQ(parse_agent_config(text, path), AgentConfig{});

    const YAML::Node root = YAML::Load(text);
    for (const auto& key : known_keys()) {
        EXPECT_TRUE(has_key(root, key)) << key << " is missing from conf.d/tracer.yaml";
        EXPECT_NE(text.find(env_var(key)), std::string::npos)
            << env_var(key) << " is not documented in conf.d/tracer.yaml";
    }
}

TEST(AgentConfig, ReferenceDocumentsEveryKey) {
    const std::string doc = read_source("docs/configuration.md");
    for (const auto& key : known_keys()) {
        EXPECT_NE(doc.find("`" + key + "`"), std::string::npos) << key << " is not in docs/configuration.md";
        EXPECT_NE(doc.find(env_var(key)), std::string::npos) << env_var(key) << " is not in docs/configuration.md";
    }
}

namespace {

TEST(AgentConfig, ContainerKeys) {
    auto c = parse_agent_config(
        "docker_socket: /run/podman/podman.sock\n"
        "container_labels_as_tags:\n  team: team\n  com.example.tier: tier\n"
        "container_exclude: [\"image:pause\", \"name:^tmp-\"]\n"
        "container_include: [\"name:^tmp-keep$\"]\n",
        "cfg.yaml");
    EXPECT_EQ(c.docker_socket, "/run/podman/podman.sock");
    std::vector<std::pair<std::string, std::string>> tags{{"team", "team"}, {"com.example.tier", "tier"}};
    EXPECT_EQ(c.container_labels_as_tags, tags);  // file order
    EXPECT_EQ(c.container_exclude, (std::vector<std::string>{"image:pause", "name:^tmp-"}));
    EXPECT_EQ(c.container_include, (std::vector<std::string>{"name:^tmp-keep$"}));

    const char* env[] = {"TRACER_CONTAINER_LABELS_AS_TAGS=team=team,app=service", "TRACER_DOCKER_SOCKET=", nullptr};
    apply_env_overrides(c, env);
    std::vector<std::pair<std::string, std::string>> from_env{{"team", "team"}, {"app", "service"}};
    EXPECT_EQ(c.container_labels_as_tags, from_env);
    EXPECT_EQ(c.docker_socket, "");
}

TEST(AgentConfig, BadContainerKeysNameTheKeyAndLine) {
    EXPECT_EQ(parse_error("container_labels_as_tags: [team]\n"),
              "cfg.yaml:1: 'container_labels_as_tags' must be a map of container label -> tag name, e.g. "
              "{team: team} (environment: \"team=team,tier=tier\"), got a list");
    EXPECT_EQ(parse_error("container_labels_as_tags:\n  team: 9lives\n"),
              "cfg.yaml:2: 'container_labels_as_tags' must be tag names made of letters, digits and '_' (not "
              "starting with a digit), got '9lives'");
    EXPECT_EQ(parse_error("container_exclude: [\"pause\"]\n"),
              "cfg.yaml:1: 'container_exclude' must be a list of \"name:<regex>\" or \"image:<regex>\", got "
              "'pause' in the list");
    auto bad_regex = parse_error("\ncontainer_include: [\"name:(\"]\n");
    EXPECT_EQ(bad_regex.rfind("cfg.yaml:2: 'container_include' must be valid regular expressions (RE2 syntax)", 0), 0u)
        << bad_regex;
    EXPECT_EQ(parse_error("docker_socket: docker.sock\n"),
              "cfg.yaml:1: 'docker_socket' must be an absolute path (\"\" = off), got 'docker.sock'");
}

}  // namespace

TEST(AgentConfig, StatsdKeys) {
    auto cfg = parse_agent_config(
        "statsd:\n  listen: \":9125\"\n  socket: \"\"\n  tcp_listen: \"127.0.0.1:9126\"\n"
        "  percentiles: [0.99, 0.5, 0.5]\n  max_contexts: 10\n  origin_from_field: false\n",
        "cfg.yaml");
    EXPECT_EQ(cfg.statsd.listen, ":9125");
    EXPECT_EQ(cfg.statsd.socket, "");
    EXPECT_EQ(cfg.statsd.tcp_listen, "127.0.0.1:9126");
    EXPECT_EQ(cfg.statsd.percentiles, (std::vector<double>{0.5, 0.99}));
    EXPECT_EQ(cfg.statsd.max_contexts, 10u);
    EXPECT_FALSE(cfg.statsd.origin_from_field);
    EXPECT_EQ(parse_error("statsd:\n  percentiles: [0.5, 1]\n"),
              "cfg.yaml:2: 'statsd.percentiles' must be a list of quantiles between 0 and 1 such as "
              "[0.5, 0.95, 0.99], got '1' in the list");
    EXPECT_EQ(parse_error("statsd:\n  socket: dsd.sock\n"),
              "cfg.yaml:2: 'statsd.socket' must be an absolute path of at most 107 bytes (\"\" = off), got 'dsd.sock'");
    EXPECT_EQ(parse_error("statsd:\n  listen: 8125\n"), "cfg.yaml:2: 'statsd.listen' must be HOST:PORT, got '8125'");
}

TEST(AgentConfig, LocalApiKeys) {
    auto c = parse_agent_config("api_socket: /tmp/x/api.sock\napi_events: [oom, exec, tcp]\n", "cfg.yaml");
    EXPECT_EQ(c.api_socket, "/tmp/x/api.sock");
    EXPECT_EQ(c.api_events, (std::vector<std::string>{"oom", "exec", "tcp"}));
    EXPECT_EQ(parse_agent_config("api_socket: \"\"\n", "cfg.yaml").api_socket, "");
    EXPECT_THROW(parse_agent_config("api_socket: relative.sock\n", "cfg.yaml"), ConfigError);
    try {
        parse_agent_config("api_events: [oom, syscalls]\n", "cfg.yaml");
        FAIL() << "accepted an unknown event kind";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("'syscalls' in the list"), std::string::npos) << e.what();
    }
}
