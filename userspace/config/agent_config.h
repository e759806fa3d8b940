// tracer.yaml: the agent's own configuration.
// Precedence (lowest first): built-in defaults < the YAML file < TRACER_<KEY>
// environment variables < command-line flags (applied by the CLI).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tracer::config {

// A user-caused configuration problem. what() is one line naming the file and
// line (when known), the key and what to do, e.g.
//   "/etc/tracer/tracer.yaml:7: unknown key 'intervall' in tracer config (did you mean 'interval'?)"
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct SyscallsConfig {
    bool enabled = true;  // load the syscalls area at all
    // Measure per-syscall latency (histograms, sum, max). Off: counts and
    // errors only, cheaper per syscall (one hook instead of two).
    bool latency = true;
    // Syscall names that get a latency histogram on /metrics. ["*"] = all.
    std::vector<std::string> histogram_syscalls = {
        "read", "write", "pread64", "pwrite64", "readv", "writev", "openat",
        "close", "connect", "accept", "accept4", "sendto", "recvfrom", "sendmsg",
        "recvmsg", "fsync", "fdatasync", "futex", "epoll_wait", "epoll_pwait",
        "poll", "ppoll", "select", "pselect6", "nanosleep", "clock_nanosleep",
        "wait4", "execve"};
    // Kernel map sizes: (cgroup, syscall) pairs, and threads in a syscall at once.
    uint32_t map_entries = 16384;
    uint32_t max_threads = 32768;
    // Latency windows: the entry hook is attached for latency_window_ms of
    // every latency_period_ms (window == period: always). Counts and errors
    // stay exact; histograms are scaled to the counts.
    uint32_t latency_window_ms = 200;
    uint32_t latency_period_ms = 2000;
    // Below this many syscalls per second on the host the entry hook stays
    // attached for another period (detaching costs more); 0: windows always close.
    uint32_t latency_quiet_rate = 5000;

    bool operator==(const SyscallsConfig&) const = default;
};

// The scheduling area: run-queue latency, on-CPU time, context switches, migrations.
struct SchedConfig {
    bool enabled = true;
    uint32_t map_entries = 16384;  // cgroups with counters
    uint32_t max_threads = 32768;  // threads alive at once (kernels without task storage)
    bool operator==(const SchedConfig&) const = default;
};

// The process area: exec, fork, exit and OOM-kill counts (and OOM events).
struct ProcConfig {
    bool enabled = true;
    uint32_t map_entries = 16384;      // cgroups with counters
    uint32_t ring_bytes = 256 * 1024;  // event ring buffer
    bool operator==(const ProcConfig&) const = default;
};

// The network area: bytes, packets and TCP per cgroup.
struct NetConfig {
    bool enabled = true;
    uint32_t map_entries = 16384;  // cgroups with totals
    // An established TCP connection's bytes and packets are settled from its
    // own counters each time it has sent this many more segments, and at its
    // close (a power of two up to 1024); 0: counted at every packet instead.
    uint32_t tcp_settle_segments = 16;
    bool operator==(const NetConfig&) const = default;
};

// One entry of `sinks:`: where and how the forwarder delivers every interval's
// batch (parsed in config/sinks_config.cpp; see docs/configuration.md#sinks).
struct SinkConfig {
    std::string type;           // remote_write | datadog | influx
    std::string url;            // http(s)://...
    std::string name;           // the `sink` label and the spool subdirectory; default: type
    std::string api_key_env;    // variable holding the API key / token
    std::string api_key_file;   // file holding it (trailing newline stripped)
    double timeout = 10;        // seconds per request
    double backoff_initial = 0.5, backoff_max = 30;  // seconds between retries (x2, jitter)
    bool tls_verify = true;
    std::string ca_file, cert_file, key_file, proxy;
    uint32_t queue_batches = 16;              // in-memory queue of batches awaiting encoding
    uint32_t max_series_per_request = 10000;  // larger batches are split into several requests
    uint64_t max_request_bytes = 8u << 20;    // uncompressed; requests are split below it
    std::optional<uint64_t> spool_max_bytes;  // overrides the global one

    bool operator==(const SinkConfig&) const = default;
};

// A config error located at a line of the file (1-based) that differs from
// the key's own, e.g. an entry deep inside a list of maps.
class ConfigLineError : public ConfigError {
public:
    ConfigLineError(int line, const std::string& what) : ConfigError(what), line(line) {}
    int line;
};

// The embedded DogStatsD server (docs/configuration.md, `statsd.*`).
struct StatsdConfig {
    bool enabled = true;
    std::string listen = "127.0.0.1:8125";           // UDP HOST:PORT; "" = no UDP
    std::string socket = "/run/tracer/dsd.socket";   // Unix datagram socket; "" = none
    std::string tcp_listen = "";                     // TCP HOST:PORT (newline-framed); "" = off
    uint32_t udp_readers = 2;                        // SO_REUSEPORT sockets, one thread each
    bool origin_from_socket = true;                  // Unix socket: the sender's pid -> its cgroup/container tags
    bool origin_from_field = true;                   // the |c:<container-id> field -> container tags
    std::vector<double> percentiles = {0.5, 0.95, 0.99};  // timers/histograms/distributions
    uint32_t max_contexts = 100000;                  // name + tags combinations; more are refused and counted
    uint32_t receive_buffer_bytes = 8u << 20;        // per socket

    bool operator==(const StatsdConfig&) const = default;
};

struct AgentConfig {
    std::string config_path;              // where it was loaded from ("" = built-in defaults)
    double interval = 10.0;               // seconds between collections, > 0
    std::string metrics_addr = "127.0.0.1:9464";  // HOST:PORT of /metrics; "" = off
    // Which cgroup hierarchy keys per-cgroup data: "auto", "unified" (cgroup v2)
    // or a v1 controller name ("memory", "cpu", "pids", ...). auto: unified on
    // pure v2 hosts, else the first mounted of memory, cpu, cpuacct, pids, blkio.
    std::string cgroup_hierarchy = "auto";
    // Which build of the BPF programs the kernel areas load: "auto" (the 5.11+
    // build where the kernel has what it needs, else the 5.8 baseline),
    // "modern" (the 5.11+ build or nothing) or "baseline" (the 5.8 build).
    std::string probe_build = "auto";
    std::string host_root = "";           // prefix for /proc, /sys ("" = "/")
    uint32_t max_cgroups = 1000;          // cgroups with their own series; more are folded into cgroup="<overflow>"
    uint32_t top_cgroups = 5;             // cgroups on the per-interval log line; 0 = no line
    std::string log_level = "info";       // error | warn | info | debug
    SyscallsConfig syscalls;
    SchedConfig sched;
    ProcConfig proc;
    NetConfig net;
    // Forwarder (docs/configuration.md#sinks).
    std::string hostname = "";            // the host tag; "" = gethostname()
    std::vector<std::string> tags;        // global tags "key:value" added to every series
    std::vector<SinkConfig> sinks;        // none: /metrics only
    std::string spool_dir = "/var/lib/tracer/spool";  // one subdirectory per sink; "" = memory only
    uint64_t spool_max_bytes = 256ull << 20;          // per sink
    // Containers: the Docker Engine API socket ("" = off; under
    // host_root), container labels copied into tags (label -> tag name, in
    // file order), and "name:<regex>" / "image:<regex>" filters.
    std::string docker_socket = "/var/run/docker.sock";
    std::vector<std::pair<std::string, std::string>> container_labels_as_tags;
    std::vector<std::string> container_include;
    std::vector<std::string> container_exclude;
    StatsdConfig statsd;
    // Integration plugins: the conf.d directory of <plugin>.yaml files (collectors/confd.h).
    std::string confd = "/etc/tracer/conf.d";
    // Local API (docs/api.md): read-only JSON on a Unix socket, mode 0600; "" = off.
    std::string api_socket = "/run/tracer/api.sock";
    // The process and TCP events the agent keeps for /v1/events: any of oom,
    // exec, fork, exit, tcp. OOM kills cost nothing extra; each other kind
    // adds a ring-buffer record per event in the kernel.
    std::vector<std::string> api_events = {"oom"};

    bool operator==(const AgentConfig&) const = default;
};

// Loads `path`. If `path` does not exist and `required` is false, returns the
// defaults (config_path = ""). Applies TRACER_<KEY> environment overrides
// (TRACER_INTERVAL, TRACER_METRICS_ADDR, TRACER_SYSCALLS_LATENCY, ...: the key
// path upper-cased, dots as underscores). Throws ConfigError on: YAML syntax
// errors (file:line:col), unknown keys (file:line), wrong types or values
// (file:line, key, expected), unreadable file, bad environment values (variable name).
AgentConfig load_agent_config(const std::string& path, bool required);

// Same, from a YAML string; `origin` names it in errors.
AgentConfig parse_agent_config(const std::string& yaml_text, const std::string& origin);

// Applies the TRACER_<KEY> variables found in `envp` (a NULL-terminated
// "NAME=value" array, like main's third argument; nullptr = the process
// environment) on top of `cfg`, with the same checks as the file. List keys
// take comma-separated values. A variable set to "" counts
// (TRACER_METRICS_ADDR= turns /metrics off); other TRACER_* variables are
// ignored. Throws ConfigError("environment TRACER_INTERVAL: ...").
// load_agent_config calls it; parse_agent_config does not.
void apply_env_overrides(AgentConfig& cfg, const char* const* envp = nullptr);

// Every dotted key path the loader accepts, in table order ("interval", ...,
// "syscalls.max_threads"); the environment variable of a key is "TRACER_" +
// the path upper-cased with dots as underscores.
std::vector<std::string> known_keys();

// Validates cross-field constraints (interval > 0, metrics_addr form, ...).
// Throws ConfigError naming the key.
void validate(const AgentConfig& cfg);

// Splits "HOST:PORT" / "[v6]:PORT". Throws ConfigError naming `key` on bad input.
std::pair<std::string, uint16_t> parse_host_port(const std::string& addr, const std::string& key);

}  // namespace tracer::config
