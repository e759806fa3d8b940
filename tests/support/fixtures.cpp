#include "fixtures.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <httplib.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace tracer::fixtures {
namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const std::string& path, const std::string& data) {
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
    ssize_t n = ::write(fd, data.data(), data.size());
    int err = errno;
    close(fd);
    if (n != static_cast<ssize_t>(data.size()))
        throw std::runtime_error("write '" + data + "' to " + path + ": " + std::strerror(err));
}

// This process's cgroup in the hierarchy of `mount`, from /proc/self/cgroup.
std::string own_cgroup(const containers::CgroupMount& mount) {
    std::istringstream lines(read_file("/proc/self/cgroup"));
    std::string line;
    while (std::getline(lines, line)) {
        auto a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        std::string ctrls = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
        if (mount.v2) {
            if (line.compare(0, 2, "0:") == 0 && ctrls.empty()) return path;
            continue;
        }
        std::vector<std::string> names;
        std::stringstream ss(ctrls);
        std::string c;
        while (std::getline(ss, c, ',')) names.push_back(c);
        auto want = mount.controllers;
        std::sort(names.begin(), names.end());
        std::sort(want.begin(), want.end());
        if (!names.empty() && names == want) return path;
    }
    return "/";
}

}  // namespace

std::string root_skip_reason() {
    if (geteuid() != 0) return "needs root (loads BPF programs and creates cgroups)";
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) return "kernel has no BTF (/sys/kernel/btf/vmlinux)";
    return "";
}

const containers::CgroupLayout& host_layout() {
    static const containers::CgroupLayout layout = containers::read_cgroup_layout("/proc/self/mountinfo");
    return layout;
}

std::vector<std::string> keyings() {
    std::vector<std::string> out;
    const auto& layout = host_layout();
    if (layout.unified()) out.push_back("unified");
    for (const char* c : {"memory", "cpu", "pids"})
        if (layout.v1_controller(c)) out.push_back(c);
    return out;
}

void ProbeTest::SetUp() {
    if (auto why = root_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    const auto& [hierarchy, variant] = GetParam();
    const auto& layout = host_layout();
    keying_ = containers::choose_cgroup_keying(layout, hierarchy, "/proc/cgroups");
    mount_ = hierarchy == "unified" ? layout.unified() : layout.v1_controller(hierarchy);
    ASSERT_NE(mount_, nullptr);
    variant_ = variant;
}

void ProbeTest::skip_modern_without_task_storage() {
    if (variant_ == probes::ProbeVariant::Modern && !probes::modern_build_applies(probes::kernel_features()))
        GTEST_SKIP() << "the 5.11+ build does not apply to this kernel (no task storage: Linux < 5.11)";
}

::testing::internal::ParamGenerator<ProbeTest::ParamType> probe_test_params() {
    return ::testing::Combine(::testing::ValuesIn(keyings()),
                              ::testing::Values(probes::ProbeVariant::Baseline, probes::ProbeVariant::Modern));
}

std::string probe_test_name(const ::testing::TestParamInfo<ProbeTest::ParamType>& info) {
    return std::get<0>(info.param) +
           (std::get<1>(info.param) == probes::ProbeVariant::Modern ? "_modern" : "_baseline");
}

TestCgroup::TestCgroup(const std::string& name) {
    std::string leaf = "tracer-test-" + std::to_string(getpid()) + "-" + name;
    for (const auto& m : host_layout().mounts) {
        std::string parent = own_cgroup(m);
        if (parent.empty() || parent.back() != '/') parent += '/';
        Entry e{m, parent + leaf};
        std::string dir = m.mount_point + (m.root == "/" ? e.relative : e.relative.substr(m.root.size()));
        if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
            throw std::runtime_error("mkdir " + dir + ": " + std::strerror(errno));
        entries_.push_back(e);
        if (std::find(m.controllers.begin(), m.controllers.end(), "cpuset") != m.controllers.end()) {
            // a new cpuset cgroup takes no task until it has cpus and mems
            std::string up = dir.substr(0, dir.rfind('/'));
            for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
                std::string v = read_file(up + "/" + f);
                while (!v.empty() && v.back() == '\n') v.pop_back();
                write_file(dir + "/" + f, v);
            }
        }
    }
}

TestCgroup::~TestCgroup() {
    for (const auto& e : entries_) {
        std::string d = dir(e.mount);
        for (int i = 0; i < 50 && rmdir(d.c_str()) != 0 && errno == EBUSY; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));  // exiting tasks leave lazily
    }
}

const TestCgroup::Entry& TestCgroup::entry(const containers::CgroupMount& mount) const {
    for (const auto& e : entries_)
        if (e.mount.mount_point == mount.mount_point) return e;
    throw std::runtime_error("no test cgroup in " + mount.mount_point);
}

std::string TestCgroup::dir(const containers::CgroupMount& mount) const {
    const auto& e = entry(mount);
    return mount.mount_point + (mount.root == "/" ? e.relative : e.relative.substr(mount.root.size()));
}

uint64_t TestCgroup::id(const containers::CgroupMount& mount) const {
    struct stat st {};
    if (stat(dir(mount).c_str(), &st) != 0) return 0;
    return st.st_ino;
}

std::string TestCgroup::path(const containers::CgroupMount& mount) const { return entry(mount).relative; }

void TestCgroup::add(pid_t pid) const {
    for (const auto& e : entries_) write_file(dir(e.mount) + "/cgroup.procs", std::to_string(pid));
}

const containers::CgroupMount* limit_memory(const TestCgroup& cg, uint64_t bytes) {
    const auto& layout = host_layout();
    const std::string limit = std::to_string(bytes);
    if (const auto* mem = layout.v1_controller("memory")) {
        const std::string dir = cg.dir(*mem);
        write_file(dir + "/memory.limit_in_bytes", limit);
        if (access((dir + "/memory.memsw.limit_in_bytes").c_str(), W_OK) == 0)
            write_file(dir + "/memory.memsw.limit_in_bytes", limit);
        return mem;
    }
    const auto* unified = layout.unified();
    if (!unified || access((cg.dir(*unified) + "/memory.max").c_str(), W_OK) != 0) return nullptr;
    const std::string dir = cg.dir(*unified);
    write_file(dir + "/memory.max", limit);
    if (access((dir + "/memory.swap.max").c_str(), W_OK) == 0) write_file(dir + "/memory.swap.max", "0");
    return unified;
}

const containers::CgroupMount* limit_cpu(const TestCgroup& cg, uint64_t quota_us, uint64_t period_us) {
    const auto& layout = host_layout();
    if (const auto* cpu = layout.v1_controller("cpu")) {
        const std::string dir = cg.dir(*cpu);
        write_file(dir + "/cpu.cfs_period_us", std::to_string(period_us));
        write_file(dir + "/cpu.cfs_quota_us", std::to_string(quota_us));
        return cpu;
    }
    const auto* unified = layout.unified();
    if (!unified || access((cg.dir(*unified) + "/cpu.max").c_str(), W_OK) != 0) return nullptr;
    write_file(cg.dir(*unified) + "/cpu.max", std::to_string(quota_us) + " " + std::to_string(period_us));
    return unified;
}

void touch_memory_and_exit(size_t bytes) {
    void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) _exit(2);
    auto* p = static_cast<volatile char*>(m);
    for (size_t i = 0; i < bytes; i += 4096) p[i] = 1;
    _exit(0);
}

HeldChild::HeldChild(std::function<void()> work) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
        close(fds[1]);
        char c;
        if (read(fds[0], &c, 1) != 1) _exit(3);
        work();
        _exit(0);
    }
    close(fds[0]);
    go_fd_ = fds[1];
}

HeldChild::~HeldChild() {
    if (go_fd_ >= 0) close(go_fd_);
    if (pid_ > 0 && !waited_) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
}

void HeldChild::release() {
    char c = 1;
    if (write(go_fd_, &c, 1) != 1) throw std::runtime_error("release child");
    close(go_fd_);
    go_fd_ = -1;
}

int HeldChild::wait() {
    int status = 0;
    if (waitpid(pid_, &status, 0) != pid_) return -1;
    waited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Subprocess::Subprocess(std::vector<std::string> argv, uid_t run_as) {
    char tmpl[] = "/tmp/tracer-test-out-XXXXXX";
    int out = mkstemp(tmpl);
    if (out < 0) throw std::runtime_error("mkstemp");
    out_path_ = tmpl;
    if (run_as != static_cast<uid_t>(-1)) fchown(out, run_as, static_cast<gid_t>(-1));
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
        dup2(out, 1);
        dup2(out, 2);
        if (run_as != static_cast<uid_t>(-1) && (setgid(run_as) != 0 || setuid(run_as) != 0)) _exit(126);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    close(out);
}

Subprocess::~Subprocess() {
    if (!done_ && pid_ > 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    unlink(out_path_.c_str());
}

bool Subprocess::running() {
    if (done_) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
        done_ = true;
        status_ = status;
    }
    return !done_;
}

void Subprocess::signal(int sig) const {
    if (!done_) kill(pid_, sig);
}

int Subprocess::wait_for(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() >= end) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
    return -1;
}

std::string Subprocess::output() const { return read_file(out_path_); }

uint16_t free_tcp_port() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
}

const containers::CgroupMount* auto_keying_mount() {
    auto keying = containers::choose_cgroup_keying(host_layout(), "auto", "/proc/cgroups");
    return keying.mode == 0 ? host_layout().unified() : host_layout().v1_controller(keying.hierarchy);
}

bool wait_output(Subprocess& p, const std::string& needle, std::chrono::seconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (p.output().find(needle) != std::string::npos) return true;
        if (!p.running()) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

std::string scrape_metrics(uint16_t port) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(2, 0);
    c.set_read_timeout(5, 0);
    auto res = c.Get("/metrics");
    return res && res->status == 200 ? res->body : "";
}

std::string scrape_metrics_until(uint16_t port, const std::string& needle, std::chrono::seconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (auto body = scrape_metrics(port); body.find(needle) != std::string::npos) return body;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return "";
}

double metric_value(const std::string& body, const std::string& series) {
    auto pos = body.find("\n" + series + " ");
    return pos == std::string::npos ? -1.0 : std::stod(body.substr(pos + series.size() + 2));
}

BusyUdpPort::BusyUdpPort() : fd_(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        throw std::runtime_error(std::string("binding a UDP port: ") + std::strerror(errno));
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
}

BusyUdpPort::~BusyUdpPort() {
    if (fd_ >= 0) close(fd_);
}

namespace {

bool send_datagram(int family, const sockaddr* addr, socklen_t len, const std::string& data) {
    int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    bool ok = ::sendto(fd, data.data(), data.size(), 0, addr, len) == ssize_t(data.size());
    ::close(fd);
    return ok;
}

}  // namespace

bool send_udp(uint16_t port, const std::string& data) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return send_datagram(AF_INET, reinterpret_cast<sockaddr*>(&a), sizeof a, data);
}

bool send_unix(const std::string& path, const std::string& data) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    return send_datagram(AF_UNIX, reinterpret_cast<sockaddr*>(&a), sizeof a, data);
}

}  // namespace tracer::fixtures
