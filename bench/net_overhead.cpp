// bench_net_overhead: what tracer adds to loopback TCP, compared with nothing
// attached, in one run: bulk throughput (a fixed transfer per sample),
// request/response rate on one connection, and connection setup + teardown
// rate. Rows: untraced, empty cgroup_skb programs where tracer attaches its
// own (the floor), the same doing one socket-storage lookup per packet (what
// tracer's programs do first), tracer's network probe alone (in this process, as
// `tracer run` loads it), `tracer run` on the default config, untraced again.
//
// Needs root (BPF). See bench/README.md and docs/performance.md.
#include "bench_cli.h"
#include "bench_support.h"
#include "empty_net_hooks.skel.h"
#include "net_storage_hooks.skel.h"

#include "containers/cgroup_layout.h"
#include "log.h"
#include "probes/bpf_support.h"
#include "probes/net_probe.h"

#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#ifndef TRACER_BENCH_DEFAULT_TRACER
#define TRACER_BENCH_DEFAULT_TRACER "tracer"
#endif

namespace {

using namespace bench;

constexpr size_t kChunk = 64 * 1024;  // write()/read() size of the bulk transfer
constexpr size_t kMessage = 64;        // request and response size

// ---------------------------------------------------------------- servers

// One forked process per loopback server, each serving one connection at a
// time until EOF, then accepting the next: dies with us, killed on destruction.
class Server {
public:
    enum class Kind { Sink, Echo, Closer };

    explicit Server(Kind kind) {
        Fd l(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (!l.valid() || ::bind(l.get(), reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(l.get(), 128) != 0 ||
            ::getsockname(l.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw FatalError("loopback listener: " + errno_text(errno));
        port_ = ntohs(a.sin_port);
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0) throw FatalError("fork: " + errno_text(errno));
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            ::setpgid(0, 0);  // Ctrl+C goes to the bench, which kills us
            ::signal(SIGINT, SIG_IGN);
            serve(l.get(), kind);
        }
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    ~Server() {
        ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
    uint16_t port() const { return port_; }

private:
    [[noreturn]] static void serve(int listener, Kind kind) {
        static char buf[kChunk];
        for (;;) {
            int s = ::accept(listener, nullptr, nullptr);
            if (s < 0) continue;
            if (kind == Kind::Closer) {
                ::close(s);
                continue;
            }
            if (kind == Kind::Sink) {
                // [u64 n][n bytes] -> 1 byte back, until EOF
                for (;;) {
                    uint64_t n = 0;
                    if (!read_full(s, &n, sizeof n)) break;
                    while (n > 0) {
                        ssize_t r = ::read(s, buf, std::min<uint64_t>(n, sizeof buf));
                        if (r <= 0) break;
                        n -= r;
                    }
                    if (n > 0 || ::write(s, "k", 1) != 1) break;
                }
            } else {
                while (read_full(s, buf, kMessage) && ::write(s, buf, kMessage) == ssize_t(kMessage)) {
                }
            }
            ::close(s);
        }
    }

public:
    static bool read_full(int fd, void* p, size_t n) {
        auto* c = static_cast<char*>(p);
        while (n > 0) {
            ssize_t r = ::read(fd, c, n);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return false;
            c += r;
            n -= r;
        }
        return true;
    }

private:
    uint16_t port_ = 0;
    pid_t pid_ = -1;
};

Fd connect_loopback(uint16_t port) {
    Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!s.valid() || ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        throw FatalError("connect to 127.0.0.1:" + std::to_string(port) + ": " + errno_text(errno));
    return s;
}

void write_full(int fd, const void* p, size_t n) {
    auto* c = static_cast<const char*>(p);
    while (n > 0) {
        ssize_t w = ::write(fd, c, n);
        if (w < 0 && errno == EINTR) {
            check_interrupted();
            continue;
        }
        if (w <= 0) throw FatalError("write to a loopback server: " + errno_text(errno));
        c += w;
        n -= w;
    }
}

// Every sample opens its own connection(s): a connection opened before a row
// attached would not be attributed (no owner recorded) and cost less.
// value = wall ns per unit, other = this thread's on-CPU ns per unit.
template <class Body>
Sample timed(long n, Body body) {
    timespec w0{}, w1{}, c0{}, c1{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    ::clock_gettime(CLOCK_MONOTONIC, &w0);
    body();
    ::clock_gettime(CLOCK_MONOTONIC, &w1);
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    return {ns_between(w0, w1) / double(n), ns_between(c0, c1) / double(n)};
}

// n MiB on one connection, acknowledged by the sink: ns per MiB.
Sample bulk(uint16_t port, long mib) {
    static char buf[kChunk];
    return timed(mib, [&] {
        Fd s = connect_loopback(port);
        uint64_t n = uint64_t(mib) << 20;
        write_full(s.get(), &n, sizeof n);
        for (uint64_t left = n; left > 0; left -= kChunk) write_full(s.get(), buf, kChunk);
        char k;
        if (!Server::read_full(s.get(), &k, 1)) throw FatalError("the sink did not acknowledge the transfer");
    });
}

// n request/response round trips of 64 bytes on one connection: ns per round trip.
Sample request_response(uint16_t port, long n) {
    return timed(n, [&] {
        Fd s = connect_loopback(port);
        int one = 1;
        ::setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char msg[kMessage] = {};
        for (long i = 0; i < n; ++i) {
            write_full(s.get(), msg, sizeof msg);
            if (!Server::read_full(s.get(), msg, sizeof msg)) throw FatalError("the echo server closed");
        }
    });
}

// n connections opened, closed by the server, closed here: ns per connection.
Sample connections(uint16_t port, long n) {
    return timed(n, [&] {
        for (long i = 0; i < n; ++i) {
            Fd s = connect_loopback(port);
            char c;
            while (::read(s.get(), &c, 1) < 0 && errno == EINTR) {
            }
        }
    });
}

// ---------------------------------------------------------------- options, rows

struct Options {
    std::string tracer = TRACER_BENCH_DEFAULT_TRACER;
    long mib = 256;     // per bulk sample
    long rr = 20000;    // round trips per request/response sample
    long conns = 2000;  // connections per setup/teardown sample
    int samples = 11;
    int rounds = 3;     // untraced, probe only, tracer: this many times, interleaved
    int attach_timeout_s = 20;
    bool prog_stats = true;
    bool verbose = false;
};

constexpr const char* kProbeOnly = "tracer net probe only";
constexpr const char* kTracer = "tracer (default config)";
constexpr const char* kFloor = "empty cgroup_skb (floor)";
constexpr const char* kStorage = "socket storage lookup";

// Round r (1-based) of a row: the first round has the plain names (the tables'
// "x untraced" column compares with it), later ones " (round r)".
std::string round_name(const std::string& name, int r) {
    return r == 1 ? name : name + " (round " + std::to_string(r) + ")";
}

// Attaches each cgroup_skb program of `progs` to the cgroup2 root, storing its
// link where the pair points (the skeleton owning the links frees them).
// `what` names the object in errors.
void attach_to_cgroup2_root(const std::string& cgroup2_root, const char* what,
                            std::initializer_list<std::pair<bpf_program*, bpf_link**>> progs) {
    int cg = ::open(cgroup2_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0) throw RowError(std::string(what) + ": cannot open " + cgroup2_root + ": " + errno_text(errno));
    int err = 0;
    for (auto [prog, link] : progs) {
        *link = bpf_program__attach_cgroup(prog, cg);
        if (!*link) {
            err = errno;
            break;
        }
    }
    ::close(cg);
    if (err) throw RowError(std::string(what) + ": cannot attach to " + cgroup2_root + ": " + errno_text(err));
}

// Empty cgroup_skb programs attached to the cgroup2 root (the floor), detached
// and freed together.
class EmptyNetHooks {
public:
    explicit EmptyNetHooks(const std::string& cgroup2_root) : skel_(empty_net_hooks_bpf::open_and_load()) {
        if (!skel_) throw RowError("empty_net_hooks: open_and_load failed: " + errno_text(errno) + " (root?)");
        attach_to_cgroup2_root(cgroup2_root, "empty_net_hooks",
                               {{skel_->progs.floor_ingress, &skel_->links.floor_ingress},
                                {skel_->progs.floor_egress, &skel_->links.floor_egress}});
    }

private:
    SkeletonPtr<empty_net_hooks_bpf> skel_;
};

// The same hooks doing one socket-storage lookup per packet, with the
// entries made as tracer makes its own (net_storage_hooks.bpf.c).
class StorageNetHooks {
public:
    explicit StorageNetHooks(const std::string& cgroup2_root) : skel_(net_storage_hooks_bpf::open_and_load()) {
        if (!skel_) throw RowError("net_storage_hooks: open_and_load failed: " + errno_text(errno) + " (root?)");
        skel_->links.storage_state = bpf_program__attach(skel_->progs.storage_state);
        if (!skel_->links.storage_state)
            throw RowError("net_storage_hooks: cannot attach to inet_sock_set_state: " + errno_text(errno));
        attach_to_cgroup2_root(cgroup2_root, "net_storage_hooks",
                               {{skel_->progs.storage_ingress, &skel_->links.storage_ingress},
                                {skel_->progs.storage_egress, &skel_->links.storage_egress}});
    }

private:
    SkeletonPtr<net_storage_hooks_bpf> skel_;
};

class Bench {
public:
    explicit Bench(const Options& o) : agents_("bench_net_overhead", o.tracer, o.attach_timeout_s, std::nullopt) {}

    Setup untraced() { return {nullptr, "", "", false}; }

    // The floor: empty cgroup_skb programs on the cgroup2 root.
    Setup empty_hooks() { return on_cgroup2_root<EmptyNetHooks>(); }
    // The floor plus one socket-storage lookup per packet.
    Setup storage_lookup() { return on_cgroup2_root<StorageNetHooks>(); }

    // tracer's network probe alone, loaded here as `tracer run` loads it.
    Setup net_probe_only() {
        namespace tc = tracer::containers;
        namespace tp = tracer::probes;
        try {
            auto layout = tc::read_cgroup_layout("/proc/self/mountinfo");
            tp::NetProbeOptions o;
            o.keying = tc::choose_cgroup_keying(layout, "auto", "/proc/cgroups");
            o.cgroup2_root = layout.unified() ? layout.unified()->mount_point : "";
            auto probe = std::make_shared<tp::NetProbe>(o);
            quiet_libbpf();  // the probe installed tracer's libbpf logging
            return {probe, "", "keyed on the " + o.keying.describe() + "; " + probe->variant_description(), true};
        } catch (const tc::CgroupLayoutError& e) {
            throw RowError(std::string("  cgroup layout: ") + e.what());
        } catch (const tp::ProbeError& e) {
            throw RowError(std::string("  net probe: ") + e.what());
        }
    }

    // `tracer run` on the built-in defaults; only /metrics moves to a free port.
    Setup tracer() {
        TracerRun r;
        r.tag = "tracer_default";
        return agents_.tracer(r);
    }

private:
    template <class Hooks>
    Setup on_cgroup2_root() {
        namespace tc = tracer::containers;
        try {
            auto layout = tc::read_cgroup_layout("/proc/self/mountinfo");
            if (!layout.unified()) return {nullptr, "  no cgroup2 hierarchy is mounted", "", true};
            return {std::make_shared<Hooks>(layout.unified()->mount_point), "", "", true};
        } catch (const tc::CgroupLayoutError& e) {
            throw RowError(std::string("  cgroup layout: ") + e.what());
        }
    }

    Agents agents_;
};

// Rates of `name` relative to untraced, one per round (untraced time / its
// time, both of the same round: adjacent in time, so slow drift cancels).
// `cpu`: of the client thread's on-CPU times instead (Sample::other).
std::vector<double> speed_ratios(const std::vector<Row>& rows, const std::string& name, size_t i, int rounds,
                                 bool cpu) {
    std::vector<double> out;
    for (int r = 1; r <= rounds; ++r) {
        const Row *base = find(rows, round_name("untraced", r)), *row = find(rows, round_name(name, r));
        if (!base || !row || base->results.size() <= i || row->results.size() <= i) continue;
        const Measurement &b = base->results[i].m, &m = row->results[i].m;
        if (cpu ? m.other_median <= 0 : m.median <= 0) continue;
        out.push_back(cpu ? b.other_median / m.other_median : b.median / m.median);
    }
    return out;
}

void print_report(const std::vector<Row>& rows, const std::vector<Workload>& workloads, const Options& o) {
    const char* units[] = {"ns/MiB", "ns/rt", "ns/conn"};
    const char* rates[] = {"MiB/s", "round trips/s", "connections/s"};
    for (size_t i = 0; i < workloads.size(); ++i) {
        std::printf("\n%s\n", workloads[i].label.c_str());
        TableLabels labels;
        labels.value = units[i];
        labels.other = "cpu";
        if (i + 1 == workloads.size())
            labels.footnote =
                "(median wall-clock ns per unit; cpu: the client thread's on-CPU ns per unit — the server's\n"
                " side and softirq work charged to other tasks are not in it)";
        print_table(rows, i, labels);
        print_drift(rows, i, workloads[i].label);
    }
    std::printf("\nratios against untraced (same run): rate = untraced time / configuration time, per round\n"
                "(each round measures untraced, then the configurations, back to back); median over the\n"
                "rounds measured (of %d), then the rounds' lowest .. highest\n",
                o.rounds);
    std::printf("  %-26s", "");
    for (size_t i = 0; i < workloads.size(); ++i) std::printf(" %22s", rates[i]);
    std::printf("\n");
    const Row* base = nullptr;  // the first untraced row that was measured
    for (int r = 1; r <= o.rounds && !base; ++r)
        if (const Row* row = find(rows, round_name("untraced", r)); row && row->state == RowState::Measured) base = row;
    if (base) {
        std::printf("  %-26s", ("absolute: " + base->name).c_str());
        for (size_t i = 0; i < workloads.size() && i < base->results.size(); ++i)
            std::printf(" %22.0f", 1e9 / base->results[i].m.median);
        std::printf("\n");
    }
    for (bool cpu : {false, true}) {
        if (cpu)
            std::printf("the same from the client thread's on-CPU time (less sensitive to other load on the box;\n"
                        "misses the server's side):\n");
        for (const char* name : {kFloor, kStorage, kProbeOnly, kTracer}) {
            std::printf("  %-26s", name);
            std::string ranges;
            for (size_t i = 0; i < workloads.size(); ++i) {
                auto r = speed_ratios(rows, name, i, o.rounds, cpu);
                if (r.empty()) {
                    std::printf(" %22s", "n/a");
                    ranges += std::string(23, ' ');
                    continue;
                }
                std::printf(" %21.3fx", median_of(r));
                char range[32];
                std::snprintf(range, sizeof range, "%.2f .. %.2f", *std::min_element(r.begin(), r.end()),
                              *std::max_element(r.begin(), r.end()));
                char cell[48];
                std::snprintf(cell, sizeof cell, " %22s", range);
                ranges += cell;
            }
            std::printf("\n  %-26s%s\n", "", ranges.c_str());
        }
    }
    std::printf("(bulk: %ld MiB per sample in %zu KiB writes; request/response: %ld round trips of %zu bytes each way\n"
                " per sample, TCP_NODELAY; connections: %ld connect/accept/close per sample)\n",
                o.mib, kChunk / 1024, o.rr, kMessage, o.conns);
}

void print_prog_runs(const std::vector<Row>& rows, const std::vector<Workload>& workloads) {
    const char* units[] = {"MiB", "round trip", "connection"};
    bool any = false;
    for (const auto& r : rows)
        for (const auto& res : r.results) any = any || !res.prog_runs.empty();
    if (!any) return;
    std::printf("\nBPF programs' run time (kernel.bpf_stats, separate pass after the timed samples; ns/run includes\n"
                "bpf_stats' own clock reads; runs/unit counts every run on the box during the pass)\n");
    std::printf("%-26s %-24s %-16s %8s %10s %10s\n", "workload", "configuration", "program", "ns/run", "runs/unit",
                "ns/unit");
    for (size_t i = 0; i < workloads.size(); ++i)
        for (const auto& r : rows) {
            if (r.results.size() <= i) continue;
            const Result& res = r.results[i];
            double total = 0;
            for (const auto& p : res.prog_runs) {
                if (p.runs == 0) continue;
                const double per_unit = double(p.runs) / double(res.stats_units);
                total += p.ns_per_run * per_unit;
                std::printf("%-26s %-24s %-16s %8.1f %10.2f %10.1f\n", workloads[i].label.c_str(), r.name.c_str(),
                            p.name.c_str(), p.ns_per_run, per_unit, p.ns_per_run * per_unit);
            }
            if (total > 0)
                std::printf("%-26s %-24s %-16s %8s %10s %10.1f   (per %s)\n", "", "", "(all programs)", "", "", total,
                            units[i]);
        }
}

int run(const Options& opt) {
    begin_bpf_bench("bench_net_overhead");
    tracer::log::set_level(tracer::log::Level::Warn);  // the in-process net probe's start-up lines

    utsname u{};
    ::uname(&u);
    std::printf("bench_net_overhead: loopback TCP with and without tracer\n");
    std::printf("machine: %ld CPUs online (%s), kernel %s %s\n", ::sysconf(_SC_NPROCESSORS_ONLN), cpu_model().c_str(),
                u.release, u.machine);
    std::printf("tracer:  %s\n", opt.tracer.c_str());
    std::printf("method:  one forked server process per workload on 127.0.0.1; the bench is the client. Each\n"
                "         sample opens its own connection(s), so every row's programs see them from the start.\n"
                "         Per configuration and workload: a warm-up of a quarter sample, then %d samples, timed\n"
                "         with CLOCK_MONOTONIC; the median is reported. Samples during which other tracing or\n"
                "         cgroup_skb BPF programs came or went are discarded and retaken. Rows run in %d rounds\n"
                "         (untraced, empty cgroup_skb programs, one socket-storage lookup per packet, net probe\n"
                "         only, tracer), so every ratio compares neighbours in time.\n\n",
                opt.samples, opt.rounds);

    std::vector<Row> rows;
    std::vector<Workload> workloads;
    bool fatal = false;
    try {
        Server sink(Server::Kind::Sink), echo(Server::Kind::Echo), closer(Server::Kind::Closer);
        const uint16_t sink_port = sink.port(), echo_port = echo.port(), closer_port = closer.port();
        workloads.push_back({"bulk transfer", [=](long n) { return bulk(sink_port, n); }, opt.mib,
                             std::max(opt.mib / 4, 1L), opt.mib, {}});
        workloads.push_back({"request/response", [=](long n) { return request_response(echo_port, n); }, opt.rr,
                             std::max(opt.rr / 4, 1L), opt.rr, {}});
        workloads.push_back({"connection setup+teardown", [=](long n) { return connections(closer_port, n); },
                             opt.conns, std::max(opt.conns / 4, 1L), opt.conns, {}});

        auto pre = programs_before_run();
        if (!pre.empty())
            std::printf("WARNING: %zu tracing/cgroup_skb BPF programs were already loaded before the run (%s);\n"
                        "         every row (\"untraced\" too) includes their cost.\n\n",
                        pre.size(), names_of(pre).c_str());
        Bench bench(opt);
        RunnerOptions ro;
        ro.samples = opt.samples;
        ro.verbose = opt.verbose;
        ro.prog_stats = opt.prog_stats;
        ro.unit = "ns/unit";
        ro.sample_legend = "wall/cpu ns per unit";
        Runner runner(ro, pre);
        auto row = [&](const std::string& name, const std::function<Setup()>& setup) {
            rows.push_back(runner.run(name, setup, workloads));
        };
        for (int r = 1; r <= opt.rounds; ++r) {
            row(round_name("untraced", r), [&] { return bench.untraced(); });
            row(round_name(kFloor, r), [&] { return bench.empty_hooks(); });
            row(round_name(kStorage, r), [&] { return bench.storage_lookup(); });
            row(round_name(kProbeOnly, r), [&] { return bench.net_probe_only(); });
            row(round_name(kTracer, r), [&] { return bench.tracer(); });
        }
        row("untraced (again, drift)", [&] { return bench.untraced(); });
    } catch (const Interrupted&) {
        std::fprintf(stderr, "\nbench_net_overhead: interrupted; everything stopped and detached\n");
        return 130;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "\nbench_net_overhead: %s\n", e.what());
        fatal = true;
    }
    print_report(rows, workloads, opt);
    print_prog_runs(rows, workloads);
    Verdicts v;
    v.any_unknown = true;  // no targets: ratios only
    return outcome(rows, fatal, v);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app("Loopback TCP with and without tracer, in one run: bulk throughput (a fixed transfer per\n"
                 "sample), request/response rate, connection setup/teardown rate. Needs root. Exit status: 0\n"
                 "when every configuration was measured, 1 if something could not be.",
                 "bench_net_overhead");
    add_tracer_option(app, o.tracer);
    app.add_option("--mib", o.mib, "MiB per bulk sample")->capture_default_str()->check(CLI::Range(1L, 1L << 20));
    app.add_option("--rr", o.rr, "round trips per request/response sample")
        ->capture_default_str()
        ->check(CLI::Range(100L, 100000000L));
    app.add_option("--conns", o.conns, "connections per setup/teardown sample")
        ->capture_default_str()
        ->check(CLI::Range(10L, 10000000L));
    app.add_option("--samples", o.samples, "samples per configuration and workload (median reported)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    app.add_option("--rounds", o.rounds, "measure untraced and every configuration R times, interleaved")
        ->capture_default_str()
        ->check(CLI::Range(1, 100));
    add_attach_timeout_option(app, o.attach_timeout_s);
    app.add_flag("!--no-prog-stats", o.prog_stats, "skip the per-program run-time pass (bpf_stats)");
    app.add_flag("-v,--verbose", o.verbose, "print every sample");
    return bench_main(app, argc, argv, [&] { return run(o); });
}
