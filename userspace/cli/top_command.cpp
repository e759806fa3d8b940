#include "api/local_api_client.h"
#include "cli/commands.h"
#include "log.h"
#include "top/batch_output.h"
#include "top/screen.h"
#include "top/standalone_agent.h"
#include "top/top_session.h"

#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <thread>

namespace tracer::cli {

CLI::App* add_top_command(CLI::App& app, TopFlags& f) {
    if (const char* env = std::getenv("TRACER_API_SOCKET"); env && *env) f.socket = env;
    auto* top = app.add_subcommand("top", "Live per-container view: reads a running agent's local API, or runs the "
                                          "probes in-process when none runs");
    top->add_option("-d,--delay", f.delay, "Seconds between refreshes (standalone: also the collection interval)")
        ->capture_default_str()
        ->check(CLI::Range(0.2, 3600.0));
    top->add_option("--socket", f.socket, "The running agent's local API socket (config key api_socket)")
        ->capture_default_str();
    top->add_flag("-b,--batch", f.batch, "Print refreshes to stdout instead of the interactive screen");
    top->add_option("-n,--iterations", f.iterations, "With --batch: how many refreshes to print")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    top->add_option("--format", f.format, "With --batch: text or json (one object per line)")
        ->capture_default_str()
        ->check(CLI::IsMember({"text", "json"}));
    top->add_flag("-a,--all", f.all_cgroups, "One row per cgroup instead of per container");
    top->add_option("--btf", f.btf_path, "Standalone mode: BTF file for kernels without /sys/kernel/btf/vmlinux");
    return top;
}

namespace {

// SIGINT/SIGTERM end the session cleanly (the terminal restored) instead of
// killing the process: blocked here, taken between refreshes.
sigset_t stop_signals() {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    return s;
}

bool took_stop_signal(const sigset_t& signals) {
    timespec zero{0, 0};
    return sigtimedwait(&signals, nullptr, &zero) > 0;
}

// stderr into a file while the screen is up (the in-process agent's log
// lines would tear it), back on destruction.
class StderrToFile {
public:
    explicit StderrToFile(const std::string& path) {
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) return;
        saved_ = ::dup(2);
        ::dup2(fd, 2);
        ::close(fd);
    }
    ~StderrToFile() {
        if (saved_ < 0) return;
        ::dup2(saved_, 2);
        ::close(saved_);
    }
    StderrToFile(const StderrToFile&) = delete;
    StderrToFile& operator=(const StderrToFile&) = delete;

private:
    int saved_ = -1;
};

int run_batch(top::TopSession& session, const TopFlags& f, const sigset_t& signals,
              const std::function<bool()>& agent_gone) {
    top::ViewOptions view;
    view.all_cgroups = f.all_cgroups;
    const auto period = std::chrono::duration<double>(f.delay);
    // Rates need two snapshots: the first refresh waits (bounded) for the second.
    session.refresh();
    double wait_limit = std::max(2 * session.facts().interval_seconds, 2 * f.delay) + 5;
    auto give_up = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_limit);
    while (!session.model().has_rates() && std::chrono::steady_clock::now() < give_up) {
        if (took_stop_signal(signals) || agent_gone()) return 0;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        session.refresh();
    }
    for (unsigned i = 0; i < f.iterations; ++i) {
        if (i > 0) {
            auto until = std::chrono::steady_clock::now() + period;
            while (std::chrono::steady_clock::now() < until) {
                if (took_stop_signal(signals) || agent_gone()) return 0;
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            session.refresh();
        }
        if (f.format == "json")
            std::printf("%s\n", top::batch_json(session, view).dump().c_str());
        else
            std::printf("%s%s", i > 0 ? "\n" : "", top::batch_text(session, view).c_str());
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace

int top_command(const TopFlags& f) {
    sigset_t signals = stop_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    if (!f.batch && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
        std::fprintf(stderr, "tracer top: not a terminal; use --batch for scripts\n");
        return 2;
    }
    std::unique_ptr<top::StandaloneAgent> standalone;
    std::string socket = f.socket;
    api::LocalApiClient probe(socket, std::chrono::seconds(3));
    try {
        probe.get("/v1/status");
    } catch (const api::NoAgentError&) {
        // No agent: run the probes here.
        log::set_level(log::Level::Error);
        try {
            if (!f.batch) std::fprintf(stderr, "tracer top: no agent at %s; loading the probes in-process...\n", socket.c_str());
            standalone = std::make_unique<top::StandaloneAgent>(f.delay, f.btf_path);
            standalone->wait_ready(60);
            socket = standalone->socket_path();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "tracer top: no agent at %s and cannot run the probes here: %s\n", f.socket.c_str(), e.what());
            return 1;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tracer top: %s\n", e.what());
        return 1;
    }
    auto agent_gone = [&] { return standalone && standalone->finished(); };
    top::TopSession session(api::LocalApiClient(socket, std::chrono::seconds(5)), standalone != nullptr);
    int rc = 0;
    try {
        session.connect();
        if (f.batch) {
            rc = run_batch(session, f, signals, agent_gone);
        } else {
            std::optional<StderrToFile> quiet;
            if (standalone) quiet.emplace(std::filesystem::path(socket).parent_path() / "agent.log");
            top::ScreenOptions o;
            o.refresh_seconds = f.delay;
            o.all_cgroups = f.all_cgroups;
            o.should_stop = [&] { return took_stop_signal(signals) || agent_gone(); };
            rc = top::run_screen(session, o);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tracer top: %s\n", e.what());
        rc = 1;
    }
    if (standalone && standalone->finished() && !standalone->error().empty()) {
        std::fprintf(stderr, "tracer top: the in-process probes stopped: %s\n", standalone->error().c_str());
        rc = 1;
    }
    return rc;
}

}  // namespace tracer::cli
