#include "docker_engine.h"

#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace tracer::fixtures {
namespace {

const char* kDockerd = "/usr/sbin/dockerd";

std::string docker_cli() {
    // The CLI that ships with the engine; a newer one elsewhere works too.
    for (const char* p : {"/usr/bin/docker", "/usr/local/bin/docker"})
        if (access(p, X_OK) == 0) return p;
    return "";
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// True if `pid` is alive, runs `comm` and is not a zombie.
bool alive(pid_t pid, const std::string& comm) {
    if (pid <= 0 || trim(slurp("/proc/" + std::to_string(pid) + "/comm")) != comm) return false;
    std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    size_t close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

std::pair<int, std::string> run(std::vector<std::string> argv, std::chrono::seconds timeout = 60s) {
    Subprocess p(std::move(argv));
    int rc = p.wait_for(timeout);
    return {rc, trim(p.output())};
}

}  // namespace

std::string busybox_path() {
    for (const char* p : {"/bin/busybox", "/usr/bin/busybox"})
        if (access(p, X_OK) == 0) return p;
    return "";
}

std::string busybox_rootfs_tar(const std::string& dir) {
    std::string rootfs = dir + "/rootfs";
    for (const char* d : {"bin", "etc", "proc", "sys", "dev", "tmp", "root", "run", "var"})
        fs::create_directories(rootfs + "/" + d);
    fs::copy_file(busybox_path(), rootfs + "/bin/busybox", fs::copy_options::overwrite_existing);
    auto [rc, applets] = run({rootfs + "/bin/busybox", "--list"});
    if (rc != 0) throw std::runtime_error("busybox --list failed: " + applets);
    std::istringstream in(applets);
    for (std::string a; in >> a;)
        if (a != "busybox") fs::create_symlink("busybox", rootfs + "/bin/" + a);
    std::ofstream(rootfs + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n";
    std::ofstream(rootfs + "/etc/group") << "root:x:0:\n";
    std::string tar = dir + "/rootfs.tar";
    auto [trc, tout] = run({"/bin/tar", "-C", rootfs, "--numeric-owner", "-cf", tar, "."});
    if (trc != 0) throw std::runtime_error("tar of the test rootfs failed: " + tout);
    return tar;
}

std::string DockerEngine::skip_reason() {
    if (geteuid() != 0) return "needs root (runs dockerd)";
    if (access(kDockerd, X_OK) != 0) return "docker.io is not installed (no /usr/sbin/dockerd): scripts/install-deps.sh --test";
    if (docker_cli().empty()) return "no docker CLI (docker.io): scripts/install-deps.sh --test";
    if (access("/usr/bin/containerd", X_OK) != 0 && access("/usr/sbin/containerd", X_OK) != 0)
        return "no containerd (docker.io's dependency)";
    if (busybox_path().empty()) return "busybox-static is not installed (the test image): scripts/install-deps.sh --test";
    return "";
}

void DockerEngineSuite::SetUp() {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    ASSERT_TRUE(engine_) << "the test dockerd did not start: " << setup_error_;
}

void DockerEngineSuite::TearDown() {
    if (engine_)
        for (const auto& name : started_) engine_->try_docker({"rm", "-f", name});
}

std::string DockerEngineSuite::run_container(const std::string& name, const std::vector<std::string>& extra,
                                             const std::string& script) {
    std::vector<std::string> args{"run", "-d", "--name", name};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {engine_->image(), "sh", "-c", script});
    started_.push_back(name);
    return engine_->docker(args);
}

std::unique_ptr<DockerEngine> DockerEngine::start_for_suite(std::string& skip, std::string& error) {
    skip = root_skip_reason();
    if (skip.empty()) skip = skip_reason();
    if (!skip.empty()) return nullptr;
    try {
        return std::make_unique<DockerEngine>();
    } catch (const std::exception& e) {
        error = e.what();
        return nullptr;
    }
}

DockerEngine::DockerEngine() {
    dir_ = "/tmp/tracer-docker-" + std::to_string(getpid());
    socket_ = dir_ + "/docker.sock";
    data_root_ = dir_ + "/data";
    exec_root_ = dir_ + "/exec";
    pidfile_ = dir_ + "/dockerd.pid";
    fs::create_directories(data_root_);
    fs::create_directories(exec_root_);
    start_dockerd();
    import_image();
}

DockerEngine::~DockerEngine() {
    auto [rc, ids] = try_docker({"ps", "-aq"});
    if (rc == 0 && !ids.empty()) {
        std::vector<std::string> args{"rm", "-f"};
        std::istringstream in(ids);
        for (std::string id; in >> id;) args.push_back(id);
        try_docker(args);
    }
    stop_dockerd();
    clear_leftovers();
    unmount_and_remove(dir_);
}

void unmount_and_remove(const std::string& dir) {
    // Mounts an engine left under its roots (netns, overlays) would block the removal.
    std::istringstream mounts(slurp("/proc/self/mounts"));
    std::vector<std::string> ours;
    for (std::string line; std::getline(mounts, line);) {
        std::istringstream f(line);
        std::string dev, where;
        f >> dev >> where;
        if (where.rfind(dir + "/", 0) == 0) ours.push_back(where);
    }
    for (auto it = ours.rbegin(); it != ours.rend(); ++it) umount2(it->c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(dir, ec);
}

std::pair<int, std::string> DockerEngine::try_docker(const std::vector<std::string>& args) {
    std::vector<std::string> argv{docker_cli(), "-H", "unix://" + socket_};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
}

std::string DockerEngine::docker(const std::vector<std::string>& args) {
    auto [rc, out] = try_docker(args);
    if (rc != 0) {
        std::string cmd;
        for (const auto& a : args) cmd += " " + a;
        ADD_FAILURE() << "docker" << cmd << " exited " << rc << ": " << out;
    }
    return out;
}

void DockerEngine::start_dockerd() {
    clear_leftovers();
    dockerd_ = std::make_unique<Subprocess>(std::vector<std::string>{
        kDockerd, "--data-root", data_root_, "--exec-root", exec_root_, "--pidfile", pidfile_, "-H",
        "unix://" + socket_, "--exec-opt", "native.cgroupdriver=cgroupfs", "--iptables=false", "--bridge=none",
        "--storage-driver", "vfs"});
    auto end = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < end) {
        if (!dockerd_->running()) break;
        if (fs::exists(socket_) && try_docker({"version", "--format", "{{.Server.Version}}"}).first == 0) return;
        std::this_thread::sleep_for(100ms);
    }
    std::string log = dockerd_->output();
    throw std::runtime_error("dockerd did not come up on " + socket_ + "; its log ends:\n" +
                             log.substr(log.size() > 3000 ? log.size() - 3000 : 0));
}

void DockerEngine::stop_dockerd() {
    if (!dockerd_) return;
    dockerd_->signal(SIGTERM);
    if (dockerd_->wait_for(20s) < 0) {
        dockerd_->signal(SIGKILL);
        dockerd_->wait_for(5s);
    }
    dockerd_.reset();
}

void DockerEngine::clear_leftovers() {
    // After an unclean dockerd death its containerd may linger (PID 1 here
    // reaps lazily): a new dockerd would take it for a live one and time out.
    std::string cpf = exec_root_ + "/containerd/containerd.pid";
    if (auto pid = static_cast<pid_t>(std::atoi(slurp(cpf).c_str())); pid > 0) {
        if (alive(pid, "containerd")) {
            kill(pid, SIGTERM);
            for (int i = 0; i < 100 && alive(pid, "containerd"); ++i) std::this_thread::sleep_for(100ms);
            if (alive(pid, "containerd")) kill(pid, SIGKILL);
        }
    }
    std::error_code ec;
    fs::remove(cpf, ec);
    // Shims of our exec root (and their containers) left by a crashed dockerd.
    const std::string needle = exec_root_ + "/containerd/containerd.sock";
    for (const auto& e : fs::directory_iterator("/proc", ec)) {
        std::string name = e.path().filename();
        if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
        std::string cmd = slurp(e.path().string() + "/cmdline");
        if (cmd.find("containerd-shim") == std::string::npos || cmd.find(needle) == std::string::npos) continue;
        pid_t shim = std::atoi(name.c_str());
        std::istringstream children(slurp(e.path().string() + "/task/" + name + "/children"));
        for (pid_t c; children >> c;) kill(c, SIGKILL);
        kill(shim, SIGTERM);
    }
}

void DockerEngine::crash_and_restart() {
    ASSERT_TRUE(dockerd_ != nullptr);
    dockerd_->signal(SIGKILL);
    dockerd_->wait_for(10s);
    dockerd_.reset();
    start_dockerd();
}

void DockerEngine::import_image() {
    auto [rc, out] = try_docker({"import", "-c", "CMD [\"/bin/sh\"]", busybox_rootfs_tar(dir_), image_});
    if (rc != 0) throw std::runtime_error("docker import failed: " + out);
}

}  // namespace tracer::fixtures
