// DogStatsD throughput: tracer's statsd server and netdata's, side by side in
// one run, each pinned to the same CPU and fed by the same sender pinned to
// another: DogStatsD-tagged counters, 10 per datagram, as fast as one sender
// thread can send (sendmmsg) for --seconds (10).
//
// Per server: the sender's rate, the metrics the server took and the CPU time
// it used (utime + stime of its whole process, from the first datagram until
// its socket queue is drained) -> metrics/s per core of CPU; the ratio tracer
// / netdata (target >= 1.5). Loss: tracer's own counts (the sum of every
// counter it aggregated) against what was sent, plus the kernel's drop count
// for the socket (/proc/net/udp); netdata's from the kernel's drop count only
// (what entered its socket queue is read once the queue is empty).
//
// netdata comes from Debian's netdata-core package: `apt-get download` +
// `dpkg-deb -x` into a temp dir at run time (never installed), run with a
// minimal config that enables only its statsd server (one collector thread).
//
//   build/bench/bench_statsd_throughput [--seconds N] [--server-cpu N] [--sender-cpu N] [--netdata-deb PATH]
//                                       [--rate METRICS_PER_S] [--receive-buffer BYTES]
//
// Internally the bench re-runs itself as `--serve PORT REPORT BYTES` for tracer's
// server, so both servers are processes measured the same way.
#include "bench_support.h"

#include "statsd/statsd_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

using namespace bench;

namespace {

constexpr int kMetricsPerDatagram = 10;
constexpr int kContexts = 100;  // distinct (name, tags)
constexpr unsigned kSendBatch = 64;

// ---- the server side of tracer, in its own process ------------------------

int serve(uint16_t port, const std::string& report, uint32_t receive_buffer) {
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    tracer::statsd::StatsdServerOptions o;
    o.udp_listen = "127.0.0.1:" + std::to_string(port);
    o.socket_path = "";
    o.udp_readers = 1;  // one sender socket lands on one reader anyway
    o.receive_buffer_bytes = receive_buffer;
    tracer::statsd::StatsdServer server(o);
    if (server.start() != 1) return 1;
    // flush once a second like the agent would
    std::atomic<bool> done{false};
    std::thread flusher([&] {
        while (!done) {
            for (int i = 0; i < 10 && !done; ++i) std::this_thread::sleep_for(100ms);
            server.flush();
        }
    });
    int sig = 0;
    sigwait(&stop, &sig);
    done = true;
    flusher.join();
    // the cumulative counters of a final flush hold everything
    double total = 0;
    for (const auto& f : server.flush().families)
        if (f.name.rfind("bench.", 0) == 0)
            for (const auto& s : f.samples) total += s.value;
    std::ofstream(report) << static_cast<uint64_t>(total) << " " << server.received() << "\n";
    return 0;
}

// ---- measuring a server process --------------------------------------------

double cpu_seconds(pid_t pid) {
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) throw RowError("cannot read /proc/" + std::to_string(pid) + "/stat");
    std::istringstream in(stat.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {  // fields 14, 15: utime, stime
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

// The UDP sockets bound to 127.0.0.1:port: queued bytes and kernel drops.
struct SocketState {
    bool found = false;
    uint64_t rx_queue = 0, drops = 0;
};
SocketState udp_socket(uint16_t port) {
    char local[32];
    std::snprintf(local, sizeof local, "0100007F:%04X", port);
    SocketState st;
    std::istringstream in(read_file("/proc/net/udp"));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string sl, loc, rem, state, queues, tr, retr, uid, timeout, inode, ref, ptr, drops;
        f >> sl >> loc >> rem >> state >> queues >> tr >> retr >> uid >> timeout >> inode >> ref >> ptr >> drops;
        if (loc != local) continue;
        st.found = true;
        st.rx_queue += std::stoull(queues.substr(queues.find(':') + 1), nullptr, 16);
        st.drops += std::stoull(drops);
    }
    return st;
}

// The sender: precomputed datagrams of 10 tagged counters, sendmmsg in batches.
struct SendResult {
    uint64_t datagrams = 0;
    double seconds = 0;
};
// `rate`: datagrams per second at most (0 = as fast as it goes).
SendResult send_for(uint16_t port, double seconds, double rate) {
    Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw RowError("connect");
    std::vector<std::string> datagrams;
    for (int d = 0; d < kContexts; ++d) {
        std::string text;
        for (int m = 0; m < kMetricsPerDatagram; ++m) {
            int ctx = (d + m * 7) % kContexts;
            text += "bench.requests." + std::to_string(ctx % 10) + ":1|c|#env:bench,service:web,shard:" +
                    std::to_string(ctx / 10) + "\n";
        }
        text.pop_back();
        datagrams.push_back(std::move(text));
    }
    std::vector<iovec> iov(kSendBatch);
    std::vector<mmsghdr> msgs(kSendBatch);
    SendResult r;
    auto start = Clock::now();
    auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    size_t next = 0;
    auto paced_from = start;
    uint64_t paced_base = 0;
    while (Clock::now() < end) {
        for (unsigned i = 0; i < kSendBatch; ++i) {
            const std::string& d = datagrams[next++ % datagrams.size()];
            iov[i] = {const_cast<char*>(d.data()), d.size()};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = ::sendmmsg(s.get(), msgs.data(), kSendBatch, 0);
        if (n > 0) r.datagrams += unsigned(n);
        next -= kSendBatch - (n > 0 ? unsigned(n) : 0);
        check_interrupted();
        if (rate > 0) {  // paced: wait until the schedule catches up
            auto due = [&] { return rate * std::chrono::duration<double>(Clock::now() - paced_from).count(); };
            while (double(r.datagrams - paced_base) > due()) std::this_thread::sleep_for(50us);
            // Behind by more than 10 ms (the sender was descheduled): forget the debt rather
            // than burst above the rate to repay it.
            if (due() - double(r.datagrams - paced_base) > rate * 0.01) {
                paced_from = Clock::now();
                paced_base = r.datagrams;
            }
        }
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return r;
}

struct ServerRun {
    std::string name;
    bool measured = false;
    std::string why;  // not measured
    SendResult sent;
    uint64_t kernel_drops = 0;
    uint64_t processed = 0;  // metrics
    double cpu = 0, wall = 0;
    std::string counted;  // how `processed` was established
};

// Sends to a running server process, waits for its queue to drain, measures.
void run_load(ServerRun& row, pid_t pid, uint16_t port, double seconds, double rate) {
    SocketState before = udp_socket(port);
    double cpu0 = cpu_seconds(pid);
    auto t0 = Clock::now();
    row.sent = send_for(port, seconds, rate);
    for (int i = 0; i < 200 && udp_socket(port).rx_queue > 0; ++i) nap(50ms);
    nap(100ms);
    row.cpu = cpu_seconds(pid) - cpu0;
    row.wall = std::chrono::duration<double>(Clock::now() - t0).count();
    row.kernel_drops = udp_socket(port).drops - before.drops;
    row.measured = true;
}

bool wait_listening(uint16_t port, Child& child) {
    for (int i = 0; i < 200; ++i) {
        if (udp_socket(port).found) return true;
        if (!child.alive()) return false;
        nap(50ms);
    }
    return false;
}

cpu_set_t one_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return set;
}

ServerRun run_tracer(const std::string& self, const TempDir& tmp, int cpu, double seconds, double rate,
                     uint32_t receive_buffer) {
    ServerRun row{"tracer statsd"};
    uint16_t port = free_loopback_port();
    SpawnSpec spec;
    spec.argv = {self, "--serve", std::to_string(port), tmp.file("tracer.report"), std::to_string(receive_buffer)};
    spec.stdout_path = tmp.file("tracer.stdout");
    spec.stderr_path = tmp.file("tracer.stderr");
    spec.affinity = one_cpu(cpu);
    Child child(spec);
    if (!wait_listening(port, child)) {
        row.why = "tracer's server did not listen: " + tail_lines(read_file(spec.stderr_path), 5, "  ");
        return row;
    }
    nap(200ms);
    run_load(row, child.pid(), port, seconds, rate);
    child.stop();
    std::istringstream report(read_file(tmp.file("tracer.report")));
    uint64_t counted = 0, received = 0;
    report >> counted >> received;
    row.processed = counted;
    row.counted = "sum of its counters (" + std::to_string(received) + " values parsed)";
    return row;
}

std::string netdata_config(const std::string& root, const std::string& tmp, uint16_t port) {
    std::ostringstream c;
    c << "[global]\n  run as user = root\n  update every = 1\n  memory mode = ram\n"
      << "[db]\n  mode = ram\n"
      << "[directories]\n  config = " << tmp << "/etc\n  stock config = " << root << "/usr/lib/netdata/conf.d\n"
      << "  log = " << tmp << "/log\n  cache = " << tmp << "/cache\n  lib = " << tmp << "/lib\n"
      << "  home = " << tmp << "\n  plugins = " << tmp << "/plugins\n  web = " << tmp << "/web\n"
      << "[logs]\n  debug log = none\n  access log = none\n  error log = " << tmp << "/log/error.log\n"
      << "[web]\n  mode = none\n"
      << "[registry]\n  enabled = no\n[health]\n  enabled = no\n[ml]\n  enabled = no\n"
      << "[plugins]\n  enable running new plugins = no\n  check for new plugins every = 3600\n"
      << "  proc = no\n  diskspace = no\n  cgroups = no\n  tc = no\n  idlejitter = no\n  timex = no\n"
      << "  checks = no\n  apps = no\n  charts.d = no\n  python.d = no\n  go.d = no\n  ebpf = no\n"
      << "  perf = no\n  slabinfo = no\n  netdata monitoring = no\n  statsd = yes\n"
      << "[statsd]\n  enabled = yes\n  bind to = udp:127.0.0.1:" << port << "\n  threads = 1\n"
      << "  update every (flushInterval) = 1\n";
    return c.str();
}

ServerRun run_netdata(const std::string& deb, const TempDir& tmp, int cpu, double seconds, double rate) {
    ServerRun row{"netdata statsd"};
    std::string root = tmp.file("netdata-root");
    std::string pkg = deb;
    if (pkg.empty()) {
        std::string dl = tmp.file("download");
        std::string cmd = "mkdir -p " + dl + " && cd " + dl + " && apt-get download -q netdata-core >" +
                          tmp.file("apt.log") + " 2>&1";
        if (std::system(cmd.c_str()) != 0) {
            row.why = "apt-get download netdata-core failed: " + tail_lines(read_file(tmp.file("apt.log")), 3, "  ");
            return row;
        }
        pkg = dl + "/$(ls " + dl + " | grep '^netdata-core_.*\\.deb$' | head -1)";
    }
    if (std::system(("dpkg-deb -x " + pkg + " " + root).c_str()) != 0) {
        row.why = "dpkg-deb -x " + pkg + " failed";
        return row;
    }
    std::string ndtmp = tmp.file("netdata");
    for (const char* d : {"", "/etc", "/log", "/cache", "/lib", "/plugins", "/web"})
        std::system(("mkdir -p " + ndtmp + d).c_str());
    uint16_t port = free_loopback_port();
    write_file(ndtmp + "/netdata.conf", netdata_config(root, ndtmp, port));
    SpawnSpec spec;
    spec.argv = {root + "/usr/sbin/netdata", "-D", "-c", ndtmp + "/netdata.conf"};
    spec.stdout_path = tmp.file("netdata.stdout");
    spec.stderr_path = tmp.file("netdata.stderr");
    spec.affinity = one_cpu(cpu);
    Child child(spec);
    if (!wait_listening(port, child)) {
        row.why = "netdata did not listen on UDP " + std::to_string(port) + ":\n" +
                  tail_lines(read_file(spec.stderr_path) + read_file(ndtmp + "/log/error.log"), 8, "  ");
        return row;
    }
    nap(1s);  // let it settle
    run_load(row, child.pid(), port, seconds, rate);
    row.processed = (row.sent.datagrams - row.kernel_drops) * kMetricsPerDatagram;
    row.counted = "sent - kernel drops (its socket queue drained)";
    return row;
}

void print_row(const ServerRun& r) {
    if (!r.measured) {
        std::printf("%-16s NOT MEASURED: %s\n", r.name.c_str(), r.why.c_str());
        return;
    }
    double sent_metrics = double(r.sent.datagrams) * kMetricsPerDatagram;
    double loss = sent_metrics > 0 ? 1 - double(r.processed) / sent_metrics : 0;
    std::printf("%-16s sent %6.2fM metrics/s (%" PRIu64 " datagrams in %.1f s)  took %" PRIu64
                " metrics (%s)\n"
                "%-16s kernel drops %" PRIu64 " datagrams; loss %.4f %%; CPU %.2f s in %.1f s wall "
                "(%.0f %% of a core); %.2fM metrics/s per core\n",
                r.name.c_str(), sent_metrics / r.sent.seconds / 1e6, r.sent.datagrams, r.sent.seconds, r.processed,
                r.counted.c_str(), "", r.kernel_drops, loss * 100, r.cpu, r.wall, 100 * r.cpu / r.wall,
                r.cpu > 0 ? double(r.processed) / r.cpu / 1e6 : 0);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 5 && std::string(argv[1]) == "--serve")
        return serve(uint16_t(std::stoi(argv[2])), argv[3], uint32_t(std::stoul(argv[4])));
    double seconds = 10, rate = 0;
    long receive_buffer = 8 << 20;
    long server_cpu = 0, sender_cpu = 1;
    std::string deb;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        long v = 0;
        if (a == "--seconds" && i + 1 < argc && parse_long(argv[i + 1], 1, 600, v)) seconds = double(v), ++i;
        else if (a == "--server-cpu" && i + 1 < argc && parse_long(argv[i + 1], 0, 1023, v)) server_cpu = v, ++i;
        else if (a == "--sender-cpu" && i + 1 < argc && parse_long(argv[i + 1], 0, 1023, v)) sender_cpu = v, ++i;
        else if (a == "--netdata-deb" && i + 1 < argc) deb = argv[++i];
        else if (a == "--rate" && i + 1 < argc && parse_long(argv[i + 1], 1, 100000000, v)) rate = double(v), ++i;
        else if (a == "--receive-buffer" && i + 1 < argc && parse_long(argv[i + 1], 0, 1L << 31, v))
            receive_buffer = v, ++i;
        else {
            std::fprintf(stderr,
                         "usage: %s [--seconds N] [--server-cpu N] [--sender-cpu N] [--netdata-deb PATH]\n"
                         "       [--rate METRICS_PER_S (default: as fast as the sender goes)] [--receive-buffer BYTES]\n",
                         argv[0]);
            return 2;
        }
    }
    if (geteuid() != 0) {
        std::fprintf(stderr, "bench_statsd_throughput: run as root (netdata runs as root here; SO_RCVBUFFORCE)\n");
        return 2;
    }
    install_stop_handlers();
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    self[n] = '\0';
    cpu_set_t sender = one_cpu(int(sender_cpu));
    sched_setaffinity(0, sizeof sender, &sender);

    std::printf("statsd throughput: DogStatsD-tagged counters, %d per datagram, %d contexts, one sender on CPU %ld "
                "(sendmmsg x%u, %s), each server pinned to CPU %ld, %.0f s each; tracer's receive buffer %ld KiB\n"
                "CPU: %s\n\n",
                kMetricsPerDatagram, kContexts, sender_cpu, kSendBatch,
                rate > 0 ? ("paced to " + std::to_string(long(rate)) + " metrics/s").c_str() : "unpaced", server_cpu,
                seconds, receive_buffer / 1024, cpu_model().c_str());
    rate /= kMetricsPerDatagram;  // datagrams/s from here on
    try {
        TempDir tmp("tracer-statsd-bench");
        ServerRun ours = run_tracer(self, tmp, int(server_cpu), seconds, rate, uint32_t(receive_buffer));
        print_row(ours);
        ServerRun theirs = run_netdata(deb, tmp, int(server_cpu), seconds, rate);
        print_row(theirs);
        if (!ours.measured || !theirs.measured) return 1;
        double a = double(ours.processed) / ours.cpu, b = double(theirs.processed) / theirs.cpu;
        double ratio = a / b;
        double loss = 1 - double(ours.processed) / (double(ours.sent.datagrams) * kMetricsPerDatagram);
        std::printf("\nmetrics/s per core: tracer / netdata = %.2f (target >= 1.5: %s)\n", ratio,
                    ratio >= 1.5 ? "PASS" : "MISS");
        std::printf("tracer loss at %.2fM metrics/s for %.0f s: %.4f %% (target 0: %s)\n",
                    double(ours.sent.datagrams) * kMetricsPerDatagram / ours.sent.seconds / 1e6, seconds, loss * 100,
                    ours.processed == ours.sent.datagrams * kMetricsPerDatagram ? "PASS" : "MISS");
    } catch (const Interrupted&) {
        std::fprintf(stderr, "interrupted\n");
        return 130;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_statsd_throughput: %s\n", e.what());
        return 1;
    }
    return 0;
}
